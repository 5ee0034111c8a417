"""From a structure and its Hamiltonian to T(E) and the Landauer current, in one place.

>>> from hamtrans.calculators import HamiltonianCalculator, TransportSettings, structure_current
>>> settings = TransportSettings(leads="periodic", lead_cell=4.24, eta=1e-5, lead_method="sancho-rubio")
>>> structure_current(atoms, HamiltonianCalculator(model="vcm-gfn1-8"), settings, bias=0.2).current   # A

:func:`transport_setup` builds the NEGF device (leads, partition) and fixes its Fermi level;
:func:`structure_current` and :func:`structure_transmission` run the sweeps on it. Every
transport route of the project (the ASE calculator, the I–V sweep, ``fix hamtrans/transport``)
goes through these three functions with one :class:`TransportSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.calculators.transport_settings import TransportSettings
from hamtrans.data.electrons import valence_electrons
from hamtrans.data.structures import A_TIN
from hamtrans.errors import HamtransError, LeadError, ParameterError
from hamtrans.negf import CurrentResult, Device, Electrode, SweepOptions, biased_device, current, transmission
from hamtrans.negf.electrodes import band_fermi_level, periodic_electrodes

#: Lattice period (Å) of the TiN electrodes of :func:`hamtrans.data.structures.build_vcm_device`
#: (the ``leads="auto"`` choice for its structures, which carry ``atoms.info["device"]``).
BUILDER_LEAD_CELL = A_TIN


@dataclass(frozen=True)
class TransportSetup:
    """A structure ready for the NEGF sweeps.

    Attributes
    ----------
    device
        The unbiased :class:`~hamtrans.negf.Device` (leads attached).
    fermi_level
        E_F (eV): the settings', else the leads' band Fermi level (periodic leads, a bulk
        electrode, moved by its alignment), else the reference's, else (own leads of a
        model) the band Fermi level of the left lead's charge-neutral principal layer.
    leads
        Where the leads came from: ``"own"``, ``"periodic"`` or ``"electrode"``.
    """

    device: Device
    fermi_level: float
    leads: str


def bulk_electrode(structure: Atoms, hamiltonian: HamiltonianCalculator,
                   settings: TransportSettings) -> tuple[Electrode, float]:
    """The :class:`~hamtrans.negf.Electrode` of a periodic bulk-electrode structure and its band
    Fermi level (eV), both from ``hamiltonian`` (compute once, reuse for every device)."""
    if not structure.pbc[settings.axis]:
        raise HamtransError("the electrode structure must be periodic along the transport axis")
    h, s = hamiltonian.open_matrices(structure, settings.axis)
    positions, atom_of = _orbital_sites(hamiltonian, structure)
    electrode = Electrode.from_matrices(h, s, positions, settings.axis, orbital_atoms=atom_of,
                                        lead_tolerance=settings.lead_tolerance)
    return electrode, _band_fermi_level(hamiltonian, electrode.lead, electrode.orbital_atoms, structure,
                                        settings.temperature)


def transport_setup(atoms: Atoms, hamiltonian: HamiltonianCalculator, settings: TransportSettings,
                    electrode: Electrode | tuple[Electrode, float] | None = None) -> TransportSetup:
    """The device of ``atoms`` with the leads ``settings`` asks for, and its Fermi level.

    Parameters
    ----------
    atoms
        Structure periodic along ``settings.axis`` with electrodes at both ends.
    hamiltonian
        Supplies H and S (a model or the reference).
    settings
        Leads, Fermi level, tolerances.
    electrode
        A bulk electrode (:func:`bulk_electrode`'s result, or an :class:`Electrode` whose Fermi
        level then comes from ``settings.fermi_level``): both leads, aligned onto the
        device's end blocks when ``settings.align_electrodes``.

    Raises
    ------
    LeadError
        No leads as asked: the message names the fix (``lead_cell``, the electrode length).
    HamtransError
        An :class:`Electrode` given without its Fermi level and no ``settings.fermi_level``.
    """
    _check_inputs(atoms, hamiltonian, settings)
    if electrode is not None:
        electrode, band_fermi = electrode if isinstance(electrode, tuple) else (electrode, None)
        return _with_electrode(atoms, hamiltonian, settings, electrode, band_fermi)
    lead_cell = settings.lead_cell or (BUILDER_LEAD_CELL if "device" in atoms.info else None)
    if settings.leads == "auto":
        try:
            return _own_leads(atoms, hamiltonian, settings)
        except LeadError as own:
            if lead_cell is None:
                raise LeadError(f"{own}. The end cells do not repeat, so the leads must continue the structure "
                                "across its cell boundary: give lead_cell= (the electrode's period along the axis, "
                                "Å) with leads='periodic' or 'auto'") from None
            return _periodic_leads(atoms, hamiltonian, settings, lead_cell)
    if settings.leads == "periodic":
        if lead_cell is None:
            raise LeadError("leads='periodic' needs lead_cell= (the electrode's lattice period along the axis, Å)")
        return _periodic_leads(atoms, hamiltonian, settings, lead_cell)
    return _own_leads(atoms, hamiltonian, settings)


def structure_transmission(atoms: Atoms, hamiltonian: HamiltonianCalculator, settings: TransportSettings,
                           energies=None, bias: float = 0.0, options: SweepOptions | None = None,
                           setup: TransportSetup | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(energies, T)``: T(E) of ``atoms`` under ``bias`` (V, linear drop), ``(n_E,)`` each.

    ``energies`` default to E_F ± 2 eV, 201 points; ``options`` holds the runtime fields of the
    sweep (communicator, lead cache, ...); ``setup`` reuses a :func:`transport_setup`.
    """
    setup = setup or transport_setup(atoms, hamiltonian, settings)
    if energies is None:
        energies = np.linspace(setup.fermi_level - 2.0, setup.fermi_level + 2.0, 201)
    energies = np.asarray(energies, dtype=float)
    return energies, transmission(biased_device(setup.device, bias), energies, settings.sweep_options(options))


