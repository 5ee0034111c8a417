"""NEGF speed: hamtrans RGF vs Kwant (and ASE) in the same run, plus achieved GFLOP/s.

1. Square-lattice strip W × 200 (Anderson disorder 1, seed 1), W = 20, 40, 80:
   time per energy of hamtrans (eigenmode leads, energies batched) and of Kwant
   1.5 (MUMPS), which runs in its own interpreter because it needs numpy < 2
   (``--kwant-python``, default ``$KWANT_PYTHON`` or /work/kwant-venv/bin/python;
   how to build it: benchmarks/README.md). T must agree.
2. The sweep's achieved GFLOP/s (flops counted from the algorithm, lead time
   excluded) against a complex128 matmul measured now.
3. ASE's dense TransportCalculator on a small strip (1,000 orbitals).
4. A realistic size: a TiN|HfO2|Ti|TiN device from the builder with a synthetic
   Hamiltonian of GFN1-xTB block shapes and distance-decaying blocks (stands in
   for the ML Hamiltonian until that model exists).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/negf_strip.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hamtrans.negf import Device, lead_self_energies, transmission
from hamtrans.negf.tight_binding import open_channels, square_strip

HERE = Path(__file__).resolve().parent


def median_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_peak(n: int, batch: int = 16) -> float:
    """Measured complex128 matmul GFLOP/s for a batch of n × n products."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(batch, n, n)) + 1j * rng.normal(size=(batch, n, n))
    a @ a
    seconds = median_time(lambda: a @ a, 5)
    return 8.0 * n**3 * batch / seconds / 1e9


def sweep_flops(device: Device, channels: int) -> float:
    """Real flops of transmission_sweep per energy: per slab one LU and a solve with n + m right-hand sides."""
    sizes = device.block_sizes
    flops = 0.0
    for i, n in enumerate(sizes):
        n_next = sizes[i + 1] if i + 1 < len(sizes) else 0
        flops += 8.0 * (n**3 / 3 + n * n * (n_next + channels))
        if i and not device.blocks().diagonal_coupling[i - 1]:
            flops += 8.0 * (n * sizes[i - 1] * n_next + n * sizes[i - 1] * channels)
    return flops


def kwant_times(python: str, width: int, length: int, energies: np.ndarray) -> dict | None:
    if not python or not Path(python).exists():
        return None
    command = [python, str(HERE / "_kwant_strip.py"), "--width", str(width), "--length", str(length),
               "--energies", *map(str, energies)]
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if run.returncode:
        print(f"  kwant failed: {run.stderr[-500:]}")
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def strip_benchmark(widths, length, n_energies, kwant_python, results) -> None:
    peak = matmul_peak(256)
    print(f"complex128 matmul peak (n = 256, this run): {peak:.1f} GFLOP/s")
    results["matmul_peak_gflops"] = peak
    energies = np.linspace(0.3, 0.7, n_energies)
    print(f"{'W':>4} {'hamtrans ms/E':>14} {'leads ms/E':>11} {'Kwant ms/E':>11} {'Kwant/ours':>10} "
          f"{'sweep GF/s':>10} {'% peak':>7} {'max |ΔT|':>9}")
    for width in widths:
        device = Device.from_matrices(*square_strip(width, length, disorder=1.0, seed=1))
        ours = median_time(lambda: transmission(device, energies, batch_size=n_energies), 3) / n_energies
        leads = median_time(lambda: lead_self_energies(device, energies + 0j), 3) / n_energies
        t_ours = transmission(device, energies, batch_size=n_energies)
        channels = max(open_channels(width, e) for e in energies)  # rank of Γ_L = columns carried
        rate = sweep_flops(device, channels) / (ours - leads) / 1e9
        row = {"width": width, "hamtrans_ms": ours * 1e3, "leads_ms": leads * 1e3, "sweep_gflops": rate}
        kwant = kwant_times(kwant_python, width, length, energies[: min(8, n_energies)])
        if kwant:
            row["kwant_ms"] = float(np.median(kwant["times_s"])) * 1e3
            row["max_abs_dT"] = float(np.abs(np.array(kwant["transmission"]) - t_ours[: len(kwant["times_s"])]).max())
            row["kwant_version"] = kwant["kwant_version"]
        results.setdefault("strip", []).append(row)
        kwant_text = (f"{row['kwant_ms']:11.1f} {row['kwant_ms'] / row['hamtrans_ms']:9.1f}x"
                      if kwant else f"{'n/a':>11} {'n/a':>10}")
        delta = f"{row['max_abs_dT']:9.1e}" if kwant else f"{'n/a':>9}"
        print(f"{width:4d} {ours * 1e3:14.1f} {leads * 1e3:11.1f} {kwant_text} {rate:10.1f} "
              f"{100 * rate / peak:6.0f}% {delta}")


