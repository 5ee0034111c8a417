"""CP2K 2023.1 Quickstep input for one structure: settings, YAML overrides, the ``.inp`` text.

The defaults are the settings that converged the project's 213–216-atom TiN/HfO2
wires (docs/cp2k.md): PBE, GTH-PBE pseudopotentials (q12 Ti/Hf, q6 O, q5 N, q1 H),
SZV-MOLOPT-SR-GTH, 280 Ry / REL_CUTOFF 40, Fermi–Dirac smearing at 1000 K, Broyden
mixing α 0.05, β 1.0, NBROYDEN 12, standard diagonalisation. Every field of
:class:`Cp2kSettings` can be overridden from a YAML mapping (:func:`load_settings`);
an unknown key is a :class:`~hamtrans.config.ConfigError` naming the closest valid key.

Geometry: fully periodic structures run with ``PERIODIC XYZ``; non-periodic ones
with ``PERIODIC NONE`` and the Martyna–Tuckerman Poisson solver (the cell is the
box, which must hold the molecule with vacuum). Partly periodic structures (a wire,
``pbc = (True, False, False)``) run fully periodic with their vacuum; the importer
then folds the images along the open directions (transverse Γ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from ase import Atoms

from hamtrans.config import ConfigError, as_dict, load_raw, section
from hamtrans.errors import StructureError

#: GTH-PBE pseudopotential per element (valence charge q) used unless overridden.
DEFAULT_POTENTIALS = {"H": "GTH-PBE-q1", "N": "GTH-PBE-q5", "O": "GTH-PBE-q6", "Ti": "GTH-PBE-q12", "Hf": "GTH-PBE-q12"}
#: Basis-set names of CP2K mapped to the shipped :class:`~hamtrans.data.basis.OrbitalBasis` names.
BASIS_NAMES = {"SZV-MOLOPT-SR-GTH": "szv-molopt-sr-gth", "DZVP-MOLOPT-SR-GTH": "dzvp-molopt-sr-gth"}


#: Settings that change only the SCF path, not the converged result.
SCF_PATH_KEYS = ("max_scf", "mixing_alpha", "mixing_beta", "nbroyden", "fallback_mixing")
#: Settings of how CP2K is run.
EXECUTION_KEYS = ("ranks", "omp_threads", "executable", "mpi_launcher", "keep_matrices")


@dataclass(frozen=True)
class Cp2kSettings:
    """Settings of a CP2K reference calculation (the keys of the YAML override file).

    Attributes
    ----------
    cutoff, rel_cutoff
        ``&MGRID CUTOFF`` and ``REL_CUTOFF``, Ry.
    ngrids
        ``&MGRID NGRIDS``.
    eps_default
        ``&QS EPS_DEFAULT``.
    eps_scf
        ``&SCF EPS_SCF`` (Hartree, CP2K's density-matrix residual).
    max_scf
        SCF step limit per attempt (the converging wire needed 75).
    added_mos
        ``ADDED_MOS``; ``None`` = 15 % of the orbitals (at least 10), capped at the
        number of empty orbitals.
    temperature
        Fermi–Dirac electronic temperature, K.
    mixing_alpha, mixing_beta, nbroyden
        Broyden mixing of the first attempt (``ALPHA``, ``BETA`` in bohr⁻², ``NBROYDEN``).
    fallback_mixing
        ``(alpha, beta, nbroyden)`` tried in order when an attempt does not converge.
    xc
        ``&XC_FUNCTIONAL`` name.
    basis_set
        CP2K basis-set name; must be one of :data:`BASIS_NAMES`.
    potentials
        Element -> pseudopotential name, merged over :data:`DEFAULT_POTENTIALS`.
    basis_file, potential_file
        ``BASIS_SET_FILE_NAME`` / ``POTENTIAL_FILE_NAME`` (found in CP2K's data directory).
    kpoints
        Monkhorst–Pack grid ``(n1, n2, n3)``: the run writes one KS/S file per periodic
        image (``REAL_SPACE T``). ``None`` = Γ point, one folded file each.
    forces
        Compute forces (``RUN_TYPE ENERGY_FORCE``); ``False`` runs ``ENERGY`` only.
    ranks
        MPI ranks per CP2K run (1 = no launcher).
    omp_threads
        ``OMP_NUM_THREADS`` of each rank.
    executable
        The CP2K binary (name on ``PATH`` or a path).
    mpi_launcher
        MPI launcher for ``ranks > 1``; ``None`` = the ``mpirun`` next to the CP2K binary
        (the MPI it was built with), else the first ``mpirun`` on ``PATH``.
    keep_matrices
        Keep the ``.csr`` files in the work directory after import (they are large).
    """

    cutoff: float = 280.0
    rel_cutoff: float = 40.0
    ngrids: int = 4
    eps_default: float = 1e-10
    eps_scf: float = 1e-5
    max_scf: int = 150
    added_mos: int | None = None
    temperature: float = 1000.0
    mixing_alpha: float = 0.05
    mixing_beta: float = 1.0
    nbroyden: int = 12
    fallback_mixing: tuple = ((0.02, 1.0, 16), (0.01, 0.5, 20))
    xc: str = "PBE"
    basis_set: str = "SZV-MOLOPT-SR-GTH"
    potentials: dict | None = None
    basis_file: str = "BASIS_MOLOPT"
    potential_file: str = "GTH_POTENTIALS"
    kpoints: tuple | None = None
    forces: bool = True
    ranks: int = 1
    omp_threads: int = 1
    executable: str = "cp2k.psmp"
    mpi_launcher: str | None = None
    keep_matrices: bool = False

    def __post_init__(self) -> None:
        if self.basis_set.upper() not in BASIS_NAMES:
            raise ConfigError(f"basis_set '{self.basis_set}' has no shipped orbital table; use one of {', '.join(BASIS_NAMES)}")
        for key in ("cutoff", "rel_cutoff", "eps_default", "eps_scf", "temperature", "mixing_alpha", "mixing_beta"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{key} must be positive, not {getattr(self, key)}")
        for key in ("ngrids", "max_scf", "nbroyden", "ranks", "omp_threads"):
            if not (isinstance(getattr(self, key), int) and getattr(self, key) >= 1):
                raise ConfigError(f"{key} must be a positive integer, not {getattr(self, key)!r}")
        if self.kpoints is not None and (len(self.kpoints) != 3 or not all(isinstance(k, int) and k >= 1 for k in self.kpoints)):
            raise ConfigError(f"kpoints must be three positive integers (n1, n2, n3) or null, not {self.kpoints!r}")
        for entry in self.fallback_mixing:
            if not isinstance(entry, (list, tuple)) or len(entry) != 3:
                raise ConfigError(f"fallback_mixing entries are [alpha, beta, nbroyden], not {entry!r}")
            alpha, beta, nbroyden = entry
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                       for v in (alpha, beta)) or isinstance(nbroyden, bool) or not isinstance(nbroyden, int) \
                    or nbroyden < 1:
                raise ConfigError(f"fallback_mixing entry {list(entry)} needs a positive alpha and beta and a positive "
                                  "integer nbroyden, e.g. [0.02, 1.0, 16]")
        if self.added_mos is not None and (isinstance(self.added_mos, bool) or not isinstance(self.added_mos, int)
                                           or self.added_mos < 1):
            raise ConfigError(f"added_mos must be a positive integer or null, not {self.added_mos!r}")
        if self.potentials is not None and not isinstance(self.potentials, dict):
            raise ConfigError("potentials must be a mapping element -> pseudopotential name")

    @property
    def orbital_basis_name(self) -> str:
        """Name of the shipped :class:`~hamtrans.data.basis.OrbitalBasis` of :attr:`basis_set`."""
        return BASIS_NAMES[self.basis_set.upper()]

    def potential(self, symbol: str) -> str:
        """Pseudopotential name for an element."""
        table = {**DEFAULT_POTENTIALS, **(self.potentials or {})}
        if symbol not in table:
            raise StructureError(f"no pseudopotential for {symbol}: add it under 'potentials' in the CP2K settings")
        return table[symbol]

    def mixings(self) -> list[tuple[float, float, int]]:
        """``(alpha, beta, nbroyden)`` of every attempt, first the configured one."""
        first = (self.mixing_alpha, self.mixing_beta, self.nbroyden)
        return [first] + [(float(a), float(b), int(n)) for a, b, n in self.fallback_mixing]

    def describe(self) -> tuple[dict, dict]:
        """JSON-able settings: those that define the result, and those of the SCF path only.

        The second mapping (step limit, mixings) may change between runs that build one
        data set (a structure that did not converge is retried with more steps); the
        execution keys (ranks, threads, binary, launcher, keep_matrices) are in neither.
        """
        out = as_dict(self)
        out["fallback_mixing"] = [list(m) for m in self.fallback_mixing]
        path = {key: out.pop(key) for key in SCF_PATH_KEYS}
        for key in EXECUTION_KEYS:
            out.pop(key)
        return out, path


def load_settings(source: str | Path | Mapping | None = None) -> Cp2kSettings:
    """:class:`Cp2kSettings` from a YAML file or a mapping of overrides (``None``: defaults).

    Raises
    ------
    ConfigError
        Unknown key (with the closest valid one), a non-numeric number, or a bad value.
    """
    if source is None:
        return Cp2kSettings()
    raw = dict(source) if isinstance(source, Mapping) else load_raw(source)
    where = "the CP2K settings" if isinstance(source, Mapping) else f"CP2K settings {source}"
    if isinstance(raw.get("fallback_mixing"), list):
        raw["fallback_mixing"] = tuple(tuple(m) if isinstance(m, list) else m for m in raw["fallback_mixing"])
    return section(Cp2kSettings, raw, where)


def valence_electrons(settings: Cp2kSettings, atoms: Atoms) -> int:
    """Electrons of the pseudopotentials (the ``-q<n>`` of their names)."""
    total = 0
    for symbol in atoms.get_chemical_symbols():
        name = settings.potential(symbol)
        if "-q" not in name:
            raise ConfigError(f"pseudopotential '{name}' has no '-q<n>' valence charge in its name")
        total += int(name.rsplit("-q", 1)[1])
    return total


def added_mos(settings: Cp2kSettings, atoms: Atoms, n_orbitals: int) -> int:
    """``ADDED_MOS`` for a structure with ``n_orbitals`` basis functions."""
    empty = max(0, n_orbitals - math.ceil(valence_electrons(settings, atoms) / 2))
    wanted = settings.added_mos if settings.added_mos is not None else max(10, math.ceil(0.15 * n_orbitals))
    return max(1, min(wanted, empty))


def run_type(settings: Cp2kSettings) -> str:
    return "ENERGY_FORCE" if settings.forces else "ENERGY"


def write_input(
    atoms: Atoms,
    project: str,
    settings: Cp2kSettings,
    n_orbitals: int,
    mixing: tuple[float, float, int] | None = None,
) -> str:
    """The ``.inp`` text of one CP2K calculation.

    Parameters
    ----------
    atoms
        Structure with a cell (Å). Periodic along all axes, or along none (then the
        cell is the box of the MT Poisson solver).
    project
        ``&GLOBAL PROJECT``: prefix of every output file.
    settings
        Calculation settings.
    n_orbitals
        Basis functions of the structure (for ``ADDED_MOS``).
    mixing
        ``(alpha, beta, nbroyden)`` of this attempt; default the settings' first.

    Raises
    ------
    StructureError
        No cell, or an element without pseudopotential.
    """
    cell = np.asarray(atoms.cell)
    if abs(np.linalg.det(cell)) < 1e-6:
        raise StructureError("a CP2K run needs a cell (Å): give periodic structures their lattice and molecules a box with vacuum")
    alpha, beta, nbroyden = mixing or settings.mixings()[0]
    periodic = bool(np.any(atoms.pbc))
    symbols = atoms.get_chemical_symbols()
    lines = [
        "&GLOBAL",
        f"  PROJECT {project}",
        f"  RUN_TYPE {run_type(settings)}",
        "  PRINT_LEVEL MEDIUM",
        "&END GLOBAL",
        "&FORCE_EVAL",
        "  METHOD Quickstep",
        "  &DFT",
        f"    BASIS_SET_FILE_NAME {settings.basis_file}",
        f"    POTENTIAL_FILE_NAME {settings.potential_file}",
        "    &MGRID",
        f"      CUTOFF {settings.cutoff:g}",
        f"      REL_CUTOFF {settings.rel_cutoff:g}",
        f"      NGRIDS {settings.ngrids}",
        "    &END MGRID",
    ]
    if not periodic:
        lines += ["    &POISSON", "      PERIODIC NONE", "      POISSON_SOLVER MT", "    &END POISSON"]
    lines += ["    &QS", f"      EPS_DEFAULT {settings.eps_default:.3E}", "    &END QS"]
    if settings.kpoints is not None:
        if not periodic:
            raise StructureError("k-points need a periodic structure")
        lines += ["    &KPOINTS", f"      SCHEME MONKHORST-PACK {' '.join(str(k) for k in settings.kpoints)}",
                  "    &END KPOINTS"]
    lines += [
        "    &SCF",
        f"      EPS_SCF {settings.eps_scf:.3E}",
        f"      MAX_SCF {settings.max_scf}",
        "      SCF_GUESS ATOMIC",
        f"      ADDED_MOS {added_mos(settings, atoms, n_orbitals)}",
        "      &DIAGONALIZATION",
        "        ALGORITHM STANDARD",
        "      &END DIAGONALIZATION",
        "      &MIXING",
        "        METHOD BROYDEN_MIXING",
        f"        ALPHA {alpha:g}",
        f"        BETA {beta:g}",
        f"        NBROYDEN {nbroyden}",
        "      &END MIXING",
        "      &SMEAR ON",
        "        METHOD FERMI_DIRAC",
        f"        ELECTRONIC_TEMPERATURE [K] {settings.temperature:g}",
        "      &END SMEAR",
        "    &END SCF",
        "    &XC",
        f"      &XC_FUNCTIONAL {settings.xc}",
        "      &END XC_FUNCTIONAL",
        "    &END XC",
        "    &PRINT",
    ]
    real_space = ["        REAL_SPACE T"] if settings.kpoints is not None else []
    for key in ("KS_CSR_WRITE", "S_CSR_WRITE"):
        lines += [f"      &{key}", "        BINARY T", *real_space, f"      &END {key}"]
    lines += ["    &END PRINT", "  &END DFT", "  &SUBSYS", "    &CELL"]
    lines += [f"      {name} {v[0]:.10f} {v[1]:.10f} {v[2]:.10f}" for name, v in zip("ABC", cell)]
    lines += [f"      PERIODIC {'XYZ' if periodic else 'NONE'}", "    &END CELL", "    &COORD"]
    lines += [f"      {s} {p[0]:.10f} {p[1]:.10f} {p[2]:.10f}" for s, p in zip(symbols, atoms.positions)]
    lines += ["    &END COORD"]
    for symbol in dict.fromkeys(symbols):
        lines += [f"    &KIND {symbol}", f"      BASIS_SET {settings.basis_set}",
                  f"      POTENTIAL {settings.potential(symbol)}", "    &END KIND"]
    lines += ["  &END SUBSYS"]
    if settings.forces:
        lines += ["  &PRINT", "    &FORCES ON", "    &END FORCES", "  &END PRINT"]
    lines += ["&END FORCE_EVAL", ""]
    return "\n".join(lines)

