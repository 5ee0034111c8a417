"""Kinetic Monte Carlo of oxygen vacancies and ions in the oxide of a VCM device.

``lattice``     O sites and interstitials of a pristine device, hop pairs
``engine``      event catalogue, field-tilted Arrhenius rates, BKL steps, resumable state
``trajectory``  append-only HDF5 trajectory (crash-safe frames, resume from the last complete one)
"""

from hamtrans.kmc.engine import EVENTS, Barriers, KineticMonteCarlo, KMCState
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.trajectory import TrajectoryWriter, read_frames

__all__ = ["EVENTS", "Barriers", "KMCState", "KineticMonteCarlo", "OxideLattice", "TrajectoryWriter", "read_frames"]
