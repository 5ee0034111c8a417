"""Filament metrics of a KMC state: vacancy clusters, the spanning path and the tunnelling gap.

Vacancies are connected when their O sites are within ``radius`` (default 3.5 Å:
the first two O–O shells of fluorite HfO2, 2.54 and 3.59 Å, as the screening rule
of :mod:`hamtrans.kmc.engine`). A cluster touches an electrode when one of its
vacancies lies within ``contact`` Å of that electrode's surface. The gap is the
stretch of oxide along x that no electrode-connected cluster covers:
``x_tip(right clusters) − x_tip(left clusters)``, where a side without a touching
cluster reaches only its electrode surface; a spanning cluster closes it (0 Å).
``gap_from``/``gap_to`` (Å) give that stretch along x (equal when the gap is closed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from hamtrans.kmc.lattice import OxideLattice


@dataclass(frozen=True)
class FilamentMetrics:
    """Largest electrode-connected clusters (vacancies), spanning flag, gap (Å) and where the gap lies."""

    left_cluster: int
    right_cluster: int
    spanning: bool
    gap: float
    gap_from: float
    gap_to: float

    def as_dict(self) -> dict:
        return asdict(self)


class FilamentAnalysis:
    """Cluster analysis on a fixed lattice.

    Parameters
    ----------
    lattice
        The KMC lattice.
    radius
        Å, vacancy–vacancy connection distance.
    contact
        Å, distance from an electrode surface within which a vacancy touches it.
    """

    def __init__(self, lattice: OxideLattice, radius: float = 3.5, contact: float = 3.5) -> None:
        self.lattice = lattice
        self._neighbours = lattice.site_neighbours(radius)
        x = lattice.site_positions[:, 0]
        x_left, x_right = lattice.electrode_planes
        self._x = x
        self._touches = (x - x_left < contact, x_right - x < contact)

    def __call__(self, occupied: np.ndarray) -> FilamentMetrics:
        """Metrics of the vacancies ``~occupied`` ``(n_sites,)``."""
        vacant = np.flatnonzero(~np.asarray(occupied, dtype=bool))
        x_left, x_right = self.lattice.electrode_planes
        if not len(vacant):
            return FilamentMetrics(0, 0, False, float(x_right - x_left), float(x_left), float(x_right))
        _, label = connected_components(self._neighbours[vacant][:, vacant], directed=False)
        left = np.unique(label[self._touches[0][vacant]])
        right = np.unique(label[self._touches[1][vacant]])
        sizes = np.bincount(label)
        spanning = bool(np.intersect1d(left, right).size)
        x = self._x[vacant]
        tip_left = max([x_left] + [x[label == c].max() for c in left])
        tip_right = min([x_right] + [x[label == c].min() for c in right])
        gap = 0.0 if spanning else float(max(0.0, tip_right - tip_left))
        gap_from, gap_to = (tip_left, tip_right) if gap > 0 else (tip_left, tip_left)
        return FilamentMetrics(int(sizes[left].max(initial=0)), int(sizes[right].max(initial=0)), spanning, gap,
                               float(gap_from), float(gap_to))
