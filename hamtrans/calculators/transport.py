"""ASE calculator for quantum transport: a HamiltonianCalculator feeding the NEGF engine.

>>> calc = TransportCalculator(HamiltonianCalculator(model="vcm-gfn1"), axis="x", bias=1.0, fermi_level=-9.4)
>>> calc.get_property("current", device_atoms)                    # A
>>> calc.get_property("transmission", device_atoms)               # T(E) of the biased device on
>>> calc.results["energies"]                                      # these energies (eV)

The structure must be periodic along ``axis`` with electrodes at both ends (its
open matrices along the axis form the device; see :class:`hamtrans.negf.Device`).
The leads either continue the device's own end cells (they must repeat, which needs
long electrode segments) or come from a separate periodic ``electrode`` structure
computed with the same Hamiltonian (:mod:`hamtrans.negf.electrodes`).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_changes

from hamtrans.calculators.arguments import CheckedCalculator, energy_grid, flag, integer, number, shown
from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.data.blocks import lattice_axis
from hamtrans.errors import HamtransError, ParameterError
from hamtrans.negf import Device, SweepOptions, biased_device, current, transmission
from hamtrans.negf.electrodes import Electrode, periodic_electrodes
from hamtrans.negf.grids import MIN_GRID_POINTS

LEAD_METHODS = ("eigenmode", "sancho-rubio")


class TransportCalculator(CheckedCalculator):
    """Transmission and Landauer current of a two-terminal structure.

    Parameters
    ----------
    hamiltonian
        The :class:`HamiltonianCalculator` that supplies H and S.
    axis
        Transport axis (``"x"``, ``"y"``, ``"z"`` or 0–2).
    bias, temperature
        Volts and K (``μ_L = E_F + V/2``).
    fermi_level
        eV. Default with ``electrode``: the electrode's band Fermi level (its principal layer
        charge neutral, 64 k-points; :meth:`hamtrans.negf.Electrode.fermi_level`), moved by the
        alignment; without: the reference generator's (a model has none: give it).
    energies
        Energies (eV) of the reported T(E); default ``E_F ± 2 eV``, 201 points.
    lead_cell, lead_tolerance
        As in :meth:`hamtrans.negf.Device.from_matrices`.
    electrode
        Where the leads come from. ``None``: the device's own end cells, which must
        repeat (long electrode segments). ``"periodic"``: the device's periodic
        continuation across the cell boundary (:func:`hamtrans.negf.electrodes.periodic_electrodes`,
        needs ``lead_cell``). A periodic structure of the bulk electrode (e.g.
        :func:`hamtrans.data.structures.build_electrode`, ≥ 3 principal layers): its H and
        S come from ``hamiltonian`` once and its principal layer becomes both leads.
    electrode_tolerance
        Largest allowed difference (eV) between a device end block and the electrode cell.
    align_electrodes
        Shift the electrode rigidly onto the device's end blocks (potential alignment: a
        periodic reference fixes the potential zero per cell; see
        :mod:`hamtrans.negf.electrodes`); its Fermi level moves with it.
    tolerance
        Relative tolerance of the adaptive current integral.
    resolution
        First-pass energy spacing (eV) of the adaptive integral (``None``: the default of
        :func:`hamtrans.negf.current`, kT at room temperature); lower it for devices with
        narrow features.
    points
        Integrate the current on this many uniform energies over the open bias window
        (10 kT beyond the chemical potentials) instead (a fixed cost per current;
        ``None``: adaptive); not together with ``resolution``.
    lattice
        Integrate the current on the energies ``E_F + k·resolution`` covering the open
        window instead (:func:`hamtrans.negf.current` with ``grid="lattice"``): a sweep
        whose biases are even multiples of ``resolution`` shares all its lead energies.
    sweep
        :class:`hamtrans.negf.SweepOptions` (η, lead method, backend, MPI communicator, ...).

    Raises
    ------
    ParameterError
        An argument of the wrong type or out of range (each is checked here, before any
        H, S or NEGF work): a non-finite number, a temperature below 0 K, a tolerance
        outside (0, 1), a non-positive length, resolution or η of Sancho–Rubio leads, a
        uniform grid of fewer than 3 points, ``electrode`` other than ``None``,
        ``"periodic"``, a structure or an :class:`~hamtrans.negf.Electrode`.
    """

    implemented_properties = ["transmission", "current"]

    def __init__(self, hamiltonian: HamiltonianCalculator, axis: str | int = "x", bias: float = 0.0,
                 temperature: float = 300.0, fermi_level: float | None = None, energies=None,
                 lead_cell: float | None = None, lead_tolerance: float = 1e-4, tolerance: float = 1e-3,
                 sweep: SweepOptions | None = None, electrode=None, electrode_tolerance: float = 0.25,
                 align_electrodes: bool = True, points: int | None = None, resolution: float | None = None,
                 lattice: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(hamiltonian, HamiltonianCalculator):
            raise ParameterError(f"TransportCalculator(hamiltonian={shown(hamiltonian)}): give a HamiltonianCalculator")
        where = "TransportCalculator"
        self.hamiltonian = hamiltonian
        self.axis = lattice_axis(axis)
        self.bias = number(where, "bias", bias, "V")
        self.temperature = number(where, "temperature", temperature, "K", low=0.0)
        self.fermi = None if fermi_level is None else number(where, "fermi_level", fermi_level, "eV")
        self.energies = None if energies is None else energy_grid(where, energies)
        self.lead_cell = None if lead_cell is None else number(where, "lead_cell", lead_cell, "Å", 0.0, open_low=True)
        self.lead_tolerance = number(where, "lead_tolerance", lead_tolerance, "eV", 0.0, open_low=True)
        self.tolerance = number(where, "tolerance", tolerance, "relative", 0.0, 1.0, open_low=True, open_high=True)
        self.sweep = _sweep_options(sweep)
        self.device: Device | None = None
        self.electrode_atoms = _electrode_source(electrode)
        self.electrode_tolerance = number(where, "electrode_tolerance", electrode_tolerance, "eV", 0.0, open_low=True)
        self.align_electrodes = flag(where, "align_electrodes", align_electrodes)
        if points is not None:
            points = integer(where, "points", points, MIN_GRID_POINTS, "uniform energies of the current integral; "
                                                                       "None: the adaptive grid")
        if resolution is not None:
            resolution = number(where, "resolution", resolution, "eV", 0.0, open_low=True)
        self.lattice = flag(where, "lattice", lattice)
        if points and resolution is not None:
            raise HamtransError("give points= (uniform current grid) or resolution= (adaptive), not both")
        if points and lattice:
            raise HamtransError("give points= (uniform current grid) or lattice=True (energy lattice), not both")
        self.points, self.resolution = points, resolution
        self.electrode: Electrode | None = None
        self.electrode_fermi_level: float | None = None

    def calculate(self, atoms=None, properties=("current",), system_changes=all_changes) -> None:
        """Compute the requested properties; the device is rebuilt only when the atoms changed.

        ``transmission`` (on :attr:`energies`) and ``current`` (adaptive energy grid) are
        separate sweeps, so a property that was not asked for costs nothing.
        """
        super().calculate(atoms, properties, system_changes)
        if not self.atoms.pbc[self.axis]:
            raise HamtransError("the structure must be periodic along the transport axis (electrodes continue "
                                "across the cell boundary); its open matrices along the axis form the device")
        if self.device is None or system_changes:
            self._build_device()
        fermi = self.fermi_level
        if "transmission" in properties:
            energies = self.energies if self.energies is not None else np.linspace(fermi - 2.0, fermi + 2.0, 201)
            self.results["energies"] = energies
            self.results["transmission"] = transmission(biased_device(self.device, self.bias), energies, self.sweep)
        if "current" in properties:
            if self.lattice:
                grid = {"grid": "lattice", "resolution": self.resolution}
            elif self.points:
                grid = {"grid": "uniform", "points": self.points}
            else:
                grid = {"tolerance": self.tolerance, "resolution": self.resolution}
            result = current(self.device, self.bias, self.temperature, fermi, options=self.sweep, **grid)
            self.results["current"] = result.current
            self.results["current_result"] = result

    @property
    def fermi_level(self) -> float:
        """eV: the given one, else the electrode's (moved by the alignment), else the reference's."""
        if self.fermi is not None:
            return self.fermi
        if self.electrode_fermi_level is not None:
            shift = (self.device.electrode_shift or 0.0) if self.device is not None else 0.0
            return self.electrode_fermi_level + shift
        if self.hamiltonian.fermi_level is not None:
            return self.hamiltonian.fermi_level
        raise HamtransError("no Fermi level: a model does not provide one, give fermi_level= (eV)")

    def _build_device(self) -> None:
        periodic = isinstance(self.electrode_atoms, str)  # "periodic", the only string accepted
        if periodic and self.lead_cell is None:
            raise HamtransError("electrode='periodic' needs lead_cell= (the electrode's lattice period along "
                                "the axis, Å)")
        if self.electrode_atoms is not None and not periodic and self.electrode is None:
            self._build_electrode()
        h, s = self.hamiltonian.open_matrices(self.atoms, self.axis)
        electrodes = None if self.electrode is None else (self.electrode, self.electrode)
        if periodic:
            electrodes = periodic_electrodes(*self.hamiltonian.blocks, self.atoms, self.axis, self.lead_cell)
            if self.fermi is None:
                self.electrode_fermi_level = self._band_fermi_level(electrodes[0], self.atoms)
        self.fermi_level  # raises before any NEGF work when there is none
        positions, atom_of = self._orbital_sites(self.atoms)
        self.device = Device.from_matrices(h, s, positions, self.axis, lead_cell=self.lead_cell,
                                           orbital_atoms=atom_of, lead_tolerance=self.lead_tolerance,
                                           electrodes=electrodes, electrode_tolerance=self.electrode_tolerance,
                                           align_electrodes=self.align_electrodes and not periodic)

    def _build_electrode(self) -> None:
        atoms = self.electrode_atoms
        if isinstance(atoms, Electrode):
            self.electrode = atoms
            return
        if not atoms.pbc[self.axis]:
            raise HamtransError("the electrode structure must be periodic along the transport axis")
        h, s = self.hamiltonian.open_matrices(atoms, self.axis)
        positions, atom_of = self._orbital_sites(atoms)
        self.electrode = Electrode.from_matrices(h, s, positions, self.axis, orbital_atoms=atom_of,
                                                 lead_tolerance=self.lead_tolerance)
        if self.fermi is None:
            self.electrode_fermi_level = self._band_fermi_level(self.electrode, atoms)

    def _orbital_sites(self, atoms) -> tuple[np.ndarray, np.ndarray]:
        """Position (Å) and atom index of every orbital of ``atoms`` in the Hamiltonian's basis."""
        atom_of = np.repeat(np.arange(len(atoms)), self.hamiltonian.basis.orbital_counts(atoms.numbers))
        return atoms.positions[atom_of], atom_of

    def _band_fermi_level(self, electrode: Electrode, atoms) -> float:
        """Fermi level (eV) of a charge-neutral electrode principal layer from its bands."""
        from hamtrans.data.electrons import valence_electrons

        numbers = atoms.numbers[np.unique(electrode.orbital_atoms)]
        return electrode.fermi_level(valence_electrons(self.hamiltonian.basis.name, numbers), self.temperature)


