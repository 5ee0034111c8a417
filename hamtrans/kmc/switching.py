"""The I–V sweep of ``hamtrans iv``: KMC of vacancies under a voltage ramp, heated by the current it carries.

For every voltage ``V_k`` of the sweep (:meth:`IVConfig.voltages`) the KMC state
evolves for the hold time of the ramp (``step / rate``, at most ``max_events``
events) in the potential of the electrodes and of the charged defects
(:mod:`hamtrans.kmc.electrostatics`) and at the site temperatures of the heating
model (:mod:`hamtrans.kmc.heating`). The device with the resulting vacancies then
goes through the Hamiltonian model (or the reference) and the NEGF engine, and the
frame is appended to ``trajectory.h5``.

Current/temperature loop: the hold starts from the power the last point's
conductance gives at ``V_k`` (``P = G V²``). After the hold the current gives the
actual power; when the site temperatures it implies differ from the ones used by
more than ``heating.tolerance`` K, the hold is repeated from the same starting
state and random stream with the new power, up to ``heating.max_iterations``
holds. The frame records the iterations and the last temperature residual.

Compliance (``sweep.compliance``, A): on the SET branch (V > 0) a current-limited
source holds ``|I| ≤ I_cc``, as in a SET measurement. The device then sees
``I_cc / G`` instead of ``V_k`` (the field of the KMC, the bias of the current and
the power), updated in the same loop; the frame records that device voltage.

A run that stops is resumed from the last complete frame and gives the same frames
as an uninterrupted one (the reservoir is part of the state and the starting power
follows from the stored frames).

Outputs in ``output.directory``: ``trajectory.h5`` (:mod:`hamtrans.kmc.trajectory`),
``iv.dat`` (table, rewritten after every point), ``iv.png`` (I–V with the SET and
RESET branches and the reads), ``conductance.png`` (G and the filament gap against
time) and ``summary.json`` (with the read currents and their ratio).

Under ``mpiexec -n K`` (``comm``) every rank runs the same KMC; each current is one
collective call: the ranks split the model's prediction into slabs
(:mod:`hamtrans.models.distributed`) and the energies of the NEGF sweep. Rank 0 writes
the outputs and, after every point, sends its state to the others, so they never drift.
"""

from __future__ import annotations

import copy
import json
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm import tqdm

from hamtrans.calculators import HamiltonianCalculator, TransportSettings, structure_current, transport_setup
from hamtrans.data.blocks import lattice_axis
from hamtrans.data.structures import build_vcm_device
from hamtrans.errors import HamtransError
from hamtrans.kmc.electrostatics import SiteElectrostatics
from hamtrans.kmc.engine import KineticMonteCarlo, KMCState
from hamtrans.kmc.filament import FilamentAnalysis
from hamtrans.kmc.grid import DeviceGrid
from hamtrans.kmc.heating import GlobalHeating, LocalHeating
from hamtrans.kmc.iv_config import IVConfig
from hamtrans.kmc.iv_report import plot_conductance, plot_iv, write_iv_table, write_summary
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.trajectory import TrajectoryWriter, frame_record, read_frames
from hamtrans.negf import CurrentResult, SurfaceCache, SweepOptions


def hamiltonian_calculator(config: IVConfig, comm=None) -> HamiltonianCalculator:
    """The ML model or the GFN1-xTB reference named by ``transport.hamiltonian``.

    With ``comm`` the model's prediction is split over its ranks along the transport axis
    (the reference runs whole on every rank).
    """
    name, basis = config.transport.hamiltonian, config.transport.basis
    if name == "gfn1-xtb":
        # image_range 12 Å: the builder's wire widths must exceed block_cutoff + 12 Å (device.vacuum)
        options = {"cutoff": config.transport.block_cutoff, "image_range": 12.0}
        if basis:
            options["basis"] = basis
        return HamiltonianCalculator(reference=name, reference_options=options)
    return HamiltonianCalculator(model=name, basis=basis, comm=comm,
                                 partition_axis=lattice_axis(config.transport.axis))


def heating_model(config: IVConfig, lattice: OxideLattice) -> GlobalHeating | LocalHeating | None:
    """The heating model of ``config.heating`` (``None``: every site at the ambient temperature)."""
    h, ambient = config.heating, config.barriers.temperature
    if h.model == "global":
        return GlobalHeating(ambient, h.thermal_resistance)
    if h.model == "local":
        grid = DeviceGrid.covering(*lattice.electrode_planes, lattice.period, h.grid_spacing)
        wire = lattice.pristine.positions
        lateral = tuple((float(wire[:, k].min()), float(wire[:, k].max())) for k in (1, 2))
        return LocalHeating(grid, ambient, h.oxide_conductivity, h.vacancy_conductivity, lateral=lateral)
    return None


