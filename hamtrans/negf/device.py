"""Two-terminal device: H, S in block-tridiagonal form plus its two leads.

The device matrix covers the whole structure including the electrodes. Its first
and last blocks are lead principal layers: the semi-infinite leads continue them
periodically, so the self-energies attach there. :meth:`Device.from_matrices`
finds everything from the orbital positions: the lead period (or the given
``lead_cell``), the principal-layer thickness from the coupling range, the
repetition of the electrode cells (positions and matrix blocks; a mismatch is an
error), and the thinnest block-tridiagonal slabs in between.

The coupling between two principal layers (the lead's ``h01``, ``s01``) is only
known to be periodic when the device shows it twice: a third layer that repeats
the coupling, or, for a layer of several periods, the translation symmetry by one
period inside the two layers. A lead whose coupling cannot be checked either way
is refused, since a long-range bond of the outermost cell would be taken for the
coupling of every cell of the semi-infinite lead.

Internally orbitals are sorted along the transport axis (stable, so the orbitals
of one atom stay together); ``order`` maps internal to input orbital indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hamtrans.data.blocks import lattice_axis
from hamtrans.errors import LeadError, MatrixError
from hamtrans.negf.electrodes import attach_electrode
from hamtrans.negf.lead_detection import lead_from_cells, principal_layers, sorted_along_axis
from hamtrans.negf.leads import Lead
from hamtrans.negf.partition import block_tridiagonal_partition, check_block_tridiagonal, coupling_pattern


@dataclass(frozen=True)
class DeviceBlocks:
    """Dense blocks of ``H`` (eV) and ``S``: diagonal ``(n_i, n_i)`` and upper ``(n_i, n_i+1)``.

    ``diagonal_coupling[i]`` is True when both upper blocks ``i`` are diagonal matrices.
    """

    h_diagonal: list
    s_diagonal: list
    h_upper: list
    s_upper: list
    diagonal_coupling: list[bool]


@dataclass(frozen=True, eq=False)
class Device:
    """A two-terminal device in block-tridiagonal form.

    Attributes
    ----------
    hamiltonian, overlap
        ``(N, N)`` sparse H (eV) and S in internal (axis-sorted) orbital order.
    block_sizes
        Orbitals per slab; the first and last slab are lead principal layers.
    left, right
        The leads; ``left.h00`` is the first block, ``right.h00`` the last.
    order
        ``order[k]`` = input index of internal orbital ``k``.
    orbital_positions
        ``(N, 3)`` Å, internal order.
    orbital_atoms
        Atom index (input numbering) of each internal orbital.
    axis
        Transport axis (0, 1, 2).
    lead_tolerance
        Largest allowed difference (eV) between an end block and its lead cell.
    electrode_mismatch
        With separately computed electrodes: ``(left, right)`` largest difference (eV)
        between the device's end blocks and the (aligned) bulk electrode cell; ``None`` otherwise.
    electrode_shift
        Rigid shift (eV) applied to separately computed electrodes by potential alignment
        (0 without alignment, ``None`` without separate electrodes); their Fermi level moves by it.
    """

    hamiltonian: sp.csr_matrix
    overlap: sp.csr_matrix
    block_sizes: np.ndarray
    left: Lead
    right: Lead
    order: np.ndarray
    orbital_positions: np.ndarray
    orbital_atoms: np.ndarray
    axis: int = 0
    lead_tolerance: float = 1e-4
    electrode_mismatch: tuple[float, float] | None = None
    electrode_shift: float | None = None
    _blocks: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", lattice_axis(self.axis))
        sizes = np.asarray(self.block_sizes)
        if sizes[0] != self.left.n_orbitals or sizes[-1] != self.right.n_orbitals:
            raise LeadError(
                f"end blocks have {sizes[0]} and {sizes[-1]} orbitals but the leads have "
                f"{self.left.n_orbitals} and {self.right.n_orbitals}"
            )
        check_block_tridiagonal(coupling_pattern(self.hamiltonian, self.overlap), sizes)
        blocks = self.blocks()
        for name, lead, h, s in (("left", self.left, blocks.h_diagonal[0], blocks.s_diagonal[0]),
                                 ("right", self.right, blocks.h_diagonal[-1], blocks.s_diagonal[-1])):
            mismatch = max(np.abs(h - lead.h00 - lead.shift * lead.s00).max(), np.abs(s - lead.s00).max())
            if mismatch > self.lead_tolerance:
                raise LeadError(
                    f"the device's {name} end block differs from the {name} lead cell by {mismatch:.2e} eV "
                    f"(tolerance {self.lead_tolerance:g}): the end of the device must be one lead principal layer"
                )

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_matrices(
        cls,
        hamiltonian,
        overlap,
        orbital_positions: np.ndarray,
        axis: int | str = 0,
        lead_cell: float | None = None,
        orbital_atoms: np.ndarray | None = None,
        lead_tolerance: float = 1e-4,
        position_tolerance: float = 1e-3,
        hermitian_tolerance: float = 1e-8,
        threshold: float = 0.0,
        electrodes: tuple | None = None,
        electrode_tolerance: float = 0.25,
        align_electrodes: bool = False,
    ) -> "Device":
        """Build a device from whole-structure matrices and orbital positions.

        Parameters
        ----------
        hamiltonian, overlap
            ``(N, N)`` H (eV) and S, sparse or dense, Γ-folded in the transverse
            directions and open along ``axis`` (e.g. ``BlockSparseMatrix.to_sparse(axis=0)``).
        orbital_positions
            ``(N, 3)`` Å, the position of the atom carrying each orbital.
        axis
            Transport axis, ``0/1/2`` or ``"x"/"y"/"z"``.
        lead_cell
            Period of the electrodes along the axis (Å); detected from the
            positions when ``None``. The principal layer is the smallest multiple
            of it that contains the coupling range.
        orbital_atoms
            Atom index of each orbital; derived from runs of equal positions if ``None``.
        lead_tolerance
            Largest allowed difference (eV) between repeated electrode cells.
        position_tolerance
            Å, for matching translated electrode atoms.
        hermitian_tolerance
            Relative tolerance of the hermiticity checks.
        threshold
            Couplings with ``|H|`` and ``|S|`` ≤ threshold are dropped before partitioning.
        electrodes
            ``(left, right)`` :class:`~hamtrans.negf.electrodes.Electrode` cells computed
            apart (bulk electrode): each device end of one cell's thickness is mapped onto
            it by position and the bulk lead couples there (no repetition needed in the
            device; ``lead_cell`` is not used).
        electrode_tolerance
            Largest allowed difference (eV) between a device end block and the bulk cell;
            more means the device's electrode segment is not that electrode (or too short).
        align_electrodes
            Shift the electrodes rigidly (``H + δ S``) onto the device's end blocks first
            (potential alignment, :mod:`hamtrans.negf.electrodes`); the shift is
            :attr:`electrode_shift`.
        """
        axis = lattice_axis(axis)
        h, s, positions, atoms, order = sorted_along_axis(hamiltonian, overlap, orbital_positions, axis, orbital_atoms,
                                                          hermitian_tolerance, threshold)
        pattern = coupling_pattern(h, s)
        x = positions[:, axis]
        mismatch, shift = None, 0.0
        if electrodes is not None:
            ends = [attach_electrode(e, h, s, positions, atoms, side, position_tolerance)
                    for e, side in zip(electrodes, ("left", "right"))]
            shift = 0.5 * (ends[0].alignment + ends[1].alignment) if align_electrodes else 0.0
            mismatch = []
            for end, side, block in zip(ends, ("left", "right"), (slice(0, ends[0].n_orbitals),
                                                                  slice(len(x) - ends[1].n_orbitals, len(x)))):
                residual = end.residual(h[block, block].toarray(), s[block, block].toarray(), shift)
                if residual > electrode_tolerance:
                    raise LeadError(
                        f"the device's {side} end block differs from the electrode cell by {residual:.3e} eV "
                        f"(electrode_tolerance {electrode_tolerance:g}"
                        f"{f', after aligning by {shift:+.3f} eV' if align_electrodes else ''}): lengthen the "
                        "device's electrode segment or check that the electrode was computed with the same Hamiltonian"
                    )
                mismatch.append(residual)
            left, right = ends[0].lead.shifted(shift), ends[1].lead.shifted(shift)
            mismatch = tuple(mismatch)
            lead_tolerance = electrode_tolerance
            end_sizes = (left.n_orbitals, right.n_orbitals)
        else:
            search = dict(positions=positions, atoms=atoms, pattern=pattern, axis=axis, lead_cell=lead_cell,
                          position_tolerance=position_tolerance, lead_tolerance=lead_tolerance)
            left_outer, left_inner, _ = principal_layers(h, s, x - x[0], side="left", **search)
            right_outer, right_inner, _ = principal_layers(h, s, x[-1] - x, side="right", **search)
            end_sizes = (len(left_outer), len(right_outer))
        sizes = block_tridiagonal_partition(pattern, *end_sizes)
        _check_overlap_blocks(s, sizes)  # the device's own S, before the leads cut from its ends
        if electrodes is None:
            left = lead_from_cells(h, s, left_outer, left_inner, "left")
            right = lead_from_cells(h, s, right_outer, right_inner, "right")
        return cls(h, s, sizes, left, right, order, positions, atoms, axis, lead_tolerance, mismatch,
                   None if electrodes is None else shift)

    @classmethod
    def from_atoms(cls, hamiltonian, overlap, atoms, basis, axis: int | str = 0, **kwargs) -> "Device":
        """Device from matrices of an ASE structure in an :class:`~hamtrans.data.basis.OrbitalBasis`."""
        atom_index = basis.orbital_atoms(atoms.numbers)
        return cls.from_matrices(hamiltonian, overlap, atoms.positions[atom_index], axis, orbital_atoms=atom_index, **kwargs)

    @classmethod
    def from_record(cls, record, axis: int | str = 0, **kwargs) -> "Device":
        """Device from a dataset :class:`~hamtrans.data.formats.Record` (open along ``axis``)."""
        axis = lattice_axis(axis)
        if record.hamiltonian is None:
            raise MatrixError(f"record {record.name!r} has no Hamiltonian blocks")
        h = record.hamiltonian.to_sparse(axis=axis)
        s = record.overlap.to_sparse(axis=axis)
        return cls.from_atoms(h, s, record.atoms, record.hamiltonian.basis, axis, **kwargs)

    # -- views ---------------------------------------------------------------------------
    @property
    def n_orbitals(self) -> int:
        return self.hamiltonian.shape[0]

    @property
    def n_blocks(self) -> int:
        return len(self.block_sizes)

    @property
    def bounds(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.block_sizes)])

    def blocks(self) -> DeviceBlocks:
        """Dense diagonal and upper blocks (cached)."""
        if "dense" not in self._blocks:
            b = self.bounds
            h, s = self.hamiltonian, self.overlap
            diag = [slice(b[i], b[i + 1]) for i in range(self.n_blocks)]
            h_upper = [h[diag[i], diag[i + 1]] for i in range(self.n_blocks - 1)]
            s_upper = [s[diag[i], diag[i + 1]] for i in range(self.n_blocks - 1)]
            self._blocks["dense"] = DeviceBlocks(
                [h[d, d].toarray() for d in diag], [s[d, d].toarray() for d in diag],
                [u.toarray() for u in h_upper], [u.toarray() for u in s_upper],
                [_is_diagonal(a) and _is_diagonal(b) for a, b in zip(h_upper, s_upper)],
            )
        return self._blocks["dense"]

    def to_input_order(self, values: np.ndarray) -> np.ndarray:
        """Per-orbital values (last axis, internal order) -> input orbital order."""
        out = np.empty_like(values)
        out[..., self.order] = values
        return out

    def per_atom(self, values: np.ndarray) -> np.ndarray:
        """Sum per-orbital values (last axis, internal order) over atoms (input atom numbering)."""
        n_atoms = int(self.orbital_atoms.max()) + 1
        out = np.zeros(values.shape[:-1] + (n_atoms,), dtype=values.dtype)
        np.add.at(out, (..., self.orbital_atoms), values)
        return out

    def reversed(self) -> "Device":
        """The mirror device (transport axis flipped): leads swap, T must not change."""
        n = self.n_orbitals
        flip = np.arange(n)[::-1]
        positions = self.orbital_positions[flip].copy()
        positions[:, self.axis] *= -1
        mirror = lambda lead: Lead(lead.h00, lead.s00, lead.h01.conj().T, lead.s01.conj().T, lead.shift)
        new_left = _permuted_lead(mirror(self.right), np.arange(self.block_sizes[-1])[::-1])
        new_right = _permuted_lead(mirror(self.left), np.arange(self.block_sizes[0])[::-1])
        h = self.hamiltonian[flip][:, flip].tocsr()
        s = self.overlap[flip][:, flip].tocsr()
        mismatch = None if self.electrode_mismatch is None else self.electrode_mismatch[::-1]
        return Device(h, s, self.block_sizes[::-1].copy(), new_left, new_right, self.order[flip],
                      positions, self.orbital_atoms[flip], self.axis, self.lead_tolerance, mismatch,
                      self.electrode_shift)

    def with_potential(self, orbital_potential: np.ndarray) -> "Device":
        """Device with a potential energy ``U`` (eV per orbital, input order) added as ``½(U S + S U)``.

        ``U`` must be constant over each end block; the leads are shifted rigidly by
        that value (the electrodes' bands move with their potential).
        """
        potential = np.asarray(orbital_potential, float)
        if potential.shape != (self.n_orbitals,):
            raise MatrixError(f"potential must have one value per orbital ({self.n_orbitals}), got {potential.shape}")
        if not np.isfinite(potential).all():
            raise MatrixError(f"potential contains NaN or infinity at orbitals "
                              f"{np.flatnonzero(~np.isfinite(potential))[:5].tolist()}: give finite energies (eV)")
        u = potential[self.order]
        first, last = self.block_sizes[0], self.block_sizes[-1]
        shifts = []
        for name, part in (("left", u[:first]), ("right", u[-last:])):
            if np.ptp(part) > 1e-12:
                raise MatrixError(f"the potential varies over the {name} lead principal layer; "
                                  "it must be flat there (the lead is shifted rigidly)")
            shifts.append(float(part[0]))
        diag_u = sp.diags(u)
        shift = 0.5 * (diag_u @ self.overlap + self.overlap @ diag_u)
        return Device((self.hamiltonian + shift).tocsr(), self.overlap, self.block_sizes,
                      self.left.shifted(self.left.shift + shifts[0]), self.right.shifted(self.right.shift + shifts[1]),
                      self.order, self.orbital_positions, self.orbital_atoms, self.axis, self.lead_tolerance,
                      self.electrode_mismatch, self.electrode_shift)

    def check_overlap_positive_definite(self) -> None:
        """Block LDLᴴ of S along the slabs; raise :class:`MatrixError` naming the first failing block."""
        _check_overlap_blocks(self.overlap, self.block_sizes)


# -- helpers -------------------------------------------------------------------------------


def _check_overlap_blocks(s: sp.csr_matrix, sizes: np.ndarray) -> None:
    """Block LDLᴴ of a block-tridiagonal ``s`` with slabs of ``sizes`` orbitals.

    Raises :class:`MatrixError` naming the first slab whose Schur complement is not positive definite.
    """
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    slab = lambda i: slice(bounds[i], bounds[i + 1])
    schur = s[slab(0), slab(0)].toarray()
    for i in range(len(sizes)):
        if i:
            coupling = s[slab(i - 1), slab(i)].toarray()
            schur = s[slab(i), slab(i)].toarray() - coupling.conj().T @ np.linalg.solve(schur, coupling)
        try:
            np.linalg.cholesky(schur)
        except np.linalg.LinAlgError:
            smallest = np.linalg.eigvalsh(schur).min()
            raise MatrixError(f"overlap S is not positive definite (slab {i}: smallest Schur-complement "
                              f"eigenvalue {smallest:.3e})") from None


def _is_diagonal(block: sp.spmatrix) -> bool:
    coo = block.tocoo()
    return block.shape[0] == block.shape[1] and bool(np.all(coo.row[coo.data != 0] == coo.col[coo.data != 0]))


def _permuted_lead(lead: Lead, perm: np.ndarray) -> Lead:
    p = np.ix_(perm, perm)
    return Lead(lead.h00[p], lead.s00[p], lead.h01[p], lead.s01[p], lead.shift)
