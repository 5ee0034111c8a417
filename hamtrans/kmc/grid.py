"""The finite-difference grid of a device's oxide, shared by the Poisson and heat solvers.

The grid spans the transport axis x between the two electrode surfaces (the last
metal plane on each side of the oxide), where the solvers put Dirichlet values,
and is periodic in y and z with the device's lateral period (its cross-section,
without the vacuum of a nanowire cell: the oxide is treated as a laterally
periodic film, as in the d-KMC device models). Nodes ``i = 0 … nx`` along x
(``i = 0`` and ``nx`` on the electrodes), ``ny`` and ``nz`` nodes across.

Point quantities (charges, heat sources) are spread on the eight surrounding nodes
with trilinear (cloud-in-cell) weights, and fields are read back with the same
weights: the two maps are adjoint, so the site-to-site Green's matrices of the
solvers are symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hamtrans.errors import HamtransError


@dataclass(frozen=True)
class DeviceGrid:
    """A box grid ``[x_left, x_right] × [0, period_y) × [0, period_z)`` (Å).

    Attributes
    ----------
    x_left, x_right
        Å, positions of the electrode surfaces (Dirichlet planes).
    period
        ``(Ly, Lz)`` Å, lateral periods.
    shape
        ``(nx + 1, ny, nz)`` nodes including both Dirichlet planes.
    """

    x_left: float
    x_right: float
    period: tuple[float, float]
    shape: tuple[int, int, int]

    @classmethod
    def covering(cls, x_left: float, x_right: float, period: tuple[float, float], spacing: float) -> "DeviceGrid":
        """The grid with node spacing at most ``spacing`` Å (rounded to whole intervals)."""
        if not spacing > 0:
            raise HamtransError(f"the grid spacing must be a positive length (Å), not {spacing}")
        if not x_right > x_left:
            raise HamtransError(f"the electrode planes must satisfy x_left < x_right, got {x_left} and {x_right}")
        nx = max(2, int(np.ceil((x_right - x_left) / spacing)))
        ny, nz = (max(2, int(np.ceil(p / spacing))) for p in period)
        return cls(float(x_left), float(x_right), (float(period[0]), float(period[1])), (nx + 1, ny, nz))

    @property
    def spacing(self) -> np.ndarray:
        """``(hx, hy, hz)`` Å."""
        nx1, ny, nz = self.shape
        return np.array([(self.x_right - self.x_left) / (nx1 - 1), self.period[0] / ny, self.period[1] / nz])

    @property
    def n_interior(self) -> int:
        """Unknowns: nodes off the two Dirichlet planes."""
        nx1, ny, nz = self.shape
        return (nx1 - 2) * ny * nz

    @property
    def cell_volume(self) -> float:
        """Å³ per node."""
        return float(np.prod(self.spacing))

    def node_x(self) -> np.ndarray:
        """``(nx + 1,)`` x of the node planes, Å."""
        return np.linspace(self.x_left, self.x_right, self.shape[0])

    def laplacian(self, conductivity: np.ndarray | None = None) -> sp.csc_matrix:
        """The SPD matrix of ``−∇·(c ∇u)`` on the interior nodes (Å⁻² × c).

        ``conductivity`` ``(nx + 1, ny, nz)`` node values ``c`` (default 1); a face
        takes the harmonic mean of its two nodes. Dirichlet neighbours enter only
        the diagonal: their values go to the right-hand side (:meth:`boundary_rhs`).
        """
        nx1, ny, nz = self.shape
        c = np.ones(self.shape) if conductivity is None else np.asarray(conductivity, dtype=float)
        if c.shape != self.shape:
            raise HamtransError(f"conductivity has shape {c.shape}, the grid {self.shape}")
        h = self.spacing
        index = -np.ones(self.shape, dtype=np.int64)
        index[1:-1] = np.arange(self.n_interior).reshape(nx1 - 2, ny, nz)
        rows, cols, vals = [], [], []
        diagonal = np.zeros(self.n_interior)
        for axis in range(3):
            forward = np.roll(c, -1, axis=axis)
            face = 2 * c * forward / np.maximum(c + forward, 1e-300) / h[axis] ** 2  # face between n and n+1
            ind_next = np.roll(index, -1, axis=axis)
            if axis == 0:  # no wrap along x: the last plane has no forward face
                face, here, there = face[:-1], index[:-1], ind_next[:-1]
            else:
                here, there = index, ind_next
            for a, b in ((here, there), (there, here)):
                mask = a >= 0
                np.add.at(diagonal, a[mask], face[mask])
                coupled = mask & (b >= 0)
                rows.append(a[coupled])
                cols.append(b[coupled])
                vals.append(-face[coupled])
        rows.append(np.arange(self.n_interior))
        cols.append(np.arange(self.n_interior))
        vals.append(diagonal)
        matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(self.n_interior, self.n_interior))
        return matrix.tocsc()

    def boundary_rhs(self, left: float, right: float, conductivity: np.ndarray | None = None) -> np.ndarray:
        """Right-hand side (interior nodes) of the Dirichlet values ``left`` and ``right`` on the electrodes."""
        nx1, ny, nz = self.shape
        c = np.ones(self.shape) if conductivity is None else np.asarray(conductivity, dtype=float)
        hx2 = self.spacing[0] ** 2
        rhs = np.zeros((nx1 - 2, ny, nz))
        face_left = 2 * c[0] * c[1] / (c[0] + c[1]) / hx2
        face_right = 2 * c[-1] * c[-2] / (c[-1] + c[-2]) / hx2
        rhs[0] += face_left * left
        rhs[-1] += face_right * right
        return rhs.ravel()

    def full_field(self, interior: np.ndarray, left: float, right: float) -> np.ndarray:
        """``(nx + 1, ny, nz)`` node values from the interior solution and the two Dirichlet values."""
        nx1, ny, nz = self.shape
        field = np.empty(self.shape + interior.shape[1:])
        field[0], field[-1] = left, right
        field[1:-1] = interior.reshape((nx1 - 2, ny, nz) + interior.shape[1:])
        return field

    def weights(self, points: np.ndarray) -> sp.csr_matrix:
        """``(n_points, n_nodes)`` trilinear weights of ``points`` ``(n, 3)`` Å on all nodes.

        Points beyond an electrode plane are clamped onto it (inside a metal the
        field is the electrode's).
        """
        points = np.atleast_2d(np.asarray(points, dtype=float))
        nx1, ny, nz = self.shape
        h = self.spacing
        u = np.clip((points[:, 0] - self.x_left) / h[0], 0.0, nx1 - 1 - 1e-12)
        v = np.mod(points[:, 1], self.period[0]) / h[1]
        w = np.mod(points[:, 2], self.period[1]) / h[2]
        i0, j0, k0 = np.floor(u).astype(int), np.floor(v).astype(int), np.floor(w).astype(int)
        fu, fv, fw = u - i0, v - j0, w - k0
        rows, cols, vals = [], [], []
        for di, wu in ((0, 1 - fu), (1, fu)):
            for dj, wv in ((0, 1 - fv), (1, fv)):
                for dk, ww in ((0, 1 - fw), (1, fw)):
                    node = ((i0 + di) * ny + (j0 + dj) % ny) * nz + (k0 + dk) % nz
                    rows.append(np.arange(len(points)))
                    cols.append(node)
                    vals.append(wu * wv * ww)
        return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(len(points), int(np.prod(self.shape))))

    def interior_weights(self, points: np.ndarray) -> sp.csr_matrix:
        """:meth:`weights` restricted to the interior nodes (a point on an electrode has no interior weight)."""
        nx1, ny, nz = self.shape
        layer = ny * nz
        return self.weights(points)[:, layer:(nx1 - 1) * layer].tocsr()

    def gaussian_weights(self, points: np.ndarray, width: float) -> np.ndarray:
        """``(n_points, n_interior)`` Gaussian weights (standard deviation ``width`` Å) on the interior nodes.

        Each row sums to 1 (the part of a Gaussian beyond an electrode plane is
        given back to the oxide: a charge stays whole); lateral periodic images are
        included. Dense: for the few hundred sites of a KMC lattice.
        """
        if not width > 0:
            raise HamtransError(f"the charge width must be a positive length (Å), not {width}")
        points = np.atleast_2d(np.asarray(points, dtype=float))
        nx1, ny, nz = self.shape
        h = self.spacing
        x = self.node_x()[1:-1]
        y, z = np.arange(ny) * h[1], np.arange(nz) * h[2]
        gx = np.exp(-0.5 * ((x[None] - points[:, :1]) / width) ** 2)
        gy, gz = (self._periodic_gaussian(axis, points[:, k], self.period[k - 1], width)
                  for k, axis in ((1, y), (2, z)))
        weights = gx[:, :, None, None] * gy[:, None, :, None] * gz[:, None, None, :]
        weights = weights.reshape(len(points), -1)
        return weights / weights.sum(axis=1, keepdims=True)

    @staticmethod
    def _periodic_gaussian(axis: np.ndarray, centres: np.ndarray, period: float, width: float) -> np.ndarray:
        delta = axis[None] - centres[:, None]
        delta -= np.round(delta / period) * period
        images = np.arange(-3, 4) * period
        return np.exp(-0.5 * ((delta[..., None] + images) / width) ** 2).sum(axis=-1)
