"""Augmented partitioning: slabs of a large structure plus a halo of neighbours.

A structure is cut along ``axis`` into slabs of ``width`` Å (1 Å in the paper).
Each slab keeps its *core* atoms and adds every atom (with its periodic image
along the axis) within ``halo`` Å of the core, so each block the slab *owns*
sees exactly the environment it has in the whole structure. Ownership: the
onsite block of a core atom and every edge block whose receiver (first atom) is a
core atom. Each atom and edge of the structure is owned by exactly one slab, so
a loss summed over slabs counts every block once.

``halo`` must be at least ``block_cutoff + receptive_field`` (the model's
:attr:`~hamtrans.models.hamiltonian.HamiltonianModelConfig.receptive_field`):
an owned edge reaches ``block_cutoff`` from its core atom, and the features of
both its ends depend on atoms ``receptive_field`` further out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from hamtrans.data.blocks import BlockLayout
from hamtrans.data.graphs import AtomGraph
from hamtrans.errors import HamtransError, StructureError


@dataclass(frozen=True)
class Slab:
    """One slab with its halo.

    Attributes
    ----------
    atoms
        Core + halo atoms (positions unwrapped along the axis, which is made non-periodic).
    source_atom
        ``(n,)`` index of each slab atom in the whole structure.
    core
        ``(n,)`` True for the atoms this slab owns.
    graph
        Block edges of the slab: every edge of the whole structure's graph with a core
        atom at either end (so each owned edge has its reverse for hermiticity).
    source_edge
        ``(E_slab,)`` index of each slab edge in the whole structure's graph.
    owned_edge
        ``(E_slab,)`` True where the receiver is a core atom.
    """

    atoms: Atoms
    source_atom: np.ndarray
    core: np.ndarray
    graph: AtomGraph
    source_edge: np.ndarray
    owned_edge: np.ndarray

    def label_indices(self, basis, numbers: np.ndarray, full_graph: AtomGraph):
        """Flat positions of the owned blocks: ``(slab_onsite, full_onsite, slab_edges, full_edges)``.

        ``prediction_slab[slab_onsite]`` pairs with ``labels_full[full_onsite]``, and
        likewise for edges; every owned entry appears once.
        """
        slab_layout = BlockLayout(basis, self.atoms.numbers, self.graph)
        full_layout = BlockLayout(basis, numbers, full_graph)
        core_atoms = np.flatnonzero(self.core)
        slab_on, full_on = block_ranges(slab_layout.onsite_ptr, core_atoms), block_ranges(
            full_layout.onsite_ptr, self.source_atom[core_atoms])
        owned = np.flatnonzero(self.owned_edge)
        slab_edge, full_edge = block_ranges(slab_layout.edge_ptr, owned), block_ranges(
            full_layout.edge_ptr, self.source_edge[owned])
        return slab_on, full_on, slab_edge, full_edge


def block_ranges(pointer: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Concatenated flat index ranges ``pointer[b] .. pointer[b+1]`` of the given blocks."""
    starts, stops = pointer[blocks], pointer[blocks + 1]
    sizes = stops - starts
    return np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())


