"""Electrostatic potential of the oxide: applied voltage plus the charges of the defects.

Poisson's equation ``−∇·(ε₀ ε_r ∇φ) = ρ`` on a :class:`~hamtrans.kmc.grid.DeviceGrid`:
the left electrode surface at the applied voltage, the right one grounded, periodic
across; a uniform relative permittivity ``ε_r`` (HfO2: 23, the value of the d-KMC
models of the same group, arXiv 2212.14090; measured films 16–25). Defects carry
V_O²⁺ (+2 e) and interstitial O²⁻ (−2 e), as Gaussians of ``charge_width`` (3.5 Å
by default) or as point charges spread with cloud-in-cell weights.

The equation is linear, so the potential at the KMC sites is

    φ(sites) = V · φ₁(sites) + G q

with ``φ₁`` the potential of 1 V and no charge (exactly the linear drop: the
7-point Laplacian is exact on linear functions) and ``G`` the site-to-site Green's
matrix (V per e), one column per site. Both come from ONE sparse LU factorisation
(``scipy.sparse.linalg.splu``) and one batched back-substitution. A KMC event moves
a charge between two sites (and screening may neutralise a few more), so the
potential after it is updated exactly by a few columns of ``G``: no re-solve and no
error accumulates between solves.

Units: Å, e, V (``1/(4π ε₀) = 14.3996 V Å / e``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse.linalg import splu

from hamtrans.errors import HamtransError
from hamtrans.kmc.grid import DeviceGrid

if TYPE_CHECKING:
    from hamtrans.kmc.lattice import OxideLattice

#: 1/(4π ε₀) in V·Å/e (= eV·Å/e²).
COULOMB = 14.399645
#: Relative permittivity of HfO2 used by default (d-KMC models, arXiv 2212.14090).
HFO2_PERMITTIVITY = 23.0
#: Å, Gaussian width (standard deviation) of a defect charge: the broadening of the same group's KMC code
#: (DeviceKMC, ``sigma = 3.5e-10`` m). A point charge on a sub-Å grid would give V_O–V_O repulsions of ~1 eV at
#: 2.5 Å, larger than the diffusion barrier; the broadening stands for the screening by the surrounding
#: defect states.
CHARGE_WIDTH = 3.5


class PoissonSolver:
    """Factorised Poisson operator of a grid with uniform permittivity.

    Parameters
    ----------
    grid
        The device grid (Dirichlet planes at its electrode surfaces).
    permittivity
        Relative permittivity ε_r (> 0).
    """

    def __init__(self, grid: DeviceGrid, permittivity: float = HFO2_PERMITTIVITY) -> None:
        if not permittivity > 0:
            raise HamtransError(f"the relative permittivity must be positive, not {permittivity}")
        self.grid = grid
        self.permittivity = float(permittivity)
        self._lu = splu(grid.laplacian(), permc_spec="MMD_AT_PLUS_A")

    def potential(self, voltage: float, positions: np.ndarray | None = None,
                  charges: np.ndarray | None = None) -> np.ndarray:
        """``(nx + 1, ny, nz)`` node potential (V) of ``voltage`` on the left electrode and point charges.

        Parameters
        ----------
        voltage
            V on the left electrode surface (the right one is grounded).
        positions, charges
            ``(n, 3)`` Å and ``(n,)`` e of point charges (optional).
        """
        rhs = self.grid.boundary_rhs(voltage, 0.0)
        if positions is not None and len(positions):
            rhs = rhs + self._charge_rhs(positions) @ np.asarray(charges, dtype=float)
        return self.grid.full_field(self._lu.solve(rhs), voltage, 0.0)

    def site_response(self, sites: np.ndarray, width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(φ₁, G)`` at ``sites`` ``(n, 3)`` Å: potential of 1 V (V) and Green's matrix (V per e, ``(n, n)``).

        ``width`` (Å): each site's charge is a Gaussian of this standard deviation,
        and ``G[i, j]`` is the potential of charge ``j`` averaged over the Gaussian of
        ``i`` (symmetric); ``None``: point charges spread with cloud-in-cell weights.
        """
        full = self.grid.weights(sites)
        applied = self.grid.full_field(self._lu.solve(self.grid.boundary_rhs(1.0, 0.0)), 1.0, 0.0).ravel()
        if width is None:
            spread = self.grid.interior_weights(sites).toarray()
        else:
            spread = self.grid.gaussian_weights(sites, width)
        columns = self._lu.solve(self._density_rhs(spread.T))
        green = spread @ columns
        return full @ applied, 0.5 * (green + green.T)  # symmetric up to round-off: the maps are adjoint

    def _charge_rhs(self, positions: np.ndarray) -> np.ndarray:
        """``(n_interior, n)`` right-hand sides of unit point charges (cloud-in-cell)."""
        return self._density_rhs(self.grid.interior_weights(positions).T.toarray())

    def _density_rhs(self, node_weights: np.ndarray) -> np.ndarray:
        """Right-hand sides (4π/ε_r × density) of unit charges spread with ``(n_interior, n)`` node weights."""
        return node_weights * (4 * np.pi * COULOMB / self.permittivity / self.grid.cell_volume)


