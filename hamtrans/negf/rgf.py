"""Recursive Green's function sweeps, batched over energies.

Every array carries the energies as its leading stack dimension ``(n_E, ...)``,
so each slab costs one batched solve/matmul for the whole batch. The code uses
only the numpy API subset that cupy mirrors (see :mod:`hamtrans.negf.backend`).

With ``M(z) = z S − H`` in block-tridiagonal form, slabs ``0..N−1``, left
self-energy on slab 0 and right on slab N−1 (notation of Lake et al. 1997):

* left-connected ``gL_i = (M_ii − M_i,i−1 gL_i−1 M_i−1,i)⁻¹``;
* :func:`transmission_sweep` needs one forward pass: it carries
  ``Y_i = gL_i M_i,i+1`` and ``C_i = G^L_i,0 W_L`` (``Γ_L = W_L D_L W_Lᴴ``) through one
  solve per slab, and ``T = Σ D_R |W_Rᴴ C_N−1|² D_L`` (Caroli);
* :func:`green_sweep` adds the backward pass for the diagonal, neighbour and
  first/last-column blocks of ``G``: orbital-resolved DOS and lead-resolved
  spectral functions (Mulliken, ``Re diag(A S)/2π``), transmission, and the
  traces of the sum rule ``Tr[Γ_L A] = Tr[Γ_L G Γ_L Gᴴ] + T``.
"""

from __future__ import annotations

import numpy as np

from hamtrans.negf.backend import Backend
from hamtrans.negf.leads import broadening


class SlabMatrices:
    """``M(z) = z S − H`` slab blocks of one energy batch, built on demand.

    ``diagonal(i)``, ``upper(i) = M_i,i+1`` and ``lower(i) = M_i+1,i`` are formed
    when the sweep reaches slab ``i``, so memory stays at a few slabs per batch
    (forming all blocks first was memory-bound: 48 ms per energy for a W = 80
    strip). With ``compact=True`` a coupling whose H and S blocks are both
    diagonal (orthogonal nearest-neighbour lattice models) is returned as its
    diagonal ``(n_E, n)`` and applied as a scaling (see :func:`apply_left`).
    """

    def __init__(self, blocks, z, backend: Backend, compact: bool = False) -> None:
        self._blocks = blocks
        self._xp = backend.xp
        self._z = self._xp.asarray(z, dtype=complex)[:, None, None]
        self._compact = compact
        self.n_slabs = len(blocks.h_diagonal)

    def diagonal(self, i: int):
        a = self._z * self._blocks.s_diagonal[i]
        a -= self._blocks.h_diagonal[i]
        return a

    def _coupling(self, i: int, lower: bool):
        h, s = self._blocks.h_upper[i], self._blocks.s_upper[i]
        if lower:
            h, s = h.conj().T, s.conj().T
        if self._compact and self._blocks.diagonal_coupling[i]:
            return self._z[..., 0] * self._xp.diagonal(s) - self._xp.diagonal(h)
        a = self._z * s
        a -= h
        return a

    @property
    def sizes(self) -> list[int]:
        return [h.shape[-1] for h in self._blocks.h_diagonal]

    def upper(self, i: int):
        return self._coupling(i, lower=False)

    def lower(self, i: int):
        return self._coupling(i, lower=True)


class ReversedSlabs:
    """The same blocks with the slab order reversed (slab ``i`` ↔ ``N−1−i``; upper ↔ lower)."""

    def __init__(self, slabs: SlabMatrices) -> None:
        self._slabs = slabs
        self.n_slabs = slabs.n_slabs

    @property
    def sizes(self) -> list[int]:
        return self._slabs.sizes[::-1]

    def diagonal(self, i: int):
        return self._slabs.diagonal(self.n_slabs - 1 - i)

    def upper(self, i: int):
        return self._slabs.lower(self.n_slabs - 2 - i)

    def lower(self, i: int):
        return self._slabs.upper(self.n_slabs - 2 - i)


def slab_matrices(blocks, z, backend: Backend, compact: bool = False) -> SlabMatrices:
    """``M(z) = z S − H`` slab blocks on the backend for energies ``z`` (``(n_E,)``), built lazily."""
    return SlabMatrices(blocks, z, backend, compact)


def apply_left(coupling, x):
    """``coupling @ x`` for a dense ``(n_E, a, b)`` or diagonal ``(n_E, a)`` coupling."""
    return coupling[..., :, None] * x if coupling.ndim == 2 else coupling @ x


def as_dense(coupling, xp):
    """Dense ``(n_E, a, a)`` form of a diagonal coupling; dense ones pass through."""
    if coupling.ndim == 3:
        return coupling
    return coupling[..., :, None] * xp.eye(coupling.shape[-1])


