"""Evaluate the trained VCM potential on the held-out structures and package it as ``vcm-gfn1-potential``.

Prints energy / force / stress MAE per category of ``data/test.h5`` and in total,
writes ``hamtrans/models/pretrained/vcm_gfn1_potential.pt`` with the table in its
metadata, plus a copy of the training configuration.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/potential/evaluate_and_ship.py [runs/potential/best.pt]
"""

from __future__ import annotations

import shutil
import sys
from collections import defaultdict
from pathlib import Path

from hamtrans.models.model_file import load_potential, save_potential
from hamtrans.training.potential_task import evaluate_potential, read_labels

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "hamtrans" / "models" / "pretrained"


def main() -> None:
    model_path = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/potential/best.pt")
    model = load_potential(model_path)
    labels = read_labels(HERE / "data" / "test.h5")
    groups = defaultdict(list)
    for item in labels:
        groups[item.name.split("/")[0]].append(item)
    groups["all held-out"] = labels
    metadata = dict(model.metadata)
    print(f"{'category':<14} {'n':>3} {'E MAE meV/atom':>15} {'F MAE meV/Å':>12} {'σ MAE meV/Å³':>13}")
    for name, items in groups.items():
        row = evaluate_potential(model, items)
        metadata[f"test_{name}"] = row
        print(f"{name:<14} {row['structures']:3d} {row['energy_mae_meV_atom']:15.2f} {row['force_mae_meV_A']:12.1f} "
              f"{row['stress_mae_meV_A3']:13.2f}")
    metadata["reference"] = "GFN1-xTB (tblite 0.8.0), Γ point, electronic T = 300 K, cells of 48-96 atoms"
    save_potential(TARGET / "vcm_gfn1_potential.pt", model, metadata)
    shutil.copy(HERE / "train.yaml", TARGET / "vcm_gfn1_potential.yaml")
    print(f"wrote {TARGET / 'vcm_gfn1_potential.pt'}")


if __name__ == "__main__":
    main()
