"""Runs ``hamtrans train`` single-process and under torchrun, for DDP == serial checks."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def metrics_rows(directory: Path) -> list[list[str]]:
    return [line.split(",") for line in (directory / "metrics.csv").read_text().splitlines()[1:]]


def train_single_and_distributed(tmp_path: Path, single: dict, distributed: dict, command: str = "train"):
    """Train ``single`` in one process and ``distributed`` with 2 torchrun processes; metric rows of both."""
    for raw, name in ((single, "single.yaml"), (distributed, "ddp.yaml")):
        (tmp_path / name).write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for launcher, name in (([sys.executable], "single.yaml"),
                           ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"],
                            "ddp.yaml")):
        run = subprocess.run([*launcher, "-m", "hamtrans.cli", command, str(tmp_path / name)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
    return metrics_rows(Path(single["output"]["directory"])), metrics_rows(Path(distributed["output"]["directory"]))
