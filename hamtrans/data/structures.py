"""Structure builders: TiN | HfO2 | Ti | TiN valence-change-memory devices, bulk cells, clusters.

Device recipe (:func:`build_vcm_device`), transport along x, periodic in y and z:

1. The cross-section is rounded to whole rock-salt TiN cells (a = 4.24 Å); both
   electrodes are perfect TiN, the right one continuing the left one across the
   x boundary so the periodic cell has no TiN|TiN defect.
2. The oxide is cut from unstrained cubic fluorite HfO2 (a = 5.08 Å) to the
   cross-section, so density and bond lengths are the crystal's; atoms clashing
   across the (incommensurate) periodic seam are dropped and HfO2 stoichiometry
   is restored by removing random excess atoms. The Ti layer (``ti_length > 0``)
   is epitaxial fcc Ti continuing the TiN metal sublattice (Ti–Ti 3.00 Å, hcp Ti
   2.95 Å): commensurate with the electrodes, no seam defects. ``ti_length = 0``
   gives a TiN | HfO2 | TiN cell.
3. Oxygen vacancies are cut (uniformly random, a filament cylinder along x, or a
   filament with a gap).
4. Amorphisation (``amorphisation="rattle"``, the default): seeded Gaussian
   displacements (σ = 0.35 Å oxide, 0.10 Å Ti) then a soft-sphere relaxation that
   pushes apart every pair closer than its minimum distance (:data:`MIN_PAIR_DISTANCE`),
   electrodes fixed. ``amorphisation="melt-quench"`` (films only) melts the pristine
   oxide and quenches it between the fixed electrodes
   (:func:`hamtrans.data.melt_quench.melt_quench_oxide`, velocity seed ``seed + 1``),
   then cuts the vacancies of step 3 from the amorphous oxide; the Ti layer is rattled.
5. ``vacuum > 0`` pads y and z: a nanowire device, periodic only through its
   electrodes along x. It keeps the atom count small while every periodic width
   exceeds cutoff + image_range, so Γ-point references split exactly.

Everything is seeded: the same arguments give the same structure bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.data import covalent_radii

from hamtrans.config import is_finite_number
from hamtrans.data.graphs import neighbour_pairs
from hamtrans.data.regions import REGIONS
from hamtrans.errors import HamtransError

A_TIN = 4.24
A_HFO2 = 5.08
A_TI, C_TI = 2.95, 4.68

#: Minimum distances (Å) enforced by the soft-sphere relaxation.
MIN_PAIR_DISTANCE = {
    ("Hf", "O"): 2.0, ("O", "O"): 2.5, ("Hf", "Hf"): 3.2, ("Ti", "O"): 1.85, ("Ti", "Ti"): 2.6,
    ("Hf", "Ti"): 2.9, ("Ti", "N"): 2.0, ("Hf", "N"): 2.1, ("N", "O"): 2.5, ("N", "N"): 2.8,
}

_FLUORITE = (
    [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    + [[x, y, z] for x in (0.25, 0.75) for y in (0.25, 0.75) for z in (0.25, 0.75)],
    ["Hf"] * 4 + ["O"] * 8,
)
# orthohexagonal hcp cell, fractions of (c, a, sqrt(3) a) with c along x
_HCP = ([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 1 / 3], [0.5, 0.5, 5 / 6]], ["Ti"] * 4)

VacancyMode = Literal["none", "random", "filament", "broken"]
Amorphisation = Literal["rattle", "melt-quench"]


@dataclass(frozen=True)
class DeviceSpec:
    """Parameters of :func:`build_vcm_device` (stored in ``atoms.info['device']``).

    Lengths in Å; they are rounded to whole lattice planes/cells. ``vacuum`` (Å) is
    added to the cell in y and z (nanowire device); 0 keeps the device periodic.
    """

    cross_section: tuple[float, float] = (12.72, 12.72)
    electrode_length: float = 4.24
    oxide_length: float = 10.0
    ti_length: float = 4.7
    interface_gap: float = 2.5
    vacancies: VacancyMode = "random"
    vacancy_fraction: float = 0.05
    filament_radius: float = 2.6
    filament_center: tuple[float, float] = (0.5, 0.5)
    gap_length: float = 3.0
    gap_center: float = 0.25
    oxide_rattle: float = 0.35
    ti_rattle: float = 0.10
    vacuum: float = 0.0
    seed: int = 0
    amorphisation: Amorphisation = "rattle"

    def __post_init__(self) -> None:
        for name, low, inclusive in (("electrode_length", 0.0, False), ("oxide_length", 0.0, False),
                                     ("ti_length", 0.0, True), ("interface_gap", 0.0, True),
                                     ("filament_radius", 0.0, True), ("gap_length", 0.0, True),
                                     ("oxide_rattle", 0.0, True), ("ti_rattle", 0.0, True), ("vacuum", 0.0, True)):
            value = getattr(self, name)
            if not is_finite_number(value) or not (value >= low if inclusive else value > low):
                raise HamtransError(f"{name} must be a {'non-negative' if inclusive else 'positive'} finite length "
                                    f"(Å), not {value!r}")
        for name, low, high in (("vacancy_fraction", 0.0, 1.0), ("gap_center", 0.0, 1.0)):
            value = getattr(self, name)
            if not is_finite_number(value) or not low <= value <= high:
                raise HamtransError(f"{name} must be a fraction in [{low:g}, {high:g}], not {value!r}")
        for name, positive in (("cross_section", True), ("filament_center", False)):
            value = getattr(self, name)
            if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(is_finite_number(v) for v in value)
                    and (not positive or min(value) > 0)):
                what = "positive finite lengths (Å), y and z" if positive else "finite fractions of the cross-section"
                raise HamtransError(f"{name} must be two {what}, not {value!r}")
        if self.vacancies not in ("none", "random", "filament", "broken"):
            raise HamtransError(f"vacancies must be 'none', 'random', 'filament' or 'broken', not {self.vacancies!r}")
        if self.amorphisation not in ("rattle", "melt-quench"):
            raise HamtransError(f"amorphisation must be 'rattle' or 'melt-quench', not {self.amorphisation!r}")
        if self.amorphisation == "melt-quench" and self.vacuum > 0:
            raise HamtransError("amorphisation='melt-quench' needs a film (vacuum = 0): a wire's oxide would melt "
                                "into its vacuum")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise HamtransError(f"seed must be a non-negative integer, not {self.seed!r}")


def _whole(length: float, period: float, what: str, max_strain: float = 0.06) -> int:
    n = max(1, int(round(length / period)))
    strain = n * period / length - 1 if length > 0 else 1.0
    if abs(strain) > max_strain:
        raise HamtransError(f"{what} of {length} Å does not fit whole cells of {period} Å (strain {strain:+.1%})")
    return n


def _crystal_layer(unit: tuple[list, list], cell: tuple[float, float, float], ly: float, lz: float,
                   length: float, x0: float) -> tuple[np.ndarray, list[str]]:
    """Unstrained crystal cut to ``[0, length) × [0, ly) × [0, lz)`` and shifted to ``x0``.

    Atoms closer than half their minimum pair distance to an atom across the
    periodic y/z seam are dropped (the cut is incommensurate in general).
    """
    frac, symbols = np.asarray(unit[0], dtype=float), np.asarray(unit[1])
    counts = [int(np.ceil(extent / c)) + 1 for extent, c in zip((length, ly, lz), cell)]
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in counts], indexing="ij"), -1).reshape(-1, 1, 3)
    pos = ((grid + frac[None]) * np.array(cell)).reshape(-1, 3)
    syms = np.tile(symbols, len(grid))
    inside = np.all((pos >= -1e-6) & (pos < np.array([length, ly, lz]) - 1e-6), axis=1)
    pos, syms = pos[inside], syms[inside]
    layer = Atoms(symbols=syms.tolist(), positions=pos, cell=[length + 20.0, ly, lz], pbc=[False, True, True])
    i, j, _, d = neighbour_pairs(layer, 3.5)
    limit = np.array([min_pair_distance(int(a), int(b)) for a, b in zip(layer.numbers[i], layer.numbers[j])])
    clash = (d < 0.5 * limit) & (i < j)
    keep = np.setdiff1d(np.arange(len(layer)), j[clash])
    pos, syms = pos[keep], syms[keep]
    pos[:, 0] += x0
    return pos, syms.tolist()


def _balance_stoichiometry(pos: np.ndarray, symbols: list[str], ratio: dict[str, int],
                           rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Remove random atoms of the species in excess so counts follow ``ratio`` (e.g. Hf:O = 1:2)."""
    symbols_arr = np.asarray(symbols)
    units = min(int(np.sum(symbols_arr == el)) // n for el, n in ratio.items())
    remove = []
    for el, n in ratio.items():
        idx = np.flatnonzero(symbols_arr == el)
        remove.extend(rng.choice(idx, size=len(idx) - units * n, replace=False).tolist())
    keep = np.setdiff1d(np.arange(len(symbols)), remove)
    return pos[keep], [symbols[k] for k in keep]


def _tin_planes(planes: np.ndarray, ny: int, nz: int, a: float) -> tuple[np.ndarray, list[str]]:
    """Rock-salt TiN (100) planes with index ``p`` at x = p·a/2 (p may be negative)."""
    p, q, r = np.meshgrid(planes, np.arange(2 * ny), np.arange(2 * nz), indexing="ij")
    pos = np.stack([p, q, r], -1).reshape(-1, 3) * (a / 2)
    symbols = np.where((p + q + r).ravel() % 2 == 0, "Ti", "N").tolist()
    return pos, symbols


def min_pair_distance(z1: int, z2: int) -> float:
    """Minimum allowed distance (Å) of an element pair in the relaxation."""
    from ase.data import chemical_symbols

    a, b = chemical_symbols[z1], chemical_symbols[z2]
    return MIN_PAIR_DISTANCE.get((a, b), MIN_PAIR_DISTANCE.get((b, a), 0.85 * (covalent_radii[z1] + covalent_radii[z2])))


def relax_soft_spheres(atoms: Atoms, movable: np.ndarray, steps: int = 300, tolerance: float = 0.02) -> float:
    """Push apart pairs closer than :func:`min_pair_distance` (in place).

    Minimises ``Σ ½ (d_min − d)²`` over overlapping pairs by damped steepest descent
    with a 0.1 Å step cap; only ``movable`` atoms move.

    Returns
    -------
    float
        Largest remaining violation ``d_min − d`` in Å.
    """
    table = np.zeros((119, 119))
    present = np.unique(atoms.numbers)
    for z1 in present:
        for z2 in present:
            table[z1, z2] = min_pair_distance(int(z1), int(z2))
    reach = float(table[np.ix_(present, present)].max())
    worst = 0.0
    for _ in range(steps):
        i, j, s, d = neighbour_pairs(atoms, reach)
        dmin = table[atoms.numbers[i], atoms.numbers[j]]
        close = d < dmin
        worst = float((dmin - d)[close].max(initial=0.0))
        if worst < tolerance:
            break
        i, j, s, d, dmin = i[close], j[close], s[close], d[close], dmin[close]
        vec = atoms.positions[j] + s @ np.asarray(atoms.cell) - atoms.positions[i]
        push = ((dmin - d) / np.maximum(d, 1e-6))[:, None] * vec  # move i away from j
        step = np.zeros_like(atoms.positions)
        np.add.at(step, i, -0.5 * push)
        step[~movable] = 0.0
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        atoms.positions += step * np.minimum(1.0, 0.1 / np.maximum(norm, 1e-12))
    return worst


def build_vcm_device(spec: DeviceSpec | None = None, **overrides) -> Atoms:
    """Build a TiN | HfO2 | Ti | TiN VCM cell along x (``ti_length=0``: TiN | HfO2 | TiN).

    Parameters
    ----------
    spec
        Full parameter set; keyword ``overrides`` replace single fields.

    Returns
    -------
    ase.Atoms
        Fully periodic cell (x period closes TiN onto TiN). ``arrays['region']``
        labels atoms (see :data:`hamtrans.data.regions.REGIONS`), ``info['transport_axis'] = 0`` and
        ``info['device']`` holds the spec as JSON.

    Examples
    --------
    >>> atoms = build_vcm_device(vacancies="filament", seed=3)
    >>> paper_size = build_vcm_device(cross_section=(25.44, 25.44), electrode_length=21.2,
    ...                               oxide_length=34.0, ti_length=14.0)  # 93.1 Å, 5,269 atoms
    """
    spec = DeviceSpec(**{**asdict(spec or DeviceSpec()), **overrides})
    rng = np.random.default_rng(spec.seed)
    ny = _whole(spec.cross_section[0], A_TIN, "cross-section y")
    nz = _whole(spec.cross_section[1], A_TIN, "cross-section z")
    ly, lz = ny * A_TIN, nz * A_TIN
    n_planes = 2 * max(1, int(round(spec.electrode_length / A_TIN)))  # whole cells: rock-salt order continues across x
    gap = spec.interface_gap

    left, left_sym = _tin_planes(np.arange(n_planes), ny, nz, A_TIN)
    x = (n_planes - 1) * A_TIN / 2 + gap
    oxide, oxide_sym = _crystal_layer(_FLUORITE, (A_HFO2,) * 3, ly, lz, spec.oxide_length, x)
    oxide, oxide_sym = _balance_stoichiometry(oxide, oxide_sym, {"Hf": 1, "O": 2}, rng)
    if not len(oxide):
        raise HamtransError(f"oxide_length {spec.oxide_length:g} Å holds no HfO2 unit of the fluorite lattice "
                            f"(a = {A_HFO2} Å): give at least {A_HFO2 / 2:g} Å")
    x = oxide[:, 0].max() + gap
    n_ti = int(round(spec.ti_length / (A_TIN / 2))) if spec.ti_length > 0 else 0
    right_planes = np.arange(-n_planes - n_ti, 0)  # Ti planes continue the TiN metal sublattice
    ti_planes, right_planes = right_planes[:n_ti], right_planes[n_ti:]
    ti, ti_sym = _tin_planes(ti_planes, ny, nz, A_TIN)
    keep_ti = np.asarray(ti_sym) == "Ti"
    ti, ti_sym = ti[keep_ti], ["Ti"] * int(keep_ti.sum())
    right, right_sym = _tin_planes(right_planes, ny, nz, A_TIN)
    first_metal = ti_planes[0] if n_ti else right_planes[0]
    length = x - first_metal * A_TIN / 2
    right[:, 0] += length
    ti[:, 0] += length

    if spec.amorphisation == "rattle":
        oxide, oxide_sym = _cut_vacancies(oxide, oxide_sym, spec, ly, lz, rng)
    atoms = _assemble([(left, left_sym), (oxide, oxide_sym), (ti, ti_sym), (right, right_sym)],
                      [length, ly + spec.vacuum, lz + spec.vacuum], spec.vacuum)
    region = atoms.arrays["region"]
    if spec.amorphisation == "rattle":
        sigma = np.select([region == 1, region == 2], [spec.oxide_rattle, spec.ti_rattle], 0.0)
        atoms.positions += rng.normal(size=atoms.positions.shape) * sigma[:, None]
        relax_soft_spheres(atoms, movable=(region == 1) | (region == 2))
    else:
        atoms = _melt_quench_then_cut(atoms, spec, ly, lz, rng)
    atoms.wrap()
    atoms.info["transport_axis"] = 0
    atoms.info["device"] = json.dumps(asdict(spec))
    return atoms


def _assemble(parts: list[tuple[np.ndarray, list[str]]], lengths: list[float], vacuum: float) -> Atoms:
    """Left electrode, oxide, Ti, right electrode in one periodic cell, labelled by region."""
    positions = np.concatenate([pos for pos, _ in parts])
    positions[:, 1:] += vacuum / 2  # a wire sits in the middle of its vacuum
    atoms = Atoms(symbols=[s for _, sym in parts for s in sym], positions=positions, cell=lengths, pbc=True)
    atoms.arrays["region"] = np.repeat([0, 1, 2, 3], [len(pos) for pos, _ in parts])
    return atoms


def _melt_quench_then_cut(atoms: Atoms, spec: DeviceSpec, ly: float, lz: float, rng: np.random.Generator) -> Atoms:
    """Melt-quench the pristine oxide, cut the vacancies from it, rattle the Ti layer."""
    from hamtrans.data.melt_quench import MeltQuench, melt_quench_oxide

    quenched = melt_quench_oxide(atoms, MeltQuench(seed=spec.seed + 1))
    region = quenched.arrays["region"]
    symbols = quenched.get_chemical_symbols()
    parts = []
    for label in range(4):
        index = np.flatnonzero(region == label)
        part = (quenched.positions[index], [symbols[k] for k in index])
        parts.append(_cut_vacancies(*part, spec, ly, lz, rng) if label == REGIONS["oxide"] else part)
    device = _assemble(parts, np.diag(quenched.cell).tolist(), 0.0)
    ti = device.arrays["region"] == REGIONS["ti"]
    if ti.any():
        device.positions[ti] += rng.normal(size=(int(ti.sum()), 3)) * spec.ti_rattle
        relax_soft_spheres(device, movable=ti)
    device.info["melt_quench"] = quenched.info["melt_quench"]
    return device


def build_electrode(spec: DeviceSpec | None = None, cells: int = 6, **overrides) -> Atoms:
    """The pristine TiN electrode of a :func:`build_vcm_device` device, periodic along x.

    Same cross-section, lattice planes and vacuum placement as the device's
    electrodes, ``cells`` rock-salt cells (``A_TIN`` each) long: the structure a
    separately computed bulk lead (:class:`hamtrans.negf.Electrode`) comes from.
    ``info['transport_axis'] = 0``.
    """
    spec = DeviceSpec(**{**asdict(spec or DeviceSpec()), **overrides})
    ny = _whole(spec.cross_section[0], A_TIN, "cross-section y")
    nz = _whole(spec.cross_section[1], A_TIN, "cross-section z")
    positions, symbols = _tin_planes(np.arange(2 * cells), ny, nz, A_TIN)
    positions[:, 1:] += spec.vacuum / 2
    atoms = Atoms(symbols=symbols, positions=positions, pbc=True,
                  cell=[cells * A_TIN, ny * A_TIN + spec.vacuum, nz * A_TIN + spec.vacuum])
    atoms.info["transport_axis"] = 0
    return atoms


def _cut_vacancies(pos: np.ndarray, symbols: list[str], spec: DeviceSpec, ly: float, lz: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    oxygen = np.flatnonzero(np.asarray(symbols) == "O")
    if spec.vacancies == "none":
        remove = np.array([], dtype=int)
    elif spec.vacancies == "random":
        count = int(round(spec.vacancy_fraction * len(oxygen)))
        remove = rng.choice(oxygen, size=count, replace=False)
    else:  # filament or broken (DeviceSpec admits no other mode)
        center = np.array(spec.filament_center) * [ly, lz]
        delta = pos[oxygen, 1:] - center
        delta -= np.round(delta / [ly, lz]) * [ly, lz]
        inside = np.linalg.norm(delta, axis=1) < spec.filament_radius
        if spec.vacancies == "broken":
            x = pos[oxygen, 0]
            x_gap = x.min() + spec.gap_center * np.ptp(x)
            inside &= np.abs(x - x_gap) > spec.gap_length / 2
        remove = oxygen[inside]
    keep = np.setdiff1d(np.arange(len(symbols)), remove)
    return pos[keep], [symbols[k] for k in keep]


def bulk_hfo2(repeat: tuple[int, int, int] = (1, 1, 1), rattle: float = 0.0, seed: int = 0) -> Atoms:
    """Cubic fluorite HfO2 (a = 5.08 Å), optionally repeated and rattled (σ in Å)."""
    return _bulk(_FLUORITE, (A_HFO2,) * 3, repeat, rattle, seed)


def bulk_tin(repeat: tuple[int, int, int] = (1, 1, 1), rattle: float = 0.0, seed: int = 0) -> Atoms:
    """Rock-salt TiN (a = 4.24 Å), optionally repeated and rattled (σ in Å)."""
    pos, symbols = _tin_planes(np.arange(2), 1, 1, A_TIN)
    frac = pos / A_TIN
    return _bulk((frac.tolist(), symbols), (A_TIN,) * 3, repeat, rattle, seed)


def bulk_ti(repeat: tuple[int, int, int] = (1, 1, 1), rattle: float = 0.0, seed: int = 0) -> Atoms:
    """hcp Ti in its orthohexagonal cell (c along x), optionally repeated and rattled."""
    return _bulk(_HCP, (C_TI, A_TI, np.sqrt(3) * A_TI), repeat, rattle, seed)


def _bulk(unit, lengths, repeat, rattle, seed) -> Atoms:
    atoms = Atoms(symbols=unit[1], scaled_positions=unit[0], cell=np.diag(lengths), pbc=True).repeat(repeat)
    if rattle:
        atoms.positions += np.random.default_rng(seed).normal(scale=rattle, size=atoms.positions.shape)
    return atoms


def cut_cluster(atoms: Atoms, center: int, radius: float) -> Atoms:
    """Non-periodic cluster of the atoms within ``radius`` Å of atom ``center`` (images included)."""
    i, j, s, d = neighbour_pairs(atoms, radius)
    sel = i == center
    positions = atoms.positions[j[sel]] + s[sel] @ np.asarray(atoms.cell)
    numbers = atoms.numbers[j[sel]]
    cluster = Atoms(numbers=np.concatenate([[atoms.numbers[center]], numbers]),
                    positions=np.concatenate([[atoms.positions[center]], positions]))
    cluster.positions -= cluster.positions.mean(axis=0)
    return cluster


__all__ = [
    "DeviceSpec", "REGIONS", "build_vcm_device", "bulk_hfo2", "bulk_ti", "bulk_tin", "cut_cluster",
    "relax_soft_spheres", "min_pair_distance",
]