@dataclass(frozen=True)
class AxisFrame:
    """Positions of a structure's atoms along one lattice axis, for cutting it into slabs.

    Attributes
    ----------
    axis
        The cut direction (0, 1, 2).
    periodic
        Whether the structure is periodic along ``axis``.
    length
        Cell length along ``axis`` in Å (0 when open).
    coordinate
        ``(N,)`` coordinate of each atom along the axis in Å; wrapped into ``[0, length)``
        when periodic.
    unwrap
        ``(N,)`` whole cell vectors the wrap removed from each atom (0 when open).
    start, stop
        The interval the coordinates fill: ``[0, length)`` when periodic, else from the
        first atom to just past the last.
    """

    axis: int
    periodic: bool
    length: float
    coordinate: np.ndarray
    unwrap: np.ndarray
    start: float
    stop: float

    @classmethod
    def of(cls, atoms: Atoms, axis: int) -> "AxisFrame":
        """The frame of ``atoms``.

        Raises
        ------
        StructureError
            The periodic cell vectors other than ``axis`` have a component along the cut
            direction (``axis``'s cell vector when periodic, else the Cartesian axis): their
            images would cross slabs.
        """
        cell = atoms.cell.array
        periodic = bool(atoms.pbc[axis])
        direction = cell[axis] / np.linalg.norm(cell[axis]) if periodic else np.eye(3)[axis]
        for k in range(3):
            if k != axis and atoms.pbc[k] and abs(cell[k] @ direction) > 1e-8 * max(np.linalg.norm(cell[k]), 1):
                raise StructureError(f"cell vector {k} is periodic and has a component along the cut direction "
                                     f"{np.round(direction, 6).tolist()}: slabs along axis {axis} need the other "
                                     f"periodic cell vectors orthogonal to it")
        raw = atoms.positions @ direction
        if not periodic:
            return cls(axis, False, 0.0, raw, np.zeros(len(atoms), int), float(raw.min()), float(raw.max()) + 1e-9)
        length = float(np.linalg.norm(cell[axis]))
        coordinate = raw - np.floor(raw / length) * length
        coordinate[coordinate >= length] -= length  # round-off of a position just below a cell boundary
        unwrap = np.round((raw - coordinate) / length).astype(int)
        return cls(axis, True, length, coordinate, unwrap, 0.0, length)

    def slab_index(self, width: float) -> np.ndarray:
        """``(N,)`` slab of each atom when the axis is cut into slabs of ``width`` Å from ``start``."""
        n_slabs = max(1, int(np.ceil((self.stop - self.start) / width)))
        return np.minimum(((self.coordinate - self.start) // width).astype(int), n_slabs - 1)

    def images(self, halo: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every atom at every image along the axis a halo of ``halo`` Å can reach.

        Returns ``(coordinate, atom, image)``, each ``(M,)``: the image's coordinate in Å,
        its atom and its whole cell vectors along the axis (only image 0 when open).
        """
        reach = int(np.ceil(halo / self.length)) + 1 if self.periodic else 0
        images = np.arange(-reach, reach + 1)
        n_atoms = len(self.coordinate)
        coordinate = (self.coordinate[None, :] + images[:, None] * self.length).ravel()
        return coordinate, np.tile(np.arange(n_atoms), len(images)), np.repeat(images, n_atoms)

    def region(self, lower: float, upper: float, halo: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The atom images of a slab: a core ``[lower, upper)`` Å plus ``halo`` Å on both sides.

        Returns ``(atom, image, core)``, each ``(M,)``: the atom, its image along the axis
        and whether it is a core atom (image 0, coordinate inside the core interval).
        """
        coordinate, atom, image = self.images(halo)
        keep = (coordinate >= lower - halo) & (coordinate < upper + halo)
        atom, image = atom[keep], image[keep]
        inside = (self.coordinate >= lower) & (self.coordinate < upper)
        return atom, image, (image == 0) & inside[atom]

    def region_of(self, core: np.ndarray, halo: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The atom images of the atoms ``core`` (``(N,)`` bool, not empty) plus every image within
        ``halo`` Å of them along the axis; returns ``(atom, image, is_core)`` as :meth:`region` does."""
        lower, upper = self.coordinate[core].min(), self.coordinate[core].max()
        atom, image, _ = self.region(lower, np.nextafter(upper, np.inf), halo)  # the last core atom included
        return atom, image, (image == 0) & core[atom]

    def region_atoms(self, atoms: Atoms, atom: np.ndarray, image: np.ndarray) -> Atoms:
        """The atom images ``(atom, image)`` as one structure, open along the axis (positions unwrapped)."""
        region = atoms[atom]
        if self.periodic:
            offsets = self.axis_shift(atom, image)[:, None] * atoms.cell.array[self.axis][None, :]
            region.positions = atoms.positions[atom] + offsets
        pbc = atoms.pbc.copy()
        pbc[self.axis] = False
        region.pbc = pbc
        return region

    def axis_shift(self, atom: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Whole cell vectors along the axis from each atom's position in the structure to its image."""
        return image - self.unwrap[atom] if self.periodic else np.zeros(len(atom), int)


def slice_structure(atoms: Atoms, graph: AtomGraph, axis: int = 0, width: float = 1.0,
                    halo: float = 8.5) -> list[Slab]:
    """Cut ``atoms`` (with block graph ``graph``) into slabs along ``axis``.

    Parameters
    ----------
    atoms
        Whole structure. If periodic along ``axis``, its cell vector ``axis`` must be
        orthogonal to the other two (slabs are planes normal to it).
    graph
        The whole structure's block graph (labels live on its edges).
    axis
        Cut direction (0, 1, 2).
    width
        Core thickness in Å.
    halo
        Å of environment added on both sides (≥ block cutoff + receptive field).

    Returns
    -------
    Non-empty slabs in order along the axis.
    """
    if width <= 0 or halo < 0:
        raise HamtransError(f"slab width must be > 0 and halo ≥ 0 (got {width}, {halo})")
    frame = AxisFrame.of(atoms, axis)
    periodic, unwrap = frame.periodic, frame.unwrap
    n_slabs = int(np.ceil((frame.stop - frame.start) / width))
    receivers, senders = graph.edge_index
    by_receiver = np.argsort(receivers, kind="stable")
    first_edge = np.searchsorted(receivers[by_receiver], np.arange(len(atoms) + 1))
    slabs = []
    for k in range(n_slabs):
        lo, hi = frame.start + k * width, min(frame.start + (k + 1) * width, frame.stop)
        slab_atom, slab_image, is_core = frame.region(lo, hi, halo)
        if not is_core.any():
            continue
        # slab-local index of (atom, image) pairs
        lookup = {(int(a), int(n)): s for s, (a, n) in enumerate(zip(slab_atom, slab_image))}
        edges, shifts, source_edge, owned = [], [], [], []
        for s, (a, n) in enumerate(zip(slab_atom, slab_image)):
            for e in by_receiver[first_edge[a]:first_edge[a + 1]]:
                b = int(senders[e])
                # image of the sender along the axis, in the wrapped-coordinate frame
                image_b = n + int(graph.shifts[e, axis]) + int(unwrap[b] - unwrap[a]) if periodic else n
                t = lookup.get((b, image_b))
                if t is None or not (is_core[s] or is_core[t]):
                    continue
                shift = graph.shifts[e].copy()
                if periodic:
                    shift[axis] = 0
                edges.append((s, t))
                shifts.append(shift)
                source_edge.append(e)
                owned.append(bool(is_core[s]))
        slab_atoms = frame.region_atoms(atoms, slab_atom, slab_image)
        edge_index = np.array(edges, dtype=np.int64).T.reshape(2, -1)
        slab_graph = AtomGraph(edge_index, np.array(shifts, dtype=np.int64).reshape(-1, 3),
                               _vectors(slab_atoms, edge_index, np.array(shifts).reshape(-1, 3)), len(slab_atoms))
        slabs.append(Slab(slab_atoms, slab_atom, is_core, slab_graph, np.array(source_edge, dtype=np.int64),
                          np.array(owned, dtype=bool)))
    return slabs


def _vectors(atoms: Atoms, edge_index: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    i, j = edge_index
    return atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
