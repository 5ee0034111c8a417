"""``hamtrans iv`` configuration: device, KMC, voltage sweep, transport and output sections.

Every key is optional; the defaults below are those of :class:`IVConfig`. Numbers must be
finite and flags ``true`` or ``false``; a bad value is a :class:`~hamtrans.config.ConfigError`
naming its key::

    device:                     # hamtrans.data.structures.DeviceSpec (the PRISTINE device:
      cross_section: [8.48, 8.48]   #   its O sites are the KMC lattice; `vacancies` is not a key)
      electrode_length: 8.48
      oxide_length: 10.0
      ti_length: 0.0
      vacuum: 12.0              # nanowire: vacuum in y and z
      seed: 0
    kmc:
      vacancy_fraction: 0.1     # initial random vacancies (share of the oxide O sites)
      seed: 0
      hold_time: 1.0e-3         # s at each voltage point (or give sweep.rate)
      max_events: 500           # cap per voltage point (the clock stops at the last event)
      barriers: {}              # hamtrans.kmc.Barriers keys: generation, interface_generation,
                                #   recombination, vacancy_hop, ion_hop, electrode_release (eV),
                                #   attempt_frequency (Hz), temperature (K: the ambient)
      interface_width: 4.0      # Å from the active electrode: the layer that exchanges O with it
      active_electrode: left    # the oxygen reservoir: left (biased) or right (grounded; the builder's
                                #   Ti layer, ti_length > 0, sits on the right: SET then at negative V)
      screening: true           # conducting vacancies/ions are neutral (DeviceKMC's rule)
    electrostatics:
      charges: true             # Poisson with the defect charges; false: the linear drop
      permittivity: 23.0        # relative permittivity of the oxide (HfO2)
      grid_spacing: 0.7         # Å of the Poisson grid
      charge_width: 3.5         # Å, Gaussian width of a defect charge
    heating:
      model: none               # none, global (T = T0 + R_th P) or local (steady heat equation)
      thermal_resistance: 1.0e7 # K/W (global)
      oxide_conductivity: 0.5   # W/(m K) (local)
      vacancy_conductivity: 5.0 # W/(m K) near vacancies (local)
      grid_spacing: 1.0         # Å of the heat grid (local)
      tolerance: 10.0           # K: largest site-temperature change accepted by the current/heat loop
      max_iterations: 3         # KMC holds per point in that loop
    sweep:
      max_voltage: 2.0          # V: 0 -> max_voltage -> 0 -> min_voltage -> 0
      min_voltage: -2.0
      step: 0.5                 # V between points
      rate: null                # V/s; sets the hold per point to step / rate (instead of kmc.hold_time)
      read_voltage: null        # V (> 0, a point of the sweep): reads at ±read_voltage on each branch
      compliance: null          # A: current limit of the source on the SET branch (V > 0)
    transport:                  # hamtrans.calculators.TransportSettings, plus the Hamiltonian:
      hamiltonian: vcm-gfn1     # model file, shipped model name, or gfn1-xtb (the reference)
      basis: null               # sub-basis for transport, e.g. gfn1-xtb-compact (positive-definite S)
      leads: auto               # own: the device's end cells repeat; periodic: the device continued
                                #   across its cell boundary (hamtrans.negf.periodic_electrodes);
                                #   auto: own where the end cells repeat, else periodic
      lead_cell: null           # Å, electrode period along x (null: detected; auto: the builder's TiN)
      fermi_level: null         # eV; null: the leads' band Fermi level (periodic leads, or a model
                                #   with own leads) or the reference's
      temperature: 300.0        # K of the contacts' Fermi functions
      tolerance: 0.01           # relative tolerance of the adaptive current integral
      resolution: null          # eV between the adaptive grid's first energies (null: kT at 300 K)
      points: null              # or a number (≥ 3) of uniform energies over μ_R − 10 kT … μ_L + 10 kT (fixed cost)
      lattice: false            # true: energies E_F + k·resolution over that window; with voltages that are
                                #   even multiples of resolution, every lead energy is solved once per sweep
      read_resolution: null     # eV: a finer spacing for the currents at ±sweep.read_voltage (lattice only)
      eta: 0.0                  # eV
      lead_method: eigenmode    # or sancho-rubio (needs eta > 0)
      backend: numpy            # or cupy: the NEGF sweeps on a GPU
      block_cutoff: 8.0         # Å, blocks kept by the reference (gfn1-xtb only)
    output:
      directory: iv_out

The left electrode sits at the applied voltage, the right one is grounded, and
the Landauer bias of the transport calculation is the same voltage.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from hamtrans.calculators.transport_settings import TransportSettings
from hamtrans.config import ConfigError, as_dict, check_keys, load_raw, section
from hamtrans.data.structures import DeviceSpec
from hamtrans.errors import HamtransError, ParameterError
from hamtrans.kmc.engine import Barriers


@dataclass(frozen=True)
class KMCSection:
    vacancy_fraction: float = 0.1
    seed: int = 0
    hold_time: float = 1e-3
    max_events: int = 500
    barriers: dict = field(default_factory=dict)
    interface_width: float = 4.0
    active_electrode: str = "left"
    screening: bool = True


@dataclass(frozen=True)
class ElectrostaticsSection:
    charges: bool = True
    permittivity: float = 23.0
    grid_spacing: float = 0.7
    charge_width: float = 3.5


@dataclass(frozen=True)
class HeatingSection:
    model: str = "none"
    thermal_resistance: float = 1e7
    oxide_conductivity: float = 0.5
    vacancy_conductivity: float = 5.0
    grid_spacing: float = 1.0
    tolerance: float = 10.0
    max_iterations: int = 3


@dataclass(frozen=True)
class SweepSection:
    max_voltage: float = 2.0
    min_voltage: float = -2.0
    step: float = 0.5
    rate: float | None = None
    read_voltage: float | None = None
    compliance: float | None = None


@dataclass(frozen=True)
class TransportSection(TransportSettings):
    """The ``transport`` section: the :class:`~hamtrans.calculators.TransportSettings` of every
    current of the sweep, plus the Hamiltonian that feeds them."""

    prefix: ClassVar[str] = "transport."

    hamiltonian: str = "vcm-gfn1"
    basis: str | None = None
    read_resolution: float | None = None
    block_cutoff: float = 8.0

    def _problem(self) -> str | None:
        problem = super()._problem()
        if problem is None and self.read_resolution is not None and not (self.lattice and self.read_resolution > 0):
            return ("read_resolution must be a positive energy (eV) and needs transport.lattice: true (it refines "
                    "the energy lattice at the reads)")
        return problem


@dataclass(frozen=True)
class OutputSection:
    directory: str = "iv_out"


#: The default I–V device: a TiN | HfO2 | TiN nanowire whose periodic widths allow exact 8 Å GFN1 blocks.
DEFAULT_DEVICE = DeviceSpec(cross_section=(8.48, 8.48), electrode_length=8.48, oxide_length=10.0, ti_length=0.0,
                            vacuum=12.0, vacancies="none", seed=0)


@dataclass(frozen=True)
class IVConfig:
    """A validated ``hamtrans iv`` configuration (see the module docstring for the keys)."""

    device: DeviceSpec = DEFAULT_DEVICE
    kmc: KMCSection = KMCSection()
    sweep: SweepSection = SweepSection()
    transport: TransportSection = TransportSection()
    output: OutputSection = OutputSection()
    electrostatics: ElectrostaticsSection = ElectrostaticsSection()
    heating: HeatingSection = HeatingSection()

    @property
    def barriers(self) -> Barriers:
        return Barriers(**self.kmc.barriers)

    @property
    def hold_time(self) -> float:
        """Seconds at each voltage point: ``step / rate`` for a ramp, else ``kmc.hold_time``."""
        return self.sweep.step / self.sweep.rate if self.sweep.rate else self.kmc.hold_time

    def voltages(self) -> np.ndarray:
        """The sweep 0 → max → 0 → min → 0 in steps of ``sweep.step`` (V)."""
        return voltage_schedule(self.sweep.max_voltage, self.sweep.min_voltage, self.sweep.step)

    def to_dict(self) -> dict:
        device = as_dict(self.device)
        del device["vacancies"]
        return {"device": device, "kmc": as_dict(self.kmc), "sweep": as_dict(self.sweep),
                "transport": as_dict(self.transport), "output": as_dict(self.output),
                "electrostatics": as_dict(self.electrostatics), "heating": as_dict(self.heating)}


def voltage_schedule(max_voltage: float, min_voltage: float, step: float) -> np.ndarray:
    """Voltages (V) of a SET/RESET sweep ``0 → max_voltage → 0 → min_voltage → 0``.

    ``max_voltage`` and ``-min_voltage`` must be non-negative multiples of ``step``
    (to 1e-9 V) so the sweep passes through them and through 0 exactly.
    """
    if step <= 0:
        raise ConfigError(f"sweep.step must be positive, got {step}")
    if max_voltage < 0 or min_voltage > 0:
        raise ConfigError(f"sweep needs max_voltage >= 0 >= min_voltage, got {max_voltage} and {min_voltage}")
    counts = []
    for name, value in (("max_voltage", max_voltage), ("min_voltage", -min_voltage)):
        n = round(value / step)
        if abs(n * step - value) > 1e-9:
            raise ConfigError(f"sweep.{name} = {value:g} V is not a multiple of sweep.step = {step:g} V")
        counts.append(n)
    up, down = (step * np.arange(n + 1) for n in counts)
    legs = [up, up[::-1][1:], -down[1:], -down[::-1][1:]]
    return np.concatenate(legs) + 0.0  # + 0.0 turns -0.0 into 0.0


def parse_iv_config(raw: dict) -> IVConfig:
    """Validate a configuration mapping."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a YAML mapping")
    check_keys(raw, IVConfig, "the configuration")
    device_raw = dict(raw.get("device") or {})
    if "vacancies" in device_raw:
        raise ConfigError("device.vacancies is not a key here: the device is the pristine lattice; "
                          "set kmc.vacancy_fraction for the initial vacancies")
    try:
        device = section(DeviceSpec, {**as_dict(DEFAULT_DEVICE), **device_raw, "vacancies": "none"}, "device",
                         finite=True)
    except ConfigError:
        raise
    except HamtransError as error:  # DeviceSpec's own checks name the key
        raise ConfigError(f"device.{error}") from None
    kmc = section(KMCSection, raw.get("kmc"), "kmc", finite=True)
    if not isinstance(kmc.barriers, dict):
        raise ConfigError("kmc.barriers must be a mapping of barrier names to energies (eV)")
    check_keys(kmc.barriers, Barriers, "kmc.barriers")
    if not 0.0 <= kmc.vacancy_fraction < 1.0:
        raise ConfigError(f"kmc.vacancy_fraction must be in [0, 1), got {kmc.vacancy_fraction}")
    if kmc.hold_time <= 0 or kmc.max_events < 0:
        raise ConfigError("kmc.hold_time must be positive and kmc.max_events non-negative")
    if kmc.active_electrode not in ("left", "right"):
        raise ConfigError(f"kmc.active_electrode must be 'left' or 'right', not '{kmc.active_electrode}'")
    if not kmc.interface_width > 0:
        raise ConfigError(f"kmc.interface_width must be a positive length (Å), not {kmc.interface_width}")
    try:
        barriers = section(Barriers, kmc.barriers, "kmc.barriers", finite=True)  # numbers checked by name
    except ConfigError:
        raise
    except HamtransError as error:
        raise ConfigError(f"kmc.barriers: {error}") from None
    kmc = replace(kmc, barriers={key: getattr(barriers, key) for key in kmc.barriers})
    try:
        transport = section(TransportSection, raw.get("transport"), "transport", finite=True)
    except ParameterError as error:  # TransportSettings' own checks, named transport.<key>
        raise ConfigError(str(error)) from None
    config = IVConfig(device, kmc, section(SweepSection, raw.get("sweep"), "sweep", finite=True), transport,
                      section(OutputSection, raw.get("output"), "output"),
                      section(ElectrostaticsSection, raw.get("electrostatics"), "electrostatics", finite=True),
                      section(HeatingSection, raw.get("heating"), "heating", finite=True))
    voltages = config.voltages()  # validates the sweep
    _check_physics(config, voltages)
    return config


