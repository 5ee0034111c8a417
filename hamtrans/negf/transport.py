"""Public transport API: self-energies, transmission, Green's-function observables, current.

Units: energies eV, transmission dimensionless, DOS and spectral functions 1/eV,
current A. All functions take the same sweep keywords (see :class:`SweepOptions`).
Energies are real; a complex energy ``E + iη`` is given as ``E`` and ``eta=η``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hamtrans.errors import HamtransError, ParameterError
from hamtrans.negf.backend import Backend, get_backend
from hamtrans.negf.bias import biased_device
from hamtrans.negf.device import Device
from hamtrans.negf.grids import (
    MIN_GRID_POINTS,
    adaptive_simpson,
    energy_lattice,
    trapezoid_with_error,
    uniform_grid,
    window_nodes,
)
from hamtrans.negf.landauer import CONDUCTANCE_QUANTUM, OPEN_KT, bias_window, fermi, thermal_energy
from hamtrans.negf.lead_cache import SurfaceCache
from hamtrans.negf.leads import self_energy, surface_green_functions
from hamtrans.negf.rgf import caroli_transmission, green_sweep, slab_matrices
from hamtrans.negf.sweep import map_energies


@dataclass(frozen=True)
class SweepOptions:
    """How energies are evaluated.

    Attributes
    ----------
    eta
        Imaginary part η (eV) of ``z = E + iη`` for device and leads. 0 is exact with
        eigenmode leads; Sancho–Rubio needs η > 0 (its error is of order η).
    lead_method
        ``"eigenmode"`` (default, exact) or ``"sancho-rubio"``.
    backend
        ``"numpy"``, ``"cupy"`` or ``"auto"``.
    batch_size
        Energies per batched sweep.
    comm
        mpi4py communicator to spread energies over ranks (``None``: serial).
    progress
        tqdm progress bar on rank 0.
    blas_threads
        BLAS threads per process during sweeps (``None``: unchanged).
    lead_options
        Extra keywords for :func:`hamtrans.negf.leads.surface_green_function`.
    lead_cache
        A :class:`hamtrans.negf.lead_cache.SurfaceCache` shared by the devices of a
        trajectory (same electrodes): each lead energy is solved once.
    """

    eta: float = 0.0
    lead_method: str = "eigenmode"
    backend: str | Backend = "numpy"
    batch_size: int = 16
    comm: object = None
    progress: bool = False
    blas_threads: int | None = 1
    lead_options: dict = field(default_factory=dict)
    lead_cache: SurfaceCache | None = None


def _options(options: SweepOptions | None, overrides: dict) -> SweepOptions:
    options = options or SweepOptions()
    unknown = set(overrides) - set(SweepOptions.__dataclass_fields__)
    if unknown:
        raise ParameterError(f"unknown sweep option(s) {sorted(unknown)}; valid: {sorted(SweepOptions.__dataclass_fields__)}")
    return SweepOptions(**{**options.__dict__, **overrides})


def _energies(energies) -> np.ndarray:
    """Real energies (eV) as a 1-D float array; complex values with a nonzero imaginary part are refused."""
    array = np.atleast_1d(np.asarray(energies))
    if array.dtype.kind == "c":
        imaginary = np.flatnonzero(array.imag != 0)
        if imaginary.size:
            z = array.flat[imaginary[0]]
            raise HamtransError(
                f"energies must be real (eV), but {imaginary.size} of them are complex (first: {z:.6g}): for "
                "z = E + iη pass the real energies E and eta=η (SweepOptions.eta, used for the device and the leads)")
        array = array.real
    if array.dtype.kind not in "iuf" or array.ndim != 1:
        raise HamtransError(f"energies must be a 1-D array of real numbers (eV), got dtype {array.dtype} "
                            f"and shape {array.shape}")
    if array.size == 0:
        raise HamtransError("empty energy grid: give at least one energy")
    if not np.isfinite(array).all():
        raise HamtransError("energy grid contains NaN or infinity")
    return array.astype(float)


def _real_number(name: str, value, unit: str) -> float:
    """``value`` as a float; a :class:`HamtransError` naming ``name`` unless it is one finite real number."""
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "iuf" or not np.isfinite(array):
        raise HamtransError(f"{name} = {value!r}: give one finite real number ({unit})")
    return float(array)


def _grid_points(points) -> int:
    """The ``points`` of a uniform current grid: an integer ≥ :data:`MIN_GRID_POINTS`."""
    array = np.asarray(points)
    if array.ndim != 0 or array.dtype.kind not in "iu" or array < MIN_GRID_POINTS:
        raise HamtransError(
            f"points = {points!r}: a uniform current grid needs an integer ≥ {MIN_GRID_POINTS} (with fewer its "
            "integral has no error estimate and cannot resolve the Fermi window); use several points per kT of the "
            "open window, or the adaptive grid (grid='adaptive')")
    return int(array)


def lead_self_energies(device: Device, z: np.ndarray, options: SweepOptions | None = None, **overrides):
    """``(Σ_L, Σ_R)`` on the device's first and last slab, each ``(n_E, n, n)`` on the backend."""
    opts = _options(options, overrides)
    backend = get_backend(opts.backend)
    kwargs = dict(method=opts.lead_method, backend=backend, **opts.lead_options)
    if opts.lead_cache is not None:
        key = (opts.lead_method, tuple(sorted((k, repr(v)) for k, v in opts.lead_options.items())))
        solve = {side: (lambda missing, lead=lead, side=side: backend.to_host(
            surface_green_functions(lead, missing, (side,), **kwargs)[side]))
            for side, lead in (("left", device.left), ("right", device.right))}
        # the two sides' missing energies are solved on two threads (LAPACK releases the GIL)
        with ThreadPoolExecutor(max_workers=2) as pool:
            filled = [pool.submit(opts.lead_cache.fill, lead, z, side, key, solve[side])
                      for side, lead in (("left", device.left), ("right", device.right))]
            for future in filled:
                future.result()
        surfaces = {side: backend.asarray(opts.lead_cache.stored(lead, z, side, key, solve[side]))
                    for side, lead in (("left", device.left), ("right", device.right))}
    elif device.left.same_as(device.right):  # one mode solve serves both ends
        surfaces = surface_green_functions(device.left, z, ("left", "right"), **kwargs)
    else:
        surfaces = {**surface_green_functions(device.left, z, ("left",), **kwargs),
                    **surface_green_functions(device.right, z, ("right",), **kwargs)}
    return (self_energy(device.left, z, "left", surfaces["left"], backend),
            self_energy(device.right, z, "right", surfaces["right"], backend))