@dataclass(frozen=True)
class SiteElectrostatics:
    """Potential at the KMC sites (O sites, then interstitials): ``φ = V φ₁ + G q``.

    Attributes
    ----------
    applied
        ``(n,)`` V per volt on the left electrode (no charges).
    green
        ``(n, n)`` V per e, or ``None`` when defect charges are left out (the linear drop).
    """

    applied: np.ndarray
    green: np.ndarray | None

    @classmethod
    def linear(cls, lattice: OxideLattice) -> "SiteElectrostatics":
        """The uniform field between the electrode surfaces, without defect charges."""
        x_left, x_right = lattice.electrode_planes
        x = lattice.all_positions[:, 0]
        return cls(1.0 - np.clip((x - x_left) / (x_right - x_left), 0.0, 1.0), None)

    @classmethod
    def poisson(cls, lattice: OxideLattice, permittivity: float = HFO2_PERMITTIVITY, spacing: float = 0.7,
                charge_width: float | None = CHARGE_WIDTH) -> "SiteElectrostatics":
        """Poisson with the defect charges on a grid of ``spacing`` Å between the electrode surfaces.

        ``charge_width`` (Å): Gaussian width of a defect charge (``None``: point charges).
        """
        grid = DeviceGrid.covering(*lattice.electrode_planes, lattice.period, spacing)
        applied, green = PoissonSolver(grid, permittivity).site_response(lattice.all_positions, charge_width)
        return cls(applied, green)

    def potential(self, voltage: float, charges: np.ndarray) -> np.ndarray:
        """``(n,)`` V at the sites for ``voltage`` on the left electrode and site ``charges`` (e)."""
        phi = float(voltage) * self.applied
        return phi if self.green is None else phi + self.green @ charges

    def update(self, potential: np.ndarray, charge_change: np.ndarray) -> None:
        """Update ``potential`` in place for the site charges changed by ``charge_change`` (e): exact, O(n) per site."""
        if self.green is None:
            return
        changed = np.flatnonzero(charge_change)
        if len(changed):
            potential += self.green[:, changed] @ charge_change[changed]

    def energy(self, voltage: float, charges: np.ndarray) -> float:
        """Electrostatic energy (eV) of the site charges: ``q·V φ₁ + ½ Σ_{i≠j} q_i G_ij q_j`` (no self term)."""
        q = np.asarray(charges, dtype=float)
        energy = float(voltage) * float(q @ self.applied)
        if self.green is not None:
            energy += 0.5 * float(q @ self.green @ q - (q * q) @ np.diag(self.green))
        return energy
