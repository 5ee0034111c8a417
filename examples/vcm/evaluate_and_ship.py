"""Evaluate a trained VCM model on the unseen devices and package it as a shipped model.

Prints the paper-style table (node / edge / total MAE per test device, raw and after the
best constant energy shift H + cS, see :mod:`hamtrans.models.evaluation`) and writes
``hamtrans/models/pretrained/<name>.pt`` with the table in its metadata, plus a
copy of the training configuration.

The metadata's ``reference`` names the method, basis and block cutoff of the test devices'
dataset (of the first training file without test devices), from its stored settings.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/evaluate_and_ship.py runs/vcm/best.pt            # vcm-gfn1
     ... evaluate_and_ship.py runs/vcm8/best.pt --data data8 --name vcm_gfn1_8 --config train8.yaml   # vcm-gfn1-8
     ... evaluate_and_ship.py runs/vcm_pbe_films/best.pt --data data_pbe_films --name vcm_pbe_szv \
         --config train_pbe_films.yaml --devices film_mq30_formed_1 film_mq30_broken_1   # vcm-pbe-szv
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from hamtrans.data.formats import Dataset
from hamtrans.models import load_model, save_model
from hamtrans.models.evaluation import evaluate_model

HERE = Path(__file__).resolve().parent
TARGET = HERE.parents[1] / "hamtrans" / "models" / "pretrained"
TEST_DEVICES = ["formed_1", "formed_2", "broken_1", "broken_2"]


def reference_text(path: Path, cutoff: float) -> str:
    """Method, basis and block cutoff of the reference behind a test dataset, from its stored settings."""
    with Dataset(path) as data:
        settings, basis = data.settings, data.basis.name
    named = basis.lower() in settings["method"].lower()
    text = f"{settings['method']}{'' if named else f', {basis} basis'}, blocks within {cutoff:g} Å"
    if "cp2k" in settings:
        kpoints = settings["cp2k"].get("kpoints")
        text += f", k-points {' '.join(map(str, kpoints))}" if kpoints else ", Γ"
    temperature = settings.get("electronic_temperature", settings.get("cp2k", {}).get("temperature"))
    if temperature is not None:
        text += f", electronic T = {temperature:g} K"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="runs/vcm/best.pt")
    parser.add_argument("--data", default="data", help="folder of the test devices, under examples/vcm")
    parser.add_argument("--name", default="vcm_gfn1", help="file name of the shipped model (no suffix)")
    parser.add_argument("--config", default="train.yaml", help="training configuration shipped with it")
    parser.add_argument("--devices", nargs="*", default=TEST_DEVICES,
                        help="unseen test devices (file stems in --data); none: the validation metrics only")
    args = parser.parse_args()
    model_path = Path(args.model)
    predictor = load_model(model_path)
    metadata = dict(predictor.metadata)
    print(f"{'device':<10} {'node MAE meV':>13} {'edge MAE meV':>13} {'total MAE meV':>14} {'S MAE':>9} "
          f"{'shift meV':>10} {'aligned node / edge / total meV':>32}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.devices:
            summary = evaluate_model(model_path, HERE / args.data / f"{name}.h5", Path(scratch) / name, max_eigen_orbitals=0)
            row = summary["structures"][0]
            metadata[f"test_{name}"] = {k: row[k] for k in (
                "node_mae_meV", "edge_mae_meV", "total_mae_meV", "overlap_mae", "energy_zero_shift_meV",
                "aligned_node_mae_meV", "aligned_edge_mae_meV", "aligned_total_mae_meV")}
            print(f"{name:<10} {row['node_mae_meV']:13.2f} {row['edge_mae_meV']:13.2f} {row['total_mae_meV']:14.2f} "
                  f"{row['overlap_mae']:9.1e} {row['energy_zero_shift_meV']:+10.0f} "
                  f"{row['aligned_node_mae_meV']:14.2f} / {row['aligned_edge_mae_meV']:.2f} / "
                  f"{row['aligned_total_mae_meV']:.2f}")
    source = HERE / args.data / f"{args.devices[0]}.h5" if args.devices else Path(metadata["train_data"][0])
    metadata["reference"] = reference_text(source, predictor.config.block_cutoff)
    TARGET.mkdir(parents=True, exist_ok=True)
    save_model(TARGET / f"{args.name}.pt", predictor.hamiltonian, predictor.overlap, metadata)
    shutil.copy(HERE / args.config, TARGET / f"{args.name}.yaml")
    print(f"wrote {TARGET / args.name}.pt")


if __name__ == "__main__":
    main()
