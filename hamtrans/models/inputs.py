"""Graph inputs of the Hamiltonian model as tensors.

:func:`prepare_inputs` turns a structure and its block graph (the edges that
carry H/S blocks, e.g. a dataset record's graph) into :class:`ModelInputs`: the
species, positions, cell, both graphs (message passing within ``mp_cutoff``,
blocks on the given graph) and the flat-layout indices the output needs; the keys
are those of :mod:`hamtrans.models.graph_inputs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout
from hamtrans.data.graphs import AtomGraph, build_graph
from hamtrans.errors import UnknownElementError
from hamtrans.models.graph_inputs import GraphInputs


@dataclass(kw_only=True)
class ModelInputs(GraphInputs):
    """Tensors of one structure (or of a slab with its halo) for the Hamiltonian model.

    The graph of :class:`~hamtrans.models.graph_inputs.GraphInputs` is the message-passing
    graph (edges within ``mp_cutoff``); the block graph and the flat output layout come on top.

    Attributes
    ----------
    block_edge_index, block_shifts
        Block edges ``(2, E)`` and shifts ``(E, 3)`` (float64), in the block graph's order.
    onsite_ptr, edge_ptr
        Start of each onsite / edge block in the flat outputs (plus the total).
    onsite_transpose, edge_transpose
        Flat indices of the transposed entries (``M_ii ᵀ`` and ``M_ji(−S)ᵀ``), for hermiticity.
    """

    block_edge_index: torch.Tensor
    block_shifts: torch.Tensor
    onsite_ptr: torch.Tensor
    edge_ptr: torch.Tensor
    onsite_transpose: torch.Tensor
    edge_transpose: torch.Tensor


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
        edge_index=long(mp_graph.edge_index),
        shifts=real(mp_graph.shifts),
        block_edge_index=long(block_graph.edge_index),
        block_shifts=real(block_graph.shifts),
        onsite_ptr=long(layout.onsite_ptr),
        edge_ptr=long(layout.edge_ptr),
        onsite_transpose=long(layout.transposed_onsite_source()),
        edge_transpose=long(layout.transposed_edge_source()),
        dtype=dtype,
    )
