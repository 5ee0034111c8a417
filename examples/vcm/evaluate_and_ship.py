"""Evaluate a trained VCM model on the unseen devices and package it as ``vcm-gfn1``.

Prints the paper-style table (node / edge / total MAE per test device) and writes
``hamtrans/models/pretrained/vcm_gfn1.pt`` with the table in its metadata, plus a
copy of the training configuration.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/evaluate_and_ship.py [runs/vcm/best.pt]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from hamtrans.models import load_model, save_model
from hamtrans.models.evaluation import evaluate_model

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "hamtrans" / "models" / "pretrained"
TEST_DEVICES = ["formed_1", "formed_2", "broken_1", "broken_2"]


def main() -> None:
    model_path = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/vcm/best.pt")
    predictor = load_model(model_path)
    metadata = dict(predictor.metadata)
    print(f"{'device':<10} {'node MAE meV':>13} {'edge MAE meV':>13} {'total MAE meV':>14} {'S MAE':>9}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in TEST_DEVICES:
            summary = evaluate_model(model_path, HERE / "data" / f"{name}.h5", Path(scratch) / name, max_eigen_orbitals=0)
            row = summary["structures"][0]
            metadata[f"test_{name}"] = {k: row[k] for k in ("node_mae_meV", "edge_mae_meV", "total_mae_meV",
                                                             "overlap_mae")}
            print(f"{name:<10} {row['node_mae_meV']:13.2f} {row['edge_mae_meV']:13.2f} {row['total_mae_meV']:14.2f} "
                  f"{row['overlap_mae']:9.1e}")
    metadata["reference"] = "GFN1-xTB (tblite 0.8.0), gfn1-xtb basis, blocks within 4.5 Å, electronic T = 300 K"
    TARGET.mkdir(parents=True, exist_ok=True)
    save_model(TARGET / "vcm_gfn1.pt", predictor.hamiltonian, predictor.overlap, metadata)
    shutil.copy(HERE / "train.yaml", TARGET / "vcm_gfn1.yaml")
    print(f"wrote {TARGET / 'vcm_gfn1.pt'}")


if __name__ == "__main__":
    main()
