"""Electrodes computed apart from the device: bulk lead cells attached to a device's ends.

A device whose electrode segments are too short for its own end cells to repeat
(the usual case when the reference calculation is expensive) gets its leads from a
separate periodic calculation of the electrode material, as TranSIESTA does. The
device's outermost principal layers then act as buffer: their onsite blocks and
internal couplings come from the device calculation, while the semi-infinite bulk
electrode couples to them with the bulk ``h01``:

    ... | bulk | bulk | device PL₀ | device ... device | device PL_N | bulk | bulk | ...

:meth:`Electrode.from_matrices` finds one principal layer of a periodic electrode
(opened along the axis) with the same repetition checks as a device's own leads;
:func:`attach_electrode` maps that cell's orbitals onto a device end by position
(a pure translation along the axis) and returns the lead in the device's order,
with the onsite mismatch between the device end and the bulk cell (the size of the
splice approximation).

:func:`periodic_electrodes` builds both leads from the device's own periodic
calculation instead: in a cell periodic along the axis whose electrode material
straddles the cell boundary, the layer left of the first principal layer PL₀ is
the last one, PL_N, of the same cell. The left lead repeats PL_N and the right
lead repeats PL₀, both coupled by the cell's own PL_N → PL₀ coupling across the
boundary; so the couplings from the device's ends into the leads are the exact
ones, every block shares the calculation's potential zero and k-sampling, and for
a perfect crystal the result equals the device's own leads.

Potential alignment: a periodic reference fixes the zero of the electrostatic
potential per cell (the cell average), so the same TiN has onsite energies ~0.5 eV
apart in a bulk TiN cell and in a TiN | HfO2 | TiN cell. With ``align=True`` the
electrode is shifted rigidly, ``H → H + δ S``, by the least-squares ``δ`` that
matches it to the device's end blocks (the mean of both ends), and the electrode's
Fermi level moves with it; the residual mismatch is reported. Per end, the real
``δ`` minimising ``‖ΔH − δ S‖_F`` (``ΔH`` = device end block − electrode cell) is
``Re Σ conj(S)·ΔH / Σ |S|²``; for Hermitian blocks ``Σ conj(S)·ΔH = tr(S ΔH)`` is
real, so taking the real part only drops round-off (complex S included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.spatial import cKDTree

from hamtrans.data.blocks import lattice_axis
from hamtrans.errors import LeadError
from hamtrans.negf.lead_detection import lead_from_cells, principal_layers, sorted_along_axis
from hamtrans.negf.leads import Lead
from hamtrans.negf.partition import coupling_pattern


@dataclass(frozen=True)
class Electrode:
    """One principal layer of a bulk electrode.

    Attributes
    ----------
    lead
        ``h00, s00`` of the cell and ``h01, s01`` to the next cell along +axis (eV).
    orbital_positions
        ``(n, 3)`` Å, position of the atom of each orbital of the cell, lead order.
    orbital_atoms
        ``(n,)`` atom label of each orbital (orbitals of one atom share a label and are contiguous).
    thickness
        Principal-layer length along the axis, Å.
    axis
        Transport axis (0, 1, 2; ``"x"/"y"/"z"`` are converted).
    """

    lead: Lead
    orbital_positions: np.ndarray
    orbital_atoms: np.ndarray
    thickness: float
    axis: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", lattice_axis(self.axis))

    @classmethod
    def from_matrices(cls, hamiltonian, overlap, orbital_positions: np.ndarray, axis: int | str,
                      lead_cell: float | None = None, orbital_atoms: np.ndarray | None = None,
                      lead_tolerance: float = 1e-4, position_tolerance: float = 1e-3,
                      hermitian_tolerance: float = 1e-8, threshold: float = 0.0) -> "Electrode":
        """The principal layer of a periodic electrode from its matrices opened along ``axis``.

        The input is what a device's would be (``BlockSparseMatrix.to_sparse(axis=axis)`` of a
        structure periodic along the axis, at least three principal layers long); the layer
        is found at the low end with the repetition checks of a device's leads
        (:func:`~hamtrans.negf.lead_detection.principal_layers`). The keywords mean what they
        mean for :meth:`hamtrans.negf.Device.from_matrices`.
        """
        axis = lattice_axis(axis)
        h, s, positions, atoms, _ = sorted_along_axis(hamiltonian, overlap, orbital_positions, axis, orbital_atoms,
                                                      hermitian_tolerance, threshold)
        x = positions[:, axis]
        outer, inner, thickness = principal_layers(
            h, s, x - x[0], positions=positions, atoms=atoms, pattern=coupling_pattern(h, s), axis=axis,
            lead_cell=lead_cell, position_tolerance=position_tolerance, lead_tolerance=lead_tolerance, side="left")
        return cls(lead_from_cells(h, s, outer, inner, "left"), positions[outer], atoms[outer], float(thickness), axis)

    @property
    def n_orbitals(self) -> int:
        return self.lead.h00.shape[0]

    def fermi_level(self, n_electrons: float, temperature: float = 300.0, k_points: int = 64) -> float:
        """Fermi level (eV) of the bulk electrode: the μ at which its bands hold ``n_electrons`` per cell.

        The bands of :func:`lead_bands` on ``k_points`` phases, Fermi–Dirac at ``temperature``
        (K). Unlike the Γ point of a finite cell, this is converged in the k-sampling of a
        metal. An electrode periodic across the axis as well needs its transverse k-points:
        :func:`band_fermi_level`.
        """
        return band_fermi_level([self.lead], [1.0], n_electrons, temperature, k_points)


def lead_bands(lead: Lead, k_points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(energies, weights)``: the bands ``H(k) c = ε S(k) c`` of a lead (eV, with ``lead.shift``).

    A real lead has ``ε(−k) = ε(k)``: ``k_points`` phases ``k·L`` in ``[0, π]`` with
    trapezoid weights. A complex one (a transverse ``k⊥ ≠ 0``) has no such symmetry:
    ``2·k_points`` phases evenly over ``[−π, π)`` with equal weights. ``energies`` is
    ``(n_phases, n_orbitals)``, ``weights`` ``(n_phases,)`` summing to 1.
    """
    if any(np.abs(np.imag(m)).max(initial=0.0) > 0 for m in (lead.h00, lead.s00, lead.h01, lead.s01)):
        phases = np.linspace(-np.pi, np.pi, 2 * k_points, endpoint=False)
        weights = np.ones(2 * k_points)
    else:
        phases = np.linspace(0.0, np.pi, k_points)
        weights = np.full(k_points, 2.0)
        weights[[0, -1]] = 1.0
    bands = []
    for phase in phases:
        h = lead.h00 + lead.h01 * np.exp(1j * phase) + lead.h01.conj().T * np.exp(-1j * phase)
        s = lead.s00 + lead.s01 * np.exp(1j * phase) + lead.s01.conj().T * np.exp(-1j * phase)
        bands.append(scipy.linalg.eigh(h, s, eigvals_only=True) + lead.shift)
    return np.array(bands), weights / weights.sum()


