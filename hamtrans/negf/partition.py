"""Block-tridiagonal partitioning of a device matrix along the transport axis.

Orbitals are assumed sorted along the axis. The first and last blocks are fixed
(the lead principal layers); the blocks in between are made as thin as the
sparsity pattern allows: each block holds exactly the orbitals that the previous
block couples to beyond itself (a greedy sweep), and blocks are merged only where
the fixed end block forces it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hamtrans.errors import PartitionError


def coupling_pattern(*matrices: sp.spmatrix, threshold: float = 0.0) -> sp.csr_matrix:
    """Boolean union of the nonzeros (``|value| > threshold``) of several same-shape matrices."""
    pattern = None
    for matrix in matrices:
        coo = sp.coo_matrix(matrix)
        keep = np.abs(coo.data) > threshold
        part = sp.coo_matrix((np.ones(keep.sum(), bool), (coo.row[keep], coo.col[keep])), shape=coo.shape).tocsr()
        pattern = part if pattern is None else (pattern + part)
    pattern = (pattern + pattern.T).tocsr()
    pattern.data[:] = True
    return pattern


def find_block_violation(pattern: sp.csr_matrix, block_sizes: np.ndarray) -> tuple[int, int, int, int] | None:
    """First coupling between non-neighbouring blocks: ``(block_i, block_j, row, col)``, or ``None``."""
    bounds = np.concatenate([[0], np.cumsum(block_sizes)])
    coo = pattern.tocoo()
    block_row = np.searchsorted(bounds, coo.row, side="right") - 1
    block_col = np.searchsorted(bounds, coo.col, side="right") - 1
    bad = np.flatnonzero(np.abs(block_row - block_col) > 1)
    if bad.size == 0:
        return None
    k = bad[np.argmax(np.abs(block_row - block_col)[bad])]
    i, j = sorted((int(block_row[k]), int(block_col[k])))
    return i, j, int(coo.row[k]), int(coo.col[k])


def check_block_tridiagonal(pattern: sp.csr_matrix, block_sizes: np.ndarray) -> None:
    """Raise :class:`PartitionError` naming the offending block pair if the partition is not block-tridiagonal."""
    block_sizes = np.asarray(block_sizes)
    if block_sizes.sum() != pattern.shape[0] or np.any(block_sizes <= 0):
        raise PartitionError(f"block sizes {block_sizes.tolist()} do not partition {pattern.shape[0]} orbitals")
    violation = find_block_violation(pattern, block_sizes)
    if violation is not None:
        i, j, row, col = violation
        raise PartitionError(
            f"matrix is not block-tridiagonal: block {i} couples to block {j} (sorted orbitals {row} and {col}); "
            "use thicker slabs, a longer lead principal layer, or drop tiny couplings with threshold="
        )


def block_tridiagonal_partition(pattern: sp.csr_matrix, first: int, last: int) -> np.ndarray:
    """Thinnest block sizes with fixed first/last blocks (``first``, ``last`` orbitals).

    Raises
    ------
    PartitionError
        If the two end blocks are coupled to each other directly (device too short).
    """
    n = pattern.shape[0]
    if first + last > n:
        raise PartitionError(f"lead blocks ({first} + {last} orbitals) are larger than the device ({n} orbitals)")
    coo = pattern.tocoo()
    reach = np.arange(n)
    np.maximum.at(reach, coo.row, coo.col)
    bounds = [0, first]
    while True:
        start, stop = bounds[-2], bounds[-1]
        end = max(int(reach[start:stop].max()) + 1, stop + 1)
        if end >= n - last:
            break
        bounds.append(end)
    if bounds[-1] < n - last:
        bounds.append(n - last)
    bounds.append(n)
    sizes = list(np.diff(bounds))
    # merge interior blocks until nothing but neighbours couple (only the fixed ends can force this)
    while (violation := find_block_violation(pattern, np.array(sizes))) is not None:
        i, j = violation[:2]
        if i == 0 and j == len(sizes) - 1 or len(sizes) <= 3:
            raise PartitionError(
                f"the left and right lead blocks are coupled directly (sorted orbitals {violation[2]} and "
                f"{violation[3]}): the device is shorter than the coupling range; add electrode cells"
            )
        lo, hi = (i + 1, j) if j < len(sizes) - 1 else (i, j - 1)
        lo = max(lo, 1)
        sizes[lo:hi + 1] = [sum(sizes[lo:hi + 1])]
    return np.array(sizes)
