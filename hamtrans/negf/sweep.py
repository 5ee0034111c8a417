"""Energy sweeps: batching, MPI distribution over energies, progress, BLAS threads.

Energies are dealt round-robin to MPI ranks (adaptive refinement passes add
points unevenly, round-robin keeps the ranks balanced), each rank evaluates its
share in batches, and the results are gathered on every rank in the original
order. Each energy is computed by the same code whatever the batch, so MPI
results equal serial ones.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from hamtrans.errors import HamtransError


def world_communicator():
    """``MPI.COMM_WORLD`` when running under an MPI launcher with more than one rank, else ``None``.

    mpi4py is imported only if the environment shows an MPI launcher, so serial
    runs never initialise MPI.
    """
    import os

    launched = any(k in os.environ for k in ("PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                                             "MPI_LOCALNRANKS"))
    if not launched:
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def map_energies(
    function: Callable[[np.ndarray], dict[str, np.ndarray]],
    energies: np.ndarray,
    batch_size: int = 16,
    comm=None,
    progress: bool = False,
    blas_threads: int | None = 1,
    description: str = "energies",
) -> dict[str, np.ndarray]:
    """Evaluate ``function`` on all energies, batched and distributed; gather the results.

    Parameters
    ----------
    function
        Maps a batch of energies ``(b,)`` to a dict of host arrays with leading dimension ``b``.
    energies
        ``(n_E,)`` energies (real or complex), eV.
    batch_size
        Energies per call on each rank.
    comm
        mpi4py communicator, or ``None`` for serial.
    progress
        Show a tqdm bar (rank 0 only).
    blas_threads
        BLAS threads per process during the sweep (``None`` = leave unchanged).
        One per rank is fastest for the small dense blocks of an RGF sweep.

    Returns
    -------
    dict of arrays with leading dimension ``n_E`` (every rank gets all of them).
    """
    energies = np.asarray(energies)
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    mine = np.arange(rank, len(energies), size)
    batches = [mine[k:k + batch_size] for k in range(0, len(mine), batch_size)]
    parts: list[dict[str, np.ndarray]] = []
    limits = threadpool_limits(limits=blas_threads, user_api="blas") if blas_threads else nullcontext()
    failure = None
    with limits, tqdm(total=len(energies), disable=not progress or rank != 0, unit="E", desc=description) as bar:
        for batch in batches:
            try:
                parts.append(function(energies[batch]))
            except Exception as exc:
                if comm is None:
                    raise
                failure = exc  # keep going to the collective: the other ranks must not wait forever
                break
            bar.update(len(batch) * size)
    if comm is None:
        return _concatenate(parts, mine)[1]
    gathered = comm.allgather((mine, {} if failure else _concatenate(parts, mine)[1],
                               None if failure is None else (type(failure).__name__, str(failure))))
    errors = [(r, g[2]) for r, g in enumerate(gathered) if g[2] is not None]
    if errors:
        if failure is not None:
            raise failure
        r, (kind, message) = errors[0]
        raise HamtransError(f"MPI rank {r} failed ({kind}): {message}")
    indices = np.concatenate([g[0] for g in gathered if len(g[0])])
    keys = next(g[1].keys() for g in gathered if g[1])
    out = {}
    for key in keys:
        values = np.concatenate([g[1][key] for g in gathered if len(g[0])])
        result = np.empty_like(values)
        result[indices] = values
        out[key] = result
    return out


def _concatenate(parts, indices):
    if not parts:
        return indices, {}
    return indices, {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

