"""Files that are either complete or absent: write to ``<name>.partial``, then rename."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(partial_path)`` and rename the result to ``path`` (atomic on POSIX)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)
