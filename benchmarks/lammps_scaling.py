"""Speed of the LAMMPS plugin: atom-steps/s, overhead against ASE, 1 → 2 rank strong scaling, BLAS trap.

The same random-weight potential (default hyper-parameters: 3 layers, 16 channels, lmax 2,
5 Å cutoff, float32) on rattled cubic HfO2 supercells:

1. LAMMPS (``lmp``, 1 rank) NVE MD: seconds per step and atom-steps/s from ~1,000 to ~20,000 atoms;
2. plugin overhead: LAMMPS seconds per step against one force call of ``PotentialCalculator``
   (ASE; neighbour list included in both) on the same structure;
3. strong scaling at ~10,000 atoms: 1 → 2 MPI ranks, efficiency t₁ / (2 t₂);
4. BLAS trap: liblammps exports a reference ``dgemm_``; a float64 matmul with it bound
   (torch loaded after liblammps) against torch's own BLAS (clean process) and against the
   plugin's remedy (libtorch_cpu opened with RTLD_DEEPBIND before torch is imported); then
   the float64 model in ``lmp`` with and without ``LD_PRELOAD`` of libtorch_cpu (equal: no trap).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lammps_scaling.py [--sizes 1000 5000 10000 20000]
Figures only; nothing is asserted. Timings need an otherwise idle machine.
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

import torch
from ase import Atoms

from hamtrans.calculators.potential import PotentialCalculator
from hamtrans.data.structures import bulk_hfo2
from hamtrans.lammps_plugin.build import toolchain
from hamtrans.lammps_plugin.tools import run_lammps, write_data
from hamtrans.models.model_file import save_potential
from hamtrans.models.potential import InteratomicPotential, PotentialConfig

MD_INPUT = """
units metal
atom_style atomic
read_data structure.data
pair_style hamtrans
pair_coeff * * {potential} Hf O
velocity all create 300 1 loop all
timestep 0.001
fix nve all nve
thermo 1000
run 1
run {steps}
"""

MATMUL = """
import ctypes, os, sys, time
from mpi4py import MPI  # libmpi first, liblammps needs it
site = sys.argv[2]
if sys.argv[1] != "clean":
    ctypes.CDLL(os.path.join(site, "lammps", "liblammps.so"), ctypes.RTLD_GLOBAL)
if sys.argv[1] == "protected":
    ctypes.CDLL(os.path.join(site, "torch", "lib", "libtorch_cpu.so"), os.RTLD_NOW | os.RTLD_DEEPBIND)
import torch
a = torch.randn(400, 400, dtype=torch.float64)
a @ a
start = time.perf_counter()
for _ in range(20):
    a @ a
print((time.perf_counter() - start) / 20)
"""


def potential(dtype: str) -> InteratomicPotential:
    """Default-size potential with fixed random weights (speed does not depend on training)."""
    torch.manual_seed(0)
    model = InteratomicPotential(PotentialConfig(species=(8, 72), dtype=dtype))
    with torch.no_grad():
        model.average_neighbours.fill_(30.0)
    return model.eval()


def structure(n_atoms: int) -> Atoms:
    """Rattled cubic HfO2 with about ``n_atoms`` atoms (12 per cell)."""
    k = max(1, round((n_atoms / 12) ** (1 / 3)))
    m = max(1, round(n_atoms / (12 * k * k)))
    return bulk_hfo2((k, k, m), rattle=0.1, seed=0)


def lammps_seconds_per_step(folder: Path, atoms: Atoms, model_file: Path, ranks: int, steps: int,
                            preload: str | None = None) -> float:
    """Loop time per MD step of ``lmp`` (the first step, with its set-up, is not timed)."""
    write_data(folder / "structure.data", atoms, ["Hf", "O"])
    (folder / "in.md").write_text(MD_INPUT.format(potential=model_file, steps=steps))
    previous = os.environ.get("LD_PRELOAD")
    if preload:
        os.environ["LD_PRELOAD"] = preload
    try:
        output = run_lammps("in.md", folder, ranks=ranks)
    finally:
        if preload:
            os.environ.pop("LD_PRELOAD") if previous is None else os.environ.update(LD_PRELOAD=previous)
    loop = re.findall(r"Loop time of (\S+) on \d+ procs for (\d+) steps", output)[-1]
    return float(loop[0]) / int(loop[1])


def ase_seconds_per_call(atoms: Atoms, model: InteratomicPotential, calls: int) -> float:
    """Energy + forces with ``PotentialCalculator`` (neighbour list included), after one warm-up call."""
    atoms = atoms.copy()
    atoms.calc = PotentialCalculator(model)
    atoms.get_forces()
    start = time.perf_counter()
    for _ in range(calls):
        atoms.positions[0, 0] += 1e-4  # a new structure: no cached result
        atoms.get_forces()
    return (time.perf_counter() - start) / calls


def matmul_seconds(mode: str) -> float:
    site = str(Path(toolchain().lammps_include).parents[2])
    result = subprocess.run([sys.executable, "-c", MATMUL, mode, site], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    return float(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000, 10000, 20000])
    parser.add_argument("--steps", type=int, default=3, help="timed MD steps per LAMMPS run")
    parser.add_argument("--scaling-atoms", type=int, default=10000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model32, model64 = potential("float32"), potential("float64")
        save_potential(folder / "float32.pt", model32)
        save_potential(folder / "float64.pt", model64)

        print("LAMMPS (1 rank) vs ASE, same float32 model; overhead = LAMMPS step / ASE force call - 1")
        print(f"{'atoms':>7} {'LAMMPS s/step':>14} {'atom-steps/s':>13} {'ASE s/call':>11} {'overhead':>9}")
        for n in args.sizes:
            atoms = structure(n)
            lammps = lammps_seconds_per_step(folder, atoms, folder / "float32.pt", 1, args.steps)
            ase = ase_seconds_per_call(atoms, model32, max(1, args.steps - 1))
            print(f"{len(atoms):7d} {lammps:14.3f} {len(atoms) / lammps:13.0f} {ase:11.3f} {lammps / ase - 1:9.1%}",
                  flush=True)

        atoms = structure(args.scaling_atoms)
        one = lammps_seconds_per_step(folder, atoms, folder / "float32.pt", 1, args.steps)
        two = lammps_seconds_per_step(folder, atoms, folder / "float32.pt", 2, args.steps)
        print(f"\nstrong scaling, {len(atoms)} atoms: 1 rank {one:.3f} s/step, 2 ranks {two:.3f} s/step, "
              f"speed-up {one / two:.2f}, efficiency {one / (2 * two):.0%}")

        clean, trapped, protected = (matmul_seconds(mode) for mode in ("clean", "trapped", "protected"))
        print(f"\nBLAS trap, float64 400x400 matmul: torch's BLAS {clean * 1e3:.2f} ms, liblammps' reference "
              f"dgemm_ {trapped * 1e3:.2f} ms ({trapped / clean:.1f}x), plugin remedy (RTLD_DEEPBIND) "
              f"{protected * 1e3:.2f} ms")
        atoms = structure(min(args.sizes))
        plain = lammps_seconds_per_step(folder, atoms, folder / "float64.pt", 1, args.steps)
        preloaded = lammps_seconds_per_step(folder, atoms, folder / "float64.pt", 1, args.steps,
                                            preload=toolchain().libtorch_cpu)
        print(f"float64 model in lmp, {len(atoms)} atoms: {plain:.3f} s/step, with LD_PRELOAD of torch "
              f"{preloaded:.3f} s/step (ratio {plain / preloaded:.2f}; 1 = trap avoided)")


if __name__ == "__main__":
    main()
