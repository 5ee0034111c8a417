"""Periodic neighbour graphs: directed edges ``(i, j, shift)`` within a cutoff.

An edge points from atom ``i`` to the periodic image of atom ``j`` displaced by
the integer cell shift ``S``: its vector is ``r_j + S·cell − r_i`` (Å). Every
ordered pair within the cutoff is present, including an atom's own periodic
images (``i == j``, ``S ≠ 0``) and several images of the same pair; the zero
self-edge ``(i, i, 0)`` is the onsite term and never an edge. Edges are sorted by
``(i, j, S)`` so graphs are reproducible.

The neighbour search uses vesin (cell lists, O(N), any triclinic cell, mixed
periodicity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from hamtrans.errors import HamtransError, StructureError

#: A single radius (Å) or one radius per unordered element pair, e.g. ``{("Hf", "O"): 5.0}``.
Cutoff = Union[float, Mapping[tuple[str, str], float]]

#: Atoms closer than this (Å) are rejected as overlapping.
MIN_DISTANCE = 0.5
#: Most atom pairs (images included) a neighbour search may produce, about 50 bytes each in memory:
#: a larger radius is refused before the search (:func:`estimated_pairs`).
MAX_PAIRS = 50_000_000


@dataclass(frozen=True)
class AtomGraph:
    """Directed periodic neighbour graph of one structure.

    Attributes
    ----------
    edge_index
        ``[i; j]`` per edge, shape ``(2, n_edges)``, int64.
    shifts
        Integer cell shift ``S`` of the image of ``j``, shape ``(n_edges, 3)``, int64.
    vectors
        ``r_j + S·cell − r_i`` in Å, shape ``(n_edges, 3)``.
    n_atoms
        Number of atoms.
    """

    edge_index: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    n_atoms: int

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def distances(self) -> np.ndarray:
        """Edge lengths in Å, shape ``(n_edges,)``."""
        return np.linalg.norm(self.vectors, axis=1)

    @classmethod
    def from_edges(cls, atoms: Atoms, edge_index: np.ndarray, shifts: np.ndarray) -> tuple["AtomGraph", np.ndarray]:
        """The graph of given edges of ``atoms``, sorted by ``(i, j, S)`` as :func:`build_graph` sorts them.

        Returns the graph and ``order``: sorted edge ``k`` is given edge ``order[k]``.
        """
        edge_index, shifts = np.asarray(edge_index, dtype=np.int64), np.asarray(shifts, dtype=np.int64)
        order = np.argsort(_edge_keys(edge_index, shifts), kind="stable")
        edge_index, shifts = edge_index[:, order], shifts[order]
        positions = atoms.get_positions()
        vectors = positions[edge_index[1]] + shifts @ np.asarray(atoms.cell) - positions[edge_index[0]]
        return cls(edge_index=edge_index, shifts=shifts, vectors=vectors, n_atoms=len(atoms)), order

    def reverse_edges(self) -> np.ndarray:
        """Index of the reverse edge ``(j, i, −S)`` of every edge, shape ``(n_edges,)``."""
        found, paired = self._reverse_lookup()
        if not paired.all():
            raise HamtransError("graph is not symmetric: an edge (i, j, S) has no reverse edge (j, i, −S)")
        return found

    def has_reverse(self) -> np.ndarray:
        """``(n_edges,)`` True where the reverse edge ``(j, i, −S)`` is in the graph."""
        return self._reverse_lookup()[1]

    def _reverse_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        keys = _edge_keys(self.edge_index, self.shifts)
        reverse = _edge_keys(self.edge_index[::-1], -self.shifts)
        if len(keys) == 0:
            return np.zeros(0, np.int64), np.zeros(0, bool)
        order = np.argsort(keys)
        pos = np.minimum(np.searchsorted(keys[order], reverse), len(keys) - 1)
        found = order[pos]
        return found, keys[found] == reverse


def _edge_keys(edge_index: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Unique sortable key per edge ``(i, j, S)`` as a structured array."""
    keys = np.empty(edge_index.shape[1], dtype=[("i", "i8"), ("j", "i8"), ("a", "i8"), ("b", "i8"), ("c", "i8")])
    keys["i"], keys["j"] = edge_index
    keys["a"], keys["b"], keys["c"] = shifts.T
    return keys


