"""When can a Γ-folded matrix be split into real-space blocks?

Γ-only codes return ``M_Γ[i, j] = Σ_S M_ij(S)``. Assigning that sum to the one
image of ``(i, j)`` inside the graph cutoff is exact only if every other image
is far enough away for its block to vanish: beyond ``image_range``, the
distance at which the basis' matrix elements become negligible. For a pair at
distance ``d ≤ cutoff`` the other images lie at least ``w − d`` away (``w`` the
smallest periodic width), so a sufficient rule is ``w ≥ cutoff + image_range``;
:func:`check_unique_images` checks the exact per-pair condition instead.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from hamtrans.data.graphs import Cutoff, check_search_size, neighbour_pairs, pair_cutoff_table
from hamtrans.errors import AmbiguousImageError


def periodic_widths(atoms: Atoms) -> np.ndarray:
    """Distance between opposite cell faces along each lattice direction (Å), shape ``(3,)``."""
    cell = np.asarray(atoms.cell)
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def check_image_settings(atoms: Atoms, cutoff: Cutoff, image_range: float | None) -> None:
    """The checks of :func:`check_unique_images` and the graph that need no neighbour search, for use before any work.

    ``image_range=None``: matrices per image, not split from Γ (only the cutoff is checked).

    Raises
    ------
    AmbiguousImageError
        A periodic structure with ``image_range`` below the cutoff.
    HamtransError
        A cutoff (or, periodic, an ``image_range``) whose neighbour search would not fit in memory.
    """
    radius, _ = pair_cutoff_table(atoms, cutoff)
    if not np.any(atoms.pbc) or image_range is None:
        check_search_size(atoms, radius, "cutoff")
        return
    if image_range < radius:
        raise AmbiguousImageError(f"image_range ({image_range} Å) must be at least the cutoff ({radius} Å)")
    check_search_size(atoms, image_range, "image_range")


def check_unique_images(atoms: Atoms, cutoff: Cutoff, image_range: float) -> None:
    """Raise unless each pair within ``cutoff`` has no other image within ``image_range``.

    Parameters
    ----------
    atoms
        Periodic (or partly periodic) structure; a non-periodic one always passes.
    cutoff
        Graph cutoff in Å (single or per element pair).
    image_range
        Distance (Å) beyond which matrix elements are treated as zero; must be ≥ the cutoff.

    Raises
    ------
    AmbiguousImageError
        Naming the first offending pair, its images and the cell size needed.
    """
    if not np.any(atoms.pbc):
        return
    check_image_settings(atoms, cutoff, image_range)
    radius, table = pair_cutoff_table(atoms, cutoff)
    i, j, s, d = neighbour_pairs(atoms, image_range, "image_range")
    pair_radius = radius if table is None else table[atoms.numbers[i], atoms.numbers[j]]
    n = len(atoms)
    key = i * n + j
    in_graph = (d <= pair_radius) | (i == j)  # an own image always pollutes the onsite block
    unique_keys, counts = np.unique(key, return_counts=True)
    polluted = np.isin(key, key[in_graph]) & ((i == j) | np.isin(key, unique_keys[counts > 1]))
    if not polluted.any():
        return
    first = int(np.flatnonzero(polluted)[0])
    a, b = int(i[first]), int(j[first])
    same = np.flatnonzero(key == key[first])
    images = ", ".join(f"{tuple(int(v) for v in s[k])} at {d[k]:.2f} Å" for k in same[np.argsort(d[same])][:3])
    if a == b:
        images = f"(0, 0, 0) at 0.00 Å, {images}"
    widths = periodic_widths(atoms)[np.asarray(atoms.pbc)]
    raise AmbiguousImageError(
        f"cell too small for an unambiguous image: the Γ-folded block of atoms {a} ({atoms[a].symbol}) and "
        f"{b} ({atoms[b].symbol}) mixes images {images}, all within image_range = {image_range} Å. "
        f"Every periodic width must be at least cutoff + image_range = {radius + image_range:.1f} Å "
        f"(this cell: {', '.join(f'{w:.1f}' for w in widths)} Å): repeat the cell (atoms.repeat) or lower the cutoff."
    )
