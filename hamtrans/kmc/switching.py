"""The I–V sweep of ``hamtrans iv``: KMC of vacancies at each voltage, then the current of the structure.

For every voltage ``V_k`` of the sweep (:meth:`IVConfig.voltages`) the KMC state
evolves for ``hold_time`` at ``V_k`` (at most ``max_events`` events), the device
with the resulting vacancies goes through the Hamiltonian model (or the
reference) and the NEGF engine, and the frame (occupations, clock, events,
voltage, current) is appended to ``trajectory.h5``. A run that stops is resumed
from the last complete frame with the same configuration and gives the same
frames as an uninterrupted one.

Outputs in ``output.directory``: ``trajectory.h5`` (:mod:`hamtrans.kmc.trajectory`),
``iv.dat`` (table, rewritten after every point), ``iv.png`` (I–V hysteresis),
``conductance.png`` (G = I/V vs simulated time) and ``summary.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm import tqdm

from hamtrans.calculators import HamiltonianCalculator, TransportCalculator
from hamtrans.data.structures import A_TIN, build_vcm_device
from hamtrans.errors import HamtransError
from hamtrans.kmc.engine import KineticMonteCarlo, KMCState
from hamtrans.kmc.iv_config import IVConfig
from hamtrans.kmc.iv_report import plot_conductance, plot_iv, write_iv_table, write_summary
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.trajectory import TrajectoryWriter, frame_record, read_frames
from hamtrans.negf import SweepOptions


def hamiltonian_calculator(config: IVConfig) -> HamiltonianCalculator:
    """The ML model or the GFN1-xTB reference named by ``transport.hamiltonian``."""
    name, basis = config.transport.hamiltonian, config.transport.basis
    if name == "gfn1-xtb":
        # image_range 12 Å: the builder's wire widths must exceed block_cutoff + 12 Å (device.vacuum)
        options = {"cutoff": config.transport.block_cutoff, "image_range": 12.0}
        if basis:
            options["basis"] = basis
        return HamiltonianCalculator(reference=name, reference_options=options)
    return HamiltonianCalculator(model=name, basis=basis)


class SwitchingSweep:
    """KMC + transport over a SET/RESET voltage sweep.

    Parameters
    ----------
    config
        The run (:func:`hamtrans.kmc.iv_config.load_iv_config`).
    hamiltonian
        H and S supplier; default from ``config.transport`` (tests pass a toy model).
    progress
        Show a tqdm bar over the voltage points (with ETA).
    """

    def __init__(self, config: IVConfig, hamiltonian: HamiltonianCalculator | None = None,
                 progress: bool = True) -> None:
        self.config = config
        self.directory = Path(config.output.directory)
        self.lattice = OxideLattice.from_device(build_vcm_device(config.device))
        self.kmc = KineticMonteCarlo(self.lattice, config.barriers)
        self.voltages = config.voltages()
        self.hamiltonian = hamiltonian or hamiltonian_calculator(config)
        self.progress = progress
        t = config.transport
        if t.fermi_level is None and t.leads == "own" and self.hamiltonian.predictor is not None:
            raise HamtransError("transport.fermi_level is required with a model and leads: own (a model has no "
                                "Fermi level); give it or use leads: periodic (the leads' band Fermi level)")

    def current(self, state: KMCState, voltage: float) -> float:
        """Landauer current (A) of the device with the vacancies of ``state`` at ``voltage`` (V)."""
        t = self.config.transport
        periodic = t.leads == "periodic"
        calc = TransportCalculator(self.hamiltonian, axis="x", bias=voltage, temperature=t.temperature,
                                   fermi_level=t.fermi_level, tolerance=t.tolerance, points=t.points,
                                   resolution=t.resolution,
                                   sweep=SweepOptions(eta=t.eta, lead_method=t.lead_method, backend=t.backend),
                                   electrode="periodic" if periodic else None, lead_cell=A_TIN if periodic else None)
        return float(calc.get_property("current", self.lattice.structure(state.occupied)))

    def run(self) -> list[dict]:
        """Run (or resume) the sweep; returns the frames (see :func:`hamtrans.kmc.read_frames`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "trajectory.h5"
        settings = self.config.to_dict()
        settings.pop("output")
        with TrajectoryWriter(path, self.lattice, settings, resume=True) as writer:
            stored = json.loads(writer.settings)
            if stored != json.loads(json.dumps(settings)):
                raise HamtransError(f"{path} was written with another configuration; use a new output.directory "
                                    f"or delete the file to start again")
            last = writer.last_state()
            state = last[0] if last else KMCState.initial(self.lattice, self.config.kmc.vacancy_fraction,
                                                          self.config.kmc.seed)
            frames = read_frames(path)
            done = len(frames)
            start = time.perf_counter()
            with tqdm(total=len(self.voltages), initial=done, unit="V-point", disable=not self.progress,
                      desc="I-V sweep") as bar:
                for voltage in self.voltages[done:]:
                    self.kmc.run(state, float(voltage), self.config.kmc.max_events,
                                 max_time=state.time + self.config.kmc.hold_time)
                    current = self.current(state, float(voltage))
                    writer.append(state, float(voltage), current)
                    frames.append(frame_record(state, voltage, current))
                    self.write_outputs(frames, final=False)
                    bar.set_postfix(V=f"{voltage:+.2f}", I=f"{current:.2e} A", vacancies=state.n_vacancies)
                    bar.update(1)
        self.write_outputs(frames, final=True, seconds=time.perf_counter() - start)
        return frames

    def write_outputs(self, frames: list[dict], final: bool, seconds: float | None = None) -> None:
        """``iv.dat`` after every point; plots and ``summary.json`` at the end."""
        write_iv_table(self.directory / "iv.dat", frames)
        if final:
            plot_iv(self.directory / "iv.png", frames)
            plot_conductance(self.directory / "conductance.png", frames)
            write_summary(self.directory / "summary.json", frames, self.config.to_dict(), seconds)
