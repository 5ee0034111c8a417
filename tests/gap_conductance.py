"""A stand-in current for KMC switching sweeps: ``G = G₀ exp(−gap/λ)``, no model and no NEGF.

The conductances are those the shipped model gives on the demo device (HRS ~6.5e-6 S, a
closed filament ~2.7× more).
"""

import numpy as np

from hamtrans.kmc.switching import SwitchingSweep

G0, DECAY = 1.75e-5, 11.6  # S, Å


class GapConductance(SwitchingSweep):
    """An ohmic device whose conductance falls exponentially with the filament gap."""

    def current(self, state, voltage: float) -> float:
        if voltage == 0.0:
            return 0.0
        return G0 * np.exp(-self.filament(state.occupied).gap / DECAY) * voltage