def structure_current(atoms: Atoms, hamiltonian: HamiltonianCalculator, settings: TransportSettings, bias: float,
                      options: SweepOptions | None = None, setup: TransportSetup | None = None,
                      **grid) -> CurrentResult:
    """Landauer current of ``atoms`` at ``bias`` (V; ``μ_L = E_F + V/2``): ``.current`` in A.

    The energy grid is the settings' (``grid`` overrides a field, e.g. ``resolution=`` for one
    finer current); ``options`` and ``setup`` as in :func:`structure_transmission`.
    """
    setup = setup or transport_setup(atoms, hamiltonian, settings)
    return current(setup.device, bias, settings.temperature, setup.fermi_level,
                   options=settings.sweep_options(options), **settings.current_grid(**grid))


def _check_inputs(atoms, hamiltonian, settings) -> None:
    if not isinstance(atoms, Atoms):
        raise ParameterError(f"the structure must be an ase.Atoms, not {type(atoms).__name__}")
    if not isinstance(hamiltonian, HamiltonianCalculator):
        raise ParameterError(f"hamiltonian must be a HamiltonianCalculator, not {type(hamiltonian).__name__}")
    if not isinstance(settings, TransportSettings):
        raise ParameterError(f"settings must be a TransportSettings, not {type(settings).__name__}")
    if not atoms.pbc[settings.axis]:
        raise HamtransError("the structure must be periodic along the transport axis (electrodes continue "
                            "across the cell boundary); its open matrices along the axis form the device")


def _fermi_level(settings: TransportSettings, hamiltonian: HamiltonianCalculator, band: float | None) -> float:
    """eV: the settings', else the leads' bands', else the reference's; raises when there is none."""
    if settings.fermi_level is not None:
        return settings.fermi_level
    if band is not None:
        return band
    if hamiltonian.fermi_level is not None:
        return hamiltonian.fermi_level
    raise HamtransError("no Fermi level: give fermi_level= (eV)")


def _own_leads(atoms, hamiltonian, settings) -> TransportSetup:
    device = _device(atoms, hamiltonian, settings, settings.lead_cell)
    band = None
    if settings.fermi_level is None and hamiltonian.fermi_level is None:  # a model: the lead's bands
        band = _band_fermi_level(hamiltonian, device.left, device.orbital_atoms[:device.block_sizes[0]], atoms,
                                 settings.temperature)
    return TransportSetup(device, _fermi_level(settings, hamiltonian, band), "own")


def _periodic_leads(atoms, hamiltonian, settings, lead_cell: float) -> TransportSetup:
    hamiltonian.get_property("hamiltonian", atoms)
    electrodes = periodic_electrodes(*hamiltonian.blocks, atoms, settings.axis, lead_cell)
    band = None if settings.fermi_level is not None else _band_fermi_level(
        hamiltonian, electrodes[0].lead, electrodes[0].orbital_atoms, atoms, settings.temperature)
    fermi = _fermi_level(settings, hamiltonian, band)  # before any NEGF work
    device = _device(atoms, hamiltonian, settings, lead_cell, electrodes=electrodes, align_electrodes=False)
    return TransportSetup(device, fermi, "periodic")


def _with_electrode(atoms, hamiltonian, settings, electrode: Electrode, band_fermi: float | None) -> TransportSetup:
    if band_fermi is None and settings.fermi_level is None:
        raise HamtransError("an Electrode without its Fermi level: give fermi_level= (eV), or pass "
                            "bulk_electrode(structure, hamiltonian, settings), which computes it from its bands")
    device = _device(atoms, hamiltonian, settings, settings.lead_cell, electrodes=(electrode, electrode),
                     align_electrodes=settings.align_electrodes)
    band = None if band_fermi is None else band_fermi + (device.electrode_shift or 0.0)
    return TransportSetup(device, _fermi_level(settings, hamiltonian, band), "electrode")


def _device(atoms, hamiltonian, settings, lead_cell: float | None, **electrodes) -> Device:
    """The :class:`Device` of ``atoms`` (open along the axis); ``electrodes``: ``electrodes=`` and
    ``align_electrodes=`` of :meth:`Device.from_matrices` (none: the device's own end cells)."""
    h, s = hamiltonian.open_matrices(atoms, settings.axis)
    positions, atom_of = _orbital_sites(hamiltonian, atoms)
    if electrodes:
        electrodes["electrode_tolerance"] = settings.electrode_tolerance
    return Device.from_matrices(h, s, positions, settings.axis, lead_cell=lead_cell, orbital_atoms=atom_of,
                                lead_tolerance=settings.lead_tolerance, **electrodes)


def _orbital_sites(hamiltonian: HamiltonianCalculator, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Position (Å) and atom index of every orbital of ``atoms`` in the Hamiltonian's basis."""
    atom_of = hamiltonian.basis.orbital_atoms(atoms.numbers)
    return atoms.positions[atom_of], atom_of


def _band_fermi_level(hamiltonian: HamiltonianCalculator, lead, layer_atoms: np.ndarray, atoms: Atoms,
                      temperature: float) -> float:
    """Fermi level (eV) of a charge-neutral lead principal layer from its bands (64 k-points).

    ``layer_atoms``: the atom index of each orbital of the layer.
    """
    numbers = atoms.numbers[np.unique(layer_atoms)]
    return band_fermi_level([lead], [1.0], valence_electrons(hamiltonian.basis.name, numbers), temperature)
