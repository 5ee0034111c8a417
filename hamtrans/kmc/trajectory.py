"""KMC trajectory file: HDF5 that is complete after every frame and resumes where a run stopped.

Layout (format ``hamtrans-kmc-trajectory`` version 2)::

    attrs     format, version, settings (JSON), frames (number of frames)
    pristine/ numbers, positions (Å), cell (Å), pbc, region, oxygen_atoms: the fixed lattice
    frames/NNNNNN/
        occupied (n_sites,) bool, ions (n_interstitials,) bool
        attrs: time (s), voltage (V), events (per kind), current (A, NaN if not computed),
               rng_state (JSON), reservoir (O ions in the active electrode),
               extra (JSON: heating loop and filament metrics of the frame)

Guarantee: the file under its own name is always a complete trajectory, whatever
instant the process is killed at (SIGKILL included). HDF5 updates in place are not
crash-safe (a kill during a write leaves a file HDF5 cannot open, or a frame count
that names a frame that is not there), so nothing is ever written in place: the
file is created as ``<name>.partial`` and every :meth:`TrajectoryWriter.append`
copies the file to ``<name>.partial``, adds the frame there, flushes it to disk and
renames it over the file (:func:`~hamtrans.atomic_files.atomic_write`). A kill
loses at most the frame being appended and leaves at most a stale ``.partial``,
which the next writer deletes. Each append costs one copy of the file (~3 KB per
frame of a 36-site lattice). A frame group beyond ``attrs['frames']`` is not a
frame: it is never read and is replaced by the next append.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from hamtrans.atomic_files import atomic_write
from hamtrans.errors import FileFormatError, OutputError
from hamtrans.kmc.engine import KMCState
from hamtrans.kmc.lattice import OxideLattice

FORMAT = "hamtrans-kmc-trajectory"
VERSION = 2


class TrajectoryWriter:
    """Append KMC frames to ``path``; with ``resume=True`` continue an existing file.

    Parameters
    ----------
    path
        HDF5 file.
    lattice
        The fixed lattice (stored once; a resumed file must hold the same one).
    settings
        JSON-able run settings (barriers, seed, voltages ...), stored with the file.
    resume
        Keep the frames of an existing file (:meth:`last_state` restores the run).

    Raises
    ------
    FileFormatError
        A resumed file is not a readable trajectory, or was written for another lattice.
    OutputError
        The file cannot be written (folder not writable, file system full).

    Notes
    -----
    No file stays open between calls: every append replaces the whole file
    atomically (module docstring).
    """

    def __init__(self, path: str | os.PathLike, lattice: OxideLattice, settings: dict | None = None,
                 resume: bool = False) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        if self.partial.exists():  # a copy a killed run was extending
            self.partial.unlink()
        if resume and self.path.exists():
            with _open(self.path) as handle:
                stored = handle["pristine/oxygen_atoms"][()]
                if not np.array_equal(stored, lattice.oxygen_atoms):
                    raise FileFormatError(f"{self.path} was written for another device; start a new file")
                self._frames = int(handle.attrs["frames"])
                self._settings = str(handle.attrs["settings"])
        else:
            self._settings = json.dumps(settings or {})
            self._write(lambda partial: _create(partial, lattice, self._settings))
            self._frames = 0

    def __len__(self) -> int:
        return self._frames

    @property
    def settings(self) -> str:
        """The run settings stored with the file (JSON)."""
        return self._settings

    def append(self, state: KMCState, voltage: float, current: float = float("nan"), extra: dict | None = None) -> None:
        """Add one frame (``extra``: JSON-able frame data); the file is replaced only once it is complete.

        Raises
        ------
        OutputError
            The new file could not be written; the file keeps its previous frames.
        """
        index = len(self)

        def write(partial: Path) -> None:
            shutil.copyfile(self.path, partial)
            with h5py.File(partial, "r+") as handle:
                frames = handle["frames"]
                name = f"{index:06d}"
                if name in frames:  # a group beyond the frame count is no frame
                    del frames[name]
                group = frames.create_group(name)
                group["occupied"] = state.occupied
                group["ions"] = state.ions
                group.attrs.update(time=state.time, voltage=float(voltage), events=state.events,
                                   current=float(current), rng_state=json.dumps(state.rng_state),
                                   reservoir=int(state.reservoir), extra=json.dumps(extra or {}))
                handle.attrs["frames"] = index + 1

        self._write(write)
        self._frames = index + 1

    def last_state(self) -> tuple[KMCState, float] | None:
        """``(state, voltage)`` of the last frame, or ``None`` for an empty file."""
        if len(self) == 0:
            return None
        with _open(self.path) as handle:
            group = _frame(handle, len(self) - 1, self.path)
            state = KMCState(group["occupied"][()].astype(bool), group["ions"][()].astype(bool),
                             float(group.attrs["time"]), np.asarray(group.attrs["events"], dtype=np.int64),
                             json.loads(group.attrs["rng_state"]), int(group.attrs["reservoir"]))
            return state, float(group.attrs["voltage"])

    def close(self) -> None:
        """Nothing to close: no file stays open between appends."""

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, write) -> None:
        """Write the whole file through ``write(partial)`` and rename it over :attr:`path`."""
        try:
            atomic_write(self.path, write, self.partial)
        except OutputError as exc:
            kept = f"; a rerun resumes after its {len(self)} frames" if self.path.exists() else ""
            raise OutputError(f"KMC trajectory: {exc}{kept}") from None


def frame_record(state: KMCState, voltage: float, current: float, extra: dict | None = None) -> dict:
    """One frame as :func:`read_frames` returns it (copies: the state goes on changing)."""
    return {"time": float(state.time), "voltage": float(voltage), "events": np.array(state.events),
            "current": float(current), "occupied": np.array(state.occupied, dtype=bool),
            "ions": np.array(state.ions, dtype=bool), "reservoir": int(state.reservoir),
            **json.loads(json.dumps(extra or {}))}


def read_frames(path: str | os.PathLike) -> list[dict]:
    """Frames of a trajectory: time, voltage, events, current, occupied, ions, reservoir and the extra data."""
    with _open(path) as handle:
        frames = []
        for k in range(int(handle.attrs["frames"])):
            group = _frame(handle, k, path)
            state = KMCState(group["occupied"][()], group["ions"][()], float(group.attrs["time"]),
                             np.asarray(group.attrs["events"]), reservoir=int(group.attrs["reservoir"]))
            frames.append(frame_record(state, group.attrs["voltage"], group.attrs["current"],
                                       json.loads(group.attrs["extra"])))
        return frames


def _create(path: Path, lattice: OxideLattice, settings: str) -> None:
    """A trajectory with the pristine lattice and no frames."""
    with h5py.File(path, "w") as handle:
        handle.attrs.update(format=FORMAT, version=VERSION, settings=settings, frames=0)
        pristine = handle.create_group("pristine")
        atoms = lattice.pristine
        pristine["numbers"] = atoms.numbers
        pristine["positions"] = atoms.positions
        pristine["cell"] = atoms.cell.array
        pristine["pbc"] = atoms.pbc
        pristine["region"] = atoms.arrays["region"]
        pristine["oxygen_atoms"] = lattice.oxygen_atoms
        handle.create_group("frames")


def _open(path) -> h5py.File:
    """``path`` opened read-only, checked to be a trajectory of this version."""
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path} cannot be read as an HDF5 file ({exc}): it is no complete KMC trajectory; "
                              "delete it to start the sweep again, or choose another output.directory") from None
    try:
        _check_format(handle, path)
    except BaseException:
        handle.close()
        raise
    return handle


def _frame(handle: h5py.File, index: int, path) -> h5py.Group:
    try:
        return handle["frames"][f"{index:06d}"]
    except KeyError:
        raise FileFormatError(f"{path} counts {int(handle.attrs['frames'])} frames but frame {index} is missing: the "
                              "file is damaged; delete it to start the sweep again") from None


def _check_format(handle: h5py.File, path) -> None:
    if handle.attrs.get("format") != FORMAT:
        raise FileFormatError(f"{path} is not a hamtrans KMC trajectory")
    if int(handle.attrs.get("version", 0)) != VERSION:
        raise FileFormatError(f"{path} is a version-{int(handle.attrs.get('version', 0))} KMC trajectory; this "
                              f"hamtrans reads version {VERSION} (its states hold the electrode reservoir): start a "
                              "new output directory")
