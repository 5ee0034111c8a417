"""The graph every model reads, and the names of its tensors, written once.

A structure reaches a model as :class:`GraphInputs` (or a subclass that adds what one
model needs: :class:`~hamtrans.models.inputs.ModelInputs` the block graph and the flat
output layout of the Hamiltonian model, :class:`~hamtrans.models.potential.PotentialInputs`
nothing). The keys follow :class:`hamtrans.data.graphs.AtomGraph`:

==============  =========  ==========================================================
key             shape      meaning
==============  =========  ==========================================================
``species``     (N,)       index of each atom into the model's species list (long)
``positions``   (N, 3)     Cartesian positions, Å, float64
``cell``        (3, 3)     lattice vectors as rows, Å, float64 (zeros where not periodic)
``edge_index``  (2, E)     receiver ``i`` (row 0) and sender ``j`` (row 1) of every
                           directed edge within the model's cutoff (long)
``shifts``      (E, 3)     integer cell shift ``S`` of the sender's image (float64)
``dtype``       —          the model's precision: that of edge vectors and features
==============  =========  ==========================================================

A second graph on the same atoms (the Hamiltonian model's block graph) is named with a
prefix: ``block_edge_index``, ``block_shifts``. Edge vectors are ``r_j + S·cell − r_i``,
recomputed from ``positions`` and ``cell`` inside the model, so that moving the
geometry moves everything; the difference is taken in float64 and only the short edge
vectors are cast to ``dtype`` (float32 resolves positions 1,000 Å from the origin to
6e-5 Å only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

__all__ = ["GraphInputs"]


@dataclass(kw_only=True)
class GraphInputs:
    """A structure and its directed neighbour graph as tensors (keys in the module docstring)."""

    species: torch.Tensor
    positions: torch.Tensor
    cell: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    dtype: torch.dtype = torch.float32

    def edge_vectors(self, edge_index: torch.Tensor | None = None, shifts: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """``r_j + S·cell − r_i``, ``(E, 3)`` Å in :attr:`dtype`, of the given edges (default: the graph's own).

        Parameters
        ----------
        edge_index, shifts
            ``(2, E)`` receivers/senders and ``(E, 3)`` cell shifts of another graph on
            these atoms (or a part of one); both or neither.
        """
        if edge_index is None:
            edge_index, shifts = self.edge_index, self.shifts
        receivers, senders = edge_index
        vectors = self.positions[senders] - self.positions[receivers] + shifts @ self.cell
        return vectors.to(self.dtype)

    def to(self, device=None, dtype: torch.dtype | None = None):
        """A copy on ``device``; ``dtype`` changes the precision of the edge vectors (the geometry stays float64)."""
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self) if f.name != "dtype"}
        return type(self)(**moved, dtype=self.dtype if dtype is None else dtype)
