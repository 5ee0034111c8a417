"""Bad input to training, model files and the model calculators: one clear HamtransError each, no lost runs.

Covers an output folder that holds a run, a block cutoff other than the dataset's,
out-of-range training numbers, a missing GPU, files that are not model files, an
``lmax`` too small for the basis, float32 forces of a translated structure, and a
training process killed at a random moment (resumed to a valid ``best.pt``).
"""

import csv
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hamtrans.calculators import HamiltonianCalculator, PotentialCalculator
from hamtrans.cli import main
from hamtrans.config import ConfigError
from hamtrans.data.formats import Dataset, DatasetWriter
from hamtrans.errors import FileFormatError, HamtransError, TrainingError
from hamtrans.models.hamiltonian import HamiltonianModel, HamiltonianModelConfig, OverlapModel
from hamtrans.models.model_file import load_model, load_potential
from hamtrans.training.config import parse_config
from hamtrans.training.hamiltonian_task import load_samples
from hamtrans.training.tasks import make_trainer
from tests.model_teacher import write_teacher_dataset
from tests.potential_teacher import random_potential, write_teacher_data
from tests.structures import mixed_cell
from tests.training_configs import hamiltonian_raw_config, tiny_potential
from tests.training_runs import ROOT


@pytest.fixture(scope="module")
def potential_data(tmp_path_factory) -> Path:
    h5, _ = write_teacher_data(tmp_path_factory.mktemp("potential_data"), count=6)
    return h5


@pytest.fixture(scope="module")
def hamiltonian_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hamiltonian_data") / "teacher.h5"
    write_teacher_dataset(path, seeds=(1,))
    return path


