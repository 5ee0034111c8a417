"""ASE calculator for quantum transport: a HamiltonianCalculator feeding the NEGF engine.

>>> calc = TransportCalculator(HamiltonianCalculator(model="vcm-gfn1-8", basis="gfn1-xtb-compact"), bias=0.2,
...                            leads="periodic", lead_cell=4.24, eta=1e-5, lead_method="sancho-rubio")
>>> calc.get_property("current", device_atoms)                    # A
>>> calc.get_property("transmission", device_atoms)               # T(E) of the biased device on
>>> calc.results["energies"]                                      # these energies (eV)

The structure must be periodic along the axis with electrodes at both ends (its open
matrices along the axis form the device; see :class:`hamtrans.negf.Device`). The settings
(a :class:`~hamtrans.calculators.TransportSettings`, or its fields as keywords) say where
the leads come from: the device's own repeating end cells, its periodic continuation across
the cell boundary, or a separate bulk-electrode structure (``electrode=``). The work is
done by :mod:`hamtrans.calculators.structure_transport`; this class keeps the device of
the last structure, so a current and a T(E) of the same atoms share it.
"""

from __future__ import annotations

from dataclasses import fields

from ase import Atoms
from ase.calculators.calculator import all_changes

from hamtrans.calculators.arguments import CheckedCalculator, energy_grid, integer, number, shown
from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.calculators.structure_transport import (
    TransportSetup,
    bulk_electrode,
    structure_current,
    structure_transmission,
    transport_setup,
)
from hamtrans.calculators.transport_settings import TransportSettings
from hamtrans.errors import ParameterError
from hamtrans.negf import Electrode, SweepOptions

#: the :class:`~hamtrans.negf.SweepOptions` fields that are settings (they change the result)
SWEEP_SETTINGS = ("eta", "lead_method", "backend")
#: the keywords that are :class:`TransportSettings` fields
SETTING_KEYWORDS = tuple(f.name for f in fields(TransportSettings))
#: the keywords of ase.calculators.calculator.Calculator itself
ASE_KEYWORDS = ("restart", "ignore_bad_restart_file", "label", "atoms", "directory")


