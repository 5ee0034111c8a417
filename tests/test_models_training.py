"""Training machinery: configuration checks, exact resume, NaN stop, model files, DDP, CLI round trip."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hamtrans.cli import main
from hamtrans.config import ConfigError
from hamtrans.errors import FileFormatError
from hamtrans.models.model_file import load_model, save_model
from hamtrans.training.config import parse_config
from hamtrans.training.tasks import make_trainer
from hamtrans.training.trainer import TrainingError
from tests.model_teacher import write_teacher_dataset
from tests.training_configs import hamiltonian_raw_config
from tests.training_runs import train_single_and_distributed


@pytest.fixture(scope="module")
def teacher_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("teacher") / "teacher.h5"
    write_teacher_dataset(path, seeds=(1,))
    return path


def test_config_errors_name_the_key(tmp_path):
    raw = hamiltonian_raw_config(tmp_path / "x.h5", tmp_path)
    raw["training"]["learnig_rate"] = 0.1
    with pytest.raises(ConfigError, match="learnig_rate.*did you mean 'learning_rate'"):
        parse_config(raw)
    raw = hamiltonian_raw_config(tmp_path / "x.h5", tmp_path)
    raw["model"]["chanels"] = 4
    with pytest.raises(ConfigError, match="did you mean 'channels'"):
        parse_config(raw)
    raw = hamiltonian_raw_config(tmp_path / "x.h5", tmp_path)
    raw["model"]["species"] = ["N", "Xx"]
    with pytest.raises(ConfigError, match="Xx"):
        parse_config(raw)


@pytest.mark.slow
def test_resume_after_a_crash_continues_exactly(teacher_data, tmp_path):
    reference = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "a")))
    reference.run()
    crashed = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "b")), stop_after_step=3)
    with pytest.raises(KeyboardInterrupt):
        crashed.run()  # killed mid-run: the checkpoint of step 3 survives
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["step"] == 3
    resumed = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "b")), resume=True)
    resumed.run()
    assert resumed.step == reference.step
    for (name, a), (_, b) in zip(reference.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6), name
    rows_a = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert len(rows_a) == len(rows_b) == 3  # header + 2 epochs, none duplicated by the resume
    # a changed configuration is refused on resume; a longer run is allowed
    with pytest.raises(TrainingError, match="configuration differs"):
        make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "b", learning_rate=0.5)), resume=True)
    longer = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "b", epochs=3)), resume=True)
    longer.run()
    assert longer.epoch == 3 and longer.step > reference.step


def test_best_model_is_chosen_by_the_configured_metric(teacher_data, tmp_path):
    trainer = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "m", epochs=3,
                                                          best_metric="edge_mae_meV")))
    real = trainer.validate
    # the loss keeps falling while the edge error rises after the first epoch: the two choices differ
    scripted = iter([(1.0, 5.0), (0.5, 6.0), (0.2, 7.0)])

    def validate():
        val_loss, edge = next(scripted)
        return {**real(), "val_loss": val_loss, "edge_mae_meV": edge}

    trainer.validate = validate
    trainer.run()
    saved = load_model(tmp_path / "m" / "best.pt").metadata
    assert saved["epoch"] == 0 and saved["metrics"]["edge_mae_meV"] == 5.0
    with pytest.raises(TrainingError, match="best_metric 'edge_mae'.*edge_mae_meV"):
        make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "x", best_metric="edge_mae")))


def test_nan_loss_stops_with_the_last_good_checkpoint(teacher_data, tmp_path):
    trainer = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "n")))
    trainer._train_step(trainer._batches(0)[0])
    trainer._save_checkpoint()
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingError, match="loss became nan.*last good checkpoint"):
        trainer._train_step(trainer._batches(0)[1])
    assert (tmp_path / "n" / "checkpoint.pt").exists()


@pytest.mark.parametrize("edge_stage", [{}, {"edge_convolution": "so2", "mmax": 2}])
def test_training_reduces_the_error_and_the_model_file_round_trips(teacher_data, tmp_path, edge_stage):
    raw = hamiltonian_raw_config(teacher_data, tmp_path / "t", epochs=6, ema_decay=0.5)
    raw["model"].update(edge_stage)
    trainer = make_trainer(parse_config(raw))
    first = trainer.validate()
    last = trainer.run()
    assert last["val_loss"] < 0.5 * first["val_loss"]
    assert last["node_mae_meV"] < first["node_mae_meV"]
    predictor = load_model(tmp_path / "t" / "best.pt")
    assert predictor.overlap is not None and predictor.metadata["train_data"] == [str(teacher_data)]
    path = save_model(tmp_path / "copy.pt", predictor.hamiltonian, predictor.overlap, {"note": "copy"})
    again = load_model(path)
    from hamtrans.data.formats import Dataset

    with Dataset(teacher_data) as data:
        atoms = data[0].atoms
    np.testing.assert_array_equal(again.predict(atoms)[0].edges, predictor.predict(atoms)[0].edges)
    assert again.hamiltonian.config.edge_convolution == edge_stage.get("edge_convolution", "tensor-product")


def test_model_file_guards(tmp_path, teacher_data):
    with pytest.raises(FileFormatError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="not a hamtrans Hamiltonian model"):
        load_model(tmp_path / "other.pt")
    trainer = make_trainer(parse_config(hamiltonian_raw_config(teacher_data, tmp_path / "g", epochs=1, max_steps=1)))
    trainer.run()
    payload = torch.load(tmp_path / "g" / "best.pt", weights_only=True)
    payload["version"] = [2, 0]
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(FileFormatError, match="model format 2.x"):
        load_model(tmp_path / "future.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(FileFormatError, match="not a loadable"):
        load_model(tmp_path / "junk.pt")


def test_bad_training_data(tmp_path, teacher_data):
    from hamtrans.data.basis import OrbitalBasis
    from hamtrans.data.formats import DatasetWriter

    with DatasetWriter(tmp_path / "empty.h5", OrbitalBasis.named("gfn1-xtb")):
        pass
    with pytest.raises(TrainingError, match="empty"):
        make_trainer(parse_config(hamiltonian_raw_config(tmp_path / "empty.h5", tmp_path / "e")))
    raw = hamiltonian_raw_config(teacher_data, tmp_path / "s")
    raw["model"]["basis"] = "szv-molopt-sr-gth"
    with pytest.raises(TrainingError, match="does not match the model basis"):
        make_trainer(parse_config(raw))
    raw = hamiltonian_raw_config(teacher_data, tmp_path / "c")
    raw["model"]["block_cutoff"] = 4.0
    with pytest.raises(TrainingError, match="block_cutoff"):
        make_trainer(parse_config(raw))


@pytest.mark.slow
def test_distributed_training_matches_single_process(teacher_data, tmp_path):
    single = hamiltonian_raw_config(teacher_data, tmp_path / "single", epochs=2, batch_size=4)
    double = hamiltonian_raw_config(teacher_data, tmp_path / "ddp", epochs=2, batch_size=4)
    for a, b in zip(*train_single_and_distributed(tmp_path, single, double)):
        assert float(a[3]) == pytest.approx(float(b[3]), rel=1e-4)  # train loss
        assert float(a[4]) == pytest.approx(float(b[4]), rel=1e-4)  # validation loss


def test_cli_train_predict_evaluate(teacher_data, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(hamiltonian_raw_config(teacher_data, tmp_path / "run", epochs=1)))
    assert main(["train", str(tmp_path / "c.yaml")]) == 0
    model = tmp_path / "run" / "best.pt"
    from hamtrans.data.formats import Dataset

    with Dataset(teacher_data) as data:
        data[0].atoms.write(tmp_path / "device.extxyz")
    assert main(["predict", str(model), str(tmp_path / "device.extxyz"), "-o", str(tmp_path / "pred.h5")]) == 0
    assert "peak memory" in capsys.readouterr().out
    assert main(["predict", str(model), str(tmp_path / "device.extxyz"), "-o", str(tmp_path / "csr"),
                 "--format", "csr"]) == 0
    assert {p.name for p in (tmp_path / "csr").iterdir()} == {"structure.xyz", "H.csr", "S.csr"}
    assert main(["evaluate", str(model), str(teacher_data), "--out", str(tmp_path / "ev")]) == 0
    summary = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert summary["total"]["node"]["mae_meV"] > 0 and "O-Hf" in summary["edges_by_element_pair"]
    first = summary["structures"][0]  # after one epoch the predicted S may not be positive definite yet
    assert "eigen_relative_percent" in first or first["eigen_error"].startswith("predicted S is not positive definite")
    assert (tmp_path / "ev" / "parity.png").exists() and (tmp_path / "ev" / "errors_violin.png").exists()
