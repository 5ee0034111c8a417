"""Killed runs and unwritable outputs: nothing partial poses as final, at most the work in flight is lost, and a
rerun resumes to the result of an uninterrupted run.

(1) the KMC trajectory and ``hamtrans iv`` killed at random times and inside HDF5 writes, (2) ``hamtrans
reference --code cp2k`` killed during its second CP2K run, (3) read-only output folders and a full disk.
"""

import contextlib
import errno
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from ase.io import read, write

from hamtrans.atomic_files import atomic_write
from hamtrans.calculators import HamiltonianCalculator
from hamtrans.cli import main
from hamtrans.data.formats import Dataset
from hamtrans.data.structures import build_vcm_device
from hamtrans.errors import FileFormatError, OutputError
from hamtrans.kmc.engine import KMCState
from hamtrans.kmc.iv_config import parse_iv_config
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.trajectory import TrajectoryWriter, read_frames
from tests.gap_conductance import GapConductance
from tests.record_checks import assert_same_records
from tests.structures import molecule
from tests.training_configs import tiny_potential

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1")
#: 36-site wire, no Poisson, 41 voltage points: the stand-in current makes a sweep ~1 s.
IV_RAW = {"device": {"cross_section": [8.48, 8.48], "electrode_length": 8.48, "oxide_length": 10.0,
                     "ti_length": 0.0, "vacuum": 12.0, "seed": 0},
          "kmc": {"vacancy_fraction": 0.05, "seed": 3, "max_events": 40},
          "electrostatics": {"charges": False},
          "heating": {"model": "global", "max_iterations": 2},
          "sweep": {"max_voltage": 1.0, "min_voltage": -1.0, "step": 0.1, "rate": 1000.0, "compliance": 1e-5},
          "transport": {"hamiltonian": "stand-in", "fermi_level": 0.0}}


def stand_in_sweep(directory: Path) -> GapConductance:
    """``hamtrans iv``'s sweep with the gap-conductance stand-in current (no model, no NEGF)."""
    config = parse_iv_config({**IV_RAW, "output": {"directory": str(directory)}})
    return GapConductance(config, hamiltonian=object.__new__(HamiltonianCalculator), progress=False)


def assert_same_frames(frames: list[dict], reference: list[dict]) -> None:
    assert len(frames) <= len(reference)
    for a, b in zip(frames, reference):
        assert (a["time"], a["voltage"], a["current"], a["reservoir"]) == (b["time"], b["voltage"], b["current"],
                                                                           b["reservoir"])
        np.testing.assert_array_equal(a["occupied"], b["occupied"])
        np.testing.assert_array_equal(a["ions"], b["ions"])
        np.testing.assert_array_equal(a["events"], b["events"])


# -- 1: KMC trajectory and hamtrans iv -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[list[dict], float]:
    """Frames of an uninterrupted stand-in sweep and its wall time per voltage point (s)."""
    sweep = stand_in_sweep(tmp_path_factory.mktemp("iv_full"))
    write_outputs, stamps = sweep.write_outputs, []

    def timed(frames, final, seconds=None):
        write_outputs(frames, final, seconds)
        stamps.append(time.perf_counter())

    sweep.write_outputs = timed
    frames = sweep.run()
    return frames, (stamps[-2] - stamps[0]) / (len(frames) - 1)


