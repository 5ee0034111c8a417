"""Electron counting: valence electrons per basis family and the Fermi level of a spectrum.

A trained model predicts H and S but no Fermi level; an electrode's follows from
charge neutrality of its principal layer (:meth:`hamtrans.negf.Electrode.fermi_level`),
which needs the number of electrons the method puts on its atoms. The reference
generator fills its own spectrum with the same :func:`fermi_level`.
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

from hamtrans.errors import HamtransError

#: Valence electrons per element, by basis family (GFN1-xTB: the elements' valence shells;
#: CP2K MOLOPT-SR with GTH-PBE pseudopotentials: Ti and Hf carry their semicore s and p).
VALENCE_ELECTRONS = {
    "gfn1-xtb": {"H": 1, "N": 5, "O": 6, "Ti": 4, "Hf": 4},
    "molopt-sr-gth": {"H": 1, "N": 5, "O": 6, "Ti": 12, "Hf": 12},
}


def valence_electrons(basis_name: str, numbers) -> int:
    """Valence electrons of a structure for a basis (named as in :class:`~hamtrans.data.basis.OrbitalBasis`)."""
    family = next((f for f in VALENCE_ELECTRONS if f in basis_name), None)
    if family is None:
        raise HamtransError(f"no valence-electron table for basis '{basis_name}'; known families: "
                            f"{', '.join(VALENCE_ELECTRONS)}. Give the Fermi level explicitly.")
    table = VALENCE_ELECTRONS[family]
    symbols = [chemical_symbols[int(z)] for z in numbers]
    missing = sorted(set(symbols) - set(table))
    if missing:
        raise HamtransError(f"no valence-electron count for {', '.join(missing)} in basis family '{family}'")
    return sum(table[s] for s in symbols)


def fermi_level(energies: np.ndarray, n_electrons: float, kt: float, weights: np.ndarray | None = None) -> float:
    """Chemical potential holding ``n_electrons`` (spin-degenerate levels, Fermi–Dirac smearing).

    Parameters
    ----------
    energies
        Levels, shape ``(n,)``.
    n_electrons
        Electrons to place (2 per level at full weight).
    kt
        Smearing ``k_B T`` in the unit of ``energies``.
    weights
        Weight of each level (k-point weights summing to 1 per band), shape ``(n,)``; default 1.

    Returns
    -------
    float
        μ with ``Σ_i w_i 2 f(ε_i − μ) = n_electrons`` (bisection); inside a gap wider than
        20 ``kt`` the count is flat, and the gap's midpoint is returned.
    """
    weights = np.ones_like(energies) if weights is None else np.asarray(weights)
    lo, hi = energies.min() - 1.0, energies.max() + 1.0

    def count(mu: float) -> float:
        x = np.clip((energies - mu) / max(kt, 1e-12), -200, 200)
        return float((weights * 2.0 / (1.0 + np.exp(x))).sum())

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if count(mid) < n_electrons else (lo, mid)
    mu = 0.5 * (lo + hi)
    below, above = energies[energies < mu], energies[energies > mu]
    if below.size and above.size and above.min() - below.max() > 20 * kt:
        return float(0.5 * (below.max() + above.min()))
    return float(mu)
