"""Triplet ("row col value", 1-based) matrix files as written by CP2K and the ETH code.

Two encodings, detected from the content (``.gz`` files are decompressed):

* ASCII: one ``row col value`` triplet per line, no header;
* CP2K ``BINARY T``: Fortran unformatted sequential records, one per entry, each
  ``<i4 len=16> <i4 row> <i4 col> <f8 value> <i4 len=16>`` (little endian).

A file holding only one triangle (``row <= col`` everywhere, or ``>=``) is
mirrored to the full symmetric matrix ``M + Mᵀ − diag(M)``; per-image matrices
of periodic runs are not symmetric and are read with ``symmetric=False``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hamtrans.errors import FileFormatError

BINARY_RECORD = np.dtype([("head", "<i4"), ("row", "<i4"), ("col", "<i4"), ("value", "<f8"), ("tail", "<i4")])


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FileFormatError(f"cannot read matrix file {path}: {exc}") from exc


def _parse(raw: bytes, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    is_binary = len(raw) >= 24 and int(np.frombuffer(raw[:4], "<i4")[0]) == 16
    if is_binary:
        if len(raw) % BINARY_RECORD.itemsize:
            raise FileFormatError(
                f"{path}: binary CSR size {len(raw)} B is not a multiple of {BINARY_RECORD.itemsize} B records: truncated"
            )
        rec = np.frombuffer(raw, BINARY_RECORD)
        if np.any(rec["head"] != 16) or np.any(rec["tail"] != 16):
            raise FileFormatError(f"{path}: corrupt Fortran record markers in binary CSR file")
        return rec["row"].astype(np.int64), rec["col"].astype(np.int64), rec["value"].astype(np.float64)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: neither an ASCII triplet file nor CP2K binary records") from None
    if text.strip() and not text.endswith("\n"):
        raise FileFormatError(f"{path}: last line has no newline: the file is truncated")
    lines = [ln for ln in text.split("\n") if ln.strip()]
    bad = next((k for k, ln in enumerate(lines) if len(ln.split()) != 3), None)
    if bad is not None:
        raise FileFormatError(f"{path}: line {bad + 1} is not a 'row col value' triplet: '{lines[bad][:60]}'")
    try:
        values = np.array(text.split(), dtype=np.float64).reshape(-1, 3)
    except ValueError as exc:
        raise FileFormatError(f"{path}: non-numeric entry in a triplet file ({exc})") from None
    rows, cols = values[:, 0], values[:, 1]
    if np.any(rows != np.round(rows)) or np.any(cols != np.round(cols)):
        raise FileFormatError(f"{path}: row/column indices are not integers")
    return rows.astype(np.int64), cols.astype(np.int64), values[:, 2]


def read_triplet_matrix(
    path: str | os.PathLike, n_orbitals: int | None = None, symmetric: bool = True
) -> sp.csr_matrix:
    """Read a 1-based triplet matrix file into a CSR matrix (file units, file orbital order).

    Parameters
    ----------
    path
        ASCII or CP2K binary ``.csr`` file, optionally gzip-compressed.
    n_orbitals
        Expected dimension; a file whose indices exceed it, or that does not reach
        it, raises :class:`~hamtrans.errors.FileFormatError` (wrong basis or structure).
    symmetric
        Mirror a single-triangle file to the full symmetric matrix.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(n, n)``.
    """
    path = Path(path)
    rows, cols, values = _parse(_read_bytes(path), path)
    if len(rows) == 0:
        raise FileFormatError(f"{path}: empty matrix file")
    if rows.min() < 1 or cols.min() < 1:
        raise FileFormatError(f"{path}: indices must be 1-based (found {min(rows.min(), cols.min())})")
    n = int(max(rows.max(), cols.max()))
    if n_orbitals is not None and n != n_orbitals:
        raise FileFormatError(
            f"{path}: matrix has {n} orbitals but the structure has {n_orbitals} in this basis; "
            "check the basis set name, the structure file and that the matrix file is complete"
        )
    n = n_orbitals or n
    matrix = sp.coo_matrix((values, (rows - 1, cols - 1)), shape=(n, n)).tocsr()
    if symmetric and (np.all(rows <= cols) or np.all(rows >= cols)):
        matrix = (matrix + matrix.T - sp.diags(matrix.diagonal())).tocsr()
    return matrix