def _guarded(kernel, energies_batch: np.ndarray):
    """Run a sweep kernel; a singular slab (a bound state exactly at E with η = 0) becomes a clear error."""
    try:
        return kernel()
    except np.linalg.LinAlgError:
        raise HamtransError(
            f"the device Green's function is singular between E = {energies_batch.min():.10g} and "
            f"{energies_batch.max():.10g} eV (a state decoupled from the leads sits exactly at one of these "
            "energies): use eta > 0 or move the energy grid") from None


def _energy_batches(device: Device, opts: SweepOptions, kernel, compact: bool):
    """A per-batch function for :func:`map_energies`: builds z, the lead self-energies and the slab
    matrices, runs ``kernel(slabs, sigma_left, sigma_right, blocks, xp)`` and returns host arrays."""
    backend = get_backend(opts.backend)
    blocks = _device_blocks(device, backend)

    def batch(energies_batch: np.ndarray) -> dict[str, np.ndarray]:
        z = energies_batch + 1j * opts.eta
        sigma_left, sigma_right = lead_self_energies(device, z, opts)
        slabs = slab_matrices(blocks, z, backend, compact=compact)
        out = _guarded(lambda: kernel(slabs, sigma_left, sigma_right, blocks, backend.xp), energies_batch)
        return {k: backend.to_host(v) for k, v in out.items()}

    return batch


