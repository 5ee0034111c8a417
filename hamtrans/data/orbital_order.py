"""Orbital order and rotation of orbital blocks.

Internal order
--------------
Within a shell of angular momentum ``l`` hamtrans orders the ``2l + 1`` real
functions exactly as e3nn's real spherical harmonics ``Y^l`` (e3nn takes ``y`` as
the polar axis): ``l = 1`` is ``(x, y, z)``; ``l = 2`` is
``(xz, xy, 3y² − r², yz, z² − x²)``. A rotation ``R`` of the structure then
acts on a block as ``H_ij(R·x) = D_i(R) H_ij(x) D_j(R)ᵀ`` with
``D^l(R) = e3nn.o3.Irrep(l, (−1)^l).D_from_matrix(R)``.

External order
--------------
Codes write the *standard* real harmonics ``m = −l..l`` about ``z`` without the
Condon–Shortley phase: ``p = (py, pz, px)``, ``d = (xy, yz, z², xz, x² − y²)``,
``f = (y(3x²−y²), xyz, yz², z³, xz², z(x²−y²), x(x²−3y²))``. These equal
e3nn's harmonics evaluated at the cyclically permuted vector ``P r = (y, z, x)``,
so ``Y_std = D(P) Y_e3nn``: for ``l ≥ 2`` the map is a rotation, not a permutation.

Each source gets ONE table, :data:`SOURCE_ORDERS`: for each ``l`` the signed
permutation ``Q`` taking that source's functions to the standard order. The full
map source → internal of a shell is ``T = D(P)ᵀ Q`` and a matrix converts as
``H_int = T H_src Tᵀ`` (``T`` block-diagonal over shells).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from hamtrans.data.basis import OrbitalBasis
from hamtrans.errors import HamtransError

#: Cyclic axis permutation with ``P @ (x, y, z) = (y, z, x)``; proper rotation.
AXIS_CYCLE = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])

#: Per source and ``l``: ``(order, signs)`` with standard function ``k`` equal to
#: ``signs[k] * source function order[k]``. Missing ``l`` means identity.
#: Verified by rotation-covariance tests on real tblite and CP2K matrices.
SOURCE_ORDERS: dict[str, dict[int, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    "standard": {},
    "tblite": {},
    "cp2k": {},
    "pyscf": {1: ((1, 2, 0), (1, 1, 1))},
    # sisl / SIESTA / TBtrans: m = −l..l (sisl's names py, pz, px; dxy, dyz, dz2, dxz, dx2-y2) with the
    # Condon–Shortley sign (−1)^m: sisl's px is −x/r (its _rspherical_harm, tested against it up to f)
    "sisl": {l: (tuple(range(2 * l + 1)), tuple(1 if (k - l) % 2 == 0 else -1 for k in range(2 * l + 1))) for l in (1, 2, 3)},
    # DeepH (DeepH-pack, DeepH-E3, DeepH-2 files): OpenMX's order m = 0, +1, −1, +2, −2, ...:
    # p = (px, py, pz); d = (z², x²−y², xy, xz, yz); f = (z³, xz², yz², z(x²−y²), xyz, x(x²−3y²), y(3x²−y²)),
    # all with + signs: the permutation-only "Us_openmx2wiki" of DeepH-pack deeph/rotate.py and DeepH-E3
    # deephe3/e3modules.py, and deepx-dock's BASIS_TRANS_OPENMX2WIKI (tests/test_deeph.py)
    "deeph": {1: ((1, 2, 0), (1, 1, 1)), 2: ((2, 4, 0, 3, 1), (1,) * 5), 3: ((6, 4, 2, 0, 1, 3, 5), (1,) * 7)},
}


def wigner_d(l: int, rotation: np.ndarray) -> np.ndarray:
    """Real Wigner matrix of an orthogonal transformation (rotation, inversion, mirror) in the internal (e3nn) order.

    For a proper rotation, solves ``Y^l(R x) = D Y^l(x)`` by least squares on fixed sample
    directions with e3nn's float64 spherical harmonics. This is exact to ~1e-15, whereas
    ``e3nn.o3.Irrep.D_from_matrix`` (e3nn 0.6.0) is off by ~5e-7 even in float64. An
    improper ``R`` (det −1) is ``(−1)^l D(−R)``: atomic orbitals of angular momentum l have
    parity ``(−1)^l``, so a matrix of the transformed structure is ``D H Dᵀ`` for every
    element of O(3).

    Parameters
    ----------
    l
        Angular momentum.
    rotation
        Orthogonal matrix, shape ``(3, 3)``, det ±1.

    Returns
    -------
    numpy.ndarray
        Shape ``(2l + 1, 2l + 1)``, float64.
    """
    import torch
    from e3nn import o3

    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-10):
        raise HamtransError("wigner_d needs an orthogonal 3 × 3 matrix (a rotation, possibly times the inversion)")
    if np.linalg.det(rotation) < 0:
        return (-1) ** l * wigner_d(l, -rotation)
    points = torch.as_tensor(_SAMPLE_DIRECTIONS)
    y = o3.spherical_harmonics(l, points, normalize=True)
    y_rotated = o3.spherical_harmonics(l, points @ torch.as_tensor(rotation).T, normalize=True)
    d_transposed = torch.linalg.lstsq(y, y_rotated).solution
    return d_transposed.T.numpy().copy()


#: Fixed, well-spread sample directions for :func:`wigner_d` (enough for l <= 6).
_SAMPLE_DIRECTIONS = np.random.default_rng(20260101).normal(size=(64, 3))


@lru_cache(maxsize=None)
def source_to_internal(source: str, l: int) -> np.ndarray:
    """Matrix ``T`` with ``φ_internal = T φ_source`` for one shell.

    Parameters
    ----------
    source
        A key of :data:`SOURCE_ORDERS` (``'tblite'``, ``'cp2k'``, ``'pyscf'``, ``'standard'``).
    l
        Angular momentum of the shell.

    Returns
    -------
    numpy.ndarray
        Orthogonal matrix, shape ``(2l + 1, 2l + 1)``.
    """
    if source not in SOURCE_ORDERS:
        raise HamtransError(f"unknown orbital-order source '{source}'; known: {', '.join(SOURCE_ORDERS)}")
    order, signs = SOURCE_ORDERS[source].get(l, (tuple(range(2 * l + 1)), (1,) * (2 * l + 1)))
    q = np.zeros((2 * l + 1, 2 * l + 1))
    q[np.arange(2 * l + 1), order] = signs
    t = wigner_d(l, AXIS_CYCLE).T @ q
    t[np.abs(t) < 1e-14] = 0.0
    t.setflags(write=False)
    return t


def _block_diagonal(blocks: list[np.ndarray]) -> sp.csr_matrix:
    return sp.block_diag(blocks, format="csr") if blocks else sp.csr_matrix((0, 0))


def orbital_transform(basis: OrbitalBasis, numbers: Sequence[int] | np.ndarray, source: str) -> sp.csr_matrix:
    """Block-diagonal ``T`` converting a whole matrix: ``H_int = T H_src Tᵀ``.

    Parameters
    ----------
    basis
        Orbital basis of the matrix.
    numbers
        Atomic numbers in matrix order, shape ``(n_atoms,)``.
    source
        Orbital-order convention of the matrix (a key of :data:`SOURCE_ORDERS`).
    """
    shells = basis.shell_table(numbers)
    return _block_diagonal([source_to_internal(source, l) for _, l, _ in shells])


def rotation_matrix_for_orbitals(
    basis: OrbitalBasis, numbers: Sequence[int] | np.ndarray, rotation: np.ndarray
) -> sp.csr_matrix:
    """Block-diagonal ``D(R)`` over all orbitals, internal order, for any orthogonal ``R`` (O(3)).

    A matrix of the transformed structure (positions ``x → R x``) is ``D H Dᵀ`` with ``D`` from
    this function; an improper ``R`` includes each orbital's parity ``(−1)^l``.
    """
    cache = {l: wigner_d(l, rotation) for l in {l for _, l, _ in basis.shell_table(numbers)}}
    return _block_diagonal([cache[l] for _, l, _ in basis.shell_table(numbers)])


def convert_matrix(matrix, basis: OrbitalBasis, numbers: Sequence[int] | np.ndarray, source: str):
    """Convert a full matrix (dense or scipy sparse) from ``source`` order to internal order."""
    t = orbital_transform(basis, numbers, source)
    if sp.issparse(matrix):
        return (t @ matrix @ t.T).tocsr()
    left = t @ np.asarray(matrix)
    return np.asarray(t @ left.T).T
