"""Energy conservation of the shipped potential in NVE MD over a few picoseconds.

Velocity Verlet (ASE) of a rattled 96-atom m-HfO2-like fluorite cell started at
600 K with ``vcm-gfn1-potential`` rebuilt in float64; prints the total-energy drift
(slope of a linear fit, eV/atom/ps), the peak-to-peak fluctuation and the mean
temperature, for two time steps. The unit test runs 100 steps of the same setup.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/potential_nve.py [--picoseconds 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase import units
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from hamtrans.calculators import PotentialCalculator
from hamtrans.data.structures import bulk_hfo2
from hamtrans.models.model_file import load_potential


def nve_run(timestep_fs: float, picoseconds: float, model) -> dict:
    atoms = bulk_hfo2((2, 2, 2), rattle=0.05, seed=1)
    atoms.calc = PotentialCalculator(model)
    thermalize_momenta(atoms, temperature_K=600, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    steps = int(round(picoseconds * 1000 / timestep_fs))
    totals, temperatures = [], []
    start = time.perf_counter()
    for _ in range(steps):
        dynamics.run(1)
        totals.append(atoms.get_total_energy() / len(atoms))
        temperatures.append(atoms.get_temperature())
    times = np.arange(steps) * timestep_fs / 1000
    return {"timestep_fs": timestep_fs, "steps": steps, "drift_eV_atom_ps": float(np.polyfit(times, totals, 1)[0]),
            "peak_to_peak_eV_atom": float(np.ptp(totals)), "mean_temperature_K": float(np.mean(temperatures)),
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--picoseconds", type=float, default=2.0)
    parser.add_argument("--timesteps", type=float, nargs="+", default=[0.5, 1.0])
    args = parser.parse_args()
    model = load_potential("vcm-gfn1-potential", dtype="float64")
    for timestep in args.timesteps:
        row = nve_run(timestep, args.picoseconds, model)
        print(f"dt {row['timestep_fs']} fs, {row['steps']} steps ({args.picoseconds} ps): drift "
              f"{row['drift_eV_atom_ps']:+.2e} eV/atom/ps, peak-to-peak {row['peak_to_peak_eV_atom']:.2e} eV/atom, "
              f"<T> {row['mean_temperature_K']:.0f} K, {row['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
