"""Kwant side of negf_strip.py; runs under a separate interpreter that has Kwant (numpy < 2).

Prints one JSON line: per-energy times (s) and transmissions for the same strip
as hamtrans.negf.tight_binding.square_strip (hopping −t, onsite disorder·(u − ½),
u = default_rng(seed).uniform(size=(length, width))[x, y], clean leads).
"""

import argparse
import json
import time

import numpy as np


def build(width: int, length: int, disorder: float, seed: int, hopping: float):
    import kwant

    lattice = kwant.lattice.square(norbs=1)
    onsite = disorder * (np.random.default_rng(seed).uniform(size=(length, width)) - 0.5)
    system = kwant.Builder()
    for x in range(length):
        for y in range(width):
            system[lattice(x, y)] = onsite[x, y]
    system[lattice.neighbors()] = -hopping
    lead = kwant.Builder(kwant.TranslationalSymmetry((-1, 0)))
    for y in range(width):
        lead[lattice(0, y)] = 0.0
    lead[lattice.neighbors()] = -hopping
    system.attach_lead(lead)
    system.attach_lead(lead.reversed())
    return system.finalized()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--energies", type=float, nargs="+", required=True)
    parser.add_argument("--disorder", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hopping", type=float, default=1.0)
    args = parser.parse_args()
    import kwant

    system = build(args.width, args.length, args.disorder, args.seed, args.hopping)
    kwant.smatrix(system, args.energies[0]).transmission(1, 0)  # warm-up
    times, values = [], []
    for energy in args.energies:
        start = time.perf_counter()
        values.append(kwant.smatrix(system, energy).transmission(1, 0))
        times.append(time.perf_counter() - start)
    print(json.dumps({"kwant_version": kwant.__version__, "times_s": times, "transmission": values}))


if __name__ == "__main__":
    main()
