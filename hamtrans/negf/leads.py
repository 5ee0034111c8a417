"""Semi-infinite leads: surface Green's functions and self-energies.

A lead is one principal layer (``h00``, ``s00``) repeated along the transport axis,
``h01``/``s01`` coupling a cell to the next one in the +axis direction. Everything
is written for the matrix ``M(z) = z S − H`` (energies in eV, ``z = E + iη``)::

    a0 = z s00 − h00,   a_out = coupling of a cell to its outer neighbour,
                        a_in  = coupling of a cell to its inner neighbour.

For the right lead (extends to +∞) ``a_out = z s01 − h01``; for the left lead the
roles swap (``a_out = z s01ᴴ − h01ᴴ``). The surface Green's function solves
``g = (a0 − a_out g a_in)⁻¹`` and the self-energy of the device block next to the
lead is ``Σ = a_out g a_in`` (the device's end block is itself a lead cell). Both
``H01`` and ``S01`` enter, so non-orthogonal bases are exact.

Two methods:

``eigenmode`` (default, exact)
    Generalised eigenproblem of the lead pencil ``(a_in + λ a0 + λ² a_out) u = 0``
    solved by QZ, so rank-deficient couplings (infinite/zero λ) are fine. Outgoing
    modes are ``|λ| < 1`` or ``|λ| = 1`` with outward group velocity (velocities are
    diagonalised inside degenerate groups). ``g = (a0 + a_out U Λ U⁻¹)⁻¹``. Where the
    mode vectors are nearly parallel (many λ = 0/∞ of a rank-deficient coupling), the
    decaying modes are taken as an ordered generalised Schur basis instead
    (``scipy.linalg.ordqz``, as Kwant's ``modes``), which stays orthonormal.
    Runs on the host (scipy); needs no η.
``sancho-rubio``
    Decimation (López Sancho et al. 1985), batched over energies on any backend;
    needs η > 0 and its error is of order η.

Every result is checked: the fixed-point residual and the retarded root
(``i(Σ − Σᴴ)`` positive semidefinite). A failure raises :class:`LeadError` naming
the energy and residual (or warns, with ``on_failure="warn"``).

A lead is also checked when it is built: its Bloch overlap
``S(k) = s00 + s01 e^{ik} + s01ᴴ e^{−ik}`` must be positive definite at every k
(:func:`check_lead_overlap`); otherwise the lead has negative-norm states, which
give spurious bands and transmissions (T = 1 far below the real bands).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.optimize

from hamtrans.errors import HamtransError, LeadError
from hamtrans.negf.backend import Backend, get_backend

Side = Literal["left", "right"]
LEAD_METHODS = ("eigenmode", "sancho-rubio")

#: Imaginary energy (eV) added when an energy sits on a lead band edge, where the
#: outgoing modes are defective (zero velocity). Documented in the README.
BAND_EDGE_ETA = 1e-6
#: Bloch phases per 2π at which :func:`check_lead_overlap` tests S(k); a dip of S(k)'s
#: smallest eigenvalue between them is bounded by ‖s01‖₂ (π/64)² ≈ 2.4e-3 ‖s01‖₂.
OVERLAP_K_POINTS = 64
#: S(k) counts as positive definite when its smallest eigenvalue exceeds this fraction of ‖s00‖₂.
OVERLAP_FLOOR = 1e-10


class LeadWarning(UserWarning):
    """A lead needed a fallback (band edge) or failed a check with ``on_failure="warn"``."""


@dataclass(frozen=True)
class Lead:
    """One principal layer of a periodic semi-infinite lead.

    Attributes
    ----------
    h00, s00
        Onsite Hamiltonian (eV) and overlap of one cell, ``(n, n)`` Hermitian.
    h01, s01
        Coupling of a cell to the next cell along +axis, ``(n, n)``.
    shift
        Rigid potential energy of the lead (eV): the lead is evaluated at ``z − shift``
        (an applied bias moves the electrode bands rigidly).
    """

    h00: np.ndarray
    s00: np.ndarray
    h01: np.ndarray
    s01: np.ndarray
    shift: float = 0.0

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.h00, self.s00, self.h01, self.s01)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2 or self.h00.shape[0] != self.h00.shape[1]:
            raise LeadError(f"lead blocks must all be square and of one shape; got {sorted(shapes)}")
        for name in ("h00", "s00"):
            block = getattr(self, name)
            error = np.abs(block - block.conj().T).max(initial=0.0)
            if error > 1e-8 * max(1.0, np.abs(block).max()):
                raise LeadError(f"lead {name} is not Hermitian (max |M − Mᴴ| = {error:.2e})")
        if not np.any(self.h01) and not np.any(self.s01):
            raise LeadError("lead cells are not coupled (h01 = s01 = 0): such an electrode carries no current; "
                            "check the lead cell and any coupling threshold")
        check_lead_overlap(self.s00, self.s01)

    @property
    def n_orbitals(self) -> int:
        return self.h00.shape[0]

    def shifted(self, shift: float) -> "Lead":
        """The same lead with rigid potential energy ``shift`` (eV); its blocks, checked when built, are shared."""
        lead = copy.copy(self)
        object.__setattr__(lead, "shift", float(shift))
        return lead

    def bands(self, k: np.ndarray) -> np.ndarray:
        """Band energies (eV) at Bloch phases ``k`` (radians per cell), ``(len(k), n)``."""
        energies = []
        for phase in np.atleast_1d(k):
            h = self.h00 + self.h01 * np.exp(1j * phase) + self.h01.conj().T * np.exp(-1j * phase)
            s = self.s00 + self.s01 * np.exp(1j * phase) + self.s01.conj().T * np.exp(-1j * phase)
            energies.append(scipy.linalg.eigh(h, s, eigvals_only=True) + self.shift)
        return np.array(energies)

    def same_as(self, other: "Lead") -> bool:
        """True when both leads have identical blocks and shift (one mode solve serves both)."""
        return self.shift == other.shift and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in ("h00", "s00", "h01", "s01")
        )


def bloch_overlaps(s00: np.ndarray, s01: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``S(k) = s00 + s01 e^{ik} + s01ᴴ e^{−ik}`` at Bloch phases ``k`` (radians per cell), ``(len(k), n, n)``."""
    phase = np.exp(1j * np.atleast_1d(np.asarray(k, float)))[:, None, None]
    return s00 + phase * s01 + phase.conj() * s01.conj().T


