"""Hamiltonian inference spread over MPI ranks by augmented partitioning.

The structure is cut along the transport axis into slabs of ``width`` Å (1 Å, as in
training). Each rank takes a contiguous run of slabs holding about 1/K of the atoms (its
*core*) and adds the atoms within ``halo = block_cutoff + receptive_field`` Å on both sides
(:class:`~hamtrans.models.partitioning.AxisFrame`). It builds the block graph of that region
itself, keeps the edges with a core atom at either end, and runs the model on it. It owns
the onsite blocks of its core atoms and the edge blocks leaving them. Those blocks see the
same environment as in the whole structure, so all ranks' owned blocks together are the
single-process H and S to round-off. No rank builds the whole structure's block graph or
holds its H. :func:`gather_prediction` assembles them on one rank (to write a file or run
NEGF there).

A rank whose run of slabs is empty (more ranks than slabs with atoms) owns nothing and
still takes part in the collective calls; an error on any rank is raised on all of them.
:func:`not_distributable` says when a structure cannot be cut: a model with electrostatics
(charges neutralised over the whole structure, which no rank sees) or periodic cell vectors
tilted against the cut direction.

>>> local = predict_owned_blocks(predictor, atoms, comm)      # on every rank
>>> prediction = gather_prediction(local, atoms, predictor.basis, comm)  # H, S on rank 0
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout, BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph, build_graph, check_structure
from hamtrans.errors import HamtransError, StructureError
from hamtrans.models.inputs import prepare_inputs, species_indices
from hamtrans.models.model_file import resolve_device
from hamtrans.models.partitioning import AxisFrame, block_ranges


@dataclass(frozen=True)
class OwnedBlocks:
    """The blocks one rank owns, in the whole structure's atom indices.

    Attributes
    ----------
    atoms
        ``(n,)`` global indices of the core atoms, ascending.
    onsite_h, onsite_s
        Their flat onsite blocks of H (eV) and S, concatenated in that order
        (``onsite_s`` is ``None`` without an overlap model).
    edge_index
        ``(2, E)`` global ``[i; j]`` of the owned edges (``i`` a core atom).
    shifts
        ``(E, 3)`` integer cell shifts of ``j`` in the whole structure's cell.
    edges_h, edges_s
        Flat edge blocks of H (eV) and S in the order of ``edge_index``.
    seconds
        Wall time of this rank's prediction (graph, model) in s.
    peak_memory_MiB
        Peak resident memory of this rank's process in MiB.
    """

    atoms: np.ndarray
    onsite_h: np.ndarray
    onsite_s: np.ndarray | None
    edge_index: np.ndarray
    shifts: np.ndarray
    edges_h: np.ndarray
    edges_s: np.ndarray | None
    seconds: float
    peak_memory_MiB: float


def rank_slabs(frame: AxisFrame, n_ranks: int, width: float = 1.0) -> tuple[np.ndarray, list[range]]:
    """The slab of every atom and each rank's contiguous run of slabs (an empty range: no atoms).

    The axis is cut into slabs of ``width`` Å (:meth:`AxisFrame.slab_index`); a slab goes to
    the rank in whose share of the atoms its first atom falls, so the atom counts are as even
    as whole slabs allow.
    """
    if n_ranks < 1:
        raise HamtransError(f"distributed prediction needs at least one rank (got {n_ranks})")
    if not width > 0:
        raise HamtransError(f"the slab width must be > 0 Å (got {width})")
    slab = frame.slab_index(width)
    counts = np.bincount(slab, minlength=int(slab.max()) + 1)
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    owner = np.minimum(before * n_ranks // len(slab), n_ranks - 1)
    owner[counts == 0] = -1
    runs = []
    for rank in range(n_ranks):
        mine = np.flatnonzero(owner == rank)
        runs.append(range(0) if mine.size == 0 else range(int(mine[0]), int(mine[-1]) + 1))
    return slab, runs


def not_distributable(predictor, atoms: Atoms, axis: int) -> str | None:
    """Why ``atoms`` cannot be predicted in slabs along ``axis`` (``None``: it can)."""
    if predictor.config.electrostatics:
        return "the model has electrostatics (charges neutralised over the whole structure, which no rank sees)"
    try:
        AxisFrame.of(atoms, axis)
    except StructureError as exc:
        return str(exc)
    return None


def predict_owned_blocks(predictor, atoms: Atoms, comm=None, axis: int = 0, width: float = 1.0,
                         device: str = "cpu", halo: float | None = None) -> OwnedBlocks:
    """This rank's share of a model's H and S of ``atoms`` (call it on every rank of ``comm``).

    Parameters
    ----------
    predictor
        A loaded :class:`~hamtrans.models.model_file.HamiltonianPredictor` (strictly local:
        no electrostatics).
    atoms
        The whole structure, the same on every rank. The periodic cell vectors other than
        ``axis`` must be orthogonal to the cut direction (:func:`not_distributable`).
    comm
        mpi4py communicator (``None``: one rank owns everything).
    axis
        Partition direction (the transport axis), 0, 1 or 2.
    width
        Slab thickness in Å: the granularity of the split between ranks.
    device
        torch device of this rank.
    halo
        Å of environment on each side of the core (default and minimum for exact blocks:
        ``block_cutoff + receptive_field`` of the model). Only tests set it.

    Raises
    ------
    HamtransError
        On every rank when any rank fails (the failing rank's own error there), so that no
        rank waits in a collective call for one that stopped.
    """
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    start = time.perf_counter()
    try:
        reason = not_distributable(predictor, atoms, axis)
        if reason is not None:
            raise HamtransError(f"distributed prediction along axis {axis} is not possible: {reason}; "
                                f"predict in one process")
        resolve_device(device)
        check_structure(atoms)
        species_indices(atoms.numbers, list(predictor.config.species))  # unknown elements fail on every rank
        local, error = _owned_blocks(predictor, atoms, rank, size, axis, width, device, halo, start), None
    except Exception as exc:  # re-raised below, on this rank and (as a HamtransError) on the others
        local, error = None, exc
    status = None if error is None else f"{type(error).__name__}: {error}"
    failures = [status] if comm is None else comm.allgather(status)
    if error is not None:
        raise error
    failed = next((k for k, failure in enumerate(failures) if failure is not None), None)
    if failed is not None:
        raise HamtransError(f"rank {failed} failed in the distributed prediction: {failures[failed]}")
    return local


def _owned_blocks(predictor, atoms: Atoms, rank: int, size: int, axis: int, width: float, device: str,
                  halo: float | None, start: float) -> OwnedBlocks:
    config = predictor.config
    frame = AxisFrame.of(atoms, axis)
    slab, runs = rank_slabs(frame, size, width)
    core = np.isin(slab, list(runs[rank]))
    if not core.any():
        return _no_blocks(predictor.overlap is not None, start)
    halo = config.block_cutoff + config.receptive_field if halo is None else halo
    atom, image, is_core = frame.region_of(core, halo)
    region = frame.region_atoms(atoms, atom, image)
    graph = build_graph(region, config.block_cutoff, check=False)
    i, j = graph.edge_index
    graph = _edge_subgraph(graph, is_core[i] | is_core[j])  # owned edges and their reverses
    inputs = prepare_inputs(region, graph, predictor.basis, list(config.species), config.mp_cutoff,
                            config.torch_dtype).to(device)
    with torch.no_grad():
        onsite_h, edges_h = predictor.hamiltonian.to(device).eval()(inputs)
        overlap = None if predictor.overlap is None else predictor.overlap.to(device).eval()(inputs)
    layout = BlockLayout(predictor.basis, region.numbers, graph)
    cores = np.flatnonzero(is_core)
    owned = np.flatnonzero(is_core[graph.edge_index[0]])
    onsite_part, edge_part = block_ranges(layout.onsite_ptr, cores), block_ranges(layout.edge_ptr, owned)
    values = lambda tensor, part: tensor.double().cpu().numpy()[part]
    i, j = graph.edge_index[:, owned]
    shifts = graph.shifts[owned].copy()
    shifts[:, axis] += frame.axis_shift(atom[j], image[j]) - frame.axis_shift(atom[i], image[i])
    return OwnedBlocks(
        atoms=atom[cores], onsite_h=values(onsite_h, onsite_part),
        onsite_s=None if overlap is None else values(overlap[0], onsite_part),
        edge_index=np.stack([atom[i], atom[j]]), shifts=shifts, edges_h=values(edges_h, edge_part),
        edges_s=None if overlap is None else values(overlap[1], edge_part),
        seconds=time.perf_counter() - start, peak_memory_MiB=_peak_memory_MiB())


def gather_prediction(local: OwnedBlocks, atoms: Atoms, basis: OrbitalBasis, comm=None, root: int | None = 0
                      ) -> tuple[BlockSparseMatrix, BlockSparseMatrix | None] | None:
    """``(H, S)`` of the whole structure on ``root`` from every rank's :class:`OwnedBlocks`; ``None`` elsewhere.

    ``root=None`` gives every rank the whole H and S. The edges are in the order of
    :func:`~hamtrans.data.graphs.build_graph` (sorted by ``(i, j, S)``), so the result
    matches a single-process prediction block for block.
    """
    if comm is None:
        parts = [local]
    else:
        parts = comm.allgather(local) if root is None else comm.gather(local, root=root)
    if parts is None:
        return None
    return assemble(parts, atoms, basis)


def assemble(parts: list[OwnedBlocks], atoms: Atoms, basis: OrbitalBasis
             ) -> tuple[BlockSparseMatrix, BlockSparseMatrix | None]:
    """``(H, S)`` of ``atoms`` from the owned blocks of all ranks; every atom must be owned exactly once.

    A pair at the block cutoff to round-off can be inside it on one rank and outside on the
    other (the regions' positions carry whole cell vectors): such an edge without its reverse
    is left out, so H stays hermitian.
    """
    owners = np.concatenate([part.atoms for part in parts])
    if len(owners) != len(atoms) or not np.array_equal(np.sort(owners), np.arange(len(atoms))):
        raise HamtransError(f"the ranks own {len(owners)} atoms ({len(np.unique(owners))} distinct) of the "
                            f"structure's {len(atoms)}: give every rank the same structure")
    edge_index = np.concatenate([part.edge_index for part in parts], axis=1)
    graph, order = AtomGraph.from_edges(atoms, edge_index, np.concatenate([part.shifts for part in parts]))
    paired = graph.has_reverse()
    if not paired.all():
        graph = _edge_subgraph(graph, paired)
        order = order[paired]
    counts = basis.orbital_counts(atoms.numbers)
    # flat positions, in the owners' concatenated layout, of each atom's onsite block and of each sorted edge
    onsite_ptr = np.concatenate([[0], np.cumsum(counts[owners] ** 2)])
    onsite_take = block_ranges(onsite_ptr, np.argsort(owners))
    edge_ptr = np.concatenate([[0], np.cumsum(counts[edge_index[0]] * counts[edge_index[1]])])
    edge_take = block_ranges(edge_ptr, order)

    def matrix(onsite: list[np.ndarray], edges: list[np.ndarray]) -> BlockSparseMatrix:
        # an edge and its reverse can come from two ranks, each with its own float32 round-off:
        # (M + Mᵀ)/2 makes the assembled matrix exactly hermitian, as each rank's own blocks are
        return BlockSparseMatrix(basis, atoms.numbers, graph, np.concatenate(onsite)[onsite_take],
                                 np.concatenate(edges)[edge_take]).symmetrized()

    hamiltonian = matrix([p.onsite_h for p in parts], [p.edges_h for p in parts])
    if parts[0].onsite_s is None:
        return hamiltonian, None
    return hamiltonian, matrix([p.onsite_s for p in parts], [p.edges_s for p in parts])


def _edge_subgraph(graph: AtomGraph, keep: np.ndarray) -> AtomGraph:
    return AtomGraph(graph.edge_index[:, keep], graph.shifts[keep], graph.vectors[keep], graph.n_atoms)


def _no_blocks(with_overlap: bool, start: float) -> OwnedBlocks:
    empty = np.zeros(0)
    return OwnedBlocks(np.zeros(0, np.int64), empty, empty if with_overlap else None, np.zeros((2, 0), np.int64),
                       np.zeros((0, 3), np.int64), empty, empty if with_overlap else None,
                       time.perf_counter() - start, _peak_memory_MiB())


def _peak_memory_MiB() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
