"""Kinetic Monte Carlo of oxygen vacancies and ions in the oxide of a VCM device.

``lattice``   O sites and interstitials of a pristine device, hop pairs
``engine``    event catalogue, field-tilted Arrhenius rates, BKL steps, resumable state
"""

from hamtrans.kmc.engine import EVENTS, Barriers, KineticMonteCarlo, KMCState
from hamtrans.kmc.lattice import OxideLattice

__all__ = ["EVENTS", "Barriers", "KMCState", "KineticMonteCarlo", "OxideLattice"]