def lead_overlap_minimum(s00: np.ndarray, s01: np.ndarray, k_points: int = OVERLAP_K_POINTS) -> tuple[float, float]:
    """Smallest eigenvalue of the Bloch overlap ``S(k)`` over all k, and the phase k (radians) where it lies.

    ``S(k)``'s smallest eigenvalue λ(k) is sampled every 2π/``k_points``. The sampled
    minimum exceeds the true one by at most ``‖s01‖₂ (π/k_points)²`` (for the
    eigenvector v at the minimum, ``vᴴS(k)v`` has a zero slope there and a curvature
    ≤ 2‖s01‖₂), so every sample within that margin of the lowest one is refined by a
    bounded Brent search over its two neighbouring intervals (none when s01 = 0: S(k) = s00).

    Parameters
    ----------
    s00, s01
        Overlap of one lead cell and its coupling to the next cell, ``(n, n)``.
    k_points
        Samples per 2π.
    """
    step = 2 * np.pi / k_points
    k = step * np.arange(k_points)
    smallest = np.linalg.eigvalsh(bloch_overlaps(s00, s01, k))[:, 0]
    margin = np.linalg.norm(s01, 2) * (step / 2) ** 2
    at_k = lambda phase: float(np.linalg.eigvalsh(bloch_overlaps(s00, s01, [phase]))[0, 0])
    best_value, best_k = float(smallest.min()), float(k[np.argmin(smallest)])
    for j in np.flatnonzero(smallest <= smallest.min() + margin) if margin > 0 else ():
        found = scipy.optimize.minimize_scalar(at_k, bounds=(k[j] - step, k[j] + step), method="bounded",
                                               options={"xatol": 1e-10})
        if found.fun < best_value:
            best_value, best_k = float(found.fun), float(found.x % (2 * np.pi))
    return best_value, best_k