def killed_sweep(directory: Path, after: float) -> tuple[int, int | None]:
    """Run (resume) the stand-in sweep in a forked process and SIGKILL it after ``after`` s.

    Returns the frames the child reported complete (``iv.dat`` written) and its exit status
    (``None`` when the kill ended it).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report every point after its outputs are written
        os.close(read_end)
        status = 1
        try:
            sweep = stand_in_sweep(directory)
            write_outputs = sweep.write_outputs

            def reporting(frames, final, seconds=None):
                write_outputs(frames, final, seconds)
                os.write(write_end, f"{len(frames)}\n".encode())

            sweep.write_outputs = reporting
            sweep.run()
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    time.sleep(after)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        reported = [int(line) for line in pipe.read().split()]
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return (reported[-1] if reported else 0), None if killed else os.WEXITSTATUS(status)


def test_iv_sweep_killed_at_random_times_resumes_to_the_uninterrupted_frames(uninterrupted, tmp_path):
    reference, per_point = uninterrupted
    rng = random.Random(20240611)
    directory, path, kills = tmp_path / "cut", tmp_path / "cut" / "trajectory.h5", 0
    for attempt in range(4):
        before = len(read_frames(path)) if path.exists() else 0
        after = rng.uniform(1.0, 10.0) * per_point
        reported, status = killed_sweep(directory, after)
        if status is not None:  # the sweep ended before the kill
            assert status == 0 and attempt > 0
            break
        kills += 1
        if not path.exists():
            assert reported == 0
            continue
        frames = read_frames(path)  # a complete file: h5py opens it and every counted frame is there
        done = max(before, reported)
        assert done <= len(frames) <= done + 1, (after, before, reported, len(frames))  # only the point in flight
        assert_same_frames(frames, reference)
        assert not (directory / "summary.json").exists()  # written after the last point only
    assert kills >= 2
    resumed = stand_in_sweep(directory).run()
    assert len(resumed) == len(reference)
    assert_same_frames(resumed, reference)
    assert not (directory / "trajectory.h5.partial").exists()


TRAJECTORY_CODE = """
from hamtrans.data.structures import build_vcm_device
from hamtrans.kmc.engine import KMCState
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.trajectory import TrajectoryWriter


def append_frames(path, count):
    lattice = OxideLattice.from_device(build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24,
                                                        oxide_length=10.0, ti_length=0.0, vacancies="none", seed=0))
    with TrajectoryWriter(path, lattice, {"seed": 1}, resume=True) as writer:
        last = writer.last_state()
        state = KMCState.initial(lattice, 0.1, seed=1) if last is None else last[0]
        while len(writer) < count:
            state.time += 1.0
            state.occupied[len(writer) % len(state.occupied)] ^= True
            writer.append(state, 0.1 * len(writer), 1e-6, {"k": len(writer)})
            print(len(writer), flush=True)
"""
TRAJECTORY_SCRIPT = TRAJECTORY_CODE + "\nimport sys\nappend_frames(sys.argv[1], int(sys.argv[2]))\n"


def append_frames(path: Path, count: int) -> None:
    """The trajectory script's appends, in this process (a rerun that resumes)."""
    namespace = {}
    exec(TRAJECTORY_CODE, namespace)
    with contextlib.redirect_stdout(io.StringIO()):
        namespace["append_frames"](path, count)


def strace_kill(script: Path, path: Path, frames: int, at_write: int | None) -> tuple[int, int]:
    """Run the trajectory script under strace, SIGKILLed on entry to its ``at_write``-th ``pwrite64``.

    Returns the frames it reported appended and the number of its ``pwrite64`` calls (HDF5's writes).
    """
    inject = [] if at_write is None else ["-e", f"inject=pwrite64:signal=KILL:when={at_write}"]
    log = path.with_name("strace.log")
    run = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e", "trace=pwrite64", *inject, sys.executable,
                          str(script), str(path), str(frames)], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=120)
    assert (run.returncode == 0) == (at_write is None), run.stderr
    reported = run.stdout.split()
    return (int(reported[-1]) if reported else 0), log.read_text().count("pwrite64(")


def strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    return subprocess.run(["strace", "-qq", "-o", os.devnull, "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not strace_works(), reason="needs strace with ptrace permitted (kills inside HDF5 writes)")
def test_trajectory_killed_inside_any_hdf5_write_is_complete_and_resumes(tmp_path):
    """SIGKILL on entry to HDF5's n-th write syscall, for n spread over the creation and 12 appends.

    An HDF5 file updated in place is left unreadable by such kills during its creation and
    during the 9th and 10th appends, which grow the frames group's index.
    """
    script = tmp_path / "trajectory.py"
    script.write_text(TRAJECTORY_SCRIPT)
    whole = tmp_path / "whole.h5"
    n_writes = strace_kill(script, whole, 12, None)[1]
    reference = read_frames(whole)
    points = sorted({1, 4, 7, random.Random(7).randrange(10, n_writes + 1), n_writes * 3 // 4})
    for at_write in points:
        path = tmp_path / f"cut{at_write}.h5"
        reported, _ = strace_kill(script, path, 12, at_write)
        if path.exists():
            frames = read_frames(path)
            assert reported <= len(frames) <= reported + 1, (at_write, reported, len(frames))
            assert_same_frames(frames, reference)
        else:
            assert reported == 0
        append_frames(path, 12)  # rerun: resumes, deleting the stale .partial
        assert len(read_frames(path)) == 12 and not path.with_name(path.name + ".partial").exists()
        assert_same_frames(read_frames(path), reference)


def test_a_damaged_trajectory_is_a_clear_error(tmp_path):
    lattice = OxideLattice.from_device(build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24,
                                                        oxide_length=10.0, ti_length=0.0, vacancies="none", seed=0))
    path = tmp_path / "trajectory.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(88))  # an HDF5 superblock cut short
    with pytest.raises(FileFormatError, match=r"trajectory.h5 cannot be read as an HDF5 file .*delete it to start "
                                              r"the sweep again"):
        TrajectoryWriter(path, lattice, resume=True)
    with TrajectoryWriter(path, lattice) as writer:
        writer.append(KMCState.initial(lattice, 0.1, seed=1), 0.5)
    with h5py.File(path, "r+") as handle:
        handle.attrs["frames"] = 3  # counts frames that are not there
    with pytest.raises(FileFormatError, match=r"counts 3 frames but frame 1 is missing"):
        read_frames(path)


# -- 2: hamtrans reference --code cp2k killed during its second CP2K run -------------------------------------
HAVE_CP2K = shutil.which("cp2k.psmp") is not None
DIMER = ROOT / "tests" / "fixtures" / "cp2k" / "dimer_scf" / "dimer.extxyz"


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie or a reused pid of another program does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CP2K, reason="cp2k.psmp not on PATH (apt-get install cp2k)")
def test_cp2k_reference_killed_in_its_second_run_resumes_to_the_uninterrupted_dataset(tmp_path, capsys):
    dimer = read(DIMER)
    moved = dimer.copy()
    moved.positions[1, 0] += 0.1
    structures = tmp_path / "dimers.extxyz"
    write(structures, [dimer, moved], format="extxyz")
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("cutoff: 100\nrel_cutoff: 20\neps_scf: 1.0e-6\n")  # seconds per run, not accuracy

    def argv(output: Path) -> list[str]:
        return ["reference", str(structures), "-o", str(output), "--code", "cp2k", "--cp2k-settings", str(settings),
                "--cutoff", "4.0"]

    assert main(argv(tmp_path / "whole.h5")) == 0
    out = tmp_path / "cut.h5"
    process = subprocess.Popen([sys.executable, "-m", "hamtrans.cli", *argv(out)], cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    second = tmp_path / "cut.h5.cp2k" / "000001_dimers_1" / "attempt1" / "ref.out"
    cp2k = []
    try:
        deadline = time.monotonic() + 300
        while not (second.exists() and cp2k):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the second CP2K run did not start within 300 s"
            cp2k = [pid for pid in children(process.pid) if "cp2k" in Path(f"/proc/{pid}/cmdline").read_text()]
            time.sleep(0.02)
        time.sleep(random.Random(3).uniform(0.1, 0.5))  # inside the ~2 s SCF
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in cp2k) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in cp2k), "CP2K kept running after hamtrans was killed"
    finally:
        for pid in cp2k:  # only our own CP2K, running in this test's folder
            if alive(pid) and Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(tmp_path):
                os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
    assert not out.exists()  # nothing named like the final dataset
    with Dataset(tmp_path / "cut.h5.partial") as partial:
        assert [r.name for r in partial] == ["dimers:0"]
    capsys.readouterr()
    assert main(argv(out) + ["--resume"]) == 0
    assert "resuming: 1 of 2" in capsys.readouterr().out
    assert_same_records(out, tmp_path / "whole.h5")
    with Dataset(out) as cut, Dataset(tmp_path / "whole.h5") as whole:
        assert [(r.name, r.energy, r.fermi_level) for r in cut] == [(r.name, r.energy, r.fermi_level) for r in whole]


# -- 3: read-only output folders, a full disk ----------------------------------------------------------------
def read_only_argv(folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run with ``folder`` read-only: a read-only bind mount for root (who writes through permission bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return argv
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make a folder read-only")
    return ["unshare", "-m", "sh", "-c", f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"', "sh", *argv]


def run_read_only(folder: Path, argv: list[str]) -> str:
    """Run ``hamtrans argv`` with ``folder`` read-only: exit 2, one stderr line, nothing written; the line."""
    try:
        result = subprocess.run(read_only_argv(folder, [sys.executable, "-m", "hamtrans.cli", *argv]), cwd=ROOT,
                                env=ENV, capture_output=True, text=True, timeout=300)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(folder.iterdir()) == []
    return result.stderr


def test_iv_into_a_read_only_folder_fails_before_any_work(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    config = tmp_path / "iv.yaml"
    config.write_text(yaml.safe_dump({**IV_RAW, "transport": {"hamiltonian": "missing-model.pt", "fermi_level": 0}}))
    error = run_read_only(folder, ["iv", str(config), "--out", str(folder), "--quiet"])
    assert f"--out {folder}: cannot write in folder {folder}" in error and "choose a writable folder" in error


@pytest.fixture(scope="module")
def potential_data(tmp_path_factory) -> Path:
    from tests.potential_teacher import write_teacher_data

    return write_teacher_data(tmp_path_factory.mktemp("potential_data"), count=4)[0]


def test_train_into_a_read_only_folder_is_a_one_line_error(potential_data, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(tiny_potential(potential_data, folder, epochs=1, max_steps=1)))
    error = run_read_only(folder, ["train", str(config)])
    assert f"output.directory {folder}: cannot write in folder {folder}" in error and "choose a writable folder" in error


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_during_an_iv_sweep_keeps_the_frames_and_resume_completes(uninterrupted, tmp_path, monkeypatch):
    reference, _ = uninterrupted
    sweep = stand_in_sweep(tmp_path)
    copies = {"n": 0}
    copyfile = shutil.copyfile

    def filling(source, target):  # the 6th append finds the disk full half-way through its copy
        copies["n"] += 1
        if copies["n"] == 6:
            Path(target).write_bytes(Path(source).read_bytes()[:500])
            no_space()
        return copyfile(source, target)

    monkeypatch.setattr("hamtrans.kmc.trajectory.shutil.copyfile", filling)
    with pytest.raises(OutputError, match=r"KMC trajectory: cannot write \S+trajectory.h5 \(No space left on device\): "
                                          r"free space on that file system or write to another folder; "
                                          r"trajectory.h5 keeps its previous complete version; a rerun resumes "
                                          r"after its 5 frames"):
        sweep.run()
    assert len(read_frames(tmp_path / "trajectory.h5")) == 5
    assert not (tmp_path / "trajectory.h5.partial").exists()
    monkeypatch.setattr("hamtrans.kmc.iv_report.np.savetxt", no_space)  # then iv.dat cannot be written
    table = (tmp_path / "iv.dat").read_text()
    with pytest.raises(OutputError, match=r"cannot write \S+iv.dat \(No space left on device\): free space"):
        stand_in_sweep(tmp_path).run()
    assert (tmp_path / "iv.dat").read_text() == table and not (tmp_path / "iv.dat.partial").exists()
    monkeypatch.undo()
    frames = stand_in_sweep(tmp_path).run()
    assert len(frames) == len(reference)
    assert_same_frames(frames, reference)


def test_full_disk_during_reference_keeps_the_records_and_resume_completes(tmp_path, monkeypatch, capsys):
    from hamtrans.data.formats import dataset

    frames = tmp_path / "mols.extxyz"
    write(frames, [molecule(0.05 * k) for k in range(3)], format="extxyz")
    out = tmp_path / "ref.h5"
    write_record = dataset._write_record_file
    calls = {"n": 0}

    def filling(*args, **kwargs):  # the disk fills while the second record is written
        calls["n"] += 1
        if calls["n"] == 2:
            no_space()
        return write_record(*args, **kwargs)

    monkeypatch.setattr(dataset, "_write_record_file", filling)
    assert main(["reference", str(frames), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error, error
    assert re.fullmatch(r"hamtrans reference: error: cannot write \S+000001.h5 \(No space left on device\): free "
                        r"space on that file system or write to another folder; 000001.h5 was not created",
                        error.strip().splitlines()[-1].split("\r")[-1]), error
    assert not out.exists()
    with Dataset(tmp_path / "ref.h5.partial") as partial:
        assert len(partial) == 1
    monkeypatch.undo()
    assert main(["reference", str(frames), "-o", str(out), "--resume"]) == 0
    assert main(["reference", str(frames), "-o", str(tmp_path / "whole.h5")]) == 0
    assert_same_records(out, tmp_path / "whole.h5")


def test_full_disk_during_training_keeps_the_last_checkpoint(potential_data, tmp_path, monkeypatch):
    import torch

    from hamtrans.training.config import parse_config
    from hamtrans.training.tasks import make_trainer

    trainer = make_trainer(parse_config(tiny_potential(potential_data, tmp_path / "run", epochs=1, max_steps=2)))
    trainer.run()
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    saved, metrics = checkpoint.read_bytes(), (tmp_path / "run" / "metrics.csv").read_text()
    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(OutputError, match=r"cannot write \S+checkpoint.pt \(No space left on device\): free space on "
                                          r"that file system or write to another folder; checkpoint.pt keeps its "
                                          r"previous complete version"):
        trainer._save_checkpoint()
    assert checkpoint.read_bytes() == saved and not checkpoint.with_name("checkpoint.pt.partial").exists()
    monkeypatch.setattr("hamtrans.training.trainer.csv.writer", no_space)
    with pytest.raises(OutputError, match=r"cannot write \S+metrics.csv \(No space left on device\)"):
        trainer._write_metrics()
    assert (tmp_path / "run" / "metrics.csv").read_text() == metrics


TORCH_ON_FULL_DISK = """
import sys, torch
from hamtrans.atomic_files import atomic_write
from hamtrans.errors import OutputError
try:
    atomic_write(sys.argv[1], lambda path: torch.save({"w": torch.zeros(200000)}, path))
except OutputError as error:
    print(error)
"""


def test_torch_save_on_a_really_full_disk_is_an_output_error(tmp_path):
    """torch.save on a full file system raises a RuntimeError without errno; atomic_write names the cause."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode:
        pytest.skip("needs root and mount namespaces for a 256 KiB tmpfs")
    folder = tmp_path / "tiny"
    folder.mkdir()
    result = subprocess.run(["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=256k tmpfs "{folder}" && exec "$@"',
                             "sh", sys.executable, "-c", TORCH_ON_FULL_DISK, str(folder / "model.pt")], cwd=ROOT,
                            env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"cannot write {folder / 'model.pt'} (No space left on device; RuntimeError:" in result.stdout
    assert "free space on that file system" in result.stdout and "model.pt was not created" in result.stdout


def test_atomic_write_leaves_the_previous_file_on_a_full_disk(tmp_path):
    path = tmp_path / "table.dat"
    path.write_text("complete\n")
    with pytest.raises(OutputError, match=r"table.dat \(No space left on device\): free space .* table.dat keeps its "
                                          r"previous complete version"):
        atomic_write(path, lambda partial: (partial.write_text("half"), no_space()))
    assert path.read_text() == "complete\n" and not (tmp_path / "table.dat.partial").exists()
    with pytest.raises(KeyError):  # other errors pass through unchanged
        atomic_write(path, lambda partial: {}["missing"])
