"""``hamtrans iv``: voltage schedule, configuration errors, KMC + transport sweep, exact resume, outputs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hamtrans.calculators import HamiltonianCalculator, TransportCalculator, TransportSettings
from hamtrans.config import ConfigError
from hamtrans.data.structures import bulk_tin
from hamtrans.errors import HamtransError
from hamtrans.kmc import read_frames
from hamtrans.kmc.iv_config import parse_iv_config, voltage_schedule
from hamtrans.kmc.iv_report import COLUMNS
from hamtrans.kmc.switching import SwitchingSweep
from hamtrans.models import HamiltonianPredictor, save_model
from tests.toy_electronic import unit_overlap_models

ROOT = Path(__file__).resolve().parents[1]

#: 76-atom TiN | HfO2 | TiN device; electrodes hold two 8.48 Å principal layers of the 4.5 Å toy model.
RAW = {"device": {"cross_section": [4.24, 4.24], "electrode_length": 16.96, "oxide_length": 5.0, "vacuum": 0.0},
       "kmc": {"vacancy_fraction": 0.1, "seed": 2, "hold_time": 1e-6, "max_events": 1000,
               "barriers": {"temperature": 900.0}},
       "sweep": {"max_voltage": 1.0, "min_voltage": -1.0, "step": 0.5},
       "transport": {"hamiltonian": "toy", "fermi_level": 0.0, "tolerance": 0.05}}


@pytest.fixture(scope="module")
def toy() -> HamiltonianCalculator:
    return HamiltonianCalculator(model=HamiltonianPredictor(*unit_overlap_models()))


def config(directory: Path, **sections):
    raw = {**RAW, **sections, "output": {"directory": str(directory)}}
    return parse_iv_config(raw)


class CrashingSweep(SwitchingSweep):
    """A sweep killed while computing the current of point ``crash_at`` (0-based)."""

    def __init__(self, *args, crash_at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls, self.crash_at = 0, crash_at

    def current(self, state, voltage: float) -> float:
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("simulated crash")
        self.calls += 1
        return super().current(state, voltage)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, toy):
    directory = tmp_path_factory.mktemp("iv") / "full"
    return directory, SwitchingSweep(config(directory), toy, progress=False).run()


def test_voltage_schedule_is_set_then_reset_through_zero():
    np.testing.assert_array_equal(voltage_schedule(1.0, -0.5, 0.5), [0, 0.5, 1.0, 0.5, 0, -0.5, 0])
    assert voltage_schedule(0.3, -0.3, 0.1).tolist() == pytest.approx([0, .1, .2, .3, .2, .1, 0, -.1, -.2, -.3, -.2,
                                                                       -.1, 0])
    with pytest.raises(ConfigError, match="not a multiple"):
        voltage_schedule(1.0, -1.0, 0.3)
    with pytest.raises(ConfigError, match="max_voltage >= 0 >= min_voltage"):
        voltage_schedule(-1.0, -1.0, 0.5)


def test_configuration_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'hold' in kmc; did you mean 'hold_time'"):
        parse_iv_config({"kmc": {"hold": 1.0}})
    with pytest.raises(ConfigError, match="'vacancy_hops' in kmc.barriers; did you mean 'vacancy_hop'"):
        parse_iv_config({"kmc": {"barriers": {"vacancy_hops": 1.0}}})
    with pytest.raises(ConfigError, match="device.vacancies is not a key"):
        parse_iv_config({"device": {"vacancies": "random"}})
    with pytest.raises(ConfigError, match="lead_method"):
        parse_iv_config({"transport": {"lead_method": "magic"}})
    with pytest.raises(ConfigError, match="transport.leads must be 'auto', 'own' or 'periodic', not 'bulk'"):
        parse_iv_config({"transport": {"leads": "bulk"}})
    with pytest.raises(ConfigError, match="transport.resolution must be a positive energy"):
        parse_iv_config({"transport": {"resolution": 0.0}})
    with pytest.raises(ConfigError, match="transport.points .* and transport.resolution"):
        parse_iv_config({"transport": {"resolution": 0.002, "points": 17}})
    # YAML 1.1 reads 2e-3 (no dot) as a string: numeric fields convert it, and name a value that is no number
    assert parse_iv_config(yaml.safe_load("transport: {resolution: 2e-3}")).transport.resolution == 0.002
    with pytest.raises(ConfigError, match="transport.resolution must be a number, not 'fine'"):
        parse_iv_config({"transport": {"resolution": "fine"}})
    with pytest.raises(ConfigError, match="kmc.max_events must be an integer, not 2.5"):
        parse_iv_config({"kmc": {"max_events": 2.5}})
    with pytest.raises(HamtransError, match="exclude each other"):
        TransportCalculator(HamiltonianCalculator(model=HamiltonianPredictor(*unit_overlap_models())), points=5,
                            resolution=0.01)
    with pytest.raises(ConfigError, match="transport.read_resolution must be a positive energy"):
        parse_iv_config({"transport": {"read_resolution": 0.01}})
    section = parse_iv_config({"transport": {"leads": "periodic", "eta": 1e-5, "lead_method": "sancho-rubio"}})
    assert isinstance(section.transport, TransportSettings)  # the YAML section is the settings object
    assert section.transport.sweep_options().lead_method == "sancho-rubio"


def test_sweep_frames_follow_the_schedule_and_the_clock(uninterrupted, toy):
    directory, frames = uninterrupted
    voltages = config(directory).voltages()
    assert [f["voltage"] for f in frames] == voltages.tolist()
    # max_events is never reached here, so each point holds exactly hold_time
    np.testing.assert_allclose([f["time"] for f in frames], 1e-6 * np.arange(1, len(frames) + 1), rtol=1e-12)
    assert np.diff([f["events"].sum() for f in frames]).min() >= 0 and frames[-1]["events"].sum() > 0
    assert all(f["current"] == 0.0 for f in frames if f["voltage"] == 0.0)
    biased = [f for f in frames if f["voltage"] != 0.0]
    assert all(np.sign(f["current"]) == np.sign(f["voltage"]) for f in biased if abs(f["current"]) > 1e-15)
    # each frame's current is that of its structure through the transport calculator
    sweep = SwitchingSweep(config(directory), toy, progress=False)
    frame = biased[2]
    calc = TransportCalculator(toy, axis="x", bias=frame["voltage"], fermi_level=0.0, tolerance=0.05)
    assert calc.get_property("current", sweep.lattice.structure(frame["occupied"])) == pytest.approx(
        frame["current"], rel=1e-12)


def test_outputs_table_plots_summary(uninterrupted):
    directory, frames = uninterrupted
    table = np.loadtxt(directory / "iv.dat", ndmin=2)
    assert table.shape == (len(frames), len(COLUMNS))
    np.testing.assert_allclose(table[:, 3], [f["current"] for f in frames], rtol=1e-9)
    nonzero = table[:, 2] != 0
    np.testing.assert_allclose(table[nonzero, 4], table[nonzero, 3] / table[nonzero, 2], rtol=1e-9)
    assert np.isnan(table[~nonzero, 4]).all()
    for name in ("iv.png", "conductance.png"):
        assert (directory / name).read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((directory / "summary.json").read_text())
    assert len(summary["points"]) == len(frames) and summary["config"]["sweep"]["step"] == 0.5
    assert sum(summary["events"].values()) == frames[-1]["events"].sum()


def test_an_interrupted_sweep_resumes_to_the_same_frames(uninterrupted, tmp_path, toy):
    _, reference = uninterrupted
    with pytest.raises(KeyboardInterrupt):
        CrashingSweep(config(tmp_path), toy, progress=False, crash_at=4).run()
    assert len(read_frames(tmp_path / "trajectory.h5")) == 4
    assert len(np.loadtxt(tmp_path / "iv.dat", ndmin=2)) == 4  # the table is current up to the crash
    resumed = SwitchingSweep(config(tmp_path), toy, progress=False).run()
    assert len(resumed) == len(reference)
    for a, b in zip(resumed, reference):
        assert a["time"] == b["time"] and a["current"] == b["current"]
        np.testing.assert_array_equal(a["occupied"], b["occupied"])
        np.testing.assert_array_equal(a["events"], b["events"])
    with pytest.raises(HamtransError, match="another configuration"):
        SwitchingSweep(config(tmp_path, sweep={"max_voltage": 2.0, "min_voltage": -1.0, "step": 0.5}),
                       toy, progress=False).run()


def test_current_is_odd_in_bias_for_a_mirror_symmetric_device(toy):
    """I(−V) = −I(V) when the device with its bias profile is symmetric under x → −x.

    The bias drops linearly between the lead principal layers (6.36 Å and 25.44 Å of
    this 16-plane TiN wire), centre 15.90 Å, midway between atomic planes; rock salt is
    symmetric about it under the glide mirror (x, y) → (31.8 − x, y + 2.12), so the
    defect is a Ti pair that the glide maps onto itself.
    """
    wire = bulk_tin((8, 1, 1))
    pair = [np.argmin(np.linalg.norm(wire.positions - p, axis=1)) for p in ([16.96, 0, 0], [14.84, 2.12, 0])]
    assert all(wire[k].symbol == "Ti" for k in pair)
    del wire[pair]
    energies = np.linspace(-0.15, 0.15, 7)  # the bias window; the biased T(E) is the integrand of I

    def biased_transmission(structure, bias):
        calc = TransportCalculator(toy, axis="x", bias=bias, fermi_level=0.0, energies=energies)
        t = calc.get_property("transmission", structure)
        x = calc.device.orbital_positions[:, 0]
        first, last = calc.device.block_sizes[0], calc.device.block_sizes[-1]
        assert (x[:first].max() + x[-last:].min()) / 2 == pytest.approx(15.9)
        return t

    forward, backward = biased_transmission(wire, 0.3), biased_transmission(wire, -0.3)
    assert forward.max() > 0.1  # it conducts in the window (the toy H has gaps at some energies)
    np.testing.assert_allclose(backward, forward, rtol=1e-9, atol=1e-10)  # so I(−V) = −I(V) on any common grid
    unpaired = bulk_tin((8, 1, 1))
    del unpaired[pair[0]]  # one Ti of the pair: no longer symmetric, and the check sees it
    assert np.abs(biased_transmission(unpaired, -0.3) - biased_transmission(unpaired, 0.3)).max() > 1e-3


def test_cli_runs_a_sweep_from_a_model_file(tmp_path):
    save_model(tmp_path / "toy.pt", *unit_overlap_models())
    raw = {**RAW, "sweep": {"max_voltage": 0.5, "min_voltage": -0.5, "step": 0.5},
           "transport": {**RAW["transport"], "hamiltonian": str(tmp_path / "toy.pt")}}
    (tmp_path / "iv.yaml").write_text(yaml.safe_dump(raw))
    run = subprocess.run([sys.executable, "-m", "hamtrans.cli", "iv", str(tmp_path / "iv.yaml"), "--out",
                          str(tmp_path / "out"), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "5 voltage points" in run.stdout
    assert len(np.loadtxt(tmp_path / "out" / "iv.dat", ndmin=2)) == 5
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"sweep": {"step": -1}}))
    run = subprocess.run([sys.executable, "-m", "hamtrans.cli", "iv", str(tmp_path / "bad.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 2 and "sweep.step must be positive" in run.stderr


@pytest.mark.skipif(not (Path(sys.executable).parent / "mpiexec").exists(), reason="no mpiexec (mpich wheel)")
def test_a_sweep_under_mpiexec_gives_the_frames_of_one_process(tmp_path):
    """Two ranks split each prediction and each energy sweep; rank 0 alone writes the same table."""
    save_model(tmp_path / "toy.pt", *unit_overlap_models())
    raw = {**RAW, "sweep": {"max_voltage": 0.5, "min_voltage": -0.5, "step": 0.5},
           "transport": {**RAW["transport"], "hamiltonian": str(tmp_path / "toy.pt")}}
    (tmp_path / "iv.yaml").write_text(yaml.safe_dump(raw))
    iv = [sys.executable, "-m", "hamtrans.cli", "iv", str(tmp_path / "iv.yaml"), "--quiet", "--out"]
    serial = subprocess.run(iv + [str(tmp_path / "one")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert serial.returncode == 0, serial.stderr[-2000:]
    ranks = subprocess.run([str(Path(sys.executable).parent / "mpiexec"), "-n", "2"] + iv + [str(tmp_path / "two")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert ranks.returncode == 0, ranks.stderr[-2000:]
    assert ranks.stdout.count("voltage points") == 1  # rank 0 reports
    one, two = np.loadtxt(tmp_path / "one" / "iv.dat", ndmin=2), np.loadtxt(tmp_path / "two" / "iv.dat", ndmin=2)
    assert one.shape == two.shape == (5, len(COLUMNS)) and np.abs(one[:, COLUMNS.index("current_A")]).max() > 0
    np.testing.assert_allclose(two, one, rtol=1e-9, atol=1e-20)
    for mine, theirs in zip(read_frames(tmp_path / "two" / "trajectory.h5"), read_frames(tmp_path / "one" / "trajectory.h5")):
        assert np.array_equal(mine["occupied"], theirs["occupied"]) and mine["time"] == theirs["time"]


def test_periodic_leads_need_no_fermi_level(tmp_path, toy):
    # the leads continue the device across its cell boundary; E_F comes from their bands
    run = config(tmp_path, sweep={"max_voltage": 0.5, "min_voltage": -0.5, "step": 0.5},
                 transport={"hamiltonian": "toy", "leads": "periodic", "tolerance": 0.05})
    frames = SwitchingSweep(run, toy, progress=False).run()
    currents = {f["voltage"]: f["current"] for f in frames}
    assert currents[0.0] == 0.0 and currents[0.5] > 0 > currents[-0.5]