def _sweep_options(sweep) -> SweepOptions:
    """``sweep`` (``None``: the defaults), checked: η finite, ≥ 0 (> 0 for Sancho–Rubio), a known lead method."""
    if sweep is None:
        return SweepOptions()
    if not isinstance(sweep, SweepOptions):
        raise ParameterError(f"TransportCalculator(sweep={shown(sweep)}): give a hamtrans.negf.SweepOptions, "
                             "e.g. SweepOptions(eta=1e-5, lead_method='sancho-rubio')")
    where = "TransportCalculator(sweep=...) SweepOptions"
    number(where, "eta", sweep.eta, "eV", 0.0)
    if sweep.lead_method not in LEAD_METHODS:
        raise ParameterError(f"{where}(lead_method={shown(sweep.lead_method)}): give one of {', '.join(LEAD_METHODS)}")
    if sweep.lead_method == "sancho-rubio" and not sweep.eta > 0:
        raise ParameterError(f"{where}(lead_method='sancho-rubio', eta={sweep.eta!r}): Sancho–Rubio decimation "
                             "needs eta > 0 (e.g. 1e-5 eV); use lead_method='eigenmode' for eta = 0")
    integer(where, "batch_size", sweep.batch_size, 1, "energies per batched sweep")
    return sweep


def _electrode_source(electrode):
    """``electrode`` if it is ``None``, ``"periodic"``, a structure or an :class:`Electrode`."""
    if electrode is None or electrode == "periodic" or isinstance(electrode, (Atoms, Electrode)):
        return electrode
    raise ParameterError(f"TransportCalculator(electrode={shown(electrode)}): give None (the device's own end "
                         "cells), 'periodic', an electrode structure (ase.Atoms) or a hamtrans.negf.Electrode")
