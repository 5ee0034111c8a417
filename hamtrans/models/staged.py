"""Stage-by-stage evaluation of the potential over local and ghost atoms.

This is spatial-decomposition message passing (SevenNet's ``e3gnn/parallel``
scheme): a process owns its *local* atoms and holds *ghost* copies of the atoms
within one interaction cutoff of its domain. Each interaction layer updates the
local atoms only; an :class:`Exchange` then refreshes the ghost features from
their owners (LAMMPS: ``comm->forward_comm``). The backward pass runs layer by
layer in reverse: the gradient that reaches a ghost's features is sent home and
added to its owner's (``comm->reverse_comm``) before the previous layer is
differentiated. Edge gradients give forces on local *and* ghost atoms (the
ghost forces are sent home by LAMMPS with ``newton on``) and the virial.

:class:`PeriodicImages` is the single-process exchange: the ghosts are the
periodic images of a structure's atoms. It lets the tests check that the
staged path reproduces :func:`hamtrans.models.potential.evaluate` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from ase import Atoms

from hamtrans.data.graphs import build_graph
from hamtrans.models.inputs import species_indices
from hamtrans.models.potential import InteratomicPotential, edge_virial


class Exchange(Protocol):
    """Ghost communication between layers."""

    def forward(self, local: torch.Tensor) -> torch.Tensor:
        """Features of local then ghost atoms ``(N_local + N_ghost, dim)`` from the local ones."""

    def reverse(self, gradients: torch.Tensor) -> torch.Tensor:
        """Local gradients ``(N_local, dim)``: each ghost's gradient added to its owner's."""


@dataclass
class StagedResult:
    """Output of :func:`evaluate_staged` for the local atoms of one process.

    Attributes
    ----------
    energies
        ``(N_local,)`` eV.
    forces
        ``(N_local + N_ghost, 3)`` eV/Å; ghost rows still have to be sent to their owners.
    virial
        ``(3, 3)`` eV, this process's share (sum over processes for the total).
    """

    energies: torch.Tensor
    forces: torch.Tensor
    virial: torch.Tensor


def evaluate_staged(model: InteratomicPotential, species: torch.Tensor, n_local: int, edge_index: torch.Tensor,
                    vectors: torch.Tensor, exchange: Exchange) -> StagedResult:
    """Energies, forces and virial with one feature exchange per layer.

    Parameters
    ----------
    species
        ``(N_local + N_ghost,)`` species indices, local atoms first.
    edge_index
        ``(2, E)``: receiver (local atom) and sender (local or ghost) of every edge within the cutoff.
    vectors
        ``(E, 3)`` edge vectors ``r_sender − r_receiver``, Å.
    exchange
        How ghost features are refreshed and ghost gradients sent home.
    """
    vectors = vectors.detach().requires_grad_(True)
    sh, radial = model.edge_basis(vectors)
    species_local = species[:n_local]
    with torch.no_grad():
        h = model.embed(species)
    layer_inputs, layer_outputs = [], []
    for k in range(len(model.layers)):
        h = h.detach().requires_grad_(True)
        local = model.interact(k, h, species_local, edge_index, sh, radial)
        layer_inputs.append(h)
        layer_outputs.append(local)
        h = exchange.forward(local.detach()) if k < len(model.layers) - 1 else local
    final = h.detach().requires_grad_(True)
    energies = model.atomic_energies(final, species_local)
    (gradient,) = torch.autograd.grad(energies.sum(), final)
    edge_gradients = torch.zeros_like(vectors)
    for k in reversed(range(len(model.layers))):
        keep = k > 0  # sh and radial are shared by all layers: keep their graph until the last one
        wanted = (layer_inputs[k], vectors) if k > 0 else (vectors,)
        grads = torch.autograd.grad(layer_outputs[k], wanted, gradient, retain_graph=keep)
        edge_gradients = edge_gradients + grads[-1]
        if k > 0:
            gradient = exchange.reverse(grads[0])
    receivers, senders = edge_index
    forces = torch.zeros(len(species), 3, dtype=vectors.dtype, device=vectors.device)
    forces = forces.index_add(0, receivers, edge_gradients).index_add(0, senders, -edge_gradients)
    return StagedResult(energies.detach(), forces, edge_virial(edge_gradients, vectors.detach()))


class PeriodicImages:
    """Single-process :class:`Exchange`: ghosts are periodic images of the structure's own atoms.

    Parameters
    ----------
    owners
        ``(N_ghost,)`` index of the atom each ghost is an image of.
    """

    def __init__(self, owners: torch.Tensor) -> None:
        self.owners = owners

    def forward(self, local: torch.Tensor) -> torch.Tensor:
        return torch.cat([local, local[self.owners]])

    def reverse(self, gradients: torch.Tensor) -> torch.Tensor:
        n_local = gradients.shape[0] - len(self.owners)
        return gradients[:n_local].index_add(0, self.owners, gradients[n_local:])


def ghost_decomposition(atoms: Atoms, species: list[int], cutoff: float, dtype: torch.dtype = torch.float64):
    """Local + ghost representation of a periodic structure for :func:`evaluate_staged`.

    Every neighbour that is a periodic image (cell shift ≠ 0) becomes a ghost atom
    with its own position, as in a LAMMPS domain.

    Returns
    -------
    species, n_local, edge_index, vectors, exchange
        Arguments of :func:`evaluate_staged`.
    """
    graph = build_graph(atoms, cutoff)
    receivers, senders = graph.edge_index
    image = np.any(graph.shifts != 0, axis=1)
    keys = np.concatenate([senders[image, None], graph.shifts[image]], axis=1)
    unique, ghost_of_edge = np.unique(keys, axis=0, return_inverse=True)
    senders = senders.copy()
    senders[image] = len(atoms) + ghost_of_edge.ravel()
    all_species = np.concatenate([species_indices(atoms.numbers, species),
                                  species_indices(atoms.numbers[unique[:, 0]], species)])
    return (torch.as_tensor(all_species), len(atoms), torch.as_tensor(np.stack([receivers, senders])),
            torch.as_tensor(graph.vectors, dtype=dtype), PeriodicImages(torch.as_tensor(unique[:, 0])))
