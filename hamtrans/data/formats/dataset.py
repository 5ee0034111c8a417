"""The hamtrans HDF5 dataset (format version 1).

Layout (all lengths Å, energies eV, S dimensionless)::

    /                         attrs: format="hamtrans-dataset", version=1,
                                     basis=<OrbitalBasis JSON>, orbital_order="e3nn",
                                     units=<JSON>, settings=<JSON of the generator>
    /structures/000000/       one group per structure, zero-padded index
        numbers     (N,)   int64
        positions   (N,3)  float64
        cell        (3,3)  float64
        pbc         (3,)   bool
        edge_index  (2,E)  int64   [i; j]
        edge_shift  (E,3)  int64   cell shift S of atom j
        H/onsite    (Σ n_i²)       float64, flat row-major blocks, atom order
        H/edges     (Σ n_i n_j)    float64, flat row-major blocks, edge order
        S/onsite, S/edges          same for the overlap
        forces      (N,3)  optional, eV/Å
        stress      (6,)   optional, Voigt xx yy zz yz xz xy, eV/Å³
        charges     (N,)   optional, Mulliken partial charges, e
        attrs: energy (eV, optional), fermi_level (eV, optional), source, name,
               wall_time (s, optional: time the reference took),
               input_digest (optional: structure_digest of the input structure)

Block shapes follow from ``numbers`` and the basis, so no offsets are stored.
:class:`Dataset` reads lazily.

Writing (:class:`DatasetWriter`) survives a killed process: every record is a
one-record dataset file ``<path>.records/NNNNNN.h5``, written to a temporary
name and renamed, so it is complete or absent. ``<path>.partial`` is an index
with the header and one external link per record, rewritten (atomically) once the
record file is complete: a dataset that :class:`Dataset` reads (``hamtrans info
<path>.partial``). A writer with ``resume=True`` continues after the consecutive
readable record files (:meth:`DatasetWriter.check_resume` checks that the inputs
and settings are those of the stored records). :meth:`DatasetWriter.close`
copies the records into one file written under a temporary name and renamed to
``<path>``, then deletes the index and the record files: a file named ``<path>``
is always complete. A self-contained dataset file named ``<path>.partial`` (a whole
dataset under that name, without record files) is resumed too: its records move
into record files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterator, Mapping

import h5py
import numpy as np
from ase import Atoms

from hamtrans.atomic_files import atomic_write, check_writable
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph
from hamtrans.errors import FileFormatError, OutputError, RecordIndexError

FORMAT_NAME = "hamtrans-dataset"
FORMAT_VERSION = 1
UNITS = {"length": "Angstrom", "energy": "eV", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"}
#: Files a writer keeps in ``<path>.records/``: record files, the assembled dataset, their temporary files.
_RECORD_FILE = re.compile(r"^(\d{6}|assembled)\.h5(\.partial)?$")


class Record:
    """One structure of a dataset, loaded in memory.

    Attributes
    ----------
    atoms
        Structure.
    hamiltonian, overlap
        Block-sparse H (eV) and S, or ``None`` if the dataset has none.
    energy, forces, stress, fermi_level
        Optional labels (eV, eV/Å, eV/Å³ Voigt, eV).
    charges
        Optional ``(N,)`` partial charges, e.
    source, name
        Provenance strings.
    wall_time
        Optional wall-clock seconds the reference calculation took.
    input_digest
        :func:`structure_digest` of the input structure ('' if unknown): lets a resumed
        run check that it continues with the same structures.
    """

    def __init__(
        self,
        atoms: Atoms,
        hamiltonian: BlockSparseMatrix | None = None,
        overlap: BlockSparseMatrix | None = None,
        energy: float | None = None,
        forces: np.ndarray | None = None,
        stress: np.ndarray | None = None,
        fermi_level: float | None = None,
        source: str = "",
        name: str = "",
        charges: np.ndarray | None = None,
        wall_time: float | None = None,
        input_digest: str = "",
    ) -> None:
        self.atoms = atoms
        self.hamiltonian = hamiltonian
        self.overlap = overlap
        self.energy = energy
        self.forces = forces
        self.stress = stress
        self.fermi_level = fermi_level
        self.source = source
        self.name = name
        self.charges = charges
        self.wall_time = wall_time
        self.input_digest = input_digest

    @property
    def graph(self) -> AtomGraph | None:
        blocks = self.hamiltonian or self.overlap
        return None if blocks is None else blocks.graph

    @classmethod
    def from_reference(cls, result, name: str = "", input_digest: str = "") -> "Record":
        """Wrap a :class:`~hamtrans.data.reference.ReferenceResult`."""
        return cls(
            result.atoms, result.hamiltonian, result.overlap, result.energy, result.forces,
            result.stress, result.fermi_level, result.source, name, result.charges,
            getattr(result, "wall_time", None), input_digest,
        )


def structure_digest(atoms: Atoms) -> str:
    """Short hash of numbers, positions (rounded to 1e-6 Å), cell and pbc of a structure."""
    h = hashlib.sha256()
    for array in (atoms.numbers.astype(np.int64), np.round(atoms.get_positions(), 6) + 0.0,
                  np.round(np.asarray(atoms.cell, dtype=np.float64), 6) + 0.0, np.asarray(atoms.pbc, dtype=bool)):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


class DatasetWriter:
    """Append structures to a dataset; each record is on disk as soon as :meth:`append` returns.

    Parameters
    ----------
    path
        Final file name (``.h5``), written by :meth:`close`.
    basis
        Orbital basis of all H/S blocks.
    settings
        Generator settings stored as JSON (method, cutoff, ...).
    resume
        Continue the records of an interrupted writer of ``path`` instead of starting afresh
        (module docstring); the stored header and settings are kept.

    Raises
    ------
    OutputError
        The folder of ``path`` cannot be written.
    FileFormatError
        ``resume`` finds a partial dataset in another basis, or an unreadable one.
    """

    def __init__(self, path: str | os.PathLike, basis: OrbitalBasis, settings: dict | None = None, resume: bool = False):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.records = self.path.with_name(self.path.name + ".records")
        self.basis = basis
        state = self._stored_state() if resume else None
        if state is None:
            self._header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "basis": basis.to_json(),
                            "orbital_order": "e3nn", "units": json.dumps(UNITS), "settings": json.dumps(settings or {})}
            self._keys: list[str] = []
            self._writing(self._discard)
        else:
            self._header, self._keys = state
            self._check_stored(self._header)
        self._writing(lambda: self.records.mkdir(exist_ok=True))
        self._writing(self._write_index)

    def __len__(self) -> int:
        return len(self._keys)

    # -- the files -------------------------------------------------------------------
    def _writing(self, action) -> None:
        """Run a file operation, turning an unwritable folder into :class:`OutputError`."""
        try:
            action()
        except OSError as exc:
            raise OutputError(f"cannot write dataset {self.path} ({exc}): choose a writable folder for it or fix "
                              "the folder's permissions; records already written stay for --resume") from None

    def _record_file(self, key: str) -> Path:
        return self.records / f"{key}.h5"

    def _stored_state(self) -> tuple[dict, list[str]] | None:
        """Header and record keys of an interrupted writer, or ``None`` if there is nothing to resume.

        The records are the consecutive readable record files ``000000.h5, 000001.h5, ...``
        (each complete, as renamed when written; a missing or unreadable one ends them, and
        those after it are computed again). The header comes from the index, or from the first
        record file where the index is unreadable. A self-contained partial dataset (a whole
        dataset named ``<path>.partial``) first moves its records into record files.
        """
        header = self._migrated_index()
        keys = []
        while self._readable_record(f"{len(keys):06d}"):
            keys.append(f"{len(keys):06d}")
        if header is None:
            if not keys:
                return None
            with h5py.File(self._record_file(keys[0]), "r") as handle:
                header = dict(handle.attrs)
        self._check_stored(header)
        return header, keys

    def _migrated_index(self) -> dict | None:
        """The header of a readable index (``None`` if there is none), records of a self-contained one moved out."""
        try:
            index = h5py.File(self.partial, "r")
        except OSError:  # absent, or cut short by a kill
            return None
        with index:
            header = dict(index.attrs)
            if "format" not in header:
                return None
            self._check_stored(header)
            structures = index.get("structures", {})
            names = sorted(structures)
            if all(isinstance(structures.get(name, getlink=True), h5py.ExternalLink) for name in names):
                return header
            check_writable(self.path.parent, f"dataset {self.path}")
            self._writing(lambda: self.records.mkdir(exist_ok=True))
            for k, name in enumerate(names):  # up to the first record a kill left unreadable
                key = f"{k:06d}"
                try:
                    atomic_write(self._record_file(key), lambda tmp: _copy_record(structures[name], key, header, tmp))
                except (OSError, KeyError, RuntimeError):
                    break
        return header

    def _readable_record(self, key: str) -> bool:
        """Whether record file ``key`` exists and can be read."""
        if not self._record_file(key).exists():
            return False
        try:
            self._stored_record(key)
        except FileFormatError:
            return False
        return True

    def _stored_record(self, key: str) -> tuple[str, str, bool]:
        """Name, input digest and whether H is stored, of record file ``key``."""
        try:
            with h5py.File(self._record_file(key), "r") as handle:
                group = handle["structures"][key]
                return str(group.attrs.get("name", "")), str(group.attrs.get("input_digest", "")), "H" in group
        except (OSError, KeyError) as exc:
            raise FileFormatError(f"record file {self._record_file(key)} is unreadable ({exc}): delete it and the "
                                  "later record files to compute those structures again") from None

    def _check_stored(self, header: Mapping) -> None:
        """Raise unless a stored header is a dataset of this format in this writer's basis."""
        _check_header(header, self.partial)
        stored = OrbitalBasis.from_json(header["basis"])
        if stored != self.basis:
            raise FileFormatError(f"{self.partial} uses basis '{stored.name}', not '{self.basis.name}'; delete it to "
                                  "restart")

    def _write_index(self) -> None:
        """Rewrite ``<path>.partial``: the header and one external link per record file."""
        def write(tmp: Path) -> None:
            with h5py.File(tmp, "w") as index:
                index.attrs.update(self._header)
                group = index.create_group("structures")
                for key in self._keys:
                    group[key] = h5py.ExternalLink(f"{self.records.name}/{key}.h5", f"/structures/{key}")

        atomic_write(self.partial, write)

    def _discard(self) -> None:
        """Delete the index and the record files of this path (nothing else in the records folder)."""
        self.partial.unlink(missing_ok=True)
        self.partial.with_name(self.partial.name + ".partial").unlink(missing_ok=True)
        if self.records.is_dir():
            for file in self.records.iterdir():
                if _RECORD_FILE.match(file.name):
                    file.unlink()
            try:
                self.records.rmdir()
            except OSError:
                pass  # the folder holds files of the user's: keep them

    # -- resume ----------------------------------------------------------------------
    def check_resume(self, names: list[str], digests: list[str], settings: dict | None = None,
                     may_differ: tuple[str, ...] = (), blocks: bool | None = None) -> int:
        """Check a resumed dataset against this run's inputs; return how many are done.

        Parameters
        ----------
        names, digests
            Name and :func:`structure_digest` of every input structure, in order.
        settings
            This run's generator settings (compared with the stored ones, as JSON).
        may_differ
            Top-level settings keys that may change (e.g. SCF step limits); the file
            keeps its stored settings.
        blocks
            Whether this run stores H and S blocks (``None``: not checked); every
            stored record must agree.

        Raises
        ------
        FileFormatError
            Other settings, more stored structures than inputs, a stored structure
            whose name or digest differs from the input at its position, or stored
            records with (without) blocks for a run without (with) them.
        """
        if settings is not None:
            stored = json.loads(self._header.get("settings", "{}"))
            new = json.loads(json.dumps(settings))
            for key in may_differ:
                stored.pop(key, None)
                new.pop(key, None)
            if stored != new:
                keys = sorted(k for k in set(stored) | set(new) if stored.get(k) != new.get(k))
                raise FileFormatError(
                    f"{self.partial} was written with other settings ({', '.join(keys)} differ): resume with the "
                    "same options, or delete it to restart"
                )
        done = len(self)
        if done > len(names):
            raise FileFormatError(f"{self.partial} holds {done} structures but this run has only {len(names)} inputs")
        for k, key in enumerate(self._keys):
            stored_name, stored_digest, has_blocks = self._stored_record(key)
            if stored_name != names[k] or (stored_digest and stored_digest != digests[k]):
                raise FileFormatError(
                    f"{self.partial}: structure {k} is '{stored_name}' but this run's input {k} is '{names[k]}'"
                    f"{' with other atoms' if stored_name == names[k] else ''}: resume with the same structure "
                    "files in the same order, or delete the partial file to restart"
                )
            if blocks is not None and has_blocks != blocks:
                raise FileFormatError(
                    f"{self.partial}: structure {k} was stored {'with' if has_blocks else 'without'} H and S blocks "
                    f"but this run {'computes' if blocks else 'skips'} them: resume "
                    f"{'without' if has_blocks else 'with'} --no-blocks, or delete the partial file to restart"
                )
        return done

    # -- writing ---------------------------------------------------------------------
    def append(self, record: Record) -> None:
        """Write one structure to its record file and link it into the index.

        Raises
        ------
        FileFormatError
            H or S blocks in another basis than the dataset's.
        OutputError
            The folder cannot be written (the records so far stay for resuming).
        """
        for blocks in (record.hamiltonian, record.overlap):
            if blocks is not None and blocks.basis != self.basis:
                raise FileFormatError(f"record uses basis '{blocks.basis.name}', dataset uses '{self.basis.name}'")
        key = f"{len(self):06d}"
        self._writing(lambda: atomic_write(self._record_file(key), lambda tmp: _write_record_file(
            tmp, self._header, key, record)))
        self._keys.append(key)
        self._writing(self._write_index)  # atomic: the index is never seen half-written

    def close(self) -> Path:
        """Copy the records into ``<path>`` (written under a temporary name, then renamed) and delete the partial files."""
        def write(tmp: Path) -> None:
            with h5py.File(tmp, "w") as out:
                out.attrs.update(self._header)
                group = out.create_group("structures")
                for key in self._keys:
                    with h5py.File(self._record_file(key), "r") as source:
                        source.copy(source["structures"][key], group, name=key)

        self._writing(lambda: atomic_write(self.path, write, partial=self.records / "assembled.h5"))
        self._discard()
        return self.path

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()  # on an exception the record files and the index stay for resuming