def band_fermi_level(leads, weights, n_electrons: float, temperature: float = 300.0, k_points: int = 64) -> float:
    """Fermi level (eV) of one electrode whose lead is known at several transverse k-points.

    Parameters
    ----------
    leads
        The :class:`~hamtrans.negf.leads.Lead` at each transverse k-point (e.g. ``device.left``
        of :func:`hamtrans.negf.kpoints.kpoint_devices`).
    weights
        ``(n_k,)`` weights of the k-points (normalised here).
    n_electrons
        Electrons per principal layer.
    temperature
        Fermi–Dirac temperature, K.
    k_points
        Phases along the axis per transverse k-point (:func:`lead_bands`).
    """
    from ase.units import kB

    from hamtrans.data.electrons import fermi_level

    weights = np.asarray(weights, float) / np.sum(weights)
    energies, occupation = [], []
    for lead, weight in zip(leads, weights):
        bands, phase_weights = lead_bands(lead, k_points)
        energies.append(bands.ravel())
        occupation.append(np.repeat(weight * phase_weights, bands.shape[1]))
    return fermi_level(np.concatenate(energies), n_electrons, temperature * kB, np.concatenate(occupation))


@dataclass(frozen=True)
class AttachedLead:
    """An electrode cell mapped onto one device end.

    Attributes
    ----------
    lead
        The electrode's lead in the device's orbital order of that end block.
    n_orbitals
        Orbitals of the device's end block (= electrode cell).
    mismatch
        Largest ``|H_device − h00|`` (eV) or ``|S_device − s00|`` over the end block (before any
        alignment): how far the device's end is from bulk electrode.
    alignment
        Least-squares rigid shift ``δ`` (eV) with ``H_device ≈ h00 + δ s00`` on the end block.
    """

    lead: Lead
    n_orbitals: int
    mismatch: float
    alignment: float

    def residual(self, h_end: np.ndarray, s_end: np.ndarray, shift: float) -> float:
        """Largest difference (eV) between the end blocks and the lead cell shifted by ``shift``."""
        return float(max(np.abs(h_end - self.lead.h00 - shift * self.lead.s00).max(),
                         np.abs(s_end - self.lead.s00).max()))


