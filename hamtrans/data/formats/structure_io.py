"""Reading structure files with clear errors."""

from __future__ import annotations

import os
import re

from ase import Atoms
from ase.io import iread, read

from hamtrans.errors import FileFormatError, RecordIndexError

_SLICE = re.compile(r"^(-?\d*):(-?\d*)(?::(-?\d*))?$")


def parse_index(index: int | str) -> int | slice:
    """A frame index: an integer, or an ASE index string (``'3'``, ``'-1'``, ``':'``, ``'0:10:2'``).

    Raises
    ------
    RecordIndexError
        A string that is neither an integer nor a ``start:stop:step`` slice, or a zero step.
    """
    if isinstance(index, (int, slice)) and not isinstance(index, bool):
        return index
    text = str(index).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    match = _SLICE.match(text)
    if not match:
        raise RecordIndexError(f"frame index '{index}' is neither an integer nor a slice 'start:stop:step' "
                               "(e.g. 0, -1, ':', '0:10:2')")
    start, stop, step = (int(v) if v else None for v in match.groups())
    if step == 0:
        raise RecordIndexError(f"frame index '{index}' has a zero step")
    return slice(start, stop, step)


def read_structure(path: str | os.PathLike, index: int | str = -1) -> Atoms | list[Atoms]:
    """Read one structure (or ``index=':'`` for all) with ASE.

    Raises
    ------
    FileFormatError
        The file is missing or cannot be parsed.
    RecordIndexError
        ``index`` is malformed, outside the file's frames, or selects none.
    """
    selected = parse_index(index)
    try:
        frames = read(path, index=selected)
    except FileNotFoundError:
        raise FileFormatError(f"structure file {path} does not exist") from None
    except (IndexError, StopIteration):  # ASE's readers signal a frame past the end either way
        try:
            frames_in_file = _count_frames(path)
        except Exception as exc:  # the IndexError came from a malformed file, not from the index
            raise FileFormatError(f"cannot read structure file {path}: {exc}") from exc
        raise RecordIndexError(f"structure file {path} has {frames_in_file} frames: index {index} is out of "
                               "range; give an index within them (0 is the first, -1 the last)") from None
    except Exception as exc:  # ASE raises many types for malformed files
        raise FileFormatError(f"cannot read structure file {path}: {exc}") from exc
    if isinstance(frames, list) and not frames:
        raise RecordIndexError(f"index '{index}' selects no frame of structure file {path} "
                               f"({_count_frames(path)} frames)")
    return frames


def _count_frames(path: str | os.PathLike) -> int:
    """Number of frames of a readable structure file."""
    return sum(1 for _ in iread(path, index=":"))
