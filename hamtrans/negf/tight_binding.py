"""Tight-binding model devices with known answers (tests, benchmarks, examples).

Each returns ``(H, S, orbital_positions)`` ready for :meth:`Device.from_matrices`
(sparse H in eV, sparse S, positions in Å, transport axis x, 1 Å spacing). The
end columns are clean lead cells so the leads continue them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def chain(length: int, hopping: float = -1.0, overlap: float = 0.0, onsite: np.ndarray | None = None):
    """1D chain with nearest-neighbour hopping ``t`` and overlap ``s``.

    Bands: ``E(k) = (ε + 2t cos k) / (1 + 2s cos k)``, i.e. for ``ε = 0``, ``t < 0``
    the band is ``[2t/(1+2s), −2t/(1−2s)]`` and T = 1 inside. ``onsite`` (eV) may
    perturb interior sites (its first and last values must be 0).
    """
    onsite = np.zeros(length) if onsite is None else np.asarray(onsite, float)
    h = sp.diags([np.full(length - 1, hopping), onsite, np.full(length - 1, hopping)], [-1, 0, 1])
    s = sp.diags([np.full(length - 1, overlap), np.ones(length), np.full(length - 1, overlap)], [-1, 0, 1])
    positions = np.zeros((length, 3))
    positions[:, 0] = np.arange(length)
    return h.tocsr(), s.tocsr(), positions


def ssh_chain(length: int, strong: float = -1.0, weak: float = -0.6):
    """Su–Schrieffer–Heeger chain: alternating hoppings, every site alike (period 2 sites, 2 Å).

    Bands ``|E| ∈ [|strong| − |weak|, |strong| + |weak|]``; the period shows only in
    the hoppings, not in the positions.
    """
    hopping = np.where(np.arange(length - 1) % 2 == 0, strong, weak)
    h = sp.diags([hopping, np.zeros(length), hopping], [-1, 0, 1])
    positions = np.zeros((length, 3))
    positions[:, 0] = np.arange(length)
    return h.tocsr(), sp.identity(length).tocsr(), positions


def square_strip(width: int, length: int, hopping: float = 1.0, disorder: float = 0.0, seed: int = 0,
                 overlap: float = 0.0, lead_columns: int = 2):
    """Square-lattice strip ``width × length`` (Anderson disorder) between clean leads.

    Hopping ``−t`` between nearest neighbours, onsite ``disorder·(u − ½)`` with
    ``u = default_rng(seed).uniform(size=(length, width))[x, y]`` (Kwant's
    convention in ``benchmarks/negf_strip.py``); ``lead_columns`` clean columns are
    added at each end (two let :meth:`Device.from_matrices` verify the lead
    repeats), so the device has ``length + 2·lead_columns`` columns and the same T
    as the strip between semi-infinite leads. ``overlap`` adds a nearest-neighbour
    overlap ``s`` (non-orthogonal variant).
    """
    rng = np.random.default_rng(seed)
    columns = length + 2 * lead_columns
    onsite = np.zeros((columns, width))
    onsite[lead_columns:columns - lead_columns] = disorder * (rng.uniform(size=(length, width)) - 0.5)
    n = columns * width
    index = np.arange(n).reshape(columns, width)
    pairs = np.concatenate([
        np.stack([index[:-1].ravel(), index[1:].ravel()], axis=1),          # along x
        np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], axis=1),    # along y
    ])
    rows = np.concatenate([pairs[:, 0], pairs[:, 1]])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0]])
    h = sp.coo_matrix((np.full(rows.size, -hopping), (rows, cols)), shape=(n, n)) + sp.diags(onsite.ravel())
    s = sp.coo_matrix((np.full(rows.size, overlap), (rows, cols)), shape=(n, n)) + sp.identity(n)
    x, y = np.meshgrid(np.arange(columns), np.arange(width), indexing="ij")
    positions = np.stack([x.ravel(), y.ravel(), np.zeros(n)], axis=1).astype(float)
    return h.tocsr(), s.tocsr(), positions


def open_channels(width: int, energy: float, hopping: float = 1.0) -> int:
    """Number of propagating modes of a clean square strip at ``energy`` (= its integer T)."""
    transverse = -2 * hopping * np.cos(np.pi * np.arange(1, width + 1) / (width + 1))
    return int(np.sum(np.abs(energy - transverse) < 2 * abs(hopping)))