def attach_electrode(electrode: Electrode, h, s, positions: np.ndarray, atoms: np.ndarray, side: str,
                     position_tolerance: float = 1e-3) -> AttachedLead:
    """Map ``electrode`` onto the ``side`` end of a device in internal (axis-sorted) order.

    Parameters
    ----------
    electrode
        The bulk cell.
    h, s
        Device matrices, internal order (CSR).
    positions, atoms
        ``(N, 3)`` Å and ``(N,)`` atom labels of the device's orbitals, internal order.
    side
        ``"left"`` (lowest coordinates) or ``"right"``.
    """
    axis = electrode.axis
    x = positions[:, axis]
    depth = x - x.min() if side == "left" else x.max() - x
    end = np.flatnonzero(depth < electrode.thickness - position_tolerance)
    if side == "left" and np.any(np.diff(end) != 1) or side == "right" and end.size and end[0] != len(x) - end.size:
        raise LeadError(f"the device's {side} end is not contiguous in axis order")
    e_x = electrode.orbital_positions[:, axis]
    anchor = x.min() - e_x.min() if side == "left" else x.max() - e_x.max()
    shift = np.zeros(3)
    shift[axis] = anchor
    perm = _orbital_map(positions[end] - shift, atoms[end], electrode.orbital_positions, electrode.orbital_atoms,
                        position_tolerance)
    if perm is None or len(end) != electrode.n_orbitals:
        raise LeadError(
            f"the device's {side} end ({len(end)} orbitals within {electrode.thickness:.3f} Å) is not a cell of the "
            f"given electrode ({electrode.n_orbitals} orbitals): atoms do not coincide after a translation along the "
            "axis. Build the device and the electrode with the same electrode lattice and cross-section."
        )
    p = np.ix_(perm, perm)
    lead = Lead(electrode.lead.h00[p], electrode.lead.s00[p], electrode.lead.h01[p], electrode.lead.s01[p],
                electrode.lead.shift)
    block = np.ix_(end, end)
    h_end, s_end = h[block].toarray(), s[block].toarray()
    # least-squares real δ of H_end ≈ h00 + δ s00 (np.vdot conjugates its first argument)
    alignment = float(np.vdot(lead.s00, h_end - lead.h00).real / np.vdot(lead.s00, lead.s00).real)
    attached = AttachedLead(lead, len(end), 0.0, alignment)
    return AttachedLead(lead, len(end), attached.residual(h_end, s_end, 0.0), alignment)


def _orbital_map(positions, atoms, cell_positions, cell_atoms, tolerance) -> np.ndarray | None:
    """``perm[k]`` = electrode orbital matching device orbital ``k`` (same atom site, same place in the atom)."""
    starts = np.flatnonzero(np.r_[True, atoms[1:] != atoms[:-1]])
    cell_starts = np.flatnonzero(np.r_[True, cell_atoms[1:] != cell_atoms[:-1]])
    if len(starts) != len(cell_starts):
        return None
    counts = np.diff(np.r_[starts, len(atoms)])
    cell_counts = np.diff(np.r_[cell_starts, len(cell_atoms)])
    distance, match = cKDTree(cell_positions[cell_starts]).query(positions[starts])
    if np.any(distance > tolerance) or len(np.unique(match)) != len(match) or np.any(cell_counts[match] != counts):
        return None
    return np.concatenate([cell_starts[m] + np.arange(c) for m, c in zip(match, counts)])