def write_yaml(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def trained_potential(potential_data, tmp_path_factory) -> Path:
    """``best.pt`` of a one-step potential run."""
    out = tmp_path_factory.mktemp("trained") / "run"
    make_trainer(parse_config(tiny_potential(potential_data, out, epochs=1, max_steps=1))).run()
    return out / "best.pt"


@pytest.fixture(scope="module")
def trained_hamiltonian(hamiltonian_data, tmp_path_factory) -> Path:
    """``best.pt`` of a one-step Hamiltonian run."""
    out = tmp_path_factory.mktemp("trained_h") / "run"
    make_trainer(parse_config(hamiltonian_raw_config(hamiltonian_data, out, epochs=1, max_steps=1))).run()
    return out / "best.pt"


# -- 1: an output folder that holds a finished run ---------------------------------------------------


def test_train_refuses_to_overwrite_a_finished_run(potential_data, tmp_path, capsys):
    out = tmp_path / "run"
    config = write_yaml(tiny_potential(potential_data, out, epochs=1, max_steps=2), tmp_path / "c.yaml")
    assert main(["train", str(config)]) == 0
    before = {name: (out / name).read_bytes() for name in ("best.pt", "metrics.csv", "checkpoint.pt")}
    capsys.readouterr()
    assert main(["train", str(config)]) == 2
    error = capsys.readouterr().err
    assert "already holds a training run" in error and "--resume" in error and "--overwrite" in error
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing touched
    with pytest.raises(TrainingError, match=rf"{re.escape(str(out))} already holds a training run.*--resume.*"
                                            r"--overwrite"):
        make_trainer(parse_config(tiny_potential(potential_data, out, epochs=1, max_steps=2)))
    with pytest.raises(TrainingError, match="--resume .*--overwrite .*give one of them"):
        make_trainer(parse_config(tiny_potential(potential_data, out, epochs=1, max_steps=2)), resume=True,
                overwrite=True)
    assert main(["train", str(config), "--resume", "--overwrite"]) == 2
    assert main(["train", str(config), "--overwrite"]) == 0  # replaced: a new run from step 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 2  # header + one epoch, old rows gone


def test_overwrite_removes_the_old_best_model_before_training(potential_data, tmp_path):
    out = tmp_path / "run"
    make_trainer(parse_config(tiny_potential(potential_data, out, epochs=1, max_steps=1))).run()
    make_trainer(parse_config(tiny_potential(potential_data, out, epochs=1, max_steps=1)), overwrite=True)
    assert not (out / "best.pt").exists() and not (out / "checkpoint.pt").exists()  # no stale result left


def test_resume_without_a_checkpoint_says_how_to_start_again(potential_data, tmp_path):
    out = tmp_path / "run"
    make_trainer(parse_config(tiny_potential(potential_data, out)))  # killed before its first checkpoint
    with pytest.raises(TrainingError, match="no checkpoint at .*--overwrite"):
        make_trainer(parse_config(tiny_potential(potential_data, out)), resume=True)
    (out / "checkpoint.pt").write_bytes(b"truncated")
    with pytest.raises(TrainingError, match=rf"{re.escape(str(out / 'checkpoint.pt'))} is not a hamtrans "
                                            r"training checkpoint"):
        make_trainer(parse_config(tiny_potential(potential_data, out)), resume=True)


# -- 2: block_cutoff other than the dataset's ------------------------------------------------------------


def test_block_cutoff_larger_than_the_dataset_graph_is_refused(hamiltonian_data, tmp_path):
    raw = hamiltonian_raw_config(hamiltonian_data, tmp_path / "run")
    raw["model"]["block_cutoff"] = 5.0
    config = parse_config(raw)
    with pytest.raises(TrainingError, match=r"reaching 4\.\d\d Å.*model\.block_cutoff = 5 Å.*smaller radius"):
        load_samples(config, config.model.orbital_basis())


@pytest.mark.parametrize("block_cutoff", [4.0, 5.0])
def test_block_cutoff_other_than_the_stored_dataset_cutoff_is_refused(hamiltonian_data, tmp_path, block_cutoff):
    stored = tmp_path / "stored.h5"
    with Dataset(hamiltonian_data) as data:
        records, basis = list(data), data.basis
    with DatasetWriter(stored, basis, {"source": "teacher", "cutoff": 4.5}) as writer:
        for record in records:
            writer.append(record)
    raw = hamiltonian_raw_config(stored, tmp_path / "run")
    raw["model"]["block_cutoff"] = block_cutoff
    config = parse_config(raw)
    with pytest.raises(TrainingError, match=rf"cut at 4\.5 Å but model\.block_cutoff is {block_cutoff:g} Å; set "
                                            r"model\.block_cutoff to the dataset's cutoff"):
        load_samples(config, config.model.orbital_basis())


# -- 3: training numbers out of range ----------------------------------------------------------------------


@pytest.mark.parametrize("section, key, value, requirement", [
    ("training", "epochs", 0, "an integer ≥ 1"),
    ("training", "epochs", -3, "an integer ≥ 1"),
    ("training", "batch_size", 0, "an integer ≥ 1"),
    ("training", "batch_size", -2, "an integer ≥ 1"),
    ("training", "checkpoint_every", 0, "an integer ≥ 1"),
    ("training", "checkpoint_every", -5, "an integer ≥ 1"),
    ("training", "max_steps", 0, "null or an integer ≥ 1"),
    ("training", "learning_rate", -0.01, "> 0 and finite"),
    ("training", "learning_rate", 0.0, "> 0 and finite"),
    ("training", "learning_rate", math.nan, "> 0 and finite"),
    ("training", "learning_rate", math.inf, "> 0 and finite"),
    ("training", "lr_factor", 1.0, r"in \(0, 1\)"),
    ("training", "ema_decay", 1.0, r"in \[0, 1\)"),
    ("training", "gradient_clip", 0.0, "> 0 and finite"),
    ("training", "force_weight", -1.0, "≥ 0 and finite"),
    ("data", "validation_fraction", 1.0, r"in \[0, 1\)"),
    ("data", "validation_fraction", -0.1, r"in \[0, 1\)"),
    ("data", "validation_fraction", 1.5, r"in \[0, 1\)"),
    ("data", "slab_axis", 3, r"0, 1 or 2 \(x, y or z\)"),
    ("model", "cutoff", -1.0, "> 0 and finite"),
    ("model", "channels", 0, "an integer ≥ 1"),
])
def test_training_numbers_out_of_range_are_refused_up_front(potential_data, tmp_path, section, key, value,
                                                            requirement):
    raw = tiny_potential(potential_data, tmp_path / "run")
    raw[section][key] = value
    with pytest.raises(ConfigError, match=rf"{section}\.{key} must be {requirement}, not {re.escape(repr(value))}"):
        parse_config(raw)


def test_cli_train_with_zero_epochs_fails_and_claims_no_model(potential_data, tmp_path, capsys):
    config = write_yaml(tiny_potential(potential_data, tmp_path / "run", epochs=0), tmp_path / "c.yaml")
    assert main(["train", str(config)]) == 2
    captured = capsys.readouterr()
    assert "best model" not in captured.out
    assert "training.epochs must be an integer ≥ 1, not 0" in captured.err
    assert not (tmp_path / "run").exists()


def test_a_best_metric_the_validation_data_do_not_define_stops_training(hamiltonian_data, tmp_path):
    raw = hamiltonian_raw_config(hamiltonian_data, tmp_path / "run", epochs=1, max_steps=1, train_overlap=False,
                                 best_metric="overlap_mae")
    with pytest.raises(TrainingError, match="validation overlap_mae is nan after epoch 0.*set training.best_metric"):
        make_trainer(parse_config(raw)).run()
    assert not (tmp_path / "run" / "best.pt").exists()


# -- 4: a device this machine lacks -----------------------------------------------------------------------


def missing_cuda_device() -> str:
    """A CUDA device name this machine does not have."""
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def test_a_missing_gpu_is_a_clear_error(trained_potential, tmp_path, capsys):
    device = missing_cuda_device()
    with pytest.raises(HamtransError, match=rf"device '{device}': .*CUDA GPU.*"):
        load_potential(trained_potential, device=device)
    with pytest.raises(HamtransError, match=rf"device '{device}': .*CUDA GPU.*"):
        PotentialCalculator(random_potential("float32"), device=device)
    with pytest.raises(HamtransError, match="device 'gpu' is not a torch device name; use 'cpu', 'cuda'"):
        PotentialCalculator(trained_potential, device="gpu")


def test_cli_predict_on_a_missing_gpu(hamiltonian_data, trained_hamiltonian, tmp_path, capsys):
    with Dataset(hamiltonian_data) as data:
        atoms = data[0].atoms
    atoms.write(tmp_path / "device.extxyz")
    device = missing_cuda_device()
    with pytest.raises(HamtransError, match=rf"device '{device}': .*CUDA GPU"):
        load_model(trained_hamiltonian, device=device)
    with pytest.raises(HamtransError, match=rf"device '{device}': .*CUDA GPU"):
        load_model(trained_hamiltonian).predict(atoms, device=device)
    assert main(["predict", str(trained_hamiltonian), str(tmp_path / "device.extxyz"), "-o", str(tmp_path / "p.h5"),
                 "--device", device]) == 2
    assert f"device '{device}'" in capsys.readouterr().err
    assert not (tmp_path / "p.h5").exists()


# -- 5: files that are not model files --------------------------------------------------------------------


@pytest.fixture
def bad_model_files(tmp_path, trained_potential) -> dict[str, tuple[Path, str]]:
    """Files that are no usable model file, with a fragment of the error each gives."""
    files = {}
    torch.save(random_potential("float32").state_dict(), tmp_path / "state_dict.pt")
    files["state dict"] = (tmp_path / "state_dict.pt", "has no 'format' entry: a plain state dict")
    payload = torch.load(trained_potential, weights_only=True)
    without_config = {k: v for k, v in payload.items() if k != "config"}
    torch.save(without_config, tmp_path / "no_config.pt")
    files["no config"] = (tmp_path / "no_config.pt", "file lacks config")
    torch.save({**payload, "config": {**payload["config"], "chanels": 4}}, tmp_path / "bad_config.pt")
    files["bad config"] = (tmp_path / "bad_config.pt", "its config or metadata do not describe a model")
    (tmp_path / "corrupt.pt").write_bytes(trained_potential.read_bytes()[:500])
    files["truncated"] = (tmp_path / "corrupt.pt", "not a loadable hamtrans model file: torch cannot read it")
    (tmp_path / "text.pt").write_text("energy forces stress\n")
    files["text"] = (tmp_path / "text.pt", "not a loadable hamtrans model file")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    files["tensor"] = (tmp_path / "tensor.pt", "it holds a Tensor")
    checkpoint = trained_potential.with_name("checkpoint.pt")
    files["checkpoint"] = (checkpoint, "is a training checkpoint, not a model file")
    return files


@pytest.mark.parametrize("kind", ["state dict", "no config", "bad config", "truncated", "text", "tensor",
                                  "checkpoint"])
def test_files_that_are_not_potentials_name_the_file(bad_model_files, kind):
    path, fragment = bad_model_files[kind]
    expected = rf"{re.escape(str(path))}.*{re.escape(fragment)}"
    with pytest.raises(FileFormatError, match=expected):
        load_potential(path)
    with pytest.raises(FileFormatError, match=expected):
        PotentialCalculator(str(path))


@pytest.mark.parametrize("kind", ["state dict", "truncated", "text", "tensor", "checkpoint"])
def test_files_that_are_not_hamiltonian_models_name_the_file(bad_model_files, kind, tmp_path, capsys):
    path, fragment = bad_model_files[kind]
    expected = rf"{re.escape(str(path))}.*{re.escape(fragment)}"
    with pytest.raises(FileFormatError, match=expected):
        load_model(path)
    with pytest.raises(FileFormatError, match=expected):
        HamiltonianCalculator(model=str(path))
    mixed_cell().write(tmp_path / "cell.extxyz")
    assert main(["predict", str(path), str(tmp_path / "cell.extxyz"), "-o", str(tmp_path / "p.h5")]) == 2
    assert main(["evaluate", str(path), str(tmp_path / "cell.extxyz"), "--out", str(tmp_path / "ev")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(str(path) in line and fragment in line for line in errors)


def test_a_hamiltonian_model_file_without_config(trained_hamiltonian, tmp_path):
    payload = torch.load(trained_hamiltonian, weights_only=True)
    del payload["config"]
    torch.save(payload, tmp_path / "no_config.pt")
    with pytest.raises(FileFormatError, match=rf"{re.escape(str(tmp_path / 'no_config.pt'))}: this Hamiltonian "
                                              r"model file lacks config"):
        load_model(tmp_path / "no_config.pt")


# -- 6: lmax too small for the basis -----------------------------------------------------------------------


def test_lmax_below_the_basis_is_refused_at_construction():
    config = HamiltonianModelConfig(basis="gfn1-xtb", species=(7, 8, 22, 72), lmax=3, channels=8, heads=2)
    for model in (HamiltonianModel, OverlapModel):
        with pytest.raises(ConfigError, match=r"model\.lmax = 3 is too small for basis 'gfn1-xtb': two l = 2 "
                                              r"shells \(Ti\) couple to irreps up to l = 4; set lmax to at least 4"):
            model(config)
    only_sp = HamiltonianModelConfig(basis="gfn1-xtb", species=(7, 8), lmax=1, channels=8, heads=2)
    with pytest.raises(ConfigError, match="at least 2"):
        HamiltonianModel(only_sp)


def test_lmax_and_heads_are_checked_when_the_configuration_is_read(tmp_path):
    raw = hamiltonian_raw_config(tmp_path / "unused.h5", tmp_path / "run")
    raw["model"]["lmax"] = 2
    with pytest.raises(ConfigError, match="model.lmax = 2 is too small.*at least 4"):
        parse_config(raw)
    raw["model"].update(lmax=4, heads=3)
    with pytest.raises(ConfigError, match="model.heads = 3 must divide model.channels = 8"):
        parse_config(raw)
    raw["model"].update(heads=2, edge_convolution="so3")
    with pytest.raises(ConfigError, match=r"model.edge_convolution = 'so3': choose one of \('tensor-product', 'so2'\)"):
        parse_config(raw)
    raw["model"].update(edge_convolution="tensor-product", mmax=2)
    with pytest.raises(ConfigError, match="model.mmax = 2 applies to edge_convolution 'so2' only"):
        parse_config(raw)
    raw["model"].update(edge_convolution="so2", mmax=-1)
    with pytest.raises(ConfigError, match="mmax"):
        parse_config(raw)


# -- 7: float32 forces of a translated structure ---------------------------------------------------------


@pytest.mark.parametrize("periodic", [True, False])
def test_float32_forces_do_not_change_when_the_structure_is_translated(periodic):
    """Edge vectors come from float64 positions: 1,000 Å from the origin costs no float32 digits.

    Measured: identical forces (0 eV/Å) with float64 edge vectors; float32 positions gave
    2.7e-4 (periodic) and 1.4e-4 eV/Å. The bound allows one float32 rounding flip of an edge vector.
    """
    model = random_potential("float32")
    atoms = mixed_cell()
    atoms.pbc = periodic
    atoms.calc = PotentialCalculator(model)
    forces = atoms.get_forces()
    far = atoms.copy()
    far.positions += [1000.0, -1000.0, 1000.0]
    far.calc = PotentialCalculator(model)
    assert np.abs(far.get_forces() - forces).max() < 1e-6
    assert np.abs(forces).max() > 0.1  # forces that could move


def test_float32_hamiltonian_blocks_do_not_change_when_the_structure_is_translated(hamiltonian_data):
    """Measured: identical blocks; float32 positions changed them by 1.3e-5 eV at 1,000 Å."""
    from tests.model_teacher import config, predict, randomise

    torch.manual_seed(0)
    model = HamiltonianModel(config())
    randomise(model)
    with Dataset(hamiltonian_data) as data:
        atoms = data[0].atoms
    near = predict(model, atoms)
    far_atoms = atoms.copy()
    far_atoms.positions += 1000.0
    far = predict(model, far_atoms)
    assert np.abs(far.onsite - near.onsite).max() < 1e-6 and np.abs(far.edges - near.edges).max() < 1e-6


# -- 8: a training process killed at a random moment ---------------------------------------------------


def test_an_interrupted_checkpoint_write_leaves_the_last_checkpoint(potential_data, tmp_path, monkeypatch):
    """A write that dies halfway (as under SIGKILL) leaves the previous complete files in place."""
    out = tmp_path / "run"
    trainer = make_trainer(parse_config(tiny_potential(potential_data, out, epochs=2)))
    trainer.run()
    files = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "best.pt", "metrics.csv")}
    real_save = torch.save

    def dies_halfway(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        Path(path).write_bytes(Path(path).read_bytes()[:100])
        raise KeyboardInterrupt("killed during the write")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        trainer._save_checkpoint()
    with pytest.raises(KeyboardInterrupt):
        trainer._save_best(trainer.validate())
    monkeypatch.undo()
    assert {name: (out / name).read_bytes() for name in files} == files
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == trainer.step
    load_potential(out / "best.pt")


def _check_run_files(out: Path, epochs: int | None = None) -> None:
    """Every file of a run that exists is complete; ``metrics.csv`` has one row per epoch (``epochs`` of them)."""
    if (out / "checkpoint.pt").exists():
        torch.load(out / "checkpoint.pt", weights_only=True)
    if (out / "best.pt").exists():
        load_potential(out / "best.pt")
    if (out / "config.json").exists():
        json.loads((out / "config.json").read_text())
    rows = list(csv.reader(open(out / "metrics.csv", newline="")))
    header, body = rows[0], rows[1:]
    assert all(len(row) == len(header) for row in body), rows
    assert [int(row[0]) for row in body] == list(range(len(body))), rows  # consecutive epochs, no duplicate
    if epochs is not None:
        assert len(body) == epochs


@pytest.mark.slow
def test_training_killed_at_random_times_resumes_to_a_valid_model(potential_data, tmp_path):
    """SIGKILL twice at a random moment after a checkpoint (often inside a write), then resume to the end.

    While the run goes on the checkpoint is read again and again: an atomic write is never seen
    half done. The resumed run ends with the model an uninterrupted run gives.
    """
    epochs = 60  # ~6 s of training on an idle core: both kills land inside the run
    out = tmp_path / "run"
    raw = tiny_potential(potential_data, out, epochs=epochs, batch_size=1, checkpoint_every=1)
    config = write_yaml(raw, tmp_path / "c.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    rng = random.Random()
    argv = [sys.executable, "-m", "hamtrans.cli", "train", str(config)]
    last_step = 0
    for attempt in range(2):
        log = tmp_path / f"attempt{attempt}.log"
        with open(log, "w") as stderr:
            process = subprocess.Popen(argv + (["--resume"] if attempt else []), cwd=ROOT, env=env,
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        started = last_step
        delay = rng.uniform(0.05, 1.0)
        deadline, kill_at = time.monotonic() + 120, None
        while process.poll() is None and time.monotonic() < deadline:
            if (out / "checkpoint.pt").exists():
                step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]  # never a partial file
                assert step >= last_step, f"the checkpoint went back from step {last_step} to {step}"
                last_step = step
                if kill_at is None and step > started:
                    kill_at = time.monotonic() + delay
            if kill_at is not None and time.monotonic() >= kill_at:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        process.wait(timeout=30)
        assert process.returncode in (0, -signal.SIGKILL), log.read_text()[-3000:]  # killed, or done before
        step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
        # a run that finished between two polls was not killed but still made progress
        assert kill_at is not None or (process.returncode == 0 and step > started), \
            f"attempt {attempt}: no new checkpoint within 120 s: {log.read_text()[-3000:]}"
        assert step >= last_step, f"attempt {attempt}, kill {delay:.3f} s after a checkpoint: step {step} < {last_step}"
        _check_run_files(out)
    finished = subprocess.run(argv + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"best model: {out / 'best.pt'}" in finished.stdout
    _check_run_files(out, epochs)
    reference = make_trainer(parse_config({**raw, "output": {"directory": str(tmp_path / "reference")}}))
    reference.run()
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    assert resumed["step"] == reference.step
    for name, value in reference.model.state_dict().items():
        assert torch.allclose(resumed["model"][name], value, rtol=0, atol=1e-6), name
