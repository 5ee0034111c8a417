"""Joule heating of the oxide: the temperature at every KMC site from the dissipated power.

The power is ``P = |I V|`` with ``I`` the Landauer current of the structure at the
applied voltage ``V``. Two models:

``GlobalHeating``
    One temperature for the whole oxide, ``T = T₀ + R_th P`` (the global model of
    the d-KMC papers, arXiv 2505.06809; ``R_th`` in K/W).
``LocalHeating``
    The steady heat equation ``−∇·(κ ∇T) = p`` on the device grid, both electrode
    surfaces held at ``T₀`` (they are good heat sinks), periodic across. The power
    is released where the voltage drops: uniformly in the tunnelling gap of the
    filament (the stretch along x that no electrode-connected vacancy cluster covers,
    across the device's ``lateral`` extent), or spread equally over the vacancy sites
    when a cluster spans the oxide (the current of the filament flows there). The
    conductivity is ``κ_oxide`` (0.5 W/(m K), amorphous HfO2) and
    ``κ_vacancy`` (5 W/(m K)) within ``path_radius`` of a vacancy (the values of the
    local thermal model of the same group's KMC code, DeviceKMC).

Units: K, W, W/(m K) at the interface; Å inside (κ is converted to W/(Å K)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

from hamtrans.errors import HamtransError
from hamtrans.kmc.grid import DeviceGrid

#: W/(m K) → W/(Å K).
PER_METRE_TO_PER_ANGSTROM = 1e-10


@dataclass(frozen=True)
class GlobalHeating:
    """``T = ambient + thermal_resistance · P`` at every site.

    Parameters
    ----------
    ambient
        K, the electrodes' (and the rates') temperature without power.
    thermal_resistance
        K/W (≥ 0).
    """

    ambient: float
    thermal_resistance: float

    def __post_init__(self) -> None:
        _check_positive(self.ambient, "the ambient temperature (K)")
        if not self.thermal_resistance >= 0:
            raise HamtransError(f"the thermal resistance must be ≥ 0 K/W, not {self.thermal_resistance}")

    def site_temperatures(self, sites: np.ndarray, vacancies: np.ndarray, power: float) -> np.ndarray:
        """``(n_sites,)`` K for ``power`` W (``vacancies``: positions of the vacant sites, unused)."""
        return np.full(len(sites), self.ambient + self.thermal_resistance * _power(power))


class LocalHeating:
    """Steady heat equation on a :class:`~hamtrans.kmc.grid.DeviceGrid` (see the module docstring).

    Parameters
    ----------
    grid
        Grid with the electrode surfaces as its Dirichlet planes (held at ``ambient``).
    ambient
        K.
    oxide_conductivity, vacancy_conductivity
        W/(m K) of the oxide and of the vacancy-rich path.
    path_radius
        Å; grid nodes this close to a vacancy take ``vacancy_conductivity``.
    lateral
        ``((y_min, y_max), (z_min, z_max))`` Å of the conducting cross-section (a
        nanowire's atoms); ``None``: the whole grid.
    """

    def __init__(self, grid: DeviceGrid, ambient: float, oxide_conductivity: float = 0.5,
                 vacancy_conductivity: float = 5.0, path_radius: float = 2.0,
                 lateral: tuple[tuple[float, float], tuple[float, float]] | None = None) -> None:
        _check_positive(ambient, "the ambient temperature (K)")
        _check_positive(oxide_conductivity, "the oxide's thermal conductivity (W/(m K))")
        _check_positive(vacancy_conductivity, "the vacancy path's thermal conductivity (W/(m K))")
        _check_positive(path_radius, "the heating path radius (Å)")
        self.grid, self.ambient = grid, float(ambient)
        self.oxide_conductivity, self.vacancy_conductivity = float(oxide_conductivity), float(vacancy_conductivity)
        self.path_radius = float(path_radius)
        self._nodes = self._node_positions()
        inside = np.ones(len(self._nodes), dtype=bool)
        for axis, bounds in zip((1, 2), lateral or ()):
            inside &= (self._nodes[:, axis] >= bounds[0]) & (self._nodes[:, axis] <= bounds[1])
        self._in_wire = inside
        self._factors: dict[bytes, object] = {}  # LU factors by vacancy-path node mask (a few are reused)

    def temperature(self, vacancies: np.ndarray, power: float, gap: tuple[float, float] | None = None) -> np.ndarray:
        """``(nx + 1, ny, nz)`` node temperatures (K) for ``power`` W.

        ``vacancies`` ``(n, 3)`` Å; ``gap`` ``(x_from, x_to)`` Å: the tunnelling gap where the
        power is released (``None`` or empty: on the vacancy sites).
        """
        grid = self.grid
        near = self._near_path(vacancies)
        conductivity = self._conductivity(near)
        rhs = grid.boundary_rhs(self.ambient, self.ambient, conductivity)
        rhs += self.source(vacancies, _power(power), gap)
        key = near.tobytes()
        if key not in self._factors:
            if len(self._factors) >= 8:
                self._factors.pop(next(iter(self._factors)))
            self._factors[key] = splu(grid.laplacian(conductivity), permc_spec="MMD_AT_PLUS_A")
        return grid.full_field(self._factors[key].solve(rhs), self.ambient, self.ambient)

    def site_temperatures(self, sites: np.ndarray, vacancies: np.ndarray, power: float,
                          gap: tuple[float, float] | None = None) -> np.ndarray:
        """``(n_sites,)`` K at ``sites`` ``(n_sites, 3)`` Å (trilinear reading of :meth:`temperature`)."""
        return self.grid.weights(sites) @ self.temperature(vacancies, power, gap).ravel()

    def conductivity(self, vacancies: np.ndarray) -> np.ndarray:
        """``(nx + 1, ny, nz)`` node conductivity, W/(Å K)."""
        return self._conductivity(self._near_path(vacancies))

    def _conductivity(self, near: np.ndarray) -> np.ndarray:
        kappa = np.full(self.grid.shape, self.oxide_conductivity)
        kappa.ravel()[near] = self.vacancy_conductivity
        return kappa * PER_METRE_TO_PER_ANGSTROM

    def source(self, vacancies: np.ndarray, power: float, gap: tuple[float, float] | None = None) -> np.ndarray:
        """Interior-node power density (W/Å³) totalling ``power`` W: in the gap, else on the vacancy path."""
        grid = self.grid
        n_interior = grid.n_interior
        layer = grid.shape[1] * grid.shape[2]
        nodes, in_wire = self._nodes[layer:-layer], self._in_wire[layer:-layer]
        weights = np.zeros(n_interior)
        if gap is not None and gap[1] > gap[0]:
            weights = (in_wire & (nodes[:, 0] >= gap[0]) & (nodes[:, 0] <= gap[1])).astype(float)
        elif len(vacancies):
            weights = np.asarray(grid.interior_weights(vacancies).sum(axis=0)).ravel()
        if weights.sum() <= 0.0:  # no vacancy, a gap thinner than a node plane, or vacancies on an electrode
            weights = in_wire.astype(float) if in_wire.any() else np.ones(n_interior)
        return power * weights / weights.sum() / grid.cell_volume

    def heat_to_electrodes(self, temperature: np.ndarray, conductivity: np.ndarray) -> float:
        """W flowing into the two electrodes (the energy balance: equals the power released)."""
        hx, hy, hz = self.grid.spacing
        total = 0.0
        for plane, inner in ((0, 1), (-1, -2)):
            face = 2 * conductivity[plane] * conductivity[inner] / (conductivity[plane] + conductivity[inner])
            total += float((face * (temperature[inner] - temperature[plane])).sum()) * hy * hz / hx
        return total

    def _node_positions(self) -> np.ndarray:
        grid = self.grid
        h = grid.spacing
        axes = [grid.node_x(), np.arange(grid.shape[1]) * h[1], np.arange(grid.shape[2]) * h[2]]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)

    def _near_path(self, vacancies: np.ndarray) -> np.ndarray:
        """Flat indices of the nodes within ``path_radius`` of a vacancy (lateral periodic images included)."""
        if not len(vacancies):
            return np.zeros(0, dtype=np.int64)
        ly, lz = self.grid.period
        points = np.asarray(vacancies, dtype=float).copy()
        points[:, 1] %= ly
        points[:, 2] %= lz
        images = np.concatenate([points + [0.0, a * ly, b * lz] for a in (-1, 0, 1) for b in (-1, 0, 1)])
        hits = cKDTree(images).query_ball_point(self._nodes, self.path_radius, return_length=True)
        return np.flatnonzero(hits > 0)


def _power(power: float) -> float:
    if not np.isfinite(power) or power < 0:
        raise HamtransError(f"the dissipated power must be a finite non-negative number of watts, not {power}")
    return float(power)


def _check_positive(value: float, what: str) -> None:
    if not value > 0:
        raise HamtransError(f"{what} must be positive, not {value}")
