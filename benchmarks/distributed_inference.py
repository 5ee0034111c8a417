"""Hamiltonian inference over MPI ranks: strong scaling and peak memory per rank, against one process.

For each device, ``hamtrans predict`` runs as a user runs it: once in one process with one
thread, once in one process with two threads (the peer that uses the same two cores without
MPI), and under ``mpiexec -n K`` with one thread per rank for each ``--ranks`` K > 1. Each
prints its prediction time (for K ranks: the slowest rank's, graph and region set-up
included; the gather and the file write are not) and its peak memory (the largest rank's).
Printed per run: that time, the wall time of the whole command, peak memory, the
strong-scaling efficiency ``t_1 / (K t_K)`` against the one-thread process, and the largest
difference of the written H and S from the one-process file (the same run's correctness).

Devices (``--devices``): ``paper`` is the paper-scale cell, ``build_vcm_device(cross_section=
(25.44, 25.44), electrode_length=21.2, oxide_length=34, ti_length=14)``, 5,269 atoms; ``10k``
is the same cross-section with 55.12 Å electrodes, 9,877 atoms.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/distributed_inference.py [--model vcm-gfn1-8] [--ranks 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.io import write

from hamtrans.data.formats import Dataset
from hamtrans.data.structures import build_vcm_device

DEVICES = {"paper": 21.2, "10k": 55.12}  # electrode length (Å) of the 25.44 Å-wide cell with a 34 Å oxide
REPORT = re.compile(r"(\d+) atoms, .* blocks: ([0-9.]+) s, peak memory (\d+) MiB")


def run_predict(model: str, structure: Path, out: Path, ranks: int, threads: int) -> dict:
    """One ``hamtrans predict`` command; its reported time and memory and its wall time."""
    hamtrans = [sys.executable, "-m", "hamtrans.cli", "predict", model, str(structure), "-o", str(out)]
    mpiexec = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks)] if ranks > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(mpiexec + hamtrans, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hamtrans predict failed ({ranks} ranks):\n{done.stderr[-2000:]}")
    found = REPORT.search(done.stdout)
    return {"atoms": int(found[1]), "seconds": float(found[2]), "peak_MiB": int(found[3]), "wall": wall}


def largest_difference(one: Path, other: Path) -> float:
    """Largest |ΔH| (eV) or |ΔS| between two single-record files (``inf`` if their graphs differ)."""
    with Dataset(one) as a, Dataset(other) as b:
        x, y = a[0], b[0]
        if not np.array_equal(x.hamiltonian.graph.edge_index, y.hamiltonian.graph.edge_index):
            return float("inf")
        pairs = [(x.hamiltonian, y.hamiltonian)] + ([(x.overlap, y.overlap)] if x.overlap is not None else [])
        return max(max(np.abs(p.onsite - q.onsite).max(), np.abs(p.edges - q.edges).max()) for p, q in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vcm-gfn1-8", help="model file or shipped name (default vcm-gfn1-8)")
    parser.add_argument("--devices", nargs="+", default=list(DEVICES), choices=list(DEVICES))
    parser.add_argument("--ranks", type=int, nargs="+", default=[2], help="MPI rank counts besides 1 (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in args.devices:
            atoms = build_vcm_device(cross_section=(25.44, 25.44), electrode_length=DEVICES[name], oxide_length=34.0,
                                     ti_length=14.0, vacancies="random", seed=1)
            structure = folder / f"{name}.extxyz"
            write(structure, atoms)
            print(f"\n{name}: {len(atoms)} atoms, {atoms.cell.lengths()[0]:.1f} Å along x, model {args.model}")
            print(f"{'run':>22} {'predict s':>10} {'wall s':>8} {'peak MiB':>9} {'efficiency':>10} {'max |Δ|':>9}")
            base = run_predict(args.model, structure, folder / "one.h5", 1, 1)
            print(f"{'1 process, 1 thread':>22} {base['seconds']:10.1f} {base['wall']:8.1f} {base['peak_MiB']:9d}")
            peer = run_predict(args.model, structure, folder / "threads.h5", 1, 2)
            print(f"{'1 process, 2 threads':>22} {peer['seconds']:10.1f} {peer['wall']:8.1f} {peer['peak_MiB']:9d} "
                  f"{base['seconds'] / (2 * peer['seconds']):10.2f} "
                  f"{largest_difference(folder / 'one.h5', folder / 'threads.h5'):9.1e}")
            for ranks in args.ranks:
                result = run_predict(args.model, structure, folder / f"ranks{ranks}.h5", ranks, 1)
                print(f"{f'{ranks} ranks, 1 thread each':>22} {result['seconds']:10.1f} {result['wall']:8.1f} "
                      f"{result['peak_MiB']:9d} {base['seconds'] / (ranks * result['seconds']):10.2f} "
                      f"{largest_difference(folder / 'one.h5', folder / f'ranks{ranks}.h5'):9.1e}")


if __name__ == "__main__":
    main()