def cutoff_to_json(cutoff: Cutoff) -> float | dict[str, float]:
    """JSON-friendly form of a cutoff: the radius, or ``{"Hf-O": 5.0, ...}``."""
    if isinstance(cutoff, Mapping):
        return {"-".join(pair): float(radius) for pair, radius in cutoff.items()}
    return float(cutoff)


def check_structure(atoms: Atoms, min_distance: float = MIN_DISTANCE) -> None:
    """Raise :class:`StructureError` for NaN coordinates, a singular cell or overlapping atoms.

    Parameters
    ----------
    atoms
        Structure to check.
    min_distance
        Smallest allowed interatomic distance in Å (periodic images included).
    """
    positions = atoms.get_positions()
    if len(atoms) == 0:
        raise StructureError("structure has no atoms")
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if bad.size:
        raise StructureError(f"atom {bad[0]} ({atoms[bad[0]].symbol}) has a non-finite position {positions[bad[0]]}")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.any():
        periodic_vectors = np.asarray(atoms.cell)[pbc]
        if np.linalg.matrix_rank(periodic_vectors, tol=1e-8) < len(periodic_vectors):
            raise StructureError(
                f"periodic structure (pbc={pbc.tolist()}) has zero or linearly dependent periodic "
                f"cell vectors {periodic_vectors.tolist()}; set a proper cell or turn pbc off"
            )
    i, j, _, d = neighbour_pairs(atoms, min_distance)
    if len(d):
        k = int(np.argmin(d))
        raise StructureError(
            f"atoms {i[k]} ({atoms[int(i[k])].symbol}) and {j[k]} ({atoms[int(j[k])].symbol}) overlap: "
            f"{d[k]:.3f} Å apart (minimum {min_distance} Å). Remove duplicates or fix the coordinates/cell."
        )