def periodic_electrodes(hamiltonian, overlap, atoms, axis: int | str, lead_cell: float,
                        position_tolerance: float = 1e-3, kpoint=None) -> tuple[Electrode, Electrode]:
    """Left and right leads continuing a periodic device across its cell boundary.

    Parameters
    ----------
    hamiltonian, overlap
        :class:`~hamtrans.data.blocks.BlockSparseMatrix` of a structure periodic along ``axis``
        (eV), with the electrode material at both ends of the open cell.
    atoms
        The structure; its cell vector along ``axis`` must be parallel to the axis.
    axis
        Transport axis (0, 1, 2 or ``"x"/"y"/"z"``).
    lead_cell
        Lattice period of the electrode along the axis (Å); the principal layer is its
        smallest multiple that holds the coupling range.
    position_tolerance
        Å, for matching the cell's first and last principal layers.
    kpoint
        Transverse Bloch vector ``(3,)`` (reciprocal-lattice coordinates, 0 along ``axis``)
        of a device periodic across the axis: the leads at that ``k``
        (:mod:`hamtrans.negf.kpoints`); ``None`` folds the transverse images (Γ).

    Returns
    -------
    left, right
        :class:`Electrode` cells for ``Device.from_matrices(..., electrodes=(left, right))``:
        copies of the cell's last and first principal layer.
    """
    axis = lattice_axis(axis)
    cell = np.asarray(atoms.cell)
    if np.abs(np.delete(cell[axis], axis)).max() > 1e-8:
        raise LeadError("periodic electrodes need the cell vector along the transport axis to be parallel to it")
    length = float(cell[axis, axis])
    reach = float(np.abs(hamiltonian.graph.vectors[:, axis]).max(initial=0.0))
    thickness = lead_cell * max(1, int(np.ceil((reach - position_tolerance) / lead_cell)))
    if 2 * thickness > length + position_tolerance:
        raise LeadError(f"the cell ({length:.3f} Å) is shorter than two principal layers of {thickness:.3f} Å")
    atom_of = hamiltonian.basis.orbital_atoms(atoms.numbers)
    positions = atoms.positions[atom_of]
    x = positions[:, axis]
    first = np.flatnonzero(x - x.min() < thickness - position_tolerance)
    last = np.flatnonzero(x.max() - x < thickness - position_tolerance)
    last = last[np.argsort(x[last], kind="stable")]
    first = first[np.argsort(x[first], kind="stable")]
    step = np.zeros(3)
    step[axis] = length
    # PL₀ of the next cell, in the order of PL_N (a copy of it shifted by one layer)
    shift = np.zeros(3)
    shift[axis] = thickness
    to_last = _orbital_map(positions[first] + step - shift, atom_of[first], positions[last], atom_of[last],
                           position_tolerance)
    if to_last is None:
        raise LeadError(
            f"the device's first and last {thickness:.3f} Å are not copies of one electrode cell (lead_cell "
            f"{lead_cell} Å): the electrode lattice must continue across the cell boundary. Periodic leads are "
            f"the structure's first and last principal layer: with couplings reaching {reach:.2f} Å and a "
            f"{lead_cell:g} Å electrode period, the first and last {thickness:.2f} Å from the outermost atom planes "
            f"must be electrode only, with no interface atom among them (build_vcm_device: electrode_length ≥ "
            f"{thickness + lead_cell:.2f} Å, one period more than the principal layer)"
        )
    first_in_last_order = first[np.argsort(to_last)]
    h0, s0 = (m.to_sparse(axis=axis, shift=0, kpoint=kpoint) for m in (hamiltonian, overlap))
    h1, s1 = (m.to_sparse(axis=axis, shift=1, kpoint=kpoint) for m in (hamiltonian, overlap))
    block = lambda m, rows, cols: m[rows][:, cols].toarray()
    h01, s01 = block(h1, last, first_in_last_order), block(s1, last, first_in_last_order)
    left = Electrode(Lead(block(h0, last, last), block(s0, last, last), h01, s01),
                     positions[last], atom_of[last], thickness, axis)
    right = Electrode(Lead(block(h0, first_in_last_order, first_in_last_order),
                           block(s0, first_in_last_order, first_in_last_order), h01, s01),
                      positions[first_in_last_order], atom_of[first_in_last_order], thickness, axis)
    return left, right
