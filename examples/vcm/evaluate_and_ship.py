"""Evaluate a trained VCM model on the unseen devices and package it as a shipped model.

Prints the paper-style table (node / edge / total MAE per test device, raw and after the
best constant energy shift H + cS, see :mod:`hamtrans.models.evaluation`) and writes
``hamtrans/models/pretrained/<name>.pt`` with the table in its metadata, plus a
copy of the training configuration.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/evaluate_and_ship.py runs/vcm/best.pt            # vcm-gfn1
     ... evaluate_and_ship.py runs/vcm8/best.pt --data data8 --name vcm_gfn1_8 --config train8.yaml   # vcm-gfn1-8
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from hamtrans.models import load_model, save_model
from hamtrans.models.evaluation import evaluate_model

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "hamtrans" / "models" / "pretrained"
TEST_DEVICES = ["formed_1", "formed_2", "broken_1", "broken_2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="runs/vcm/best.pt")
    parser.add_argument("--data", default="data", help="folder of the test devices, under examples/vcm")
    parser.add_argument("--name", default="vcm_gfn1", help="file name of the shipped model (no suffix)")
    parser.add_argument("--config", default="train.yaml", help="training configuration shipped with it")
    args = parser.parse_args()
    model_path = Path(args.model)
    predictor = load_model(model_path)
    metadata = dict(predictor.metadata)
    print(f"{'device':<10} {'node MAE meV':>13} {'edge MAE meV':>13} {'total MAE meV':>14} {'S MAE':>9} "
          f"{'shift meV':>10} {'aligned node / edge / total meV':>32}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in TEST_DEVICES:
            summary = evaluate_model(model_path, HERE / args.data / f"{name}.h5", Path(scratch) / name, max_eigen_orbitals=0)
            row = summary["structures"][0]
            metadata[f"test_{name}"] = {k: row[k] for k in (
                "node_mae_meV", "edge_mae_meV", "total_mae_meV", "overlap_mae", "energy_zero_shift_meV",
                "aligned_node_mae_meV", "aligned_edge_mae_meV", "aligned_total_mae_meV")}
            print(f"{name:<10} {row['node_mae_meV']:13.2f} {row['edge_mae_meV']:13.2f} {row['total_mae_meV']:14.2f} "
                  f"{row['overlap_mae']:9.1e} {row['energy_zero_shift_meV']:+10.0f} "
                  f"{row['aligned_node_mae_meV']:14.2f} / {row['aligned_edge_mae_meV']:.2f} / "
                  f"{row['aligned_total_mae_meV']:.2f}")
    cutoff = predictor.config.block_cutoff
    metadata["reference"] = f"GFN1-xTB (tblite 0.8.0), gfn1-xtb basis, blocks within {cutoff:g} Å, electronic T = 300 K"
    TARGET.mkdir(parents=True, exist_ok=True)
    save_model(TARGET / f"{args.name}.pt", predictor.hamiltonian, predictor.overlap, metadata)
    shutil.copy(HERE / args.config, TARGET / f"{args.name}.yaml")
    print(f"wrote {TARGET / args.name}.pt")


if __name__ == "__main__":
    main()
