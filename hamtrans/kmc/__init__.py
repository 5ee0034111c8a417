"""Kinetic Monte Carlo of oxygen vacancies and ions in the oxide of a VCM device.

``lattice``        O sites and interstitials of a pristine device, hop pairs, electrode planes
``grid``           the finite-difference grid between the electrode surfaces
``electrostatics`` Poisson with the defect charges: site potentials and their exact per-event update
``heating``        Joule heating: global T₀ + R_th P or the local steady heat equation
``engine``         event catalogue (incl. the electrode reservoir), tilted Arrhenius rates, BKL steps
``filament``       electrode-connected vacancy clusters, spanning path, gap
``trajectory``     append-only HDF5 trajectory (crash-safe frames, resume from the last complete one)
``switching``      the ``hamtrans iv`` sweep: ramp, compliance, current/temperature loop, transport
"""

from hamtrans.kmc.engine import EVENTS, Barriers, KineticMonteCarlo, KMCState
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.trajectory import TrajectoryWriter, read_frames

__all__ = ["EVENTS", "Barriers", "KMCState", "KineticMonteCarlo", "OxideLattice", "TrajectoryWriter", "read_frames"]
