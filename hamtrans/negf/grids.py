"""Energy grids: uniform, and adaptive Simpson refinement batched per pass.

A uniform grid (also an energy lattice) is integrated by the trapezoid rule; its error
estimate is the difference ``|I_h − I_2h|`` to the rule on every other point
(:func:`trapezoid_with_error`), so it needs at least :data:`MIN_GRID_POINTS` energies.

The adaptive integrator keeps Simpson panels ``[a, m, b]``. A new panel's error
is estimated by ``|Simpson − two-piece trapezoid|``; once a panel has been split,
the Richardson estimate ``|S_parent − (S_left + S_right)| / 15`` replaces it. Each
pass splits every panel whose error exceeds its share of the tolerance and
evaluates all new points in ONE call (one batched RGF sweep, spread over MPI
ranks), until the summed error is below ``max(absolute, relative·|I|)``.
Points therefore gather at resonances and band edges. A feature narrower than
the first pass's spacing can be missed by any sampling method: :func:`window_nodes`
places that pass where the Fermi window is open (spacing ``resolution``) and only
a few panels in its exponential tails.

Written here rather than taken from python-adaptive because we need exactly
this: a 1-D integral with an error target, evaluated in large batches (adaptive's
learners hand out points one or a few at a time and optimise for sampling, not
for an integral tolerance).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hamtrans.errors import HamtransError

#: Fewest energies of a uniform grid that integrates a current: the error estimate of
#: :func:`trapezoid_with_error` compares the rule on them with the rule on every other one.
MIN_GRID_POINTS = 3


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
    """``points`` equally spaced energies (eV) including both ends.

    Raises :class:`HamtransError` for an empty grid or a ``points`` that is not an integer ≥ 1.
    """
    if isinstance(points, (bool, np.bool_)) or not isinstance(points, numbers.Integral) or points < 1 \
            or not upper >= lower:
        raise HamtransError(f"empty energy grid: points={points!r} on [{lower}, {upper}] eV; "
                            "give an integer number of points ≥ 1 and lower ≤ upper")
    return np.linspace(lower, upper, int(points))


def trapezoid_with_error(energies: np.ndarray, values: np.ndarray):
    """Trapezoid integral of ``values`` on equally spaced ``energies`` and its estimated error.

    The error estimate is ``|I_h − I_2h|``, with ``I_2h`` the rule on every other point
    (for an even count, the last interval keeps spacing h): three times the error of
    ``I_h`` when that error is ∝ h², and still above it where resonances of T(E) are
    barely resolved and the h² law does not hold yet.

    Parameters
    ----------
    energies
        ``(n,)`` increasing, equally spaced (eV), ``n ≥ MIN_GRID_POINTS``.
    values
        ``(n,)`` the integrand (e.g. ``T (f_L − f_R)``), or ``(n, ...)`` for several
        integrands at once (e.g. one per bond).

    Returns
    -------
    ``(integral, error)`` in units of ``values``·eV: floats for ``(n,)`` values, else arrays
    of the trailing shape.
    """
    energies, values = np.asarray(energies, float), np.asarray(values, float)
    if energies.size < MIN_GRID_POINTS:
        raise HamtransError(f"a trapezoid error estimate needs ≥ {MIN_GRID_POINTS} energies, got {energies.size}")
    fine = np.trapezoid(values, energies, axis=0)
    last = energies.size - 1 if energies.size % 2 else energies.size - 2
    coarse = (np.trapezoid(values[:last + 1:2], energies[:last + 1:2], axis=0) +
              np.trapezoid(values[last:], energies[last:], axis=0))
    error = np.abs(fine - coarse)
    return (float(fine), float(error)) if values.ndim == 1 else (fine, error)


def energy_lattice(origin: float, window: tuple[float, float], spacing: float) -> np.ndarray:
    """Energies ``origin + k·spacing`` (eV) from the last one at or below ``window[0]`` to the first at or above ``window[1]``."""
    if not spacing > 0:
        raise HamtransError(f"the energy lattice needs a positive spacing (eV), not {spacing}")
    first = int(np.floor((window[0] - origin) / spacing + 1e-9))
    last = int(np.ceil((window[1] - origin) / spacing - 1e-9))
    if last - first > 10**6:
        raise HamtransError(f"an energy lattice of {last - first + 1} points: the spacing {spacing} eV is too fine")
    return origin + spacing * np.arange(first, last + 1)


def window_nodes(lower: float, upper: float, core: tuple[float, float], resolution: float,
                 tail_panels: int = 2) -> np.ndarray:
    """First-pass nodes (eV) of a Fermi-window integral: dense on ``core``, sparse outside.

    Parameters
    ----------
    lower, upper
        The whole interval (eV), e.g. :func:`hamtrans.negf.landauer.bias_window`.
    core
        ``(start, stop)`` eV where the window is open (e.g. the lower chemical potential
        − 10 kT … the higher one + 10 kT); clipped to ``[lower, upper]``.
    resolution
        Largest node spacing (eV) on ``core``.
    tail_panels
        Uniform Simpson panels (≥ 1) on each of ``[lower, core[0]]`` and ``[core[1], upper]``.

    Returns
    -------
    Increasing nodes, an odd number, consecutive triples forming Simpson panels, ``(n,)``.

    Raises
    ------
    HamtransError
        For a non-positive ``resolution``, fewer than one tail panel, or an empty core.
    """
    start, stop = max(lower, core[0]), min(upper, core[1])
    if not (resolution > 0 and upper > lower and stop > start):
        raise HamtransError(f"no grid on [{lower}, {upper}] eV with core [{core[0]}, {core[1]}] eV and "
                            f"resolution {resolution} eV")
    if not (isinstance(tail_panels, int) and tail_panels >= 1):
        raise HamtransError(f"tail_panels must be an integer ≥ 1, got {tail_panels!r}")
    panels = max(1, int(np.ceil((stop - start) / (2 * resolution))))
    pieces = [np.linspace(start, stop, 2 * panels + 1)]
    if start > lower:
        pieces.insert(0, np.linspace(lower, start, 2 * tail_panels + 1)[:-1])
    if upper > stop:
        pieces.append(np.linspace(stop, upper, 2 * tail_panels + 1)[1:])
    return np.concatenate(pieces)


def adaptive_simpson(
    evaluate: Callable[[np.ndarray], np.ndarray],
    nodes: np.ndarray,
    weight: Callable[[np.ndarray], np.ndarray] | None = None,
    absolute_tolerance: float = 0.0,
    relative_tolerance: float = 1e-3,
    max_points: int = 2049,
) -> AdaptiveIntegral:
    """Integrate ``evaluate(E) · weight(E)`` over ``[nodes[0], nodes[-1]]`` adaptively.

    Parameters
    ----------
    evaluate
        Batched function ``(n,) -> (n,)`` (the expensive part, e.g. transmission).
    nodes
        First pass: an odd number (≥ 3) of increasing abscissae (eV); consecutive
        triples ``[a, m, b]``, ``m`` the midpoint of ``a`` and ``b``, are its Simpson
        panels (e.g. :func:`window_nodes`), ``(n,)``.
    weight
        Cheap factor of the integrand (e.g. ``f_L − f_R``); 1 if ``None``.
    absolute_tolerance, relative_tolerance
        Stop when the estimated error ≤ ``max(absolute, relative·|integral|)``.
    max_points
        Budget, the first pass included; if refinement reaches it, a warning is issued and
        ``converged`` is False.
    """
    nodes = np.asarray(nodes, float)
    if nodes.ndim != 1 or nodes.size < 3 or nodes.size % 2 == 0 or np.any(np.diff(nodes) <= 0):
        raise HamtransError(f"adaptive_simpson needs an odd number (≥ 3) of increasing nodes, got {nodes.size}")
    if nodes.size > max_points:
        raise HamtransError(f"the first pass has {nodes.size} nodes, more than max_points = {max_points}: "
                            "use a coarser first pass (resolution)")
    a, m, b = nodes[0:-1:2], nodes[1::2], nodes[2::2]
    slack = 1e-9 * (b - a) + 8 * np.finfo(float).eps * np.maximum(np.abs(a), np.abs(b))
    if np.any(np.abs(m - (a + b) / 2) > slack):
        raise HamtransError("every second node must be the midpoint of its Simpson panel")
    weight = weight or (lambda e: np.ones_like(e))
    values = np.asarray(evaluate(nodes), float)
    known = dict(zip(nodes.tolist(), values.tolist()))
    f = values * weight(nodes)
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
