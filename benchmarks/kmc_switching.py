"""KMC of the switching sweep: events per second and the cost of the Poisson set-up against the number of sites.

For VCM devices of growing oxide (10 → 40 Å) and cross-section (8.48 → 16.96 Å) this
times, in one run: the one-off Poisson set-up (sparse LU of the grid Laplacian plus the
batched solves of the site Green's matrix, ``SiteElectrostatics.poisson``), the local
heat solve of one voltage point, and BKL steps with the exact incremental potential
update. The peer is the same KMC with the field-free linear drop (no charges), measured
in the same run: the ratio is what the defect electrostatics costs per event.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kmc_switching.py
"""

import time

import numpy as np

from hamtrans.data.structures import build_vcm_device
from hamtrans.kmc import Barriers, KineticMonteCarlo, KMCState, OxideLattice
from hamtrans.kmc.electrostatics import SiteElectrostatics
from hamtrans.kmc.grid import DeviceGrid
from hamtrans.kmc.heating import LocalHeating

EVENTS = 2000


def events_per_second(kmc: KineticMonteCarlo, lattice: OxideLattice) -> float:
    state = KMCState.initial(lattice, 0.1, seed=0)
    temperatures = np.full(lattice.n_sites + lattice.n_interstitials, 1200.0)
    start = time.perf_counter()
    done = kmc.run(state, 1.0, EVENTS, temperatures=temperatures)
    return done / (time.perf_counter() - start)


def main() -> None:
    print(f"{'device':>22} {'sites':>6} {'grid nodes':>10} {'Poisson s':>9} {'heat s':>7} "
          f"{'events/s':>9} {'linear ev/s':>11} {'ratio':>6}")
    for cross, oxide in ((8.48, 10.0), (8.48, 20.0), (8.48, 40.0), (16.96, 20.0)):
        device = build_vcm_device(cross_section=(cross, cross), electrode_length=16.96, oxide_length=oxide,
                                  ti_length=0.0, vacuum=12.0, vacancies="none", seed=0)
        lattice = OxideLattice.from_device(device)
        start = time.perf_counter()
        poisson = SiteElectrostatics.poisson(lattice)
        t_poisson = time.perf_counter() - start
        grid = DeviceGrid.covering(*lattice.electrode_planes, lattice.period, 1.0)
        heating = LocalHeating(grid, 300.0)
        start = time.perf_counter()
        heating.site_temperatures(lattice.all_positions, lattice.site_positions[:5], 1e-6)
        t_heat = time.perf_counter() - start
        charged = events_per_second(KineticMonteCarlo(lattice, Barriers(), poisson), lattice)
        linear = events_per_second(KineticMonteCarlo(lattice, Barriers(), SiteElectrostatics.linear(lattice)), lattice)
        nodes = int(np.prod(DeviceGrid.covering(*lattice.electrode_planes, lattice.period, 0.7).shape))
        sites = lattice.n_sites + lattice.n_interstitials
        print(f"{f'{cross:.2f} Å wire, {oxide:.0f} Å oxide':>22} {sites:>6d} {nodes:>10,d} {t_poisson:>9.2f} "
              f"{t_heat:>7.2f} {charged:>9.0f} {linear:>11.0f} {linear / charged:>6.2f}")


if __name__ == "__main__":
    main()
