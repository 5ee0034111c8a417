"""``hamtrans iv`` configuration: device, KMC, voltage sweep, transport and output sections.

Every key is optional; the defaults below are those of :class:`IVConfig`::

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
      hold_time: 1.0e-3         # s at each voltage point (the sweep rate is step / hold_time)
      max_events: 500           # cap per voltage point (the clock stops at the last event)
      barriers: {}              # hamtrans.kmc.Barriers keys: generation, recombination,
                                #   vacancy_hop, ion_hop (eV), attempt_frequency (Hz), temperature (K)
    sweep:
      max_voltage: 2.0          # V: 0 -> max_voltage -> 0 -> min_voltage -> 0
      min_voltage: -2.0
      step: 0.5                 # V between points
    transport:
      hamiltonian: vcm-gfn1     # model file, shipped model name, or gfn1-xtb (the reference)
      basis: null               # sub-basis for transport, e.g. gfn1-xtb-compact (positive-definite S)
      leads: own                # own: the device's end cells repeat; periodic: the device continued
                                #   across its cell boundary (hamtrans.negf.periodic_electrodes)
      fermi_level: null         # eV; null: the leads' band Fermi level (periodic) or the
                                #   reference's; a model with own leads needs it
      temperature: 300.0        # K of the contacts' Fermi functions
      tolerance: 0.01           # relative tolerance of the adaptive current integral
      resolution: null          # eV between the adaptive grid's first energies (null: kT at 300 K)
      points: null              # or a number of uniform energies over μ_R − 10 kT … μ_L + 10 kT (fixed cost)
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

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hamtrans.config import ConfigError, as_dict, check_keys, load_raw, section
from hamtrans.data.structures import DeviceSpec
from hamtrans.kmc.engine import Barriers


@dataclass(frozen=True)
class KMCSection:
    vacancy_fraction: float = 0.1
    seed: int = 0
    hold_time: float = 1e-3
    max_events: int = 500
    barriers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSection:
    max_voltage: float = 2.0
    min_voltage: float = -2.0
    step: float = 0.5


@dataclass(frozen=True)
class TransportSection:
    hamiltonian: str = "vcm-gfn1"
    basis: str | None = None
    leads: str = "own"
    fermi_level: float | None = None
    temperature: float = 300.0
    tolerance: float = 1e-2
    resolution: float | None = None
    points: int | None = None
    eta: float = 0.0
    lead_method: str = "eigenmode"
    backend: str = "numpy"
    block_cutoff: float = 8.0


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

    @property
    def barriers(self) -> Barriers:
        return Barriers(**self.kmc.barriers)

    def voltages(self) -> np.ndarray:
        """The sweep 0 → max → 0 → min → 0 in steps of ``sweep.step`` (V)."""
        return voltage_schedule(self.sweep.max_voltage, self.sweep.min_voltage, self.sweep.step)

    def to_dict(self) -> dict:
        device = as_dict(self.device)
        del device["vacancies"]
        return {"device": device, "kmc": as_dict(self.kmc), "sweep": as_dict(self.sweep),
                "transport": as_dict(self.transport), "output": as_dict(self.output)}


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
    device = section(DeviceSpec, {**as_dict(DEFAULT_DEVICE), **device_raw, "vacancies": "none"}, "device")
    kmc = section(KMCSection, raw.get("kmc"), "kmc")
    check_keys(kmc.barriers, Barriers, "kmc.barriers")
    if not 0.0 <= kmc.vacancy_fraction < 1.0:
        raise ConfigError(f"kmc.vacancy_fraction must be in [0, 1), got {kmc.vacancy_fraction}")
    if kmc.hold_time <= 0 or kmc.max_events < 0:
        raise ConfigError("kmc.hold_time must be positive and kmc.max_events non-negative")
    config = IVConfig(device, kmc, section(SweepSection, raw.get("sweep"), "sweep"),
                      section(TransportSection, raw.get("transport"), "transport"),
                      section(OutputSection, raw.get("output"), "output"))
    config.voltages()  # validates the sweep
    if config.transport.lead_method not in ("eigenmode", "sancho-rubio"):
        raise ConfigError(f"transport.lead_method must be 'eigenmode' or 'sancho-rubio', "
                          f"not '{config.transport.lead_method}'")
    if config.transport.backend not in ("numpy", "cupy"):
        raise ConfigError(f"transport.backend must be 'numpy' or 'cupy', not '{config.transport.backend}'")
    if config.transport.leads not in ("own", "periodic"):
        raise ConfigError(f"transport.leads must be 'own' or 'periodic', not '{config.transport.leads}'")
    if config.transport.resolution is not None and not config.transport.resolution > 0:
        raise ConfigError(f"transport.resolution must be a positive energy (eV) or null, "
                          f"not {config.transport.resolution}")
    if config.transport.resolution is not None and config.transport.points:
        raise ConfigError("transport.points (uniform grid) and transport.resolution (adaptive grid) exclude "
                          "each other")
    return config


def load_iv_config(path: str | Path) -> IVConfig:
    """Read and validate a ``hamtrans iv`` YAML file."""
    return parse_iv_config(load_raw(path))
