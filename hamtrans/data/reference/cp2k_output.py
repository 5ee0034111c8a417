"""Results of a CP2K 2023.1 Quickstep run from its ``.out`` file.

Read: SCF convergence ("*** SCF run converged in N steps ***" against the warning
"SCF run NOT converged"; an unconverged run still writes matrices, so this is the
only check), the SCF steps and last residual, ``ENERGY| Total FORCE_EVAL`` (the
energy the forces belong to; with smearing the Mermin free energy), the Fermi
energy, the ``ATOMIC FORCES in [a.u.]`` table and the Mulliken net charges.
CP2K prints Hartree and Hartree/Bohr; :class:`Cp2kOutput` holds eV and eV/Å.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.units import Bohr, Hartree

from hamtrans.errors import FileFormatError

_STEP = re.compile(r"^\s*(\d+)\s+\S+/\S+\s+\S+\s+\S+\s+([-+0-9.Ee]+)\s+[-+0-9.Ee]+\s+[-+0-9.Ee]+\s*$")
_CONVERGED = re.compile(r"\*\*\* SCF run converged in\s+(\d+) steps \*\*\*")
_NOT_CONVERGED = re.compile(r"SCF run NOT converged")
_ENERGY = re.compile(r"^\s*ENERGY\| Total FORCE_EVAL \( QS \) energy \[a\.u\.\]:\s+(\S+)")
_FERMI = re.compile(r"^\s*Fermi energy:\s+(\S+)")
_VERSION = re.compile(r"CP2K\| version string:\s+(.+?)\s*$")


@dataclass
class Cp2kOutput:
    """What one CP2K run printed (eV, eV/Å).

    Attributes
    ----------
    finished
        The run reached "PROGRAM ENDED".
    converged
        The last SCF converged.
    scf_steps
        Steps of the last SCF (``None`` if none was printed).
    residual
        Last printed SCF convergence value (CP2K's density residual), or ``None``.
    energy
        ``ENERGY| Total FORCE_EVAL`` in eV, or ``None``.
    fermi_level
        Last printed Fermi energy, eV, or ``None`` (no smearing).
    forces
        ``(n_atoms, 3)`` eV/Å, or ``None`` (``RUN_TYPE ENERGY``).
    charges
        Mulliken net charges, e, or ``None``.
    version
        CP2K's version string, e.g. ``'CP2K version 2023.1'``.
    """

    finished: bool
    converged: bool
    scf_steps: int | None
    residual: float | None
    energy: float | None
    fermi_level: float | None
    forces: np.ndarray | None
    charges: np.ndarray | None
    version: str


def _last_scf(lines: list[str]) -> tuple[int | None, float | None]:
    """Steps and last residual of the last ``SCF WAVEFUNCTION OPTIMIZATION`` table."""
    starts = [k for k, line in enumerate(lines) if "SCF WAVEFUNCTION OPTIMIZATION" in line]
    if not starts:
        return None, None
    steps, residual = None, None
    for line in lines[starts[-1]:]:
        match = _STEP.match(line)
        if match:
            steps, residual = int(match.group(1)), float(match.group(2))
        elif steps is not None and ("***" in line or "Electronic density" in line or "WARNING" in line):
            break
    return steps, residual


def _table(lines: list[str], title: str, n_atoms: int, columns: slice) -> np.ndarray | None:
    """Rows after the last line containing ``title`` that start with an atom number."""
    starts = [k for k, line in enumerate(lines) if title in line]
    if not starts:
        return None
    rows = []
    for line in lines[starts[-1] + 1:]:
        parts = line.split()
        if parts and parts[0].isdigit():
            rows.append([float(v) for v in parts[columns]])
            if len(rows) == n_atoms:
                break
        elif rows:
            break
    if len(rows) != n_atoms:
        raise FileFormatError(f"the CP2K '{title.strip()}' table has {len(rows)} rows for {n_atoms} atoms")
    return np.array(rows)


def read_output(path: str | os.PathLike, n_atoms: int) -> Cp2kOutput:
    """Parse a CP2K ``.out`` file of one single-point run.

    Parameters
    ----------
    path
        The ``.out`` file (``cp2k.psmp -o``). CP2K appends to an existing file, so
        give each run a fresh one; only the last SCF, energy and tables count.
    n_atoms
        Atoms of the structure (checks the force and charge tables).

    Raises
    ------
    FileFormatError
        Missing file, or a force/charge table with the wrong number of rows.
    """
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise FileFormatError(f"cannot read CP2K output {path}: {exc}") from exc
    lines = text.splitlines()
    done = [m for m in (_CONVERGED.search(line) for line in lines) if m]
    failed = [k for k, line in enumerate(lines) if _NOT_CONVERGED.search(line)]
    converged_at = [k for k, line in enumerate(lines) if _CONVERGED.search(line)]
    converged = bool(converged_at) and (not failed or converged_at[-1] > failed[-1])
    steps, residual = _last_scf(lines)
    if converged and done:
        steps = int(done[-1].group(1))

    def last(pattern):
        values = [m.group(1) for m in (pattern.match(line) for line in lines) if m]
        return float(values[-1]) if values else None

    energy, fermi = last(_ENERGY), last(_FERMI)
    forces = _table(lines, "ATOMIC FORCES in [a.u.]", n_atoms, slice(3, 6))
    charges = _table(lines, "Mulliken Population Analysis", n_atoms, slice(-1, None))
    versions = [m.group(1) for m in (_VERSION.search(line) for line in lines) if m]
    return Cp2kOutput(
        finished="PROGRAM ENDED" in text,
        converged=converged,
        scf_steps=steps,
        residual=residual,
        energy=None if energy is None else energy * Hartree,
        fermi_level=None if fermi is None else fermi * Hartree,
        forces=None if forces is None else forces * Hartree / Bohr,
        charges=None if charges is None else charges[:, 0],
        version=versions[-1] if versions else "CP2K",
    )
