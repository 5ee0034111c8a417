"""Neighbour-graph construction: hamtrans (vesin) vs ASE's primitive_neighbor_list.

Builds the paper-size VCM device (~5,300 atoms) and times both libraries on the
same structure and cutoff in this run; prints times and the ratio.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/neighbour_graph.py
"""

import time

from ase.neighborlist import primitive_neighbor_list

from hamtrans.data.graphs import build_graph
from hamtrans.data.structures import build_vcm_device


def best_of(n, func):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    atoms = build_vcm_device(cross_section=(25.44, 25.44), electrode_length=21.2, oxide_length=34.0, ti_length=14.0)
    print(f"device: {len(atoms)} atoms, cell {atoms.cell.lengths().round(1)} Å")
    for cutoff in (4.0, 6.0, 8.0):
        t_ours, graph = best_of(3, lambda: build_graph(atoms, cutoff, check=False))
        t_ase, (i, _) = best_of(3, lambda: primitive_neighbor_list("ij", atoms.pbc, atoms.cell, atoms.positions, cutoff))
        assert len(i) == graph.n_edges
        print(f"cutoff {cutoff:.0f} Å: {graph.n_edges:>9,d} edges  hamtrans {t_ours * 1e3:7.1f} ms  "
              f"ASE {t_ase * 1e3:7.1f} ms  ratio ASE/hamtrans {t_ase / t_ours:5.1f}x")


if __name__ == "__main__":
    main()
