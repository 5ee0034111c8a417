"""MD throughput of the hamtrans potential vs SevenNet, same hyper-parameters, same run.

Velocity-Verlet MD (ASE, 1 fs) of rattled HfO2 supercells of ~100 to ~10,000 atoms
with :class:`hamtrans.calculators.PotentialCalculator`; throughput in atom-steps/s
(one torch thread, one BLAS thread). The peer is SevenNet (PyPI ``sevenn``) with the
same layers, channels, lmax, cutoff and radial basis, run by ``_sevenn_md.py`` in its
own virtual environment (default ``/work/sevenn-venv``; recipe in benchmarks/README.md)
on the same structures. Weights are random: speed does not depend on them.
Both codes run in the same environment: large-tensor allocations make glibc map and
unmap memory every step (most of the time was kernel time for SevenNet at 3,000
atoms); ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296``
before the command speeds both up, and the peer inherits it.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/potential_md.py [--sizes 100 1000 3000 10000]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.io import write
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from hamtrans.calculators import PotentialCalculator
from hamtrans.data.structures import bulk_hfo2
from hamtrans.models.potential import InteratomicPotential, PotentialConfig

HERE = Path(__file__).resolve().parent


def hfo2_of_size(target: int, seed: int = 0):
    """Rattled fluorite HfO2 supercell with about ``target`` atoms (12 per cell)."""
    cells = max(1, round(target / 12))
    nx = max(1, round(cells ** (1 / 3)))
    ny = max(1, round((cells / nx) ** 0.5))
    nz = max(1, round(cells / (nx * ny)))
    return bulk_hfo2((nx, ny, nz), rattle=0.05, seed=seed)


def time_md(atoms, calculator, steps: int, repeats: int, warmup: int = 2) -> float:
    """Seconds for ``steps`` velocity-Verlet steps after ``warmup`` untimed ones (fastest of ``repeats`` blocks)."""
    atoms = atoms.copy()
    atoms.calc = calculator
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dynamics.run(warmup)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        dynamics.run(steps)
        best = min(best, time.perf_counter() - start)
    return best


def run_sevenn(python: Path, structures: list[Path], args) -> list[dict]:
    command = [str(python), str(HERE / "_sevenn_md.py"), "--layers", str(args.layers), "--channels",
               str(args.channels), "--lmax", str(args.lmax), "--cutoff", str(args.cutoff), "--radial",
               str(args.radial), "--radial-hidden", str(args.radial_hidden), "--steps", str(args.steps),
               "--repeats", str(args.repeats), "--structure", *map(str, structures)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if run.returncode != 0:
        raise RuntimeError(f"SevenNet run failed:\n{run.stderr[-2000:]}")
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000, 10000])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="timed blocks of --steps; the fastest counts")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--lmax", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--radial", type=int, default=8)
    parser.add_argument("--radial-hidden", type=int, default=64)
    parser.add_argument("--sevenn-python", type=Path, default=Path("/work/sevenn-venv/bin/python"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = InteratomicPotential(PotentialConfig(species=(7, 8, 22, 72), cutoff=args.cutoff, lmax=args.lmax,
                                                 channels=args.channels, n_layers=args.layers,
                                                 n_radial=args.radial, radial_hidden=args.radial_hidden))
    model.average_neighbours.fill_(40.0)
    calculator = PotentialCalculator(model)
    print(f"hamtrans potential: {args.layers} layers, {args.channels} channels, lmax {args.lmax}, cutoff "
          f"{args.cutoff} Å, {args.radial} Bessel functions, {sum(p.numel() for p in model.parameters())} "
          f"parameters, float32, 1 thread")
    folder = Path(tempfile.mkdtemp())
    structures, ours = [], []
    for size in args.sizes:
        atoms = hfo2_of_size(size)
        path = folder / f"hfo2_{len(atoms)}.extxyz"
        write(path, atoms)
        structures.append(path)
        seconds = time_md(atoms, calculator, args.steps, args.repeats)
        ours.append({"atoms": len(atoms), "atom_steps_per_s": len(atoms) * args.steps / seconds})
        print(f"hamtrans {len(atoms):6d} atoms: {ours[-1]['atom_steps_per_s']:8.0f} atom-steps/s", flush=True)
    if not args.sevenn_python.exists():
        print(f"SevenNet peer skipped: {args.sevenn_python} not found (see benchmarks/README.md)")
        return
    theirs = run_sevenn(args.sevenn_python, structures, args)
    print(f"SevenNet {theirs[0].get('version', '?')}: {theirs[0].get('params', '?')} parameters")
    print(f"{'atoms':>7} {'hamtrans':>10} {'SevenNet':>10} {'ratio':>6}  (atom-steps/s)")
    for a, b in zip(ours, theirs):
        print(f"{a['atoms']:7d} {a['atom_steps_per_s']:10.0f} {b['atom_steps_per_s']:10.0f} "
              f"{a['atom_steps_per_s'] / b['atom_steps_per_s']:6.2f}")


if __name__ == "__main__":
    main()
