"""Sites of the oxygen sublattice and the interstitials of a VCM device's oxide.

A KMC state lives on a fixed lattice taken from the *pristine* device (built with
``vacancies="none"``): every O atom of the oxide region is a lattice site, which is
occupied (O²⁻) or vacant (V_O²⁺); interstitial sites are the centres of the
empty cubes of the fluorite O sublattice (points ``a/4·(±1, ±1, ±1)`` from O sites
that are far from every atom), which are empty or hold an oxygen ion O_i²⁻.
Hops connect sites closer than a cutoff (periodic images included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from hamtrans.data.graphs import neighbour_pairs
from hamtrans.data.regions import REGIONS
from hamtrans.errors import StructureError

OXIDE_REGION = 1
#: Fluorite HfO2 lattice constant used by the device builder, Å.
A_FLUORITE = 5.08


@dataclass(frozen=True)
class OxideLattice:
    """Fixed geometry of a KMC simulation.

    Attributes
    ----------
    pristine
        Device without vacancies (``arrays['region']`` from the builder).
    oxygen_atoms
        ``(n_sites,)`` index in ``pristine`` of every oxide O site.
    site_positions, interstitial_positions
        ``(n_sites, 3)``, ``(n_interstitials, 3)`` Å.
    site_hops, interstitial_hops, exchange_pairs
        Directed pairs (both directions) ``(2, n)``: O site → O site, interstitial →
        interstitial, O site → interstitial.
    oxide_bounds
        ``(x_left, x_right)`` Å: the oxide's extent along the transport axis (x).
    electrode_planes
        ``(x_left, x_right)`` Å: the metal surfaces facing the oxide (the last atom plane
        of the left electrode, the first of the right metal: Ti layer or TiN).
    period
        ``(Ly, Lz)`` Å: the lateral period of the device cell (with the vacuum of a
        nanowire cell: the electrostatics and heat grids treat it as more oxide, so
        the wire stands for a filament region of a wider film and a defect's lateral
        images are a cell apart, not a wire width).
    """

    pristine: Atoms
    oxygen_atoms: np.ndarray
    site_positions: np.ndarray
    interstitial_positions: np.ndarray
    site_hops: np.ndarray
    interstitial_hops: np.ndarray
    exchange_pairs: np.ndarray
    oxide_bounds: tuple[float, float]
    electrode_planes: tuple[float, float]
    period: tuple[float, float]

    @property
    def n_sites(self) -> int:
        return len(self.oxygen_atoms)

    @property
    def n_interstitials(self) -> int:
        return len(self.interstitial_positions)

    @classmethod
    def from_device(cls, pristine: Atoms, hop_cutoff: float = 2.9, clearance: float = 1.9) -> "OxideLattice":
        """Lattice of a pristine device.

        Parameters
        ----------
        pristine
            Device from :func:`~hamtrans.data.structures.build_vcm_device` with ``vacancies="none"``.
        hop_cutoff
            Å; sites closer than this are connected by a hop (O–O 2.54 Å, O–interstitial 2.2 Å).
        clearance
            Å; an interstitial candidate closer than this to any atom is not a site.
        """
        if "region" not in pristine.arrays:
            raise StructureError("the device has no 'region' labels; build it with build_vcm_device")
        region = pristine.arrays["region"]
        oxygen = np.flatnonzero((region == OXIDE_REGION) & (pristine.numbers == 8))
        if oxygen.size == 0:
            raise StructureError("the device has no oxide oxygen atoms to put vacancies on")
        sites = pristine.positions[oxygen]
        interstitials = _interstitial_sites(pristine, sites, clearance)
        combined = Atoms(positions=np.concatenate([sites, interstitials]), cell=pristine.cell, pbc=pristine.pbc)
        i, j, _, _ = neighbour_pairs(combined, hop_cutoff)
        n = len(sites)
        site_hops = np.stack([i, j])[:, (i < n) & (j < n)]
        interstitial_hops = np.stack([i, j])[:, (i >= n) & (j >= n)] - n
        exchange = (i < n) & (j >= n)
        exchange_pairs = np.stack([i[exchange], j[exchange] - n])
        oxide_x = pristine.positions[region == OXIDE_REGION, 0]
        left_metal = pristine.positions[region == REGIONS["left_electrode"], 0]
        right_metal = pristine.positions[(region == REGIONS["ti"]) | (region == REGIONS["right_electrode"]), 0]
        if not (left_metal < oxide_x.min()).any() or not (right_metal > oxide_x.max()).any():
            raise StructureError("the device needs metal on both sides of its oxide (regions 0 and 2/3)")
        planes = (float(left_metal[left_metal < oxide_x.min()].max()),
                  float(right_metal[right_metal > oxide_x.max()].min()))
        return cls(pristine, oxygen, sites, interstitials, _unique_pairs(site_hops), _unique_pairs(interstitial_hops),
                   _unique_pairs(exchange_pairs), (float(oxide_x.min()), float(oxide_x.max())), planes,
                   _lateral_period(pristine))

    @property
    def all_positions(self) -> np.ndarray:
        """``(n_sites + n_interstitials, 3)`` Å: O sites first, then interstitials (the KMC's site order)."""
        return np.concatenate([self.site_positions, self.interstitial_positions])

    def metal_neighbours(self, radius: float) -> np.ndarray:
        """``(n_sites + n_interstitials,)`` bool: a metal atom (electrode or Ti layer) within ``radius`` Å."""
        metal = self.pristine[self.pristine.arrays["region"] != OXIDE_REGION]
        distance, _ = cKDTree(_with_images(metal)).query(self.all_positions)
        return distance < radius

    def site_neighbours(self, radius: float):
        """``(n_sites, n_sites)`` sparse 0/1 matrix of O sites within ``radius`` Å (periodic images included)."""
        from scipy.sparse import csr_matrix

        sites = Atoms(positions=self.site_positions, cell=self.pristine.cell, pbc=self.pristine.pbc)
        i, j, _, _ = neighbour_pairs(sites, radius)
        keep = i != j
        pairs = np.unique(np.stack([i[keep], j[keep]]).T, axis=0).T if keep.any() else np.zeros((2, 0), dtype=int)
        return csr_matrix((np.ones(pairs.shape[1], dtype=np.int64), (pairs[0], pairs[1])),
                          shape=(self.n_sites, self.n_sites))

    def structure(self, occupied: np.ndarray) -> Atoms:
        """The device with the vacant O sites removed (interstitial ions are not placed as atoms)."""
        keep = np.ones(len(self.pristine), dtype=bool)
        keep[self.oxygen_atoms[~occupied]] = False
        return self.pristine[keep]


def _lateral_period(pristine: Atoms) -> tuple[float, float]:
    """The cell's y and z lengths (Å)."""
    lengths = pristine.cell.lengths()
    return float(lengths[1]), float(lengths[2])


def _interstitial_sites(pristine: Atoms, sites: np.ndarray, clearance: float) -> np.ndarray:
    """Centres of empty O-sublattice cubes: ``a/4·(±1, ±1, ±1)`` from O sites, ≥ ``clearance`` from every atom."""
    offsets = A_FLUORITE / 4 * np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    candidates = (sites[:, None, :] + offsets[None]).reshape(-1, 3)
    candidates = np.unique(np.round(candidates, 2), axis=0)
    tree = cKDTree(_with_images(pristine))
    distance, _ = tree.query(candidates)
    kept = candidates[distance >= clearance]
    # a cube centre is shared by 8 O sites: merge candidates that coincide up to the rattle
    merged = cKDTree(kept).query_pairs(0.5, output_type="ndarray")
    drop = np.zeros(len(kept), dtype=bool)
    for a, b in merged:
        if not drop[a]:
            drop[b] = True
    return kept[~drop]


def _with_images(atoms: Atoms) -> np.ndarray:
    """Positions of the atoms and of their 26 neighbouring periodic images (for distance queries)."""
    shifts = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    shifts = shifts[np.all((shifts == 0) | np.asarray(atoms.pbc, dtype=bool), axis=1)]
    return (atoms.positions[None] + (shifts @ atoms.cell.array)[:, None]).reshape(-1, 3)


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Directed pairs without duplicates (several periodic images of one pair count once)."""
    if pairs.size == 0:
        return pairs.reshape(2, 0)
    return np.unique(pairs.T, axis=0).T
