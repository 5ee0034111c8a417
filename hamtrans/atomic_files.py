"""Output files that are either complete or absent, and checks of output paths before a command runs.

:func:`atomic_write` writes ``<name>.partial`` and renames it: a killed process
leaves no half-written file under the final name, and a write that fails for want
of space or permission is an :class:`~hamtrans.errors.OutputError` naming the file,
the cause and the fix, the previous version of the file left as it was.
:func:`check_output_file` and :func:`check_output_folder` refuse, before any work,
an output that is one of the command's inputs (same path, symbolic or hard link),
or whose folder is missing or cannot be written.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from hamtrans.errors import OutputError

#: ``errno`` values of a write the file system refuses: no space, quota, file too large, read-only, permissions.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
#: Bytes (1 MiB) below which a file system counts as full when a writer fails without an ``errno``.
FULL_BYTES = 2 ** 20


def atomic_write(path: Path, write: Callable[[Path], object], partial: Path | None = None) -> None:
    """Call ``write(partial)``, flush it to disk and rename it to ``path`` (atomic on POSIX).

    ``partial`` (default ``<path>.partial``) must be on the file system of ``path``.
    On an exception the partial file is removed and ``path`` is left as it was.

    Raises
    ------
    OutputError
        The write failed with one of :data:`WRITE_ERRNOS` (disk full, read-only, ...), or
        failed in any other way while the file system had less than :data:`FULL_BYTES` free
        (``torch.save`` on a full disk raises a ``RuntimeError`` without an ``errno``).
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial") if partial is None else Path(partial)
    try:
        write(partial)
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except Exception as exc:
        full = _free_bytes(partial.parent) < FULL_BYTES
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            raise OutputError(_failure_message(path, exc.errno)) from exc
        if full and not isinstance(exc, OSError):
            raise OutputError(_failure_message(path, errno.ENOSPC, f"{type(exc).__name__}: {exc}")) from exc
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _failure_message(path: Path, code: int, detail: str | None = None) -> str:
    """The message of a failed write of ``path`` with ``errno`` ``code``: cause, fix, and what is left."""
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free space on that file system or write to another folder"
    else:
        fix = "choose a writable folder or fix its permissions"
    cause = os.strerror(code) if detail is None else f"{os.strerror(code)}; {detail}"
    kept = "keeps its previous complete version" if path.exists() else "was not created"
    return f"cannot write {path} ({cause}): {fix}; {path.name} {kept}"


def _free_bytes(folder: Path) -> int:
    """Bytes an unprivileged user can still write in ``folder``'s file system (large if unknown)."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return FULL_BYTES
    return stats.f_bavail * stats.f_frsize


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same inode (links included) or the same resolved path."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:  # one of them does not exist
        pass
    return Path(a).resolve() == Path(b).resolve()


def check_writable(folder: Path, what: str) -> None:
    """Raise :class:`OutputError` unless a file can be created in the existing ``folder``.

    ``what`` names the output in the message (e.g. ``"-o out/ref.h5"``).
    """
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"{what}: cannot write in folder {folder} ({exc.strerror}): choose a writable folder "
                          "or fix its permissions") from None


def _check_not_input(output: Path, inputs: Iterable[tuple[str, str | os.PathLike]], what: str) -> None:
    for label, source in inputs:
        if source is not None and same_file(output, source):
            raise OutputError(f"{what}: {output} is the {label} {source}; writing it would destroy that input: "
                              "choose another output path")


def check_output_file(path: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike]], what: str,
                      companions: Iterable[str] = (".partial",)) -> Path:
    """Check an output file before a command reads or computes anything.

    Parameters
    ----------
    path
        The output file.
    inputs
        ``(label, path)`` of every input file of the command (labels such as ``"structure file"``).
    what
        The option naming the output in messages, e.g. ``"-o"``.
    companions
        Suffixes of files written beside ``path`` (its ``.partial`` file, ...), checked like it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        ``path`` or a companion is one of the inputs, is a folder, or its folder is
        missing or not writable.
    """
    path = Path(path)
    inputs = list(inputs)
    what = f"{what} {path}"
    if path.is_dir():
        raise OutputError(f"{what} is a folder; give a file name")
    for output in [path, *(path.with_name(path.name + suffix) for suffix in companions)]:
        _check_not_input(output, inputs, what)
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"{what}: folder {folder} does not exist: create it (mkdir -p {folder}) or choose "
                          "another output path")
    check_writable(folder, what)
    return path


def check_output_folder(folder: str | os.PathLike, names: Iterable[str],
                        inputs: Iterable[tuple[str, str | os.PathLike]], what: str) -> Path:
    """Check an output folder (created if missing) into which a command writes the files ``names``.

    Raises
    ------
    OutputError
        ``folder`` is an existing file, one of the files the command writes there
        (or its ``.partial``) is one of the inputs, or the nearest existing folder
        of its path is not writable.
    """
    folder = Path(folder)
    inputs = list(inputs)
    what = f"{what} {folder}"
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} is a file, not a folder: give a folder name")
    for name in names:
        for output in (folder / name, folder / (name + ".partial")):
            _check_not_input(output, inputs, what)
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what}: {existing} is a file, so the folder cannot be created: choose another path")
    check_writable(existing, what)
    return folder
