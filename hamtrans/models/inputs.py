"""Graph inputs of the Hamiltonian model as tensors.

:func:`prepare_inputs` turns a structure and its block graph (the edges that
carry H/S blocks, e.g. a dataset record's graph) into :class:`ModelInputs`: the
species, positions, cell, both graphs (message passing within ``mp_cutoff``,
blocks on the given graph) and the flat-layout indices the output needs. Edge
vectors are recomputed from positions inside the model, so rotating
``positions`` and ``cell`` rotates everything. The geometry stays float64 and the
model casts the edge vectors to its precision, so translating a structure far from
the origin does not cost float32 digits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout
from hamtrans.data.graphs import AtomGraph, build_graph
from hamtrans.errors import UnknownElementError


@dataclass
class ModelInputs:
    """Tensors of one structure (or of a slab with its halo).

    Attributes
    ----------
    species
        ``(N,)`` index into the model's species list.
    positions, cell
        ``(N, 3)`` and ``(3, 3)`` Å, float64.
    mp_index, mp_shift
        Message-passing edges ``(2, E_mp)`` (receiver i, sender j) and cell shifts ``(E_mp, 3)`` (float64).
    block_index, block_shift
        Block edges ``(2, E)`` and shifts ``(E, 3)`` (float64), in the block graph's order.
    onsite_ptr, edge_ptr
        Start of each onsite / edge block in the flat outputs (plus the total).
    onsite_transpose, edge_transpose
        Flat indices of the transposed entries (``M_ii ᵀ`` and ``M_ji(−S)ᵀ``), for hermiticity.
    dtype
        Precision of the model: that of the edge vectors (:meth:`edge_vectors`) and features.
    """

    species: torch.Tensor
    positions: torch.Tensor
    cell: torch.Tensor
    mp_index: torch.Tensor
    mp_shift: torch.Tensor
    block_index: torch.Tensor
    block_shift: torch.Tensor
    onsite_ptr: torch.Tensor
    edge_ptr: torch.Tensor
    onsite_transpose: torch.Tensor
    edge_transpose: torch.Tensor
    dtype: torch.dtype = torch.float32

    def edge_vectors(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """``r_j + S·cell − r_i`` (Å, in :attr:`dtype`) of the edges ``index`` ``(2, E)`` with shifts ``(E, 3)``.

        The difference is taken in float64 and only the (short) edge vectors are cast.
        """
        receivers, senders = index
        vectors = self.positions[senders] - self.positions[receivers] + shift @ self.cell
        return vectors.to(self.dtype)

    def to(self, device=None, dtype=None) -> "ModelInputs":
        """Move to a device; ``dtype`` changes the precision of the edge vectors (the geometry stays float64)."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self) if f.name != "dtype"}
        return ModelInputs(**moved, dtype=self.dtype if dtype is None else dtype)


def species_indices(numbers: np.ndarray, species: list[int]) -> np.ndarray:
    """Map atomic numbers to model species indices; unknown elements raise a clear error."""
    lookup = {z: k for k, z in enumerate(species)}
    unknown = sorted(set(int(z) for z in numbers) - set(lookup))
    if unknown:
        from ase.data import chemical_symbols

        names = ", ".join(chemical_symbols[z] for z in unknown)
        known = ", ".join(chemical_symbols[z] for z in species)
        raise UnknownElementError(f"the model does not know element(s) {names}; it was trained on {known}")
    return np.array([lookup[int(z)] for z in numbers], dtype=np.int64)


def prepare_inputs(atoms: Atoms, block_graph: AtomGraph, basis: OrbitalBasis, species: list[int],
                   mp_cutoff: float, dtype: torch.dtype = torch.float32) -> ModelInputs:
    """:class:`ModelInputs` for ``atoms`` with blocks on ``block_graph`` and messages within ``mp_cutoff`` Å.

    ``dtype`` is the model's precision (of the edge vectors); the geometry is kept in float64.
    """
    mp_graph = build_graph(atoms, mp_cutoff)
    layout = BlockLayout(basis, atoms.numbers, block_graph)
    long = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long)
    real = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))
    return ModelInputs(
        species=long(species_indices(atoms.numbers, species)),
        positions=real(atoms.positions),
        cell=real(atoms.cell.array),
        mp_index=long(mp_graph.edge_index),
        mp_shift=real(mp_graph.shifts),
        block_index=long(block_graph.edge_index),
        block_shift=real(block_graph.shifts),
        onsite_ptr=long(layout.onsite_ptr),
        edge_ptr=long(layout.edge_ptr),
        onsite_transpose=long(layout.transposed_onsite_source()),
        edge_transpose=long(layout.transposed_edge_source()),
        dtype=dtype,
    )
