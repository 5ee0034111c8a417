"""Long-range electrostatics of atomic charges, and its term in the Hamiltonian.

A self-consistent Hamiltonian (GFN1-xTB, DFT) contains the potential of all the
charges of the cell: a vacancy's charge or an interface dipole shifts every onsite
energy around it by an amount that decays like 1/r, and band offsets between a
metal and an oxide depend on the whole arrangement. A strictly local model cannot
see that, so the optional electrostatic extension writes the Hamiltonian as

``H = H_local + ½ (V S + S V)``,   ``V_i = −k_e Σ_j q_j φ(r_ij)``  (eV),

with atomic charges ``q`` (e, positive = fewer electrons) and ``V`` the potential
energy of an electron at atom ``i`` (diagonal per atom, so the block of atoms
``i, j`` is ``½ (V_i + V_j) S_ij``). The model learns ``q`` as latent charges,
end to end from H (as latent Ewald summation, B. Cheng 2024, does for energies):
Mulliken charges do not work here — in the TiN electrodes GFN1's onsite energies
do not follow their potential at all (measured slope −0.01 for Ti, 0.65 for O).
``φ(r) = erf(r / (√2 σ)) / r`` is the potential of a Gaussian charge of width σ:
Coulomb at long range, smooth at short range, where the local model absorbs the
difference. Each atom's own charge is left out (that self term is local).
The potential is linear in the charges, ``V = G q``; :func:`potential_matrix`
gives ``G`` for training on small structures. Fully periodic cells are summed
by Ewald's method (k = 0 left out, i.e. a neutral cell or a uniform background,
the convention of periodic DFT and tblite); open structures directly. Partially
periodic structures are refused: pad them with vacuum and make them periodic.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from ase import Atoms
from ase.neighborlist import neighbor_list
from ase.units import Bohr, Hartree
from scipy.special import erf

from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.errors import HamtransError, StructureError

#: Coulomb constant e²/(4πε₀) in eV·Å.
COULOMB_CONSTANT = Hartree * Bohr
#: erfc(x) < 3e-11 beyond this x: real-space Ewald terms are dropped there.
_REAL_SPACE_EXTENT = 4.5
#: exp(−x) < 1e-10 beyond this x: reciprocal terms are dropped there.
_RECIPROCAL_EXTENT = 23.0


def electron_potential(atoms: Atoms, charges: np.ndarray, width: float) -> np.ndarray:
    """Potential energy of an electron at each atom from the other atoms' Gaussian charges.

    Parameters
    ----------
    atoms
        Fully periodic (Ewald sum) or fully open structure.
    charges
        ``(N,)`` e (or ``(N, M)``: M charge sets at once); a periodic cell should be
        neutral (a net charge gets a uniform compensating background).
    width
        Gaussian width σ, Å.

    Returns
    -------
    np.ndarray
        ``(N,)`` (or ``(N, M)``) eV: ``−k_e Σ_j q_j φ(r_ij)``.
    """
    charges = np.asarray(charges, dtype=np.float64)
    if charges.ndim not in (1, 2) or charges.shape[0] != len(atoms):
        raise HamtransError(f"{len(charges)} charges given for {len(atoms)} atoms")
    if width <= 0:
        raise HamtransError(f"Gaussian charge width must be positive, not {width} Å")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if pbc.all():
        potential = _ewald(atoms, charges, width)
    elif not pbc.any():
        potential = _open(atoms.get_positions(), charges, width)
    else:
        raise StructureError(
            f"long-range electrostatics handles fully periodic or open structures, not pbc={pbc.tolist()}: "
            "make the structure periodic with vacuum along the open directions"
        )
    return -COULOMB_CONSTANT * potential


def potential_matrix(atoms: Atoms, width: float) -> np.ndarray:
    """``G`` with ``electron_potential(atoms, q, width) = G @ q``, ``(N, N)`` eV/e (for small structures)."""
    return electron_potential(atoms, np.eye(len(atoms)), width)


def _open(positions: np.ndarray, charges: np.ndarray, width: float, chunk: int = 2048) -> np.ndarray:
    """Σ_{j≠i} q_j erf(r_ij/√2σ)/r_ij by direct summation, in row chunks (charges ``(N,)`` or ``(N, M)``)."""
    out = np.empty((len(positions),) + charges.shape[1:])
    for start in range(0, len(positions), chunk):
        rows = slice(start, start + chunk)
        r = np.linalg.norm(positions[rows, None, :] - positions[None, :, :], axis=-1)
        self_pair = r == 0.0
        kernel = erf(r / (np.sqrt(2.0) * width)) / np.where(self_pair, 1.0, r)
        kernel[self_pair] = 0.0
        out[rows] = kernel @ charges
    return out


def _ewald(atoms: Atoms, charges: np.ndarray, width: float) -> np.ndarray:
    """Periodic Σ_{(j,L)≠(i,0)} q_j erf(|r_ij + L|/√2σ)/|r_ij + L|, split at Gaussian width α ≥ σ.

    Real space: ``q_j [erf(r/√2σ) − erf(r/√2α)]/r`` over neighbours within
    ``√2 α · 4.5``; reciprocal space: the α-smeared charges' potential
    ``(4π/V) Σ_k≠0 exp(−k²α²/2)/k² Re[ρ(k) e^{−ik·r_i}]`` minus each atom's own
    α-Gaussian at its centre, ``q_i √(2/π)/α``.
    """
    cell = np.asarray(atoms.cell)
    volume = abs(np.linalg.det(cell))
    splitting = max(width, 2.0)
    cutoff = np.sqrt(2.0) * splitting * _REAL_SPACE_EXTENT
    i, j, r = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
    kernel = (erf(r / (np.sqrt(2.0) * width)) - erf(r / (np.sqrt(2.0) * splitting))) / r
    real = scipy.sparse.coo_matrix((kernel, (i, j)), shape=(len(atoms),) * 2).tocsr() @ charges

    k_max = np.sqrt(2.0 * _RECIPROCAL_EXTENT) / splitting
    reciprocal_cell = 2.0 * np.pi * np.linalg.inv(cell).T
    counts = np.ceil(k_max * np.linalg.norm(cell, axis=1) / (2.0 * np.pi)).astype(int)
    grid = np.stack(np.meshgrid(*(np.arange(-n, n + 1) for n in counts), indexing="ij"), -1).reshape(-1, 3)
    grid = grid[_half_space(grid)]  # k and −k give the same real part: keep one, count twice
    k = grid @ reciprocal_cell
    k2 = np.einsum("ij,ij->i", k, k)
    keep = k2 <= k_max**2
    k, k2 = k[keep], k2[keep]
    weights = 2.0 * (4.0 * np.pi / volume) * np.exp(-0.5 * k2 * splitting**2) / k2
    positions = atoms.get_positions()
    reciprocal = np.zeros(charges.shape)
    for start in range(0, len(k), 4096):
        part = slice(start, start + 4096)
        phase = positions @ k[part].T                       # (N, K)
        cos, sin = np.cos(phase), np.sin(phase)
        w = weights[part].reshape((-1,) + (1,) * (charges.ndim - 1))
        reciprocal += cos @ (w * (cos.T @ charges)) + sin @ (w * (sin.T @ charges))
    self_term = charges * np.sqrt(2.0 / np.pi) / splitting
    return real + reciprocal - self_term


def _half_space(grid: np.ndarray) -> np.ndarray:
    """Mask of integer vectors n with n > 0 lexicographically (one of each ±n, n = 0 dropped)."""
    first = np.where(grid[:, 0] != 0, grid[:, 0], np.where(grid[:, 1] != 0, grid[:, 1], grid[:, 2]))
    return first > 0


def potential_blocks(overlap: BlockSparseMatrix, potential: np.ndarray) -> BlockSparseMatrix:
    """The Hamiltonian term ``½ (V S + S V)`` of an atomic potential, in the layout of ``overlap``.

    Parameters
    ----------
    overlap
        Block-sparse S.
    potential
        ``(N,)`` eV per atom (e.g. :func:`electron_potential`).
    """
    layout = overlap.layout
    orbital_potential = np.repeat(np.asarray(potential, dtype=np.float64), layout.counts)
    rows, cols = layout.onsite_indices()
    onsite = 0.5 * (orbital_potential[rows] + orbital_potential[cols]) * overlap.onsite
    rows, cols = layout.edge_indices()
    edges = 0.5 * (orbital_potential[rows] + orbital_potential[cols]) * overlap.edges
    return overlap.copy_with(onsite, edges)


def neutralized(charges: np.ndarray, total: float = 0.0) -> np.ndarray:
    """Charges shifted uniformly so that they sum to ``total`` (e)."""
    charges = np.asarray(charges, dtype=np.float64)
    return charges - (charges.sum() - total) / len(charges)