def _check_physics(config: IVConfig, voltages: np.ndarray) -> None:
    """Named errors for the electrostatics, heating and ramp settings."""
    e, h, s = config.electrostatics, config.heating, config.sweep
    if not e.permittivity > 0:
        raise ConfigError(f"electrostatics.permittivity must be positive (relative permittivity), not {e.permittivity}")
    if not e.grid_spacing > 0 or not e.charge_width > 0:
        raise ConfigError("electrostatics.grid_spacing and electrostatics.charge_width must be positive lengths (Å)")
    if h.model not in ("none", "global", "local"):
        raise ConfigError(f"heating.model must be 'none', 'global' or 'local', not '{h.model}'")
    if not h.thermal_resistance >= 0:
        raise ConfigError(f"heating.thermal_resistance must be ≥ 0 K/W, not {h.thermal_resistance}")
    if not h.grid_spacing > 0:
        raise ConfigError(f"heating.grid_spacing must be a positive length (Å), not {h.grid_spacing}")
    if not (h.oxide_conductivity > 0 and h.vacancy_conductivity > 0):
        raise ConfigError("heating.oxide_conductivity and heating.vacancy_conductivity must be positive (W/(m K))")
    if not h.tolerance > 0 or h.max_iterations < 1:
        raise ConfigError("heating.tolerance must be positive (K) and heating.max_iterations at least 1")
    if s.rate is not None and not s.rate > 0:
        raise ConfigError(f"sweep.rate must be a positive ramp rate (V/s) or null, not {s.rate}")
    if s.compliance is not None and not s.compliance > 0:
        raise ConfigError(f"sweep.compliance must be a positive current (A) or null, not {s.compliance}")
    if s.read_voltage is not None and not (s.read_voltage > 0 and np.any(np.isclose(voltages, s.read_voltage))
                                           and np.any(np.isclose(voltages, -s.read_voltage))):
        raise ConfigError(f"sweep.read_voltage = {s.read_voltage} V must be positive and a point of the sweep at "
                          f"both polarities (multiples of sweep.step = {s.step} V up to the smaller amplitude)")


def load_iv_config(path: str | Path) -> IVConfig:
    """Read and validate a ``hamtrans iv`` YAML file."""
    return parse_iv_config(load_raw(path))
