"""Runs ``hamtrans train`` single-process and under torchrun, for DDP == serial checks."""

import os
import signal
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
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    for launcher, name in (([sys.executable], "single.yaml"),
                           ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"],
                            "ddp.yaml")):
        returncode, stderr = _run_with_stack_dump([*launcher, "-m", "hamtrans.cli", command, str(tmp_path / name)], env)
        assert returncode == 0, stderr[-6000:]
    return metrics_rows(Path(single["output"]["directory"])), metrics_rows(Path(distributed["output"]["directory"]))


def _run_with_stack_dump(argv: list[str], env: dict, timeout: float = 300.0) -> tuple[int, str]:
    """Run ``argv`` in its own process group; on a timeout SIGABRT the group so faulthandler prints
    every process's Python stacks (a hang then fails the test with the place it hung)."""
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGABRT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
        return -1, f"timed out after {timeout:.0f} s; stacks at the abort:\n{stderr}"
    return process.returncode, stderr
