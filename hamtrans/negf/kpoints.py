"""Transverse k-points: transport through a device that is periodic across its axis.

A film periodic in the directions across the transport axis decouples into one open
1D problem per transverse Bloch vector ``k⊥``, with the Bloch sums

    H(k⊥) = Σ_S H(S) exp(2πi k⊥·S)     (S: cell shifts across the axis)

of its real-space blocks (:meth:`hamtrans.data.blocks.BlockSparseMatrix.to_sparse` with
``kpoint=``), the leads at the same ``k⊥``. The transmission per transverse cell is the
Brillouin-zone average ``T(E) = Σ_k w_k T(E, k⊥)``, and so is the current (TBtrans'
k-averaged transmission; Kwant's ``wraparound``). A Γ-centred mesh of ``n`` points along
a direction is the Γ point of the ``n``-fold supercell along it: ``n · T_cell(E)`` equals the
supercell's Γ transmission, which the tests check. Real ``H(S)`` give ``H(−k⊥) = H(k⊥)*``
and ``T(E, −k⊥) = T(E, k⊥)`` (time reversal), so each ``±k⊥`` pair is computed once
with the weight of both.

Units: energies eV, transmission per transverse cell (dimensionless), current A per
transverse cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hamtrans.data.blocks import lattice_axis
from hamtrans.errors import HamtransError
from hamtrans.negf.device import Device
from hamtrans.negf.electrodes import band_fermi_level, periodic_electrodes
from hamtrans.negf.transport import CurrentResult, SweepOptions, current, transmission

CENTERINGS = ("gamma", "monkhorst-pack")


@dataclass(frozen=True)
class TransverseKPoints:
    """Bloch vectors across the transport axis and their weights.

    Attributes
    ----------
    kpoints
        ``(n_k, 3)`` reciprocal-lattice coordinates in ``(−½, ½]``, 0 along ``axis``.
    weights
        ``(n_k,)`` weights summing to 1 (a time-reversal pair counts twice).
    axis
        Transport axis (0, 1, 2).
    mesh
        ``(n1, n2, n3)`` points per direction, 1 along ``axis``.
    """

    kpoints: np.ndarray
    weights: np.ndarray
    axis: int
    mesh: tuple[int, int, int]

    def __len__(self) -> int:
        return len(self.weights)


def transverse_kpoints(mesh, axis: int | str = 0, centering: str = "gamma",
                       time_reversal: bool = True) -> TransverseKPoints:
    """A regular mesh of transverse Bloch vectors.

    Parameters
    ----------
    mesh
        ``(n1, n2, n3)`` positive integers, 1 along ``axis``; ``(1, 1, 1)`` is Γ only.
    axis
        Transport axis, ``0/1/2`` or ``"x"/"y"/"z"``.
    centering
        ``"gamma"``: ``k = r/n`` (contains Γ; equal to the Γ point of the ``n``-fold
        supercell), or ``"monkhorst-pack"``: ``k = (2r − n − 1)/(2n)`` (CP2K's and VASP's
        ``MONKHORST-PACK``; shifted off Γ for even ``n``).
    time_reversal
        Pair ``k`` with ``−k`` (valid for real-space matrices that are real, as every
        reference and model of this project gives).

    Raises
    ------
    HamtransError
        A mesh that is not three positive integers with 1 along the axis, or an unknown centering.
    """
    axis = lattice_axis(axis)
    values = np.asarray(mesh)
    if values.shape != (3,) or values.dtype.kind not in "iu" or np.any(values < 1):
        raise HamtransError(f"kpoint mesh = {mesh!r}: give three positive integers (n1, n2, n3)")
    if values[axis] != 1:
        raise HamtransError(f"kpoint mesh = {tuple(int(v) for v in values)}: the transport axis {axis} is open, "
                            f"so its entry must be 1 (the leads sum k along it)")
    if centering not in CENTERINGS:
        raise HamtransError(f"centering = {centering!r}: give one of {', '.join(CENTERINGS)}")
    axes = []
    for n in values:
        r = np.arange(int(n))
        axes.append(r / n if centering == "gamma" else (2 * r - n + 1) / (2 * n))
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    grid = _wrapped(grid)
    kept: dict[tuple, list] = {}
    for k in grid:
        key, partner = _key(k), _key(-k)
        if time_reversal and partner in kept:
            kept[partner][1] += 1.0
        else:
            kept[key] = [k, 1.0]
    kpoints = np.array([k for k, _ in kept.values()])
    weights = np.array([w for _, w in kept.values()])
    return TransverseKPoints(kpoints, weights / weights.sum(), axis, tuple(int(v) for v in values))


def _wrapped(k: np.ndarray) -> np.ndarray:
    """Reciprocal coordinates mapped into ``(−½, ½]``."""
    wrapped = k - np.round(k)
    wrapped[np.isclose(wrapped, -0.5)] = 0.5
    return wrapped + 0.0  # no negative zeros


def _key(k: np.ndarray) -> tuple:
    return tuple(np.round(_wrapped(np.asarray(k, float)), 9).tolist())


def kpoint_devices(hamiltonian, overlap, atoms, kpoints: TransverseKPoints, leads: str = "periodic",
                   lead_cell: float | None = None, **device_options) -> list[Device]:
    """One :class:`Device` per transverse k-point of a structure periodic across the axis.

    Parameters
    ----------
    hamiltonian, overlap
        :class:`~hamtrans.data.blocks.BlockSparseMatrix` of ``atoms`` (eV), real-space blocks
        with their cell shifts (a reference record or a model prediction).
    atoms
        The structure, periodic along the transport axis ``kpoints.axis`` and across it.
    kpoints
        :func:`transverse_kpoints`.
    leads
        ``"periodic"``: the leads continue the cell across its boundary along the axis
        (:func:`~hamtrans.negf.electrodes.periodic_electrodes`, needs ``lead_cell``);
        ``"own"``: the device's end cells repeat inside the cell (``Device.from_matrices``).
    lead_cell
        Lattice period of the electrodes along the axis (Å).
    **device_options
        Passed to :meth:`Device.from_atoms` (``lead_tolerance``, ``threshold``, ...).
    """
    axis = kpoints.axis
    if leads not in ("periodic", "own"):
        raise HamtransError(f"leads = {leads!r}: give 'periodic' (continuing the cell) or 'own' (repeating end cells)")
    if leads == "periodic" and lead_cell is None:
        raise HamtransError("periodic leads need lead_cell= (the electrode's lattice period along the axis, Å)")
    periodic = [a for a in range(3) if a != axis and kpoints.mesh[a] > 1]
    if periodic and not all(atoms.pbc[a] for a in periodic):
        raise HamtransError(f"a k-point mesh {kpoints.mesh} samples directions {periodic}, but the structure is not "
                            f"periodic along all of them (pbc {tuple(bool(p) for p in atoms.pbc)})")
    devices = []
    for k in kpoints.kpoints:
        k = k if np.any(k) else None  # Γ: the real folded matrices
        h, s = (m.to_sparse(axis=axis, kpoint=k) for m in (hamiltonian, overlap))
        options = dict(device_options)
        if leads == "periodic":
            options["electrodes"] = periodic_electrodes(hamiltonian, overlap, atoms, axis, lead_cell, kpoint=k)
        else:
            options.setdefault("lead_cell", lead_cell)
        devices.append(Device.from_atoms(h, s, atoms, hamiltonian.basis, axis, **options))
    return devices


def kpoint_band_fermi_level(devices: list[Device], kpoints: TransverseKPoints, n_electrons: float,
                            temperature: float = 300.0, k_points: int = 64) -> float:
    """Fermi level (eV) of the left lead from its bands over the transverse mesh and ``k_points`` phases.

    ``n_electrons`` per lead principal layer. The Γ point alone misplaces a film's Fermi
    level (by 1.7 eV for a 4.24 Å TiN film cell, docs/cp2k.md); this sums the whole mesh.
    """
    _check_pairing(devices, kpoints)
    return band_fermi_level([d.left for d in devices], kpoints.weights, n_electrons, temperature, k_points)


@dataclass(frozen=True)
class KPointTransmission:
    """k-resolved and k-averaged transmission.

    Attributes
    ----------
    energies
        ``(n_E,)`` eV.
    kpoints
        The :class:`TransverseKPoints`.
    resolved
        ``(n_k, n_E)`` ``T(E, k⊥)``.
    transmission
        ``(n_E,)`` ``Σ_k w_k T(E, k⊥)``, per transverse cell.
    """

    energies: np.ndarray
    kpoints: TransverseKPoints
    resolved: np.ndarray
    transmission: np.ndarray


def kpoint_transmission(devices: list[Device], kpoints: TransverseKPoints, energies,
                        options: SweepOptions | None = None, **overrides) -> KPointTransmission:
    """``T(E, k⊥)`` of each device of :func:`kpoint_devices` and their weighted average."""
    _check_pairing(devices, kpoints)
    energies = np.atleast_1d(np.asarray(energies, float))
    resolved = np.array([transmission(d, energies, options, **overrides) for d in devices])
    return KPointTransmission(energies, kpoints, resolved, kpoints.weights @ resolved)


@dataclass(frozen=True)
class KPointCurrent:
    """k-averaged current.

    Attributes
    ----------
    current
        A per transverse cell, ``Σ_k w_k I(k⊥)``.
    error
        A, the weighted sum of the per-k integration error estimates.
    converged
        Whether every k-point's integral met its tolerance.
    resolved
        The :class:`~hamtrans.negf.CurrentResult` of each k-point.
    kpoints
        The :class:`TransverseKPoints`.
    """

    current: float
    error: float
    converged: bool
    resolved: list[CurrentResult]
    kpoints: TransverseKPoints


def kpoint_current(devices: list[Device], kpoints: TransverseKPoints, bias: float, temperature: float = 300.0,
                   fermi_level: float = 0.0, **current_options) -> KPointCurrent:
    """Landauer current averaged over the transverse k-points (keywords of :func:`hamtrans.negf.current`)."""
    _check_pairing(devices, kpoints)
    results = [current(d, bias, temperature, fermi_level, **current_options) for d in devices]
    weights = kpoints.weights
    return KPointCurrent(float(weights @ [r.current for r in results]), float(weights @ [r.error for r in results]),
                         all(r.converged for r in results), results, kpoints)


def _check_pairing(devices: list[Device], kpoints: TransverseKPoints) -> None:
    if len(devices) != len(kpoints):
        raise HamtransError(f"{len(devices)} devices for {len(kpoints)} k-points: build them with kpoint_devices")