def estimated_pairs(atoms: Atoms, radius: float) -> float:
    """Estimate of the ordered atom pairs within ``radius``, images included (typically within a factor of two).

    The atoms fill a box of the periodic face distances and, along open axes, their
    extent (at least 1 Å); the neighbours of an atom fill a cube of side ``2 radius``,
    cut to that extent along open axes.
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    positions = atoms.get_positions()
    cell = np.asarray(atoms.cell, dtype=np.float64)
    volume = abs(np.linalg.det(cell))
    box = np.maximum(np.ptp(positions, axis=0), 1.0)
    reach = np.full(3, 2.0 * radius)
    for k in range(3):
        if pbc[k] and volume > 0:
            box[k] = volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
        elif not pbc[k]:
            reach[k] = min(reach[k], box[k])
    n = len(atoms)
    return float(n * n * np.prod(reach / box))


def check_search_size(atoms: Atoms, radius: float, what: str = "radius") -> None:
    """Raise :class:`HamtransError` if a neighbour search within ``radius`` would give more than
    :data:`MAX_PAIRS` pairs (:func:`estimated_pairs`); ``what`` names the radius in the message."""
    pairs = estimated_pairs(atoms, radius)
    if pairs > MAX_PAIRS:
        raise HamtransError(
            f"{what} = {radius:g} Å gives about {pairs:.1e} atom pairs (images included) for these {len(atoms)} "
            f"atoms, more than the {MAX_PAIRS:.0e} a neighbour search may hold in memory: lower the {what} "
            "(reference H and S blocks vanish beyond about 12 Å)"
        )


def neighbour_pairs(atoms: Atoms, cutoff: float, what: str = "radius") -> tuple[np.ndarray, ...]:
    """Full neighbour list ``(i, j, S, d)`` within ``cutoff`` (vesin), unsorted, without ``(i, i, 0)``.

    Non-periodic directions get a box large enough for vesin. Used by graph
    building, the Γ-split check and the structure builders. ``what`` names the
    radius in the error for one that would give more than :data:`MAX_PAIRS` pairs.

    Raises
    ------
    HamtransError
        ``cutoff`` would give more than :data:`MAX_PAIRS` pairs (:func:`check_search_size`).
    """
    import vesin

    pbc = np.asarray(atoms.pbc, dtype=bool)
    positions = atoms.get_positions()
    check_search_size(atoms, cutoff, what)
    if not pbc.any():  # every pair lies within the diagonal of the atoms' bounding box: a larger radius finds no more
        cutoff = min(cutoff, float(np.linalg.norm(np.ptp(positions, axis=0))) + 1.0)
    if pbc.any():
        box = np.asarray(atoms.cell, dtype=np.float64)
    else:
        box = np.zeros((3, 3))
    # vesin needs a box even along non-periodic directions: give it a large one
    if pbc.any() and not pbc.all():
        box = box.copy()
        span = np.ptp(positions, axis=0).max() + cutoff + 1.0
        for axis in np.flatnonzero(~pbc):
            if np.linalg.norm(box[axis]) < 1e-8:
                box[axis, axis] = span
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s, d = nl.compute(points=positions, box=box, periodic=pbc.tolist(), quantities="ijSd")
    return i.astype(np.int64), j.astype(np.int64), s.astype(np.int64), d


def check_cutoff(cutoff: Cutoff) -> Cutoff:
    """Return ``cutoff``; raise :class:`HamtransError` unless it is a positive finite radius (Å) or a mapping
    of element-symbol pairs to such radii."""
    radii = cutoff.items() if isinstance(cutoff, Mapping) else [(None, cutoff)]
    for pair, radius in radii:
        where = "cutoff" if pair is None else f"cutoff of the pair {pair}"
        if pair is not None and not (isinstance(pair, tuple) and len(pair) == 2
                                     and all(symbol in chemical_symbols[1:] for symbol in pair)):
            raise HamtransError(f"per-pair cutoff key {pair!r} is not a pair of element symbols: give e.g. "
                                "{('Hf', 'O'): 5.0} (command line: 'Hf-O=5,O-O=4')")
        if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)) \
                or not np.isfinite(radius) or not radius > 0:
            raise HamtransError(f"{where} must be a positive finite radius in Å, got {radius!r}")
    return cutoff


def pair_cutoff_table(atoms: Atoms, cutoff: Cutoff) -> tuple[float, np.ndarray | None]:
    """Largest radius and, for per-pair cutoffs, a ``(119, 119)`` radius table by atomic numbers."""
    check_cutoff(cutoff)
    if not isinstance(cutoff, Mapping):
        return float(cutoff), None
    table = np.full((119, 119), np.nan)
    for (a, b), radius in cutoff.items():
        za, zb = chemical_symbols.index(a), chemical_symbols.index(b)
        table[za, zb] = table[zb, za] = float(radius)
    present = np.unique(atoms.numbers)
    for za in present:
        for zb in present:
            if np.isnan(table[za, zb]):
                raise HamtransError(
                    f"per-pair cutoff has no radius for {chemical_symbols[za]}-{chemical_symbols[zb]}; "
                    "give every element pair present in the structure"
                )
    return float(np.nanmax(table[np.ix_(present, present)])), table


def build_graph(atoms: Atoms, cutoff: Cutoff, check: bool = True) -> AtomGraph:
    """Directed neighbour graph of ``atoms`` within ``cutoff``.

    Parameters
    ----------
    atoms
        Structure; ``atoms.pbc`` selects the periodic directions.
    cutoff
        Radius in Å, or a mapping from unordered element pairs to radii.
    check
        Run :func:`check_structure` first.

    Returns
    -------
    AtomGraph
        Edges sorted by ``(i, j, S)``.
    """
    if check:
        check_structure(atoms)
    radius, table = pair_cutoff_table(atoms, cutoff)
    i, j, s, d = neighbour_pairs(atoms, radius, "cutoff")
    if table is not None:
        keep = d <= table[atoms.numbers[i], atoms.numbers[j]]
        i, j, s = i[keep], j[keep], s[keep]
    edge_index = np.stack([i, j])
    order = np.argsort(_edge_keys(edge_index, s), kind="stable")
    edge_index, s = edge_index[:, order], s[order]
    positions = atoms.get_positions()
    vectors = positions[edge_index[1]] + s @ np.asarray(atoms.cell) - positions[edge_index[0]]
    return AtomGraph(edge_index=edge_index, shifts=s, vectors=vectors, n_atoms=len(atoms))
