"""Landauer–Büttiker current and Fermi functions (energies in eV, current in A)."""

from __future__ import annotations

import numpy as np
from scipy.constants import Boltzmann, e, h
from scipy.special import expit

from hamtrans.errors import HamtransError

#: Conductance quantum with spin degeneracy, 2e²/h (S): I [A] = G0 · ∫ T (f_L − f_R) dE [eV].
CONDUCTANCE_QUANTUM = 2 * e**2 / h
#: Boltzmann constant in eV/K.
BOLTZMANN_EV = Boltzmann / e
#: Half-width of the bias window beyond the chemical potentials, in kT (f < 1e-13 beyond).
WINDOW_KT = 30.0
#: Where the window is open: beyond the chemical potentials by this many kT (f < 5e-5 beyond).
OPEN_KT = 10.0


def thermal_energy(temperature: float) -> float:
    """k_B T in eV for ``temperature`` in K (finite, ≥ 0); raises :class:`HamtransError` otherwise."""
    value = np.asarray(temperature)
    if value.ndim != 0 or value.dtype.kind not in "iuf" or not (np.isfinite(value) and value >= 0):
        raise HamtransError(f"temperature = {temperature!r}: give the electrode temperature as one finite number "
                            "of kelvin ≥ 0 (0 for step Fermi functions)")
    return BOLTZMANN_EV * float(value)


def fermi(energies: np.ndarray, chemical_potential: float, kt: float) -> np.ndarray:
    """Fermi–Dirac occupation; a step (½ at μ) for ``kt = 0``."""
    energies = np.asarray(energies, float)
    if kt == 0:
        return np.where(energies < chemical_potential, 1.0, np.where(energies > chemical_potential, 0.0, 0.5))
    return expit(-(energies - chemical_potential) / kt)


def bias_window(mu_left: float, mu_right: float, kt: float, beyond_kt: float = WINDOW_KT) -> tuple[float, float]:
    """Energy interval (eV) from ``beyond_kt``·kT below the lower chemical potential to as far above the higher.

    Outside the default (``WINDOW_KT``) ``|f_L − f_R|`` < 1e-13; outside ``OPEN_KT`` it is < 5e-5
    (where the window is open). At 0 K both are ``[min μ, max μ]``.
    """
    return min(mu_left, mu_right) - beyond_kt * kt, max(mu_left, mu_right) + beyond_kt * kt


def landauer_current(energies: np.ndarray, transmission: np.ndarray, mu_left: float, mu_right: float, kt: float) -> float:
    """``I = (2e/h) ∫ T(E) [f_L(E) − f_R(E)] dE`` (A) by the trapezoid rule on the given grid.

    Positive when electrons flow from left to right (``μ_L > μ_R``).
    """
    window = fermi(energies, mu_left, kt) - fermi(energies, mu_right, kt)
    return float(CONDUCTANCE_QUANTUM * np.trapezoid(transmission * window, energies))