def factor_broadening(gamma, xp, relative_cutoff: float = 1e-12):
    """``(W, d)`` with ``Γ = W diag(d) Wᴴ``, ``d = ±1``: eigenvectors scaled by ``√|λ|``.

    Only channels with ``|λ|`` above the cutoff are kept; the column count is the
    largest such number in the batch, so ``W`` is ``(n_E, n, m)`` with ``m ≤ n``.
    Γ is positive semidefinite on the real axis (``d = 1``); with η > 0 and a
    non-orthogonal lead it can dip slightly below, which the signs keep exact.
    """
    values, vectors = xp.linalg.eigh(gamma)
    size = xp.abs(values)
    top = float(size.max())
    count = max(int((size > relative_cutoff * top).sum(axis=-1).max()), 1) if top > 0 else 1
    keep = xp.argsort(size, axis=-1)[..., -count:]
    kept_values = xp.take_along_axis(values, keep, axis=-1)
    kept_vectors = xp.take_along_axis(vectors, keep[..., None, :], axis=-1)
    return kept_vectors * xp.sqrt(xp.abs(kept_values))[..., None, :], xp.sign(kept_values)


def transmission_sweep(m: SlabMatrices, sigma_left, sigma_right, xp):
    """``Tr[Γ_N−1 G_N−1,0 Γ_0 G_N−1,0ᴴ]`` for a batch, ``(n_E,)`` real, from one forward sweep.

    ``sigma_left`` sits on slab 0, ``sigma_right`` on slab N−1. The Caroli
    transmission ``Tr[Γ_L G_0,N−1 Γ_R G_0,N−1ᴴ]`` is this sweep run on
    :class:`ReversedSlabs` with the self-energies swapped (:func:`caroli_transmission`);
    the two agree at η = 0 and differ by O(η) otherwise when H is complex.
    """
    w_left, sign_left = factor_broadening(broadening(sigma_left), xp)
    w_right, sign_right = factor_broadening(broadening(sigma_right), xp)
    n_slabs, sizes = m.n_slabs, m.sizes
    a = m.diagonal(0) - sigma_left
    if n_slabs == 1:
        column = xp.linalg.solve(a - sigma_right, w_left)
    else:
        n_next = sizes[1]
        solved = xp.linalg.solve(a, xp.concatenate([as_dense(m.upper(0), xp), w_left], axis=-1))
        forward, column = solved[..., :n_next], solved[..., n_next:]
        for i in range(1, n_slabs):
            lower = m.lower(i - 1)
            a = m.diagonal(i)
            a -= apply_left(lower, forward)
            injected = apply_left(lower, column)
            if i == n_slabs - 1:
                column = -xp.linalg.solve(a - sigma_right, injected)
            else:
                n_next = sizes[i + 1]
                solved = xp.linalg.solve(a, xp.concatenate([as_dense(m.upper(i), xp), -injected], axis=-1))
                forward, column = solved[..., :n_next], solved[..., n_next:]
    amplitude = w_right.conj().swapaxes(-1, -2) @ column
    return xp.einsum("ek,ekj,ej->e", sign_right, xp.abs(amplitude) ** 2, sign_left)


def caroli_transmission(m: SlabMatrices, sigma_left, sigma_right, xp):
    """Caroli ``T = Tr[Γ_L G_0,N−1 Γ_R G_0,N−1ᴴ]`` (same as :func:`green_sweep` and a dense inversion)."""
    return transmission_sweep(ReversedSlabs(m), sigma_right, sigma_left, xp)


def _diag_product(a, b, xp):
    """``diag(a @ b)`` for stacks, without forming the product."""
    return xp.einsum("...ij,...ji->...i", a, b)


def _dagger(a):
    return a.conj().swapaxes(-1, -2)


def forward_sweep(m: SlabMatrices, sigma_left, sigma_right, xp) -> tuple[list, list]:
    """``(gL, G^L_·,0)``: the left-connected ``gL_i`` of every slab and its first column ``G^L_i,0``.

    The last slab carries ``sigma_right`` as well, so ``gL_N−1`` is the full ``G_N−1,N−1``
    and ``G^L_N−1,0`` the full ``G_N−1,0``: the start of every backward sweep.
    """
    left_connected, first_column = [], []
    for i in range(m.n_slabs):
        a = m.diagonal(i)
        if i == 0:
            a = a - sigma_left
        else:
            a = a - m.lower(i - 1) @ left_connected[-1] @ m.upper(i - 1)
        if i == m.n_slabs - 1:
            a = a - sigma_right
        g = xp.linalg.inv(a)
        left_connected.append(g)
        first_column.append(g if i == 0 else -(g @ (m.lower(i - 1) @ first_column[-1])))
    return left_connected, first_column