def _device_blocks(device: Device, backend: Backend):
    key = f"backend:{backend.name}"
    if key not in device._blocks:
        b = device.blocks()
        move = lambda arrays: [backend.asarray(a, dtype=complex) for a in arrays]
        device._blocks[key] = type(b)(move(b.h_diagonal), move(b.s_diagonal), move(b.h_upper), move(b.s_upper),
                                      b.diagonal_coupling)
    return device._blocks[key]


def transmission(device: Device, energies, options: SweepOptions | None = None, **overrides) -> np.ndarray:
    """Transmission T(E) from left to right (Caroli formula), ``(n_E,)``.

    Parameters
    ----------
    device
        The device (possibly biased, see :func:`hamtrans.negf.bias.biased_device`).
    energies
        Real energies (eV).
    options, overrides
        :class:`SweepOptions` and/or its fields as keywords.
    """
    opts = _options(options, overrides)
    kernel = lambda slabs, sl, sr, blocks, xp: {"transmission": caroli_transmission(slabs, sl, sr, xp)}
    batch = _energy_batches(device, opts, kernel, compact=True)
    return map_energies(batch, _energies(energies), opts.batch_size, opts.comm, opts.progress, opts.blas_threads,
                        "transmission")["transmission"]


@dataclass(frozen=True)
class GreenFunctionResult:
    """Observables of a full Green's-function sweep (orbital arrays in input orbital order).

    Attributes
    ----------
    energies
        ``(n_E,)`` eV.
    transmission
        ``(n_E,)``.
    dos
        ``(n_E, N_orb)`` Mulliken orbital DOS ``Re diag(A S)/2π`` (1/eV); sums to the DOS.
    spectral_left, spectral_right
        ``(n_E, N_orb)`` the same for the states injected from each lead
        (``A_L = G Γ_L Gᴴ``), 1/eV; ``dos = spectral_left + spectral_right`` when η = 0.
    trace_gamma_spectral, trace_gamma_g_gamma_g
        ``Tr[Γ_L A]`` and ``Tr[Γ_L G Γ_L Gᴴ]`` (sum rule: difference = T).
    device
        The device, for :meth:`per_atom`.
    """

    energies: np.ndarray
    transmission: np.ndarray
    dos: np.ndarray
    spectral_left: np.ndarray
    spectral_right: np.ndarray
    trace_gamma_spectral: np.ndarray
    trace_gamma_g_gamma_g: np.ndarray
    device: Device

    def per_atom(self, name: str = "dos") -> np.ndarray:
        """Orbital quantity ``name`` summed per atom, ``(n_E, N_atoms)``."""
        values = getattr(self, name)[:, self.device.order]  # back to internal order
        return self.device.per_atom(values)

    def per_slab(self, name: str = "dos") -> np.ndarray:
        """Orbital quantity ``name`` summed per slab of the partition, ``(n_E, N_slabs)``."""
        values = getattr(self, name)[:, self.device.order]
        return np.add.reduceat(values, self.device.bounds[:-1], axis=1)


def green_function(device: Device, energies, options: SweepOptions | None = None, **overrides) -> GreenFunctionResult:
    """Full RGF sweep: transmission, orbital DOS and lead-resolved spectral functions."""
    opts = _options(options, overrides)
    kernel = lambda slabs, sl, sr, blocks, xp: green_sweep(slabs, blocks.s_diagonal, blocks.s_upper, sl, sr, xp)
    batch = _energy_batches(device, opts, kernel, compact=False)
    energies = _energies(energies)
    out = map_energies(batch, energies, opts.batch_size, opts.comm, opts.progress, opts.blas_threads, "green function")
    orbital = {k: device.to_input_order(out[k]) for k in ("dos", "spectral_left", "spectral_right")}
    return GreenFunctionResult(energies, out["transmission"], **orbital,
                               trace_gamma_spectral=out["trace_gamma_spectral"],
                               trace_gamma_g_gamma_g=out["trace_gamma_g_gamma_g"], device=device)


