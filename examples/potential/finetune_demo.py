"""Forgetting with and without reEWC: fine-tune a potential on new chemistry, measure the old.

1. Split ``data/train.h5`` and ``data/test.h5`` (from ``make_reference.py``) by category:
   "old" = bulk equilibrium / strained / rattled / hot cells, "new" = vacancies and
   TiN | HfO2 interfaces.
2. Train a base potential on the old data only.
3. Fine-tune it on the new data twice: plainly (no replay, no EWC) and with reEWC
   (``replay_fraction`` old structures per new one + EWC penalty).
4. Evaluate base and both fine-tuned models on the old and the new test sets.

Writes ``table.json`` into ``--out`` (``runs/finetune_demo``) with the ``hamtrans finetune``
configurations it ran (``plain.yaml``, ``reewc.yaml``) and prints a Markdown table.
Run (about 25 minutes on one core here)::

    OMP_NUM_THREADS=1 .venv/bin/python examples/potential/finetune_demo.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import Dataset, DatasetWriter, Record
from hamtrans.models.model_file import load_potential
from hamtrans.training.config import parse_config
from hamtrans.training.finetuning import ReplayEWCTask, load_finetune_config
from hamtrans.training.potential_task import evaluate_potential, read_labels
from hamtrans.training.tasks import make_trainer
from hamtrans.training.trainer import Trainer

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
NEW_CATEGORIES = ("vacancy", "interface")
MODEL = {"species": ["N", "O", "Ti", "Hf"], "cutoff": 5.0, "lmax": 2, "channels": 16, "n_layers": 2,
         "radial_hidden": 32}
BASE_EPOCHS, FINETUNE_EPOCHS = 25, 15
REEWC = {"replay_fraction": 0.5, "ewc_weight": 1000.0, "fisher_structures": 32}


def split_by_category(source: Path, old: Path, new: Path) -> None:
    """Write the structures of ``source`` into ``old`` or ``new`` by their category (the name's prefix)."""
    with Dataset(source) as data, DatasetWriter(old, OrbitalBasis.named("gfn1-xtb")) as a, \
            DatasetWriter(new, OrbitalBasis.named("gfn1-xtb")) as b:
        for record in data:
            bare = Record(record.atoms, energy=record.energy, forces=record.forces, stress=record.stress,
                          source=record.source, name=record.name)
            (b if record.name.split("/")[0] in NEW_CATEGORIES else a).append(bare)


def training(directory: Path, train: Path, epochs: int, learning_rate: float) -> dict:
    return {"task": "potential", "data": {"train": [str(train)], "validation_fraction": 0.1},
            "training": {"epochs": epochs, "batch_size": 4, "learning_rate": learning_rate, "lr_patience": 4,
                         "checkpoint_every": 50},
            "output": {"directory": str(directory)}}


def finetune(out: Path, name: str, options: dict, base: Path, old_train: Path, new_train: Path) -> Path:
    """Fine-tune ``base`` on ``new_train`` with ``options`` (replay of ``old_train``, EWC) into ``out/name``."""
    raw = training(out / name, new_train, FINETUNE_EPOCHS, 0.002)
    raw["finetune"] = {"model": str(base), "replay": [str(old_train)], **options}
    path = out / f"{name}.yaml"  # the hamtrans finetune configuration of this run
    path.write_text(yaml.safe_dump(raw))
    config = load_finetune_config(path)
    Trainer(config, ReplayEWCTask(config)).run()
    return out / name / "best.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/finetune_demo"),
                        help="folder of the split data, the three models, their hamtrans finetune configs and table.json")
    OUT = parser.parse_args().out  # noqa: N806 (the folder every step writes into)
    OUT.mkdir(parents=True, exist_ok=True)
    files = {f"{part}_{split}": OUT / f"{part}_{split}.h5" for part in ("old", "new") for split in ("train", "test")}
    split_by_category(DATA / "train.h5", files["old_train"], files["new_train"])
    split_by_category(DATA / "test.h5", files["old_test"], files["new_test"])
    base_raw = {**training(OUT / "base", files["old_train"], BASE_EPOCHS, 0.005), "model": MODEL}
    make_trainer(parse_config(base_raw)).run()
    models = {"base (old data only)": OUT / "base" / "best.pt"}
    models["plain fine-tuning"] = finetune(OUT, "plain", {"replay_fraction": 0.0, "ewc_weight": 0.0}, models[
        "base (old data only)"], files["old_train"], files["new_train"])
    models["reEWC fine-tuning"] = finetune(OUT, "reewc", REEWC, models["base (old data only)"], files["old_train"],
                                           files["new_train"])
    tests = {"old": read_labels(files["old_test"]), "new": read_labels(files["new_test"])}
    table = {name: {part: evaluate_potential(load_potential(path), labels) for part, labels in tests.items()}
             for name, path in models.items()}
    (OUT / "table.json").write_text(json.dumps({"reewc": REEWC, "table": table}, indent=2) + "\n")
    print("| model | old F MAE (meV/Å) | old E MAE (meV/atom) | new F MAE (meV/Å) | new E MAE (meV/atom) |")
    print("|---|---|---|---|---|")
    for name, parts in table.items():
        print(f"| {name} | {parts['old']['force_mae_meV_A']:.1f} | {parts['old']['energy_mae_meV_atom']:.2f} | "
              f"{parts['new']['force_mae_meV_A']:.1f} | {parts['new']['energy_mae_meV_atom']:.2f} |")


if __name__ == "__main__":
    main()