def green_sweep(m: SlabMatrices, s_diagonal, s_upper, sigma_left, sigma_right, xp) -> dict:
    """Forward + backward sweep; orbital-resolved quantities in internal orbital order.

    Returns
    -------
    dict of arrays with leading dimension ``n_E``:
        ``transmission`` (n_E,), ``dos``, ``spectral_left``, ``spectral_right``
        (n_E, N_orb) in 1/eV, ``trace_gamma_spectral`` = Tr[Γ_L A_00] and
        ``trace_gamma_g_gamma_g`` = Tr[Γ_L G_00 Γ_L G_00ᴴ].
    """
    n_slabs = m.n_slabs
    gamma_left, gamma_right = broadening(sigma_left), broadening(sigma_right)
    left_connected, first_column_l = forward_sweep(m, sigma_left, sigma_right, xp)
    # backward: G_ii, G_i,i+1, G_i+1,i, first column G_i,0 and last column G_i,N−1
    n_energies = gamma_left.shape[0]
    sizes = m.sizes
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    dos = xp.zeros((n_energies, offsets[-1]), dtype=float)
    spectral_l = xp.zeros_like(dos)
    spectral_r = xp.zeros_like(dos)

    def add(target, i, values):
        target[:, offsets[i]:offsets[i + 1]] += values.real / (2 * np.pi)

    g_diag = left_connected[-1]
    g_first = first_column_l[-1] if n_slabs > 1 else g_diag
    g_last = g_diag
    diagonal_blocks = [None] * n_slabs
    first_blocks = [None] * n_slabs
    last_blocks = [None] * n_slabs
    diagonal_blocks[-1], first_blocks[-1], last_blocks[-1] = g_diag, g_first, g_last
    for i in range(n_slabs - 2, -1, -1):
        gl, upper, lower = left_connected[i], m.upper(i), m.lower(i)
        g_lower = -(g_diag @ lower @ gl)                # G_i+1,i
        g_upper = -(gl @ upper @ g_diag)                # G_i,i+1
        g_last = -(gl @ (upper @ g_last))               # G_i,N−1
        g_diag = gl - gl @ upper @ g_lower              # G_ii
        g_first = g_diag if i == 0 else -(g_diag @ (m.lower(i - 1) @ first_column_l[i - 1]))
        # neighbour contributions to diag(A S): A_i,i+1 = i(G_i,i+1 − G_i+1,iᴴ)
        a_upper = 1j * (g_upper - _dagger(g_lower))
        s_up = s_upper[i]
        add(dos, i, _diag_product(a_upper, _dagger(s_up), xp))
        add(dos, i + 1, _diag_product(_dagger(a_upper), s_up, xp))
        al_upper = g_first @ gamma_left @ _dagger(first_blocks[i + 1])
        add(spectral_l, i, _diag_product(al_upper, _dagger(s_up), xp))
        add(spectral_l, i + 1, _diag_product(_dagger(al_upper), s_up, xp))
        ar_upper = g_last @ gamma_right @ _dagger(last_blocks[i + 1])
        add(spectral_r, i, _diag_product(ar_upper, _dagger(s_up), xp))
        add(spectral_r, i + 1, _diag_product(_dagger(ar_upper), s_up, xp))
        diagonal_blocks[i], first_blocks[i], last_blocks[i] = g_diag, g_first, g_last
    for i in range(n_slabs):
        g = diagonal_blocks[i]
        add(dos, i, _diag_product(1j * (g - _dagger(g)), s_diagonal[i], xp))
        add(spectral_l, i, _diag_product(first_blocks[i] @ gamma_left @ _dagger(first_blocks[i]), s_diagonal[i], xp))
        add(spectral_r, i, _diag_product(last_blocks[i] @ gamma_right @ _dagger(last_blocks[i]), s_diagonal[i], xp))
    corner = last_blocks[0]                              # G_0,N−1
    transmission = xp.einsum("eij,eji->e", gamma_left @ corner @ gamma_right, _dagger(corner)).real
    g00 = diagonal_blocks[0]
    trace_a = xp.einsum("eij,eji->e", gamma_left, 1j * (g00 - _dagger(g00))).real
    trace_back = xp.einsum("eij,eji->e", gamma_left @ g00 @ gamma_left, _dagger(g00)).real
    return {
        "transmission": transmission, "dos": dos, "spectral_left": spectral_l, "spectral_right": spectral_r,
        "trace_gamma_spectral": trace_a, "trace_gamma_g_gamma_g": trace_back,
    }
