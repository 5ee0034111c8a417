"""Reading structure files with clear errors."""

from __future__ import annotations

import os

from ase import Atoms
from ase.io import read

from hamtrans.errors import FileFormatError


def read_structure(path: str | os.PathLike, index: int | str = -1) -> Atoms | list[Atoms]:
    """Read one structure (or ``index=':'`` for all) with ASE, raising :class:`FileFormatError` on failure."""
    try:
        return read(path, index=index)
    except FileNotFoundError:
        raise FileFormatError(f"structure file {path} does not exist") from None
    except Exception as exc:  # ASE raises many types for malformed files
        raise FileFormatError(f"cannot read structure file {path}: {exc}") from exc