class TransportCalculator(CheckedCalculator):
    """Transmission and Landauer current of a two-terminal structure (an ASE adapter of
    :func:`~hamtrans.calculators.structure_transport.structure_current`).

    Parameters
    ----------
    hamiltonian
        The :class:`HamiltonianCalculator` that supplies H and S.
    settings
        A :class:`TransportSettings`; or leave it out and give its fields as keywords
        (``axis``, ``temperature``, ``fermi_level``, ``leads``, ``lead_cell``, ``tolerance``,
        ``eta``, ``lead_method``, ...).
    bias
        Volts (``μ_L = E_F + V/2``).
    energies
        Energies (eV) of the reported T(E); default ``E_F ± 2 eV``, 201 points.
    electrode
        ``"periodic"``: the leads continue the device across its cell boundary (the same as
        ``leads="periodic"``; needs ``lead_cell``). A periodic structure of the bulk electrode
        (e.g. :func:`hamtrans.data.structures.build_electrode`, ≥ 3 principal layers): its H
        and S come from ``hamiltonian`` once and its principal layer becomes both leads (its
        band Fermi level moves with the alignment). An :class:`~hamtrans.negf.Electrode` is
        used as it is (give ``fermi_level``). ``None``: ``settings.leads``.
    sweep
        :class:`hamtrans.negf.SweepOptions`: the runtime fields (MPI communicator, lead cache,
        batch size, ...); its ``eta``, ``lead_method`` and ``backend`` are the settings' when
        ``settings`` is not given.

    Raises
    ------
    ParameterError
        An argument of the wrong type or out of range (each is checked here, before any
        H, S or NEGF work; :class:`TransportSettings` names the field), or ``settings`` together
        with setting keywords or a ``sweep`` whose η, lead method or backend differ from it.
    """

    implemented_properties = ["transmission", "current"]

    def __init__(self, hamiltonian: HamiltonianCalculator, settings: TransportSettings | None = None,
                 bias: float = 0.0, energies=None, electrode=None, sweep: SweepOptions | None = None,
                 **keywords) -> None:
        given = {key: keywords.pop(key) for key in SETTING_KEYWORDS if key in keywords}
        unknown = sorted(set(keywords) - set(ASE_KEYWORDS))
        if unknown:
            raise ParameterError(f"TransportCalculator({unknown[0]}=...): unknown keyword; settings: "
                                 f"{', '.join(SETTING_KEYWORDS)}; or bias, energies, electrode, sweep, settings")
        super().__init__(**keywords)
        if not isinstance(hamiltonian, HamiltonianCalculator):
            raise ParameterError(f"TransportCalculator(hamiltonian={shown(hamiltonian)}): give a HamiltonianCalculator")
        where = "TransportCalculator"
        self.hamiltonian = hamiltonian
        self.bias = number(where, "bias", bias, "V")
        self.energies = None if energies is None else energy_grid(where, energies)
        self.options = _sweep_options(sweep)
        self.electrode_source = _electrode_source(electrode)
        if electrode == "periodic":
            given["leads"] = "periodic"
        if settings is None:
            swept = {} if sweep is None else {key: getattr(sweep, key) for key in SWEEP_SETTINGS}
            clash = [key for key in SWEEP_SETTINGS if key in given and key in swept
                     and swept[key] != getattr(SweepOptions(), key) and swept[key] != given[key]]
            if clash:
                raise ParameterError(f"TransportCalculator: {clash[0]}= and sweep=SweepOptions({clash[0]}=...) "
                                     "differ; give it once")
            settings = TransportSettings(**{**swept, **given})
        elif not isinstance(settings, TransportSettings):
            raise ParameterError(f"TransportCalculator(settings={shown(settings)}): give a TransportSettings")
        elif given:
            raise ParameterError(f"TransportCalculator: give settings= or its fields as keywords, not both "
                                 f"(got {', '.join(sorted(given))})")
        elif sweep is not None and any(getattr(sweep, key) not in (getattr(SweepOptions(), key), getattr(settings, key))
                                       for key in SWEEP_SETTINGS):
            raise ParameterError("TransportCalculator: sweep= sets eta, lead_method or backend other than settings=; "
                                 "set them in the TransportSettings")
        self.settings = settings
        self.setup: TransportSetup | None = None
        self.electrode: tuple[Electrode, float] | Electrode | None = None

    @property
    def device(self):
        """The :class:`~hamtrans.negf.Device` of the last structure (``None`` before the first)."""
        return None if self.setup is None else self.setup.device

    def calculate(self, atoms=None, properties=("current",), system_changes=all_changes) -> None:
        """Compute the requested properties; the device is rebuilt only when the atoms changed.

        ``transmission`` (on :attr:`energies`) and ``current`` (the settings' energy grid) are
        separate sweeps, so a property that was not asked for costs nothing.
        """
        super().calculate(atoms, properties, system_changes)
        if self.setup is None or system_changes:
            if isinstance(self.electrode_source, (Atoms, Electrode)) and self.electrode is None:
                source = self.electrode_source
                self.electrode = source if isinstance(source, Electrode) else bulk_electrode(source, self.hamiltonian,
                                                                                             self.settings)
            self.setup = transport_setup(self.atoms, self.hamiltonian, self.settings, self.electrode)
        if "transmission" in properties:
            energies, t = structure_transmission(self.atoms, self.hamiltonian, self.settings, self.energies,
                                                 self.bias, self.options, self.setup)
            self.results["energies"] = energies
            self.results["transmission"] = t
        if "current" in properties:
            result = structure_current(self.atoms, self.hamiltonian, self.settings, self.bias, self.options,
                                       self.setup)
            self.results["current"] = result.current
            self.results["current_result"] = result

    @property
    def fermi_level(self) -> float:
        """eV of the last structure's device (see :attr:`TransportSetup.fermi_level`)."""
        if self.setup is None:
            raise ParameterError("TransportCalculator.fermi_level: no structure yet; call "
                                 "calc.calculate(atoms, properties=()) or get_property first")
        return self.setup.fermi_level


def _sweep_options(sweep) -> SweepOptions:
    """``sweep`` (``None``: the defaults), checked to be a :class:`SweepOptions` with a sane batch size."""
    if sweep is None:
        return SweepOptions()
    if not isinstance(sweep, SweepOptions):
        raise ParameterError(f"TransportCalculator(sweep={shown(sweep)}): give a hamtrans.negf.SweepOptions, "
                             "e.g. SweepOptions(eta=1e-5, lead_method='sancho-rubio')")
    integer("TransportCalculator(sweep=...) SweepOptions", "batch_size", sweep.batch_size, 1,
            "energies per batched sweep")
    return sweep


def _electrode_source(electrode):
    """``electrode`` if it is ``None``, ``"periodic"``, a structure or an :class:`Electrode`."""
    if electrode is None or isinstance(electrode, (Atoms, Electrode)) or electrode == "periodic":
        return electrode
    raise ParameterError(f"TransportCalculator(electrode={shown(electrode)}): give None (settings.leads), "
                         "'periodic', an electrode structure (ase.Atoms) or a hamtrans.negf.Electrode")
