"""ASE calculator for quantum transport: a HamiltonianCalculator feeding the NEGF engine.

>>> calc = TransportCalculator(HamiltonianCalculator(model="vcm-gfn1"), axis="x", bias=1.0, fermi_level=-9.4)
>>> calc.get_property("current", device_atoms)                    # A
>>> calc.get_property("transmission", device_atoms)               # T(E) of the biased device on
>>> calc.results["energies"]                                      # these energies (eV)

The structure must be periodic along ``axis`` with electrodes at both ends (its
open matrices along the axis form the device; see :class:`hamtrans.negf.Device`).
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.errors import HamtransError
from hamtrans.negf import Device, SweepOptions, biased_device, current, transmission
from hamtrans.negf.device import AXES


class TransportCalculator(Calculator):
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
        eV; default: the reference generator's Fermi level (a model has none: give it).
    energies
        Energies (eV) of the reported T(E); default ``E_F ± 2 eV``, 201 points.
    lead_cell, lead_tolerance
        As in :meth:`hamtrans.negf.Device.from_matrices`.
    tolerance
        Relative tolerance of the adaptive current integral.
    sweep
        :class:`hamtrans.negf.SweepOptions` (η, lead method, backend, MPI communicator, ...).
    """

    implemented_properties = ["transmission", "current"]

    def __init__(self, hamiltonian: HamiltonianCalculator, axis: str | int = "x", bias: float = 0.0,
                 temperature: float = 300.0, fermi_level: float | None = None, energies=None,
                 lead_cell: float | None = None, lead_tolerance: float = 1e-4, tolerance: float = 1e-3,
                 sweep: SweepOptions | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(hamiltonian, HamiltonianCalculator):
            raise HamtransError("hamiltonian= must be a HamiltonianCalculator")
        self.hamiltonian = hamiltonian
        self.axis = AXES.get(axis, axis) if isinstance(axis, str) else int(axis)
        self.bias, self.temperature, self.fermi = float(bias), float(temperature), fermi_level
        self.energies = None if energies is None else np.asarray(energies, float)
        self.lead_cell, self.lead_tolerance, self.tolerance = lead_cell, lead_tolerance, tolerance
        self.sweep = sweep or SweepOptions()
        self.device: Device | None = None

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
        fermi = self.fermi if self.fermi is not None else self.hamiltonian.fermi_level
        if "transmission" in properties:
            energies = self.energies if self.energies is not None else np.linspace(fermi - 2.0, fermi + 2.0, 201)
            self.results["energies"] = energies
            self.results["transmission"] = transmission(biased_device(self.device, self.bias), energies, self.sweep)
        if "current" in properties:
            result = current(self.device, self.bias, self.temperature, fermi, tolerance=self.tolerance,
                             options=self.sweep)
            self.results["current"] = result.current
            self.results["current_result"] = result

    def _build_device(self) -> None:
        h, s = self.hamiltonian.open_matrices(self.atoms, self.axis)
        if self.fermi is None and self.hamiltonian.fermi_level is None:
            raise HamtransError("no Fermi level: a model does not provide one, give fermi_level= (eV)")
        counts = self.hamiltonian.basis.orbital_counts(self.atoms.numbers)
        atom_of = np.repeat(np.arange(len(self.atoms)), counts)
        self.device = Device.from_matrices(h, s, self.atoms.positions[atom_of], self.axis, lead_cell=self.lead_cell,
                                           orbital_atoms=atom_of, lead_tolerance=self.lead_tolerance)
