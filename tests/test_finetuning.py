"""reEWC fine-tuning: replay mixing, the Fisher information, the EWC penalty and its effect on forgetting."""

import pytest
import torch
import yaml

from hamtrans.cli import main
from hamtrans.errors import TrainingError
from hamtrans.models.model_file import load_potential
from hamtrans.training.config import parse_config
from hamtrans.training.finetuning import ReplayEWCTask, diagonal_fisher, load_finetune_config
from hamtrans.training.potential_task import evaluate_potential, read_labels
from hamtrans.training.tasks import make_trainer
from hamtrans.training.trainer import Trainer
from tests.potential_teacher import write_teacher_data
from tests.training_configs import potential_raw_config


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """An 'old' potential trained on one teacher, and 'new' data from another teacher."""
    folder = tmp_path_factory.mktemp("finetune")
    old, _ = write_teacher_data(folder, count=12, seed=0, teacher_seed=42, name="old")
    new, _ = write_teacher_data(folder, count=8, seed=1, teacher_seed=7, name="new")
    make_trainer(parse_config(potential_raw_config(old, folder / "base", epochs=6, ema_decay=0.5))).run()
    return folder, old, new, folder / "base" / "best.pt"


def finetune_raw(setting, out, **finetune) -> dict:
    folder, old, new, base = setting
    raw = potential_raw_config(new, out, epochs=4, learning_rate=0.02, ema_decay=0.0)
    del raw["model"]
    raw["finetune"] = {"model": str(base), "replay": [str(old)], **finetune}
    return raw


def config_of(setting, out, **finetune):
    path = out.parent / f"{out.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(finetune_raw(setting, out, **finetune)))
    return load_finetune_config(path)


def test_replay_and_fisher(setting, tmp_path):
    config = config_of(setting, tmp_path / "r", replay_fraction=0.5, ewc_weight=10.0, fisher_structures=3)
    task = ReplayEWCTask(config)
    model, train, validation = task.build()
    assert len(train) == 6 + 3  # 8 new, 2 held out for validation, + round(0.5 · 6) replayed
    assert task.penalty(model).item() == 0.0  # at the anchor
    samples = train[-2:]
    fisher = diagonal_fisher(model, task, samples)
    name, parameter = next((n, p) for n, p in model.named_parameters() if p.requires_grad)
    expected = torch.zeros_like(parameter)
    for sample in samples:
        (gradient,) = torch.autograd.grad(task.loss(model, sample), parameter)
        expected += gradient**2 / len(samples)
    torch.testing.assert_close(fisher[name], expected)
    with torch.no_grad():
        parameter.add_(0.1)
    assert task.penalty(model).item() > 0


def test_plain_finetuning_has_no_penalty_and_no_replay(setting, tmp_path):
    task = ReplayEWCTask(config_of(setting, tmp_path / "p", replay_fraction=0.0, ewc_weight=0.0))
    model, train, _ = task.build()
    assert len(train) == 6 and task.penalty(model) is None


def test_ewc_limits_forgetting(setting, tmp_path):
    """A strong EWC penalty keeps the old-data error close to the start; plain fine-tuning moves it more."""
    folder, old, new, base = setting
    old_labels = read_labels(old)
    start = evaluate_potential(load_potential(base), old_labels)["force_mae_meV_A"]
    errors = {}
    for name, options in {"plain": {"replay_fraction": 0.0, "ewc_weight": 0.0},
                          "ewc": {"replay_fraction": 0.0, "ewc_weight": 1e7}}.items():
        config = config_of(setting, tmp_path / name, **options)
        Trainer(config, ReplayEWCTask(config)).run()
        final = load_potential(tmp_path / name / "best.pt")
        errors[name] = evaluate_potential(final, old_labels)["force_mae_meV_A"]
    assert abs(errors["ewc"] - start) < abs(errors["plain"] - start)


def test_finetune_cli_and_errors(setting, tmp_path):
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(finetune_raw(setting, tmp_path / "cli", replay_fraction=0.5)))
    assert main(["finetune", str(path)]) == 0
    assert load_potential(tmp_path / "cli" / "best.pt").metadata["config"]["finetune"]["replay_fraction"] == 0.5
    raw = finetune_raw(setting, tmp_path / "bad")
    raw["model"] = {"species": ["O"]}
    path.write_text(yaml.safe_dump(raw))
    assert main(["finetune", str(path)]) != 0  # the model section comes from the starting model
    raw = finetune_raw(setting, tmp_path / "bad")
    raw["finetune"]["replay"] = []
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(TrainingError, match="no old data"):
        config = load_finetune_config(path)
        ReplayEWCTask(config).build()
