"""Energy grids: uniform, and adaptive Simpson refinement batched per pass.

The adaptive integrator keeps Simpson panels ``[a, m, b]``. A new panel's error
is estimated by ``|Simpson − two-piece trapezoid|``; once a panel has been split,
the Richardson estimate ``|S_parent − (S_left + S_right)| / 15`` replaces it. Each
pass splits every panel whose error exceeds its share of the tolerance and
evaluates all new points in ONE call (one batched RGF sweep, spread over MPI
ranks), until the summed error is below ``max(absolute, relative·|I|)``.
Points therefore gather at resonances and band edges. A feature narrower than
the initial panels can be missed by any sampling method: raise
``initial_panels`` when sharp resonances are expected.

Written here rather than taken from python-adaptive because we need exactly
this: a 1-D integral with an error target, evaluated in large batches (adaptive's
learners hand out points one or a few at a time and optimise for sampling, not
for an integral tolerance).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hamtrans.errors import HamtransError


@dataclass(frozen=True)
class AdaptiveIntegral:
    """Result of :func:`adaptive_simpson`.

    Attributes
    ----------
    points
        Sorted abscissae (eV), ``(n,)``.
    values
        ``evaluate(points)`` (e.g. T(E)), ``(n,)``.
    integral
        ∫ evaluate·weight over the interval.
    error
        Estimated absolute error of ``integral``.
    converged
        Whether ``error`` met the tolerance within ``max_points``.
    """

    points: np.ndarray
    values: np.ndarray
    integral: float
    error: float
    converged: bool


def uniform_grid(lower: float, upper: float, points: int) -> np.ndarray:
    """``points`` equally spaced energies (eV) including both ends; raises on an empty grid."""
    if points < 1 or not upper >= lower:
        raise HamtransError(f"empty energy grid: {points} points on [{lower}, {upper}] eV")
    return np.linspace(lower, upper, points)


def adaptive_simpson(
    evaluate: Callable[[np.ndarray], np.ndarray],
    lower: float,
    upper: float,
    weight: Callable[[np.ndarray], np.ndarray] | None = None,
    absolute_tolerance: float = 0.0,
    relative_tolerance: float = 1e-3,
    initial_panels: int = 16,
    max_points: int = 2049,
) -> AdaptiveIntegral:
    """Integrate ``evaluate(E) · weight(E)`` over ``[lower, upper]`` adaptively.

    Parameters
    ----------
    evaluate
        Batched function ``(n,) -> (n,)`` (the expensive part, e.g. transmission).
    weight
        Cheap factor of the integrand (e.g. ``f_L − f_R``); 1 if ``None``.
    absolute_tolerance, relative_tolerance
        Stop when the estimated error ≤ ``max(absolute, relative·|integral|)``.
    initial_panels
        Uniform Simpson panels of the first pass (``2·initial_panels + 1`` points).
    max_points
        Budget; if reached, a warning is issued and ``converged`` is False.
    """
    if not upper > lower:
        raise HamtransError(f"empty integration interval [{lower}, {upper}] eV")
    weight = weight or (lambda e: np.ones_like(e))
    nodes = np.linspace(lower, upper, 2 * initial_panels + 1)
    values = np.asarray(evaluate(nodes), float)
    known = dict(zip(nodes.tolist(), values.tolist()))
    f = values * weight(nodes)
    a, m, b = nodes[0:-1:2], nodes[1::2], nodes[2::2]
    fa, fm, fb = f[0:-1:2], f[1::2], f[2::2]
    error = np.abs((b - a) / 12 * (fa - 2 * fm + fb))
    simpson = (b - a) / 6 * (fa + 4 * fm + fb)
    while True:
        total, estimate = simpson.sum(), error.sum()
        target = max(absolute_tolerance, relative_tolerance * abs(total))
        if estimate <= target:
            converged = True
            break
        split = error > target / len(error)
        if len(known) + 2 * split.sum() > max_points:
            converged = False
            warnings.warn(f"adaptive grid stopped at {len(known)} points with error {estimate:.3e} > {target:.3e}",
                          stacklevel=2)
            break
        sa, sm, sb = a[split], m[split], b[split]
        left_mid, right_mid = (sa + sm) / 2, (sm + sb) / 2
        new = np.concatenate([left_mid, right_mid])
        new_values = np.asarray(evaluate(new), float)
        known.update(zip(new.tolist(), new_values.tolist()))
        f_new = new_values * weight(new)
        fl, fr = f_new[: split.sum()], f_new[split.sum():]
        fsa, fsm, fsb = fa[split], fm[split], fb[split]
        s_left = (sm - sa) / 6 * (fsa + 4 * fl + fsm)
        s_right = (sb - sm) / 6 * (fsm + 4 * fr + fsb)
        child_error = np.abs(simpson[split] - s_left - s_right) / 15 / 2
        keep = ~split
        a = np.concatenate([a[keep], sa, sm])
        m = np.concatenate([m[keep], left_mid, right_mid])
        b = np.concatenate([b[keep], sm, sb])
        fa = np.concatenate([fa[keep], fsa, fsm])
        fm = np.concatenate([fm[keep], fl, fr])
        fb = np.concatenate([fb[keep], fsm, fsb])
        simpson = np.concatenate([simpson[keep], s_left, s_right])
        error = np.concatenate([error[keep], child_error, child_error])
    points = np.array(sorted(known))
    return AdaptiveIntegral(points, np.array([known[p] for p in points.tolist()]), float(total), float(estimate), converged)
