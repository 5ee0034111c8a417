"""The model side of ``pair_style hamtrans``: one :class:`PairBridge` per MPI rank.

The C++ pair style calls :meth:`PairBridge.compute` once per force evaluation with
zero-copy views of LAMMPS' per-atom arrays (local atoms first, then ghosts) and
of its full neighbour list. The bridge keeps the neighbours within the cutoff as
edges (vectors straight from LAMMPS' ghost coordinates, so periodic images need
no cell shifts) and runs :func:`hamtrans.models.staged.evaluate_staged`, whose
per-layer feature exchanges go through :class:`LammpsExchange` back into C++
(``comm->forward_comm`` / ``comm->reverse_comm``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from ase.data import atomic_numbers, chemical_symbols

from hamtrans.errors import UnknownElementError
from hamtrans.models.model_file import load_potential
from hamtrans.models.staged import evaluate_staged

FORWARD, REVERSE = 0, 1


def species_of_types(elements: list[str], model_species: tuple[int, ...]) -> np.ndarray:
    """Model species index of every LAMMPS atom type (entry 0 unused, ``-1``).

    Raises
    ------
    UnknownElementError
        An element symbol is unknown, or the model does not handle that element.
    """
    table = np.full(len(elements) + 1, -1, dtype=np.int64)
    for atom_type, symbol in enumerate(elements, start=1):
        number = atomic_numbers.get(symbol, 0)
        if number == 0:
            raise UnknownElementError(f"unknown element '{symbol}' for atom type {atom_type}: give element symbols "
                                      "(N, O, Ti, Hf ...), one per atom type")
        if number not in model_species:
            known = " ".join(chemical_symbols[z] for z in model_species)
            raise UnknownElementError(f"element {symbol} (atom type {atom_type}) is not in the model, which has: "
                                      f"{known}")
        table[atom_type] = model_species.index(number)
    return table


class LammpsExchange:
    """:class:`hamtrans.models.staged.Exchange` through LAMMPS' ghost communication.

    Parameters
    ----------
    communicate
        ``communicate(direction, dim)``: LAMMPS forward (0) or reverse (1) communication
        of ``dim`` doubles per atom in ``buffer``.
    buffer
        Per-atom buffer shared with C++, at least ``n_all · dim`` doubles.
    n_local, n_all
        Local atoms, local + ghost atoms on this rank.
    ghosts
        LAMMPS indices of the ghost atoms that are edge senders, in the order the model sees them.
    """

    def __init__(self, communicate: Callable[[int, int], None], buffer: np.ndarray, n_local: int, n_all: int,
                 ghosts: np.ndarray) -> None:
        self.communicate, self.buffer = communicate, buffer
        self.n_local, self.n_all, self.ghosts = n_local, n_all, ghosts

    def _rows(self, dim: int) -> np.ndarray:
        return self.buffer[: self.n_all * dim].reshape(self.n_all, dim)

    def forward(self, local: torch.Tensor) -> torch.Tensor:
        rows = self._rows(local.shape[1])
        rows[: self.n_local] = local.numpy()
        self.communicate(FORWARD, local.shape[1])
        return torch.cat([local, torch.from_numpy(rows[self.ghosts]).to(local.dtype)])

    def reverse(self, gradients: torch.Tensor) -> torch.Tensor:
        rows = self._rows(gradients.shape[1])
        rows[:] = 0.0
        rows[self.ghosts] = gradients[self.n_local:].numpy()
        self.communicate(REVERSE, gradients.shape[1])
        return gradients[: self.n_local] + torch.from_numpy(rows[: self.n_local]).to(gradients.dtype)


class PairBridge:
    """A potential loaded for ``pair_coeff * * model El1 ... ElN`` on one rank.

    Parameters
    ----------
    model
        Potential file or shipped name (:func:`~hamtrans.models.model_file.load_potential`).
    elements
        Element symbol of each LAMMPS atom type (type 1 first).
    communicate
        The C++ ghost communication (see :class:`LammpsExchange`).

    Attributes
    ----------
    cutoff
        Interaction cutoff (Å): LAMMPS' ghost cutoff is this plus the neighbour skin.
    feature_dim
        Largest number of values per atom exchanged between layers.
    """

    def __init__(self, model: str, elements: list[str], communicate: Callable[[int, int], None]) -> None:
        torch.set_num_threads(1)  # parallelism comes from MPI ranks
        self.model = load_potential(model)
        config = self.model.config
        self.species = species_of_types(elements, tuple(config.species))
        self.cutoff = float(config.cutoff)
        self.feature_dim = max((layer.irreps_out.dim for layer in self.model.layers[:-1]), default=0)
        self.communicate = communicate

    def compute(self, x: memoryview, types: memoryview, f: memoryview, eatom: memoryview | None,
                receivers: memoryview, senders: memoryview, buffer: memoryview, n_local: int,
                n_all: int) -> tuple[float, tuple[float, ...]]:
        """Add forces to ``f`` (local and ghost rows) and atomic energies to ``eatom``.

        Parameters
        ----------
        x, f
            ``(n_all, 3)`` positions (Å) and forces (eV/Å) of local then ghost atoms.
        types
            ``(n_all,)`` LAMMPS atom types.
        eatom
            ``(n_local,)`` per-atom energies (eV) or ``None`` when LAMMPS does not need them.
        receivers, senders
            LAMMPS' full neighbour list, one entry per (local atom, neighbour) pair.
        buffer
            The per-atom exchange buffer.

        Returns
        -------
        energy, virial
            This rank's energy (eV) and virial share (eV; xx, yy, zz, xy, xz, yz).
        """
        positions = np.frombuffer(x, np.float64).reshape(n_all, 3)
        receivers, senders = np.frombuffer(receivers, np.int32), np.frombuffer(senders, np.int32)
        vectors = positions[senders] - positions[receivers]
        within = np.einsum("ij,ij->i", vectors, vectors) < self.cutoff ** 2
        receivers, senders, vectors = receivers[within], senders[within], vectors[within]
        ghost_edge = senders >= n_local
        ghosts, slot = np.unique(senders[ghost_edge], return_inverse=True)
        senders = senders.astype(np.int64)
        senders[ghost_edge] = n_local + slot.ravel()
        atoms = np.concatenate([np.arange(n_local), ghosts])
        species = self.species[np.frombuffer(types, np.int32)[atoms]]

        exchange = LammpsExchange(self.communicate, np.frombuffer(buffer, np.float64), n_local, n_all, ghosts)
        result = evaluate_staged(self.model, torch.from_numpy(species), n_local,
                                 torch.from_numpy(np.stack([receivers.astype(np.int64), senders])),
                                 torch.from_numpy(vectors).to(self.model.config.torch_dtype), exchange)

        forces = result.forces.detach().to(torch.float64).numpy()
        all_forces = np.frombuffer(f, np.float64).reshape(n_all, 3)
        all_forces[:n_local] += forces[:n_local]
        all_forces[ghosts] += forces[n_local:]
        energies = result.energies.to(torch.float64).numpy()
        if eatom is not None:
            np.frombuffer(eatom, np.float64)[:n_local] += energies
        w = result.virial.detach().to(torch.float64).numpy()
        return float(energies.sum()), (w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2])