def ase_benchmark(results) -> None:
    from ase.transport.calculators import TransportCalculator

    width, length = 10, 96
    h, s, positions = square_strip(width, length, disorder=1.0, seed=2)
    device = Device.from_matrices(h, s, positions)
    energies = np.linspace(0.3, 0.7, 4)
    eta = 1e-5
    pl = device.block_sizes[0]
    calc = TransportCalculator(h=h.toarray(), s=s.toarray(), h1=h[:2 * pl, :2 * pl].toarray(),
                               s1=s[:2 * pl, :2 * pl].toarray(), energies=energies, dos=False,
                               eta=eta, eta1=eta, eta2=eta, logfile=None, verbose=False)
    start = time.perf_counter()
    reference = calc.get_transmission()
    t_ase = (time.perf_counter() - start) / len(energies)
    t_ours = median_time(lambda: transmission(device, energies, eta=eta), 3) / len(energies)
    delta = np.abs(transmission(device, energies, eta=eta) - reference).max()
    results["ase"] = {"orbitals": device.n_orbitals, "ase_ms": t_ase * 1e3, "hamtrans_ms": t_ours * 1e3,
                      "max_abs_dT": float(delta)}
    print(f"ASE TransportCalculator, {device.n_orbitals} orbitals: ASE {t_ase * 1e3:.1f} ms/E, "
          f"hamtrans {t_ours * 1e3:.2f} ms/E ({t_ase / t_ours:.0f}x), max |ΔT| {delta:.1e} at η = {eta:g}")


def synthetic_vcm_device() -> tuple[Device, int]:
    """Builder device with distance-decaying H/S blocks of GFN1-xTB shapes (deterministic in the geometry)."""
    from hamtrans.data.basis import OrbitalBasis
    from hamtrans.data.blocks import BlockSparseMatrix
    from hamtrans.data.graphs import build_graph
    from hamtrans.data.structures import build_vcm_device

    atoms = build_vcm_device(cross_section=(16.96, 16.96), electrode_length=16.96, oxide_length=20.0,
                             ti_length=8.0, vacancies="filament", seed=3)
    basis = OrbitalBasis.named("gfn1-xtb")
    graph = build_graph(atoms, 5.0)
    rng = np.random.default_rng(0)
    counts = basis.orbital_counts(atoms.numbers)
    species = {int(z): rng.normal(size=(9, 9)) for z in np.unique(atoms.numbers)}
    level = {int(z): -3.0 * rng.random() for z in np.unique(atoms.numbers)}
    onsite_h, onsite_s, edges_h, edges_s = [], [], [], []
    for a, z in enumerate(atoms.numbers):
        n = counts[a]
        onsite_h.append((np.diag(np.linspace(level[int(z)], level[int(z)] + 2.0, n))).ravel())
        onsite_s.append(np.eye(n).ravel())
    distance = graph.distances
    for e, (i, j) in enumerate(graph.edge_index.T):
        zi, zj = int(atoms.numbers[i]), int(atoms.numbers[j])
        mix = (species[zi][: counts[i], : counts[j]] + species[zj][: counts[j], : counts[i]].T) / 2
        edges_h.append((-1.5 * np.exp(-distance[e] / 1.2) * mix).ravel())
        edges_s.append((0.1 * np.exp(-distance[e] / 1.0) * mix).ravel())
    h = BlockSparseMatrix(basis, atoms.numbers, graph, np.concatenate(onsite_h), np.concatenate(edges_h))
    s = BlockSparseMatrix(basis, atoms.numbers, graph, np.concatenate(onsite_s), np.concatenate(edges_s))
    return Device.from_atoms(h.to_sparse(axis=0), s.to_sparse(axis=0), atoms, basis, 0), len(atoms)


def realistic_benchmark(results) -> None:
    start = time.perf_counter()
    device, n_atoms = synthetic_vcm_device()
    build = time.perf_counter() - start
    energies = np.linspace(-1.0, 1.0, 8)
    per_energy = median_time(lambda: transmission(device, energies, batch_size=8), 1) / len(energies)
    leads = median_time(lambda: lead_self_energies(device, energies + 0j), 1) / len(energies)
    results["vcm"] = {"atoms": n_atoms, "orbitals": device.n_orbitals, "slabs": int(device.n_blocks),
                      "largest_slab": int(device.block_sizes.max()), "lead_orbitals": int(device.left.n_orbitals),
                      "device_build_s": build, "ms_per_energy": per_energy * 1e3, "leads_ms": leads * 1e3}
    print(f"VCM device ({n_atoms} atoms, {device.n_orbitals} orbitals, {device.n_blocks} slabs, largest "
          f"{device.block_sizes.max()}, leads {device.left.n_orbitals}): device set-up {build:.1f} s, "
          f"{per_energy * 1e3:.0f} ms per energy ({leads * 1e3:.0f} ms of it in the leads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--energies", type=int, default=16, help="energies per batch")
    parser.add_argument("--kwant-python", default=os.environ.get("KWANT_PYTHON", "/work/kwant-venv/bin/python"))
    parser.add_argument("--skip-vcm", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("warning: set OMP_NUM_THREADS=1 for comparable timings", file=sys.stderr)
    results: dict = {}
    strip_benchmark(args.widths, args.length, args.energies, args.kwant_python, results)
    ase_benchmark(results)
    if not args.skip_vcm:
        realistic_benchmark(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