class SwitchingSweep:
    """KMC + transport over a SET/RESET voltage sweep.

    Parameters
    ----------
    config
        The run (:func:`hamtrans.kmc.iv_config.load_iv_config`).
    hamiltonian
        H and S supplier; default from ``config.transport`` (tests pass a toy model).
    progress
        Show a tqdm bar over the voltage points (with ETA; rank 0 only).
    comm
        mpi4py communicator of an ``mpiexec`` run (``None``: one process).
    """

    def __init__(self, config: IVConfig, hamiltonian: HamiltonianCalculator | None = None,
                 progress: bool = True, comm=None) -> None:
        self.config = config
        self.comm = comm
        self.root = comm is None or comm.Get_rank() == 0
        self.directory = Path(config.output.directory)
        self.lattice = OxideLattice.from_device(build_vcm_device(config.device))
        e = config.electrostatics
        electrostatics = (SiteElectrostatics.poisson(self.lattice, e.permittivity, e.grid_spacing, e.charge_width)
                          if e.charges else SiteElectrostatics.linear(self.lattice))
        self.kmc = KineticMonteCarlo(self.lattice, config.barriers, electrostatics, config.kmc.interface_width,
                                     config.kmc.active_electrode, config.kmc.screening)
        self.heating = heating_model(config, self.lattice)
        self.filament = FilamentAnalysis(self.lattice)
        self.voltages = config.voltages()
        self.hamiltonian = hamiltonian or hamiltonian_calculator(config, comm)
        self.progress = progress and self.root
        #: every snapshot has the same electrodes: their surface Green's functions and band Fermi level are kept
        self.lead_cache = SurfaceCache()
        self._settings: TransportSettings | None = None

    @property
    def transport_settings(self) -> TransportSettings:
        """The sweep's transport settings, with the leads resolved once on the pristine device (every
        snapshot has the same electrodes) and their band Fermi level fixed (periodic leads, or a model,
        which has no Fermi level of its own; a reference with own leads keeps its per-snapshot one)."""
        if self._settings is None:
            t = self.config.transport
            setup = transport_setup(self.lattice.pristine, self.hamiltonian, t)
            fixed = {"leads": setup.leads}
            if setup.leads == "periodic" or self.hamiltonian.predictor is not None:
                fixed["fermi_level"] = setup.fermi_level
            self._settings = replace(t, **fixed)
        return self._settings

    def current(self, state: KMCState, voltage: float) -> float:
        """Landauer current (A) of the device with the vacancies of ``state`` at ``voltage`` (V); 0 at 0 V."""
        if voltage == 0.0:
            return 0.0
        grid = {}
        read, finer = self.config.sweep.read_voltage, self.config.transport.read_resolution
        if read is not None and finer is not None and np.isclose(abs(voltage), read):
            grid["resolution"] = finer
        return self.structure_current(self.lattice.structure(state.occupied), voltage, **grid).current

    def structure_current(self, structure: Atoms, voltage: float, **grid) -> CurrentResult:
        """The sweep's current of ``structure`` at ``voltage`` (V); ``grid`` overrides a field of the
        energy grid (e.g. ``resolution``)."""
        return structure_current(structure, self.hamiltonian, self.transport_settings, voltage,
                                 SweepOptions(lead_cache=self.lead_cache, comm=self.comm), **grid)

    def site_temperatures(self, state: KMCState, power: float) -> np.ndarray | None:
        """``(n_sites + n_interstitials,)`` K for ``power`` W dissipated in ``state`` (``None`` without heating)."""
        if self.heating is None:
            return None
        vacancies = self.lattice.site_positions[~state.occupied]
        if isinstance(self.heating, GlobalHeating):
            return self.heating.site_temperatures(self.lattice.all_positions, vacancies, power)
        metrics = self.filament(state.occupied)
        gap = None if metrics.gap == 0.0 else (metrics.gap_from, metrics.gap_to)  # closed: along the vacancies
        return self.heating.site_temperatures(self.lattice.all_positions, vacancies, power, gap)

    def device_voltage(self, voltage: float, conductance: float) -> float:
        """V across the device: ``voltage``, or less where the compliance limits the SET-branch current.

        With ``sweep.compliance`` and ``voltage > 0`` the source holds ``|I| ≤ I_cc``: the device
        voltage is ``I_cc / G`` at the conductance ``G`` (S), rounded down to the transport's energy
        lattice (even multiples of its spacing) so the currents keep sharing lead energies.
        """
        limit = self.config.sweep.compliance
        if limit is None or voltage <= 0 or conductance * voltage <= limit:
            return voltage
        limited = limit / conductance
        t = self.config.transport
        if t.lattice:
            quantum = 2 * t.resolution
            limited = max(quantum, np.floor(limited / quantum + 1e-9) * quantum)
        return float(min(voltage, limited))

    def advance(self, state: KMCState, voltage: float, conductance: float) -> tuple[KMCState, float, dict]:
        """One voltage point: hold, current, and the current/temperature (and compliance) loop.

        ``conductance`` (S) predicts the power of the hold (``G V²``). Returns the state after
        the hold, its current (A) and the loop record (``device_voltage_V``, ``power_W``,
        ``temperature_K`` (hottest site), ``iterations``, ``residual_K``).
        """
        h = self.config.heating
        start = copy.deepcopy(state)
        device_voltage = self.device_voltage(voltage, conductance)
        for iteration in range(1, h.max_iterations + 1):
            temperatures = self.site_temperatures(start, conductance * device_voltage ** 2)
            state = copy.deepcopy(start)
            self.kmc.run(state, device_voltage, self.config.kmc.max_events,
                         max_time=start.time + self.config.hold_time, temperatures=temperatures)
            current = self.current(state, device_voltage)
            conductance = abs(current / device_voltage) if device_voltage else 0.0
            following = self.device_voltage(voltage, conductance)
            residual = 0.0 if temperatures is None else float(np.abs(
                self.site_temperatures(state, conductance * following ** 2) - temperatures).max())
            if (residual <= h.tolerance and following == device_voltage) or iteration == h.max_iterations:
                break
            device_voltage = following
        hottest = self.config.barriers.temperature if temperatures is None else float(temperatures.max())
        return state, current, {"device_voltage_V": device_voltage, "power_W": abs(current * device_voltage),
                                "temperature_K": hottest, "iterations": iteration, "residual_K": residual}

    def run(self) -> list[dict]:
        """Run (or resume) the sweep; returns the frames (see :func:`hamtrans.kmc.read_frames`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "trajectory.h5"
        settings = self.config.to_dict()
        settings.pop("output")
        with ExitStack() as files:
            def open_trajectory():
                writer = files.enter_context(TrajectoryWriter(path, self.lattice, settings, resume=True))
                if json.loads(writer.settings) != json.loads(json.dumps(settings)):
                    raise HamtransError(f"{path} was written with another configuration; use a new "
                                        f"output.directory or delete the file to start again")
                return writer, writer.last_state(), read_frames(path)

            writer, last, frames = self._on_root(open_trajectory, otherwise=(None, None, None))
            last, frames = self._from_root((last, frames))
            state = last[0] if last else KMCState.initial(self.lattice, self.config.kmc.vacancy_fraction,
                                                          self.config.kmc.seed)
            done = len(frames)
            start = time.perf_counter()
            with tqdm(total=len(self.voltages), initial=done, unit="V-point", disable=not self.progress,
                      desc="I-V sweep") as bar:
                for voltage in self.voltages[done:]:
                    voltage = float(voltage)
                    state, current, loop = self._from_root(self.advance(state, voltage, last_conductance(frames)))
                    extra = {**loop, "reservoir": state.reservoir, **self.filament(state.occupied).as_dict()}
                    frames.append(frame_record(state, voltage, current, extra))

                    def record():
                        writer.append(state, voltage, current, extra)
                        self.write_outputs(frames, final=False)

                    self._on_root(record)
                    bar.set_postfix(V=f"{voltage:+.2f}", I=f"{current:.2e} A", vacancies=state.n_vacancies,
                                    T=f"{loop['temperature_K']:.0f} K")
                    bar.update(1)
        seconds = time.perf_counter() - start
        self._on_root(lambda: self.write_outputs(frames, final=True, seconds=seconds))
        return frames

    def _from_root(self, value):
        """``value`` as rank 0 has it, on every rank (itself without MPI)."""
        return value if self.comm is None else self.comm.bcast(value, root=0)

    def _on_root(self, action, otherwise=None):
        """``action()`` on rank 0: its result there, ``otherwise`` on the other ranks.

        Its failure is raised on every rank (rank 0's own error there), so that no rank goes
        on to a collective call that rank 0 never reaches.
        """
        result, failure = None, None
        if self.root:
            try:
                result = action()
            except Exception as exc:  # re-raised below on rank 0, announced to the others
                failure = exc
        if self.comm is not None:
            message = self.comm.bcast(None if failure is None else f"{type(failure).__name__}: {failure}", root=0)
            if message is not None and not self.root:
                raise HamtransError(f"rank 0 stopped the sweep: {message}")
        if failure is not None:
            raise failure
        return result if self.root else otherwise

    def write_outputs(self, frames: list[dict], final: bool, seconds: float | None = None) -> None:
        """``iv.dat`` after every point; plots and ``summary.json`` at the end."""
        write_iv_table(self.directory / "iv.dat", frames)
        if final:
            read = self.config.sweep.read_voltage
            plot_iv(self.directory / "iv.png", frames, read)
            plot_conductance(self.directory / "conductance.png", frames)
            write_summary(self.directory / "summary.json", frames, self.config.to_dict(), seconds, read)


def last_conductance(frames: list[dict]) -> float:
    """S of the last biased frame (``|I| / V`` across the device; 0 before any)."""
    for frame in reversed(frames):
        voltage = frame.get("device_voltage_V", frame["voltage"])
        if voltage != 0.0:
            return abs(frame["current"] / voltage)
    return 0.0
