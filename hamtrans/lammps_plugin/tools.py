"""Helpers for scripts that run LAMMPS with the plugin: data files, dumps, ``lmp`` under ``mpiexec``.

>>> write_data("cell.data", atoms, ["Hf", "O"])                  # type 1 = Hf, type 2 = O
>>> log = run_lammps("in.md", ranks=4, variables={"steps": 100})  # mpiexec -n 4 lmp -in in.md -var steps 100
>>> frame = read_dump("forces.dump")                               # columns by name, rows sorted by id
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import write

from hamtrans.errors import HamtransError

#: LAMMPS ``units metal`` pressure unit per eV/Å³ (its ``nktv2p``, CODATA 2010 as LAMMPS uses it).
BAR_PER_EV_A3 = 1.6021765e6


class LammpsRunError(RuntimeError):
    """``lmp`` exited with an error; the message holds the end of its output."""


def mpi_command(program: list[str], ranks: int = 1) -> list[str]:
    """``program`` under this environment's ``mpiexec`` (mpich wheel) when ``ranks > 1``."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    return list(program) if ranks == 1 else [str(mpiexec), "-n", str(ranks), *program]


def lmp_command(ranks: int = 1) -> list[str]:
    """Command line of this environment's ``lmp`` on ``ranks`` MPI ranks."""
    return mpi_command([str(Path(sys.executable).parent / "lmp")], ranks)


def single_thread_environment() -> dict[str, str]:
    """This process' environment with one OpenMP/BLAS thread and passive waiting (ranks may share cores)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}


def run_lammps(input_file: str | os.PathLike, directory: str | os.PathLike = ".", ranks: int = 1,
               variables: dict[str, object] | None = None, timeout: float | None = None) -> str:
    """Run ``lmp -in input_file`` in ``directory`` on ``ranks`` MPI ranks; returns its screen output.

    Runs with :func:`single_thread_environment`.

    Raises
    ------
    LammpsRunError
        Non-zero exit status (the message holds the last 3,000 characters of output).
    """
    command = [*lmp_command(ranks), "-in", str(input_file), "-log", "none"]
    for name, value in (variables or {}).items():
        command += ["-var", name, str(value)]
    result = subprocess.run(command, cwd=directory, env=single_thread_environment(), capture_output=True, text=True,
                            timeout=timeout)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise LammpsRunError(f"{' '.join(command)} exited with {result.returncode}:\n{output[-3000:]}")
    return output


def write_data(path: str | os.PathLike, atoms: Atoms, elements: list[str]) -> Path:
    """LAMMPS data file (``atom_style atomic``, metal units); type ``k`` is ``elements[k-1]``.

    The cell must already be in LAMMPS' orientation (a along x, b in the xy plane:
    ``atoms.cell.standard_form()``) so that positions and forces need no rotation.
    """
    cell = atoms.cell.array
    if abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) > 1e-12:
        raise HamtransError("cell not in LAMMPS orientation: use atoms.set_cell(atoms.cell.standard_form()[0], "
                         "scale_atoms=True)")
    write(path, atoms, format="lammps-data", specorder=list(elements), masses=True, units="metal")
    return Path(path)


def read_dump(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Last frame of a text ``dump custom`` file: one array per column, rows sorted by ``id``."""
    lines = Path(path).read_text().splitlines()
    start = max(k for k, line in enumerate(lines) if line.startswith("ITEM: ATOMS"))
    names = lines[start].split()[2:]
    count = int(lines[start - 5])  # "ITEM: NUMBER OF ATOMS" value sits 5 lines above the atoms header
    table = np.array([line.split() for line in lines[start + 1: start + 1 + count]], dtype=float).reshape(count, -1)
    table = table[np.argsort(table[:, names.index("id")])]
    return {name: table[:, k] for k, name in enumerate(names)}
