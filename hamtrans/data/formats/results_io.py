"""Structures written with every result of their hamtrans calculator.

``ase.io.write(..., format="extxyz")`` keeps only ASE's own properties of ``atoms.calc.results``
(energy, forces, stress, ...): a transport current, a T(E) or a Hamiltonian would vanish
without a word. :func:`write_results` writes them all, or refuses:

* numbers (``current``, A) and 1-D arrays (``transmission``; its grid ``energies`` in eV is
  written as ``transmission_energies``) go to the extxyz comment line (``atoms.info`` when read back), per-atom arrays (``charges``, e) to
  its columns;
* sparse matrices (``hamiltonian`` in eV, ``overlap``) go to a side HDF5 file
  ``<stem>.matrices.h5``, one CSR group per result (``data``, ``indices``, ``indptr``,
  ``shape``, attribute ``unit``), read back by :func:`read_matrices`;
* a :class:`hamtrans.negf.CurrentResult` is written as its fields (``current_energies``,
  ``current_transmission``, ``current_error``, ``current_converged``);
* anything else is a :class:`~hamtrans.errors.OutputError` naming the result.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp
from ase import Atoms
from ase.calculators.calculator import all_properties
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from hamtrans.atomic_files import atomic_write
from hamtrans.errors import FileFormatError, OutputError

#: units of the matrices in the side file
MATRIX_UNITS = {"hamiltonian": "eV", "overlap": "1"}


def write_results(path: str | os.PathLike, atoms: Atoms) -> list[Path]:
    """Write ``atoms`` as extxyz with every result of ``atoms.calc``; returns the files written.

    Raises
    ------
    OutputError
        A result that neither extxyz nor the side file can hold (the message names it).
    """
    path = Path(path)
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    frame = atoms.copy()
    if "transmission" in results and "energies" in results:  # the T(E) grid, not ASE's per-atom energies
        frame.info["transmission_energies"] = np.asarray(results.pop("energies"), float)
    standard = {key: value for key, value in results.items() if key in all_properties}
    matrices = {}
    for key, value in results.items():
        if key in standard:
            continue
        if sp.issparse(value):
            matrices[key] = value.tocsr()
        elif dataclasses.is_dataclass(value) and hasattr(value, "current"):  # a CurrentResult
            frame.info.update(current_energies=np.asarray(value.energies, float),
                              current_transmission=np.asarray(value.transmission, float),
                              current_error=float(value.error), current_converged=bool(value.converged))
        elif np.isscalar(value) and isinstance(value, (int, float, np.number, bool)):
            frame.info[key] = value
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "biuf":
            if value.shape[0] == len(atoms):
                frame.arrays[key] = value
            else:
                frame.info[key] = value
        else:
            raise OutputError(f"result {key!r} ({type(value).__name__}) has no place in extxyz or the matrix side "
                              "file; take it from atoms.calc.results and save it yourself")
    frame.calc = SinglePointCalculator(frame, **standard) if standard else None
    written = [path]
    atomic_write(path, lambda target: write(target, frame, format="extxyz"))
    if matrices:
        side = path.with_name(f"{path.stem}.matrices.h5")
        atomic_write(side, lambda target: _write_matrices(target, matrices))
        written.append(side)
    return written


def read_matrices(path: str | os.PathLike) -> dict[str, sp.csr_matrix]:
    """The matrices of a ``<stem>.matrices.h5`` side file (``{"hamiltonian": CSR in eV, ...}``)."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"matrix file {path} does not exist")
    with h5py.File(path, "r") as file:
        return {name: sp.csr_matrix((group["data"][()], group["indices"][()], group["indptr"][()]),
                                    shape=tuple(group["shape"][()]))
                for name, group in file.items()}


def _write_matrices(target: Path, matrices: dict[str, sp.csr_matrix]) -> None:
    with h5py.File(target, "w") as file:
        for name, matrix in matrices.items():
            group = file.create_group(name)
            for field in ("data", "indices", "indptr"):
                group.create_dataset(field, data=getattr(matrix, field), compression="gzip")
            group.create_dataset("shape", data=np.asarray(matrix.shape))
            group.attrs["unit"] = MATRIX_UNITS.get(name, "")