def _write_group(group: h5py.Group, record: Record) -> None:
    """Store one record's structure, blocks and labels in ``group``."""
    atoms = record.atoms
    group["numbers"] = atoms.numbers.astype(np.int64)
    group["positions"] = atoms.get_positions()
    group["cell"] = np.asarray(atoms.cell, dtype=np.float64)
    group["pbc"] = np.asarray(atoms.pbc, dtype=bool)
    graph = record.graph
    if graph is not None:
        group["edge_index"] = graph.edge_index
        group["edge_shift"] = graph.shifts
    for key, blocks in (("H", record.hamiltonian), ("S", record.overlap)):
        if blocks is not None:
            group.create_dataset(f"{key}/onsite", data=blocks.onsite, compression="gzip", compression_opts=1)
            group.create_dataset(f"{key}/edges", data=blocks.edges, compression="gzip", compression_opts=1)
    for key in ("forces", "stress", "charges"):
        value = getattr(record, key)
        if value is not None:
            group[key] = np.asarray(value, dtype=np.float64)
    for key in ("energy", "fermi_level"):
        value = getattr(record, key)
        if value is not None:
            group.attrs[key] = float(value)
    group.attrs["source"] = record.source
    group.attrs["name"] = record.name
    if record.wall_time is not None:
        group.attrs["wall_time"] = float(record.wall_time)
    if record.input_digest:
        group.attrs["input_digest"] = record.input_digest


