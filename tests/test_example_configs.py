"""The training configurations under examples/ are valid: they parse, and one that starts from a shipped model
has that model's hyper-parameters (``hamtrans train`` would refuse it after reading the data)."""

from pathlib import Path

import pytest
import yaml

from hamtrans.models import load_model
from hamtrans.models.pretrained import available
from hamtrans.training.config import parse_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(path for path in EXAMPLES.rglob("*.yaml") if "training" in (yaml.safe_load(path.read_text()) or {}))


def test_the_examples_hold_training_configurations():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_training_configuration_is_valid(path):
    config = parse_config(yaml.safe_load(path.read_text()))
    start = config.training.initial_model if config.task == "hamiltonian" else None
    if start in available():
        mine, theirs = config.model.to_dict(), load_model(start).config.to_dict()
        differing = {key: (mine[key], theirs.get(key)) for key in mine
                     if key not in ("basis", "smooth_cutoffs") and mine[key] != theirs.get(key)}
        assert not differing, f"{path.name} differs from {start} in {differing}"