def check_lead_overlap(s00: np.ndarray, s01: np.ndarray, k_points: int = OVERLAP_K_POINTS) -> None:
    """Raise :class:`LeadError` unless the lead's Bloch overlap ``S(k)`` is positive definite at every k.

    Fast path: a Cholesky factorisation of ``S(k) − (margin + floor)·I`` at ``n`` phases
    per 2π (only ``[0, π]`` for real blocks, whose S(−k) is the complex conjugate of S(k)),
    with the sampling margin ``‖s01‖₂ (π/n)²`` of :func:`lead_overlap_minimum`; it proves
    the smallest eigenvalue exceeds ``floor = OVERLAP_FLOOR·‖s00‖∞`` everywhere. ``n = 16``
    first (margin 0.039 ‖s01‖₂: a TiN principal layer of PBE/SZV has ‖s01‖₂ = 1.33 and a
    smallest eigenvalue of 0.12), then ``k_points``. Otherwise the minimum is located and
    reported if it is below the floor.
    """
    real = not (np.any(np.imag(s00)) or np.any(np.imag(s01)))
    floor = OVERLAP_FLOOR * np.abs(s00).sum(axis=1).max()
    coupling = np.linalg.norm(s01, 2)
    for n in sorted({min(16, k_points), k_points}):
        step = 2 * np.pi / n
        k = step * np.arange(n // 2 + 1 if real else n)
        try:
            np.linalg.cholesky(bloch_overlaps(s00, s01, k) - (coupling * (step / 2) ** 2 + floor) * np.eye(s00.shape[0]))
            return
        except np.linalg.LinAlgError:
            continue
    smallest, where = lead_overlap_minimum(s00, s01, k_points)
    if smallest <= floor:
        raise LeadError(
            f"the lead overlap S(k) = s00 + s01·e^(ik) + s01ᴴ·e^(−ik) is not positive definite: smallest "
            f"eigenvalue {smallest:.3e} at k = {where:.4f} rad (per principal layer). Such a lead has negative-norm "
            "states, spurious bands and transmissions. Fix the electrode's overlap: a basis without diffuse shells "
            "(e.g. 'gfn1-xtb-compact'), no overlap cutoff or threshold that drops S elements, S01 of the same "
            "cell pair as H01"
        )


def lead_couplings(lead: Lead, z: np.ndarray, side: Side, backend: Backend | None = None):
    """Blocks ``a0, a_out, a_in`` of ``M(z) = zS − H`` for a lead, each ``(n_E, n, n)``."""
    backend = backend or get_backend("numpy")
    xp = backend.xp
    z = xp.asarray(z, dtype=complex)[:, None, None] - lead.shift
    h00, s00, h01, s01 = (backend.asarray(a, dtype=complex) for a in (lead.h00, lead.s00, lead.h01, lead.s01))
    a0 = z * s00 - h00
    forward = z * s01 - h01
    backward = z * s01.conj().T - h01.conj().T
    if side == "right":
        return a0, forward, backward
    if side == "left":
        return a0, backward, forward
    raise HamtransError(f"side must be 'left' or 'right', not {side!r}")


# -- eigenmode method ----------------------------------------------------------------


#: Mode-solve routes of the eigenmode method, tried in this order per energy and side.
ROUTES = ("auto", "full pencil", "schur", "band edge", "band edge schur")


class _DefectiveModes(Exception):
    """Outgoing modes are not a basis (band edge): retry off the real axis."""


@dataclass(frozen=True)
class _Modes:
    """Modes of one energy: ``λ = alpha/beta``, vectors ``u`` (``first``) and ``λu`` (``second``).

    ``zero_right``/``zero_left`` hold the trivial modes a reduced solve leaves out:
    λ = 0 (orbitals that do not couple backwards) and λ = ∞ (that do not couple
    forwards), as columns of the identity.
    """

    alpha: np.ndarray
    beta: np.ndarray
    first: np.ndarray
    second: np.ndarray
    zero_right: np.ndarray
    zero_left: np.ndarray


def _lead_modes(a0, a_fwd, a_bwd, coupled: tuple[np.ndarray, np.ndarray], full_pencil: bool = False,
                condition_limit: float = 1e8) -> _Modes:
    """All modes of ``(a_bwd + λ a0 + λ² a_fwd) u = 0`` (``ψ_n = λⁿ u`` along +axis), one energy.

    Three routes, cheapest first:

    * reduced pencil (couplings touch only some orbitals, as with Gaussian
      bases and principal layers of several cells): with ``R`` the orbitals that
      couple forward and ``C`` those coupled from behind, eliminating the rest
      through ``a0⁻¹`` leaves a pencil of size ``|R| + |C|`` instead of ``2n``;
    * companion matrix when ``a_fwd`` is well conditioned (standard eigenproblem);
    * QZ on the full ``2n`` pencil otherwise, or when ``full_pencil`` (λ = 0 and ∞
      are fine there; the most robust route, used when another one fails).

    The reduced route needs the coupling block between R and C to be square and
    non-singular (then the λ = 0 / ∞ modes are exactly the uncoupled orbitals).
    """
    n = a0.shape[0]
    rows, cols = coupled
    empty = np.zeros((n, 0))
    reducible = (not full_pencil and len(rows) == len(cols) and len(rows) + len(cols) <= 1.5 * n
                 and np.linalg.matrix_rank(a_fwd[np.ix_(rows, cols)]) == len(rows) and np.linalg.cond(a0) < 1e10)
    if reducible:
        backward, forward = a_bwd[:, rows], a_fwd[:, cols]
        solved = np.linalg.solve(a0, np.concatenate([backward, forward], axis=1))
        g_b, g_f = solved[:, : len(rows)], solved[:, len(rows):]
        pencil_a = np.block([[g_b[rows], np.zeros((len(rows), len(cols)))], [g_b[cols], np.eye(len(cols))]])
        pencil_b = -np.block([[np.eye(len(rows)), g_f[rows]], [np.zeros((len(cols), len(rows))), g_f[cols]]])
        (alpha, beta), vectors = scipy.linalg.eig(pencil_a, pencil_b, homogeneous_eigvals=True)
        x, w = vectors[: len(rows)], vectors[len(rows):]
        u = g_b @ x * beta + g_f @ w * alpha  # ∝ a0⁻¹(B x + λ F w), finite for λ = 0 and ∞
        identity = np.eye(n)
        return _Modes(alpha, beta, u, u, identity[:, np.setdiff1d(np.arange(n), rows)],
                      identity[:, np.setdiff1d(np.arange(n), cols)])
    identity, zero = np.eye(n), np.zeros((n, n))
    if not full_pencil and np.linalg.cond(a_fwd) < condition_limit:
        companion = np.block([[zero, identity], [-np.linalg.solve(a_fwd, a_bwd), -np.linalg.solve(a_fwd, a0)]])
        lam, vectors = np.linalg.eig(companion)
        return _Modes(lam, np.ones_like(lam), vectors[:n], vectors[n:], empty, empty)
    pencil_a = np.block([[zero, identity], [-a_bwd, -a0]])
    pencil_b = np.block([[identity, zero], [zero, a_fwd]])
    (alpha, beta), vectors = scipy.linalg.eig(pencil_a, pencil_b, homogeneous_eigvals=True)
    return _Modes(alpha, beta, vectors[:n], vectors[n:], empty, empty)


def _outgoing_transfer(modes: _Modes, a_fwd_real, side: Side, unit_tolerance: float = 1e-6) -> np.ndarray:
    """Transfer matrix ``F`` (``ψ_outer = F ψ``) from the outgoing modes of one side."""
    alpha, beta, first, second = modes.alpha, modes.beta, modes.first, modes.second
    n = first.shape[0]
    modulus_a, modulus_b = np.abs(alpha), np.abs(beta)
    inside = modulus_a < (1.0 - unit_tolerance) * modulus_b
    outside = modulus_a > (1.0 + unit_tolerance) * modulus_b
    on_circle = ~inside & ~outside
    if side == "right":  # decaying towards +∞: |λ| < 1, vector u, ratio λ
        columns, ratios = [first[:, inside], modes.zero_right], [alpha[inside] / beta[inside]]
    else:                # decaying towards −∞: |λ| > 1, vector λu (finite also for λ = ∞), ratio 1/λ
        columns, ratios = [second[:, outside], modes.zero_left], [beta[outside] / alpha[outside]]
    ratios.append(np.zeros(columns[1].shape[1]))
    if on_circle.any():
        lam = alpha[on_circle] / beta[on_circle]
        u, lam = _propagating(first[:, on_circle], lam, a_fwd_real, outward=1 if side == "right" else -1)
        columns.append(u)
        ratios.append(lam if side == "right" else 1 / lam)
    vectors = np.concatenate(columns, axis=1)
    ratio = np.concatenate(ratios)
    if vectors.shape[1] != n:
        raise _DefectiveModes(f"{vectors.shape[1]} outgoing modes for {n} orbitals")
    vectors = vectors / np.linalg.norm(vectors, axis=0)
    if np.linalg.cond(vectors) > 1e12:
        raise _DefectiveModes("outgoing modes are linearly dependent")
    return np.linalg.solve(vectors.T, (vectors * ratio).T).T


def _schur_transfer(a0, a_fwd, a_bwd, a_fwd_real, side: Side, unit_tolerance: float = 1e-6) -> np.ndarray:
    """Transfer matrix ``F`` (``ψ_outer = F ψ``) from an ordered generalised Schur basis of the decaying modes.

    The linearised pencil ``A x = λ B x`` with ``x = (u, λu)`` is reordered by QZ
    (``scipy.linalg.ordqz``) so that the decaying modes (``|λ| < 1`` right, ``|λ| > 1``
    and λ = ∞ left) come first: their orthonormal Schur vectors span the same subspace as
    their mode vectors, without the ill-conditioning of nearly parallel eigenvectors
    (defective λ = 0/∞ of a rank-deficient coupling). Unit-modulus modes, if any, are
    eigenvectors of the pencil kept by outward group velocity (:func:`_propagating`).
    With the basis ``X = (X₁; X₂)`` of all ``n`` outgoing modes, ``F = X₂X₁⁻¹`` (right:
    ``ψ_{m+1} = λψ_m``) or ``X₁X₂⁻¹`` (left). ``unit_tolerance = 0`` (complex z, where no
    mode is on the unit circle) classifies by modulus alone.
    """
    n = a0.shape[0]
    identity, zero = np.eye(n), np.zeros((n, n))
    pencil_a = np.block([[zero, identity], [-a_bwd, -a0]])
    pencil_b = np.block([[identity, zero], [zero, a_fwd]])
    if side == "right":
        decaying = lambda alpha, beta: np.abs(alpha) < (1.0 - unit_tolerance) * np.abs(beta)
    else:
        decaying = lambda alpha, beta: np.abs(alpha) > (1.0 + unit_tolerance) * np.abs(beta)
    _, _, alpha, beta, _, schur = scipy.linalg.ordqz(pencil_a, pencil_b, sort=decaying, output="complex")
    basis = schur[:, : int(decaying(alpha, beta).sum())]
    if basis.shape[1] < n and unit_tolerance > 0:
        (alpha, beta), vectors = scipy.linalg.eig(pencil_a, pencil_b, homogeneous_eigvals=True)
        on_circle = np.abs(np.abs(alpha) - np.abs(beta)) <= unit_tolerance * np.abs(beta)
        if on_circle.any():
            u, lam = _propagating(vectors[:n, on_circle], alpha[on_circle] / beta[on_circle], a_fwd_real,
                                  outward=1 if side == "right" else -1)
            basis = np.concatenate([basis, np.concatenate([u, u * lam], axis=0)], axis=1)
    if basis.shape[1] != n:
        raise _DefectiveModes(f"{basis.shape[1]} outgoing modes for {n} orbitals")
    first, second = basis[:n], basis[n:]
    known, mapped = (first, second) if side == "right" else (second, first)
    if np.linalg.cond(known) > 1e12:
        raise _DefectiveModes("the outgoing Schur basis is singular")
    return np.linalg.solve(known.T, mapped.T).T


def _propagating(modes: np.ndarray, lam: np.ndarray, a_fwd: np.ndarray, outward: int, group_tolerance: float = 1e-7):
    """Unit-modulus modes moving along ``outward`` (+1/−1).

    The velocity of mode ``u`` is ``v ∝ 2 Im(λ uᴴ a u) / uᴴu`` with ``a = E s01 − h01``.
    Degenerate λ (e.g. symmetric transverse modes) mix right and left movers, so
    inside such a group the current operator ``J = −i(λ uᴴ a u − λ̄ uᴴ aᴴ u)`` is
    diagonalised first.
    """
    modes = modes / np.linalg.norm(modes, axis=0)
    scale = max(np.abs(a_fwd).max(), 1e-300)
    distance = np.abs(lam[:, None] - lam[None, :])
    single = (distance < group_tolerance).sum(axis=1) == 1
    velocity = 2 * np.imag(lam[single] * np.einsum("ik,ij,jk->k", modes[:, single].conj(), a_fwd, modes[:, single]))
    if np.any(np.abs(velocity) < 1e-6 * scale):
        raise _DefectiveModes("zero group velocity")
    keep = outward * velocity > 0
    kept_u, kept_l = [modes[:, single][:, keep]], [lam[single][keep]]
    unassigned = ~single
    for first in np.flatnonzero(unassigned):
        if not unassigned[first]:
            continue
        group = unassigned & (distance[first] < group_tolerance)
        unassigned &= ~group
        u, mean_lam = modes[:, group], lam[group].mean()
        current = -1j * (mean_lam * u.conj().T @ a_fwd @ u - np.conj(mean_lam) * u.conj().T @ a_fwd.conj().T @ u)
        try:
            group_velocity, rotation = scipy.linalg.eigh((current + current.conj().T) / 2, u.conj().T @ u)
        except np.linalg.LinAlgError:  # parallel mode vectors: a Jordan block
            raise _DefectiveModes("coalescing modes") from None
        if np.any(np.abs(group_velocity) < 1e-6 * scale):
            raise _DefectiveModes("zero group velocity")
        group_keep = outward * group_velocity > 0
        kept_u.append(u @ rotation[:, group_keep])
        kept_l.append(np.full(group_keep.sum(), mean_lam))
    return np.concatenate(kept_u, axis=1), np.concatenate(kept_l)


def _eigenmode_surfaces(lead: Lead, z: np.ndarray, sides: tuple[Side, ...], band_edge_eta: float,
                        accept_residual: float = 1e-9):
    """Surface Green's functions of the requested sides, one mode solve per energy and route.

    Per energy and side the ladder :data:`ROUTES`: the cheapest mode solve, QZ on the
    full pencil, the ordered Schur basis (:func:`_schur_transfer`), then both QZ routes
    at ``z + i·band_edge_eta`` (band edge, with a warning); a route is accepted when its
    relative fixed-point residual (see :func:`relative_residual`) is below
    ``accept_residual`` and ``i(g − gᴴ)`` is positive semidefinite (the last one is
    always taken and left to :func:`check_surface_green_function`). Returns ``(surfaces, used)``: per side the
    ``(n_E, n, n)`` array and the energies actually used.
    """
    a0s, forwards, backwards = lead_couplings(lead, z, "right")
    _, forwards_real, _ = lead_couplings(lead, z.real, "right")
    surfaces = {side: np.empty_like(a0s) for side in sides}
    used = {side: z.copy() for side in sides}
    structure = (lead.h01 != 0) | (lead.s01 != 0)
    coupled = (np.flatnonzero(structure.any(axis=1)), np.flatnonzero(structure.any(axis=0)))
    for k in range(len(z)):
        cache: dict = {}

        def attempt(route: str, side: Side):
            shifted = route.startswith("band edge")
            zk = z[k] + 1j * band_edge_eta if shifted else z[k]
            if shifted:
                (a0,), (fwd,), (bwd,) = lead_couplings(lead, np.array([zk]), "right")
            else:
                a0, fwd, bwd = a0s[k], forwards[k], backwards[k]
            if route.endswith("schur"):
                transfer = _schur_transfer(a0, fwd, bwd, forwards_real[k], side, unit_tolerance=0.0 if shifted else 1e-6)
            else:
                if route not in cache:
                    cache[route] = _lead_modes(a0, fwd, bwd, coupled, full_pencil=route != "auto")
                transfer = _outgoing_transfer(cache[route], forwards_real[k], side)
            outer, inner = (fwd, bwd) if side == "right" else (bwd, fwd)
            g = np.linalg.inv(a0 + outer @ transfer)
            residual = relative_residual(a0, outer, inner, g, np)
            if np.linalg.eigvalsh(1j * (g - g.conj().T)).min() < -1e-9 * np.abs(g).max():
                residual = max(residual, 1.0)  # not the retarded root: try the next route
            return g, zk, residual

        for side in sides:
            reasons = []
            for route in ROUTES:
                try:
                    g, zk, residual = attempt(route, side)
                except (_DefectiveModes, np.linalg.LinAlgError) as reason:
                    reasons.append(f"{route}: {reason}")
                    continue
                if residual <= accept_residual or route == ROUTES[-1]:
                    break
                reasons.append(f"{route}: residual {residual:.1e}")
            else:
                raise LeadError(f"{side} lead at E = {z[k].real:.10g} eV: no mode solve succeeded ({'; '.join(reasons)})")
            if route.startswith("band edge"):
                warnings.warn(f"{side} lead at E = {z[k].real:.10g} eV: {reasons[-1] if reasons else 'defective modes'} "
                              f"(band edge); using E + {band_edge_eta:g}i eV there", LeadWarning, stacklevel=4)
            surfaces[side][k] = g
            used[side][k] = zk
    return surfaces, used


# -- Sancho–Rubio decimation ------------------------------------------------------------


def _sancho_rubio_surface(a0, a_out, a_in, xp, tolerance: float, max_iterations: int):
    """Batched decimation; returns ``(g, converged)`` with ``converged`` per energy."""
    scale = float(xp.abs(a0).max()) or 1.0
    surface_inv, bulk_inv, alpha, beta = a0.copy(), a0.copy(), a_out.copy(), a_in.copy()
    n = a0.shape[-1]
    for _ in range(max_iterations):
        solved = xp.linalg.solve(bulk_inv, xp.concatenate([alpha, beta], axis=-1))
        g_alpha, g_beta = solved[..., :n], solved[..., n:]
        alpha_g_beta = alpha @ g_beta
        surface_inv = surface_inv - alpha_g_beta
        bulk_inv = bulk_inv - alpha_g_beta - beta @ g_alpha
        alpha, beta = -(alpha @ g_alpha), -(beta @ g_beta)
        size = xp.maximum(xp.abs(alpha).max(axis=(1, 2)), xp.abs(beta).max(axis=(1, 2)))
        if bool((size < tolerance * scale).all()):
            break
    return xp.linalg.inv(surface_inv), size < tolerance * scale


# -- public API ----------------------------------------------------------------------


def surface_green_function(lead: Lead, z: np.ndarray, side: Side, **kwargs):
    """Surface Green's function ``g(z)`` of one side, ``(n_E, n, n)`` (1/eV); see :func:`surface_green_functions`."""
    return surface_green_functions(lead, z, (side,), **kwargs)[side]


def surface_green_functions(
    lead: Lead,
    z: np.ndarray,
    sides: tuple[Side, ...] = ("left", "right"),
    method: str = "eigenmode",
    backend: str | Backend = "numpy",
    band_edge_eta: float = BAND_EDGE_ETA,
    tolerance: float = 1e-13,
    max_iterations: int = 200,
    check: bool = True,
    on_failure: Literal["raise", "warn"] = "raise",
):
    """Surface Green's functions ``g(z)`` of a lead used on the given sides, ``{side: (n_E, n, n)}`` (1/eV).

    Asking for both sides of one lead costs one mode solve per energy (eigenmode).

    Parameters
    ----------
    lead
        The lead.
    z
        Complex energies ``E + iη`` (eV), shape ``(n_E,)``. The eigenmode method
        accepts η = 0; Sancho–Rubio needs η > 0.
    sides
        ``"left"`` (lead extends to −∞) and/or ``"right"`` (to +∞).
    method
        ``"eigenmode"`` or ``"sancho-rubio"``.
    backend
        Array backend of the result (the eigenmode solve itself runs on the host).
    band_edge_eta
        η used instead at energies where the outgoing modes are defective (band edge).
    tolerance, max_iterations
        Sancho–Rubio convergence: coupling norm relative to ``|a0|``.
    check, on_failure
        Run :func:`check_surface_green_function` and raise or warn on failure.
    """
    backend = get_backend(backend)
    z = np.atleast_1d(np.asarray(z, dtype=complex))
    used = {side: z for side in sides}
    if method == "eigenmode":
        host, used = _eigenmode_surfaces(lead, z, sides, band_edge_eta)
        surfaces = {side: backend.asarray(g) for side, g in host.items()}
    elif method == "sancho-rubio":
        if np.any(z.imag <= 0):
            raise LeadError("Sancho–Rubio decimation needs η > 0 (z = E + iη); use method='eigenmode' for η = 0")
        surfaces = {}
        for side in sides:
            a0, a_out, a_in = lead_couplings(lead, z, side, backend)
            surfaces[side], converged = _sancho_rubio_surface(a0, a_out, a_in, backend.xp, tolerance, max_iterations)
            failed = np.flatnonzero(~backend.to_host(converged))
            if failed.size:
                _report(
                    f"{side} lead: Sancho–Rubio did not converge in {max_iterations} iterations at "
                    f"E = {z[failed[0]].real:.10g} eV and {failed.size - 1} other energies "
                    f"(η = {z[failed[0]].imag:g} eV); increase η or use method='eigenmode'", on_failure)
    else:
        raise LeadError(f"unknown lead method {method!r}; choose one of {LEAD_METHODS}")
    if check:
        for side in sides:
            check_surface_green_function(lead, used[side], side, surfaces[side], backend, on_failure=on_failure)
    return surfaces


def self_energy(lead: Lead, z: np.ndarray, side: Side, surface=None, backend: str | Backend = "numpy", **kwargs):
    """Self-energy ``Σ = a_out g a_in`` (eV) on the device block next to the lead, ``(n_E, n, n)``.

    ``surface`` reuses a precomputed surface Green's function; other keywords go to
    :func:`surface_green_function`.
    """
    backend = get_backend(backend)
    z = np.atleast_1d(np.asarray(z, dtype=complex))
    if surface is None:
        surface = surface_green_function(lead, z, side, backend=backend, **kwargs)
    _, a_out, a_in = lead_couplings(lead, z, side, backend)
    return a_out @ surface @ a_in


def broadening(sigma):
    """``Γ = i(Σ − Σᴴ)`` (eV), same shape and backend as ``sigma``."""
    return 1j * (sigma - sigma.conj().swapaxes(-1, -2))


def relative_residual(a0, a_out, a_in, g, xp):
    """``max|(a0 − a_out g a_in) g − I| / max(1, max|a0|·max|g|)`` per energy (dimensionless).

    Normalised so that a surface Green's function with large entries (near a
    surface resonance) is judged by the precision its size allows.
    """
    n = g.shape[-1]
    raw = xp.abs((a0 - a_out @ g @ a_in) @ g - xp.eye(n)).max(axis=(-1, -2))
    scale = xp.abs(a0).max(axis=(-1, -2)) * xp.abs(g).max(axis=(-1, -2))
    return raw / xp.maximum(scale, 1.0)


def check_surface_green_function(
    lead: Lead, z: np.ndarray, side: Side, surface, backend: Backend,
    residual_tolerance: float = 1e-8, on_failure: Literal["raise", "warn"] = "raise",
) -> np.ndarray:
    """Check the fixed point and the retarded root; return the residual per energy.

    Residual: :func:`relative_residual`. Retarded root: ``i(g − gᴴ)``
    positive semidefinite, and ``Γ = i(Σ − Σᴴ)`` too at real energies, down to
    ``residual_tolerance`` times their largest element (g is accurate to that
    relative residual; the advanced root would give eigenvalues of order −|g|).
    """
    xp = backend.xp
    a0, a_out, a_in = lead_couplings(lead, z, side, backend)
    residual = backend.to_host(relative_residual(a0, a_out, a_in, surface, xp))
    bad = np.flatnonzero(~(residual <= residual_tolerance))
    if bad.size:
        k = bad[np.argmax(residual[bad])]
        _report(f"{side} lead: surface Green's function residual {residual[k]:.2e} at E = {z[k].real:.10g} eV "
                f"({bad.size} energies above {residual_tolerance:g})", on_failure)
    g_size = xp.abs(surface).max(axis=(1, 2))
    # ≥ 0 for any η ≥ 0: it is G(2ηS)Gᴴ of the whole lead; round-off scales with |g|
    checks = [("i(g − gᴴ)", surface, g_size, np.arange(len(z)))]
    real = np.flatnonzero(np.asarray(z).imag == 0)
    if real.size:  # Γ ≥ 0 holds on the real axis (with η > 0 and S01 ≠ 0 it may dip by O(η))
        pick = backend.asarray(real)
        sigma_scale = (xp.abs(a_out).max(axis=(1, 2)) ** 2 * g_size)[pick]
        checks.append(("Γ = i(Σ − Σᴴ)", (a_out @ surface @ a_in)[pick], sigma_scale, real))
    for name, source, scale, energy_index in checks:
        eigenvalues = backend.to_host(xp.linalg.eigvalsh(broadening(source)))
        floor = -residual_tolerance * np.maximum(backend.to_host(scale), 1e-300)
        bad = np.flatnonzero(eigenvalues.min(axis=1) < floor)
        if bad.size:
            k = bad[0]
            _report(f"{side} lead: {name} is not positive semidefinite at E = {z[energy_index[k]].real:.10g} eV "
                    f"(smallest eigenvalue {eigenvalues[k].min():.2e}): not the retarded solution", on_failure)
    return residual


def _report(message: str, on_failure: str) -> None:
    if on_failure == "warn":
        warnings.warn(message, LeadWarning, stacklevel=3)
    else:
        raise LeadError(message)
