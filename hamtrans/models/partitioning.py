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
        slab_on, full_on = _block_ranges(slab_layout.onsite_ptr, core_atoms), _block_ranges(
            full_layout.onsite_ptr, self.source_atom[core_atoms])
        owned = np.flatnonzero(self.owned_edge)
        slab_edge, full_edge = _block_ranges(slab_layout.edge_ptr, owned), _block_ranges(
            full_layout.edge_ptr, self.source_edge[owned])
        return slab_on, full_on, slab_edge, full_edge


def _block_ranges(pointer: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Concatenated flat index ranges ``pointer[b] .. pointer[b+1]`` of the given blocks."""
    starts, stops = pointer[blocks], pointer[blocks + 1]
    sizes = stops - starts
    return np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())


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
    cell = atoms.cell.array
    periodic = bool(atoms.pbc[axis])
    if periodic:
        others = [k for k in range(3) if k != axis]
        if any(abs(cell[axis] @ cell[k]) > 1e-8 * np.linalg.norm(cell[axis]) * max(np.linalg.norm(cell[k]), 1) for k in others):
            raise StructureError(f"cell vector {axis} must be orthogonal to the other two to cut slabs along it")
    direction = cell[axis] / np.linalg.norm(cell[axis]) if periodic else np.eye(3)[axis]
    length = float(np.linalg.norm(cell[axis])) if periodic else 0.0
    coordinate = atoms.positions @ direction
    if periodic:
        coordinate = coordinate - np.floor(coordinate / length) * length
        start, stop = 0.0, length
    else:
        start, stop = coordinate.min(), coordinate.max() + 1e-9
    n_slabs = int(np.ceil((stop - start) / width))
    reach = int(np.ceil(halo / length)) + 1 if periodic else 0
    images = np.arange(-reach, reach + 1)
    # every atom at every image along the axis: coordinate, atom, image
    image_coordinate = (coordinate[None, :] + images[:, None] * length).ravel()
    image_atom = np.tile(np.arange(len(atoms)), len(images))
    image_shift = np.repeat(images, len(atoms))
    unwrap = np.round((atoms.positions @ direction - coordinate) / length).astype(int) if periodic else np.zeros(len(atoms), int)
    receivers, senders = graph.edge_index
    by_receiver = np.argsort(receivers, kind="stable")
    first_edge = np.searchsorted(receivers[by_receiver], np.arange(len(atoms) + 1))
    slabs = []
    for k in range(n_slabs):
        lo, hi = start + k * width, min(start + (k + 1) * width, stop)
        core = (coordinate >= lo) & (coordinate < hi)
        if not core.any():
            continue
        keep = (image_coordinate >= lo - halo) & (image_coordinate < hi + halo)
        slab_atom, slab_image = image_atom[keep], image_shift[keep]
        is_core = (slab_image == 0) & core[slab_atom]
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
        slab_atoms = atoms[slab_atom]
        if periodic:
            offsets = (slab_image - unwrap[slab_atom])[:, None] * cell[axis][None, :]
            slab_atoms.positions = atoms.positions[slab_atom] + offsets
        pbc = atoms.pbc.copy()
        pbc[axis] = False
        slab_atoms.pbc = pbc
        edge_index = np.array(edges, dtype=np.int64).T.reshape(2, -1)
        slab_graph = AtomGraph(edge_index, np.array(shifts, dtype=np.int64).reshape(-1, 3),
                               _vectors(slab_atoms, edge_index, np.array(shifts).reshape(-1, 3)), len(slab_atoms))
        slabs.append(Slab(slab_atoms, slab_atom, is_core, slab_graph, np.array(source_edge, dtype=np.int64),
                          np.array(owned, dtype=bool)))
    return slabs


def _vectors(atoms: Atoms, edge_index: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    i, j = edge_index
    return atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