@dataclass(frozen=True)
class CurrentResult:
    """Landauer current and the transmission it was integrated from.

    Attributes
    ----------
    current
        A; positive when electrons flow from left to right (μ_L > μ_R).
    bias
        μ_L − μ_R in eV (= the bias in V).
    mu_left, mu_right
        Chemical potentials (eV).
    temperature
        K.
    energies, transmission
        The grid used (eV) and T(E) on it (biased device).
    error
        Estimated integration error (A): the adaptive grid's Simpson estimate, or for the
        uniform and lattice grids the trapezoid rule on every point against the rule on
        every other point (:func:`hamtrans.negf.grids.trapezoid_with_error`); 0 at zero bias.
    converged
        Whether ``error`` ≤ ``max(absolute_tolerance, tolerance·|current|)``.
    """

    current: float
    bias: float
    mu_left: float
    mu_right: float
    temperature: float
    energies: np.ndarray
    transmission: np.ndarray
    error: float
    converged: bool


def current(
    device: Device,
    bias: float,
    temperature: float = 300.0,
    fermi_level: float = 0.0,
    region: tuple[float, float] | None = None,
    potential: np.ndarray | None = None,
    grid: str = "adaptive",
    points: int = 201,
    resolution: float | None = None,
    tolerance: float = 1e-3,
    absolute_tolerance: float = 1e-15,
    options: SweepOptions | None = None,
    **overrides,
) -> CurrentResult:
    """Landauer–Büttiker current ``I = (2e/h) ∫ T(E) [f_L − f_R] dE`` (A) under a bias.

    Parameters
    ----------
    device
        The unbiased device.
    bias
        Volts; ``μ_L = E_F + V/2``, ``μ_R = E_F − V/2``, with the potential profile of
        :func:`hamtrans.negf.bias.linear_drop_potential` (or ``potential``).
    temperature
        Electrode temperature (K); 0 gives step functions.
    fermi_level
        Equilibrium Fermi level E_F (eV) of the electrodes.
    region
        ``(start, stop)`` Å of the linear drop (default: between the lead principal layers).
    potential
        Per-orbital potential energy (eV, input order) instead of the linear drop;
        its values on the end slabs set the lead shifts and so the bias.
    grid
        ``"adaptive"``: Simpson refinement to ``tolerance`` of a first pass that samples
        the open window (the lower chemical potential − 10 kT … the higher one + 10 kT)
        every ``resolution`` eV and its tails out to 30 kT with two panels each.
        ``"uniform"``: ``points`` energies over the open window only (|f_L − f_R| < 5e-5
        outside it; a fixed cost). ``"lattice"``: the energies ``E_F + k·resolution``
        that cover the open window (default spacing kT). Each lead then sees the
        energies ``E_F + k·resolution − V/2``: when the biases of a sweep are even
        multiples of the spacing, all its currents share their lead energies, and a
        :class:`~hamtrans.negf.lead_cache.SurfaceCache` solves each of them once.
        Both are integrated by the trapezoid rule and flagged ``converged`` only when its
        error estimate meets the tolerance (a grid coarse for the window is not).
    points
        Energies of the uniform grid, an integer ≥ 3.
    resolution
        First-pass spacing (eV) of the adaptive grid; default kT, but at least 1/256 of
        the open window (1/32 of the window at 0 K). A feature narrower than it with no
        tails to lead refinement to it can fall between two nodes and be missed.
    tolerance, absolute_tolerance
        Relative and absolute (A) targets of the integral: the adaptive grid refines to
        them, the uniform and lattice grids report ``converged`` against them.
    options, overrides
        Sweep options (:class:`SweepOptions`).

    Raises
    ------
    HamtransError
        For a non-finite bias, Fermi level or tolerance, a negative or non-finite
        temperature, an unknown grid, or a uniform grid of fewer than 3 points.
    """
    opts = _options(options, overrides)
    bias = _real_number("bias", bias, "V")
    fermi_level = _real_number("fermi_level", fermi_level, "eV")
    kt = thermal_energy(temperature)
    tolerance = _real_number("tolerance", tolerance, "relative")
    absolute_tolerance = _real_number("absolute_tolerance", absolute_tolerance, "A")
    if tolerance < 0 or absolute_tolerance < 0:
        raise HamtransError(f"tolerance = {tolerance}, absolute_tolerance = {absolute_tolerance} A: "
                            "the integration targets must be ≥ 0")
    if grid not in ("adaptive", "uniform", "lattice"):
        raise HamtransError(f"unknown grid {grid!r}; choose 'adaptive', 'uniform' or 'lattice'")
    if grid == "uniform":
        points = _grid_points(points)
        if resolution is not None:
            raise HamtransError("resolution= sets the adaptive grid's first pass; a uniform grid takes points=")
    if grid == "lattice" and resolution is None and kt == 0:
        raise HamtransError("grid='lattice' spaces its energies by kT unless resolution= (eV) is given; at 0 K give it")
    if potential is not None and region is not None:
        raise HamtransError("region= shapes the linear drop; it cannot be combined with an explicit potential=")
    biased = biased_device(device, bias, region, potential)
    if potential is not None and abs((biased.left.shift - biased.right.shift) - bias) > 1e-9:
        raise HamtransError(
            f"bias = {bias} V disagrees with the given potential, which shifts the leads by "
            f"{biased.left.shift:+.4f} / {biased.right.shift:+.4f} eV (a bias of "
            f"{biased.left.shift - biased.right.shift:.4f} V); pass that bias or fix the potential")
    mu_left, mu_right = fermi_level + biased.left.shift, fermi_level + biased.right.shift
    if mu_left == mu_right:
        return CurrentResult(0.0, 0.0, mu_left, mu_right, temperature, np.empty(0), np.empty(0), 0.0, True)
    lower, upper = bias_window(mu_left, mu_right, kt)
    core = bias_window(mu_left, mu_right, kt, OPEN_KT)
    evaluate = lambda e: transmission(biased, e, opts)
    fermi_window = lambda e: fermi(e, mu_left, kt) - fermi(e, mu_right, kt)
    if kt == 0:  # the uniform and adaptive grids span exactly [μ_R, μ_L]: integrate T itself (no steps at the ends)
        window = lambda e: np.full_like(e, np.sign(mu_left - mu_right))
    else:
        window = fermi_window
    if grid in ("uniform", "lattice"):
        if grid == "uniform":
            energies = uniform_grid(*core, points)
        else:
            energies = energy_lattice(fermi_level, core, resolution if resolution is not None else kt)
            window = fermi_window  # the lattice reaches past the chemical potentials
            if energies.size < MIN_GRID_POINTS:
                raise HamtransError(f"resolution = {resolution} eV puts only {energies.size} lattice energies on the "
                                    f"open window [{core[0]:.6g}, {core[1]:.6g}] eV: use a spacing of at most kT")
        t = evaluate(energies)
        integral, error = trapezoid_with_error(energies, t * window(energies))
        value, error = CONDUCTANCE_QUANTUM * integral, CONDUCTANCE_QUANTUM * error
        converged = error <= max(absolute_tolerance, tolerance * abs(value))
        return CurrentResult(value, mu_left - mu_right, mu_left, mu_right, temperature, energies, t, error, converged)
    if resolution is None:
        resolution = max(kt, (core[1] - core[0]) / 256) if kt > 0 else (upper - lower) / 32
    nodes = window_nodes(lower, upper, core, resolution)
    result = adaptive_simpson(evaluate, nodes, weight=window, relative_tolerance=tolerance,
                              absolute_tolerance=absolute_tolerance / CONDUCTANCE_QUANTUM)
    return CurrentResult(CONDUCTANCE_QUANTUM * result.integral, mu_left - mu_right, mu_left, mu_right, temperature,
                         result.points, result.values, CONDUCTANCE_QUANTUM * result.error, result.converged)