def _write_record_file(path: Path, header: Mapping, key: str, record: Record) -> None:
    """A one-record dataset file: the header and ``/structures/<key>``."""
    with h5py.File(path, "w") as handle:
        handle.attrs.update(header)
        _write_group(handle.create_group("structures").create_group(key), record)


def _copy_record(group: h5py.Group, key: str, header: Mapping, path: Path) -> None:
    """A one-record dataset file holding a copy of ``group`` as ``/structures/<key>``."""
    with h5py.File(path, "w") as handle:
        handle.attrs.update(header)
        group.file.copy(group, handle.create_group("structures"), name=key)


def _check_header(attrs: Mapping, path) -> None:
    """Raise unless ``attrs`` (a file's attributes) are those of a dataset of this format version."""
    if attrs.get("format") != FORMAT_NAME:
        raise FileFormatError(f"{path} is not a hamtrans dataset (no format='{FORMAT_NAME}' attribute)")
    version = int(attrs.get("version", -1))
    if version != FORMAT_VERSION:
        raise FileFormatError(
            f"{path} is hamtrans dataset version {version}; this hamtrans reads version {FORMAT_VERSION}"
        )


class Dataset:
    """Lazy reader: structures are loaded one at a time on indexing.

    Parameters
    ----------
    path
        Dataset file written by :class:`DatasetWriter`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise FileFormatError(f"cannot open dataset {self.path}: {exc} (missing, truncated or not HDF5)") from exc
        _check_header(self._file.attrs, self.path)
        self.basis = OrbitalBasis.from_json(self._file.attrs["basis"])
        self.settings = json.loads(self._file.attrs.get("settings", "{}"))
        self._keys = sorted(self._file["structures"])

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Record]:
        return (self[k] for k in range(len(self)))

    def __getitem__(self, index: int) -> Record:
        """Record ``index`` (negative counts from the end).

        Raises
        ------
        RecordIndexError
            ``index`` outside ``-len(self) .. len(self) - 1``.
        FileFormatError
            The record is incomplete or corrupt.
        """
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise RecordIndexError(f"{self.path}: record index must be an integer, not {index!r}")
        if not -len(self) <= index < len(self):
            valid = f"0 to {len(self) - 1} (or -1 for the last)" if len(self) else "none: the dataset is empty"
            raise RecordIndexError(f"{self.path} has {len(self)} structures: index {index} is out of range; "
                                   f"valid indices are {valid}")
        try:
            group = self._file["structures"][self._keys[index]]
            atoms = Atoms(
                numbers=group["numbers"][()], positions=group["positions"][()],
                cell=group["cell"][()], pbc=group["pbc"][()],
            )
            matrices = {}
            if "edge_index" in group:
                edge_index = group["edge_index"][()]
                shifts = group["edge_shift"][()]
                positions = atoms.get_positions()
                vectors = positions[edge_index[1]] + shifts @ np.asarray(atoms.cell) - positions[edge_index[0]]
                graph = AtomGraph(edge_index, shifts, vectors, len(atoms))
                for key in ("H", "S"):
                    if key in group:
                        matrices[key] = BlockSparseMatrix(
                            self.basis, atoms.numbers, graph, group[key]["onsite"][()], group[key]["edges"][()]
                        )
            optional = {k: group[k][()] for k in ("forces", "stress", "charges") if k in group}
            return Record(
                atoms, matrices.get("H"), matrices.get("S"), group.attrs.get("energy"),
                optional.get("forces"), optional.get("stress"), group.attrs.get("fermi_level"),
                str(group.attrs.get("source", "")), str(group.attrs.get("name", "")), optional.get("charges"),
                group.attrs.get("wall_time"), str(group.attrs.get("input_digest", "")),
            )
        except (KeyError, OSError) as exc:
            raise FileFormatError(f"{self.path}: structure {index} is incomplete or corrupt ({exc})") from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Dataset":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
