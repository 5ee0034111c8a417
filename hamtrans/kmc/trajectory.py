"""KMC trajectory file: append-only HDF5 that survives a crash and resumes where it stopped.

Layout (format ``hamtrans-kmc-trajectory`` version 2)::

    attrs     format, version, settings (JSON), frames (number of COMPLETE frames)
    pristine/ numbers, positions (Å), cell (Å), pbc, region, oxygen_atoms: the fixed lattice
    frames/NNNNNN/
        occupied (n_sites,) bool, ions (n_interstitials,) bool
        attrs: time (s), voltage (V), events (per kind), current (A, NaN if not computed),
               rng_state (JSON), reservoir (O ions in the active electrode),
               extra (JSON: heating loop and filament metrics of the frame)

A frame is written, flushed, and only then counted in ``attrs['frames']``; a frame
group beyond that count (a crash while writing it) is discarded on resume.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from hamtrans.errors import FileFormatError
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
        Keep the complete frames of an existing file (:attr:`last_state` restores the run).
    """

    def __init__(self, path: str | os.PathLike, lattice: OxideLattice, settings: dict | None = None,
                 resume: bool = False) -> None:
        self.path = Path(path)
        if resume and self.path.exists():
            self._file = h5py.File(self.path, "a")
            _check_format(self._file, self.path)
            stored = self._file["pristine/oxygen_atoms"][()]
            if not np.array_equal(stored, lattice.oxygen_atoms):
                raise FileFormatError(f"{self.path} was written for another device; start a new file")
            complete = int(self._file.attrs["frames"])
            for name in list(self._file["frames"]):
                if int(name) >= complete:  # written while the previous run crashed
                    del self._file["frames"][name]
        else:
            self._file = h5py.File(self.path, "w")
            self._file.attrs.update(format=FORMAT, version=VERSION, settings=json.dumps(settings or {}), frames=0)
            pristine = self._file.create_group("pristine")
            atoms = lattice.pristine
            pristine["numbers"] = atoms.numbers
            pristine["positions"] = atoms.positions
            pristine["cell"] = atoms.cell.array
            pristine["pbc"] = atoms.pbc
            pristine["region"] = atoms.arrays["region"]
            pristine["oxygen_atoms"] = lattice.oxygen_atoms
            self._file.create_group("frames")
            self._file.flush()

    def __len__(self) -> int:
        return int(self._file.attrs["frames"])

    @property
    def settings(self) -> str:
        """The run settings stored with the file (JSON)."""
        return str(self._file.attrs["settings"])

    def append(self, state: KMCState, voltage: float, current: float = float("nan"), extra: dict | None = None) -> None:
        """Write one frame and flush it; it counts only once fully on disk (``extra``: JSON-able frame data)."""
        index = len(self)
        group = self._file["frames"].create_group(f"{index:06d}")
        group["occupied"] = state.occupied
        group["ions"] = state.ions
        group.attrs.update(time=state.time, voltage=float(voltage), events=state.events, current=float(current),
                           rng_state=json.dumps(state.rng_state), reservoir=int(state.reservoir),
                           extra=json.dumps(extra or {}))
        self._file.flush()
        self._file.attrs["frames"] = index + 1
        self._file.flush()

    def last_state(self) -> tuple[KMCState, float] | None:
        """``(state, voltage)`` of the last complete frame, or ``None`` for an empty file."""
        if len(self) == 0:
            return None
        group = self._file["frames"][f"{len(self) - 1:06d}"]
        state = KMCState(group["occupied"][()].astype(bool), group["ions"][()].astype(bool),
                         float(group.attrs["time"]), np.asarray(group.attrs["events"], dtype=np.int64),
                         json.loads(group.attrs["rng_state"]), int(group.attrs["reservoir"]))
        return state, float(group.attrs["voltage"])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def frame_record(state: KMCState, voltage: float, current: float, extra: dict | None = None) -> dict:
    """One frame as :func:`read_frames` returns it (copies: the state goes on changing)."""
    return {"time": float(state.time), "voltage": float(voltage), "events": np.array(state.events),
            "current": float(current), "occupied": np.array(state.occupied, dtype=bool),
            "ions": np.array(state.ions, dtype=bool), "reservoir": int(state.reservoir),
            **json.loads(json.dumps(extra or {}))}


def read_frames(path: str | os.PathLike) -> list[dict]:
    """Complete frames of a trajectory: time, voltage, events, current, occupied, ions."""
    with h5py.File(path, "r") as handle:
        _check_format(handle, path)
        frames = []
        for k in range(int(handle.attrs["frames"])):
            group = handle["frames"][f"{k:06d}"]
            state = KMCState(group["occupied"][()], group["ions"][()], float(group.attrs["time"]),
                             np.asarray(group.attrs["events"]), reservoir=int(group.attrs["reservoir"]))
            frames.append(frame_record(state, group.attrs["voltage"], group.attrs["current"],
                                       json.loads(group.attrs["extra"])))
        return frames


def _check_format(handle: h5py.File, path) -> None:
    if handle.attrs.get("format") != FORMAT:
        raise FileFormatError(f"{path} is not a hamtrans KMC trajectory")
    if int(handle.attrs.get("version", 0)) != VERSION:
        raise FileFormatError(f"{path} is a version-{int(handle.attrs.get('version', 0))} KMC trajectory; this "
                              f"hamtrans reads version {VERSION} (its states hold the electrode reservoir): start a "
                              "new output directory")
