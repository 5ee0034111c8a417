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
:class:`DatasetWriter` writes to ``<path>.partial`` and renames on close: a
crashed run leaves the finished structures in the partial file, and a new
writer with ``resume=True`` continues after them (:meth:`DatasetWriter.check_resume`
checks that the inputs and settings are those of the partial file).
:class:`Dataset` reads lazily.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph
from hamtrans.errors import FileFormatError

FORMAT_NAME = "hamtrans-dataset"
FORMAT_VERSION = 1
UNITS = {"length": "Angstrom", "energy": "eV", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"}


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
    """Append structures to a dataset file; finalised atomically on :meth:`close`.

    Parameters
    ----------
    path
        Final file name (``.h5``).
    basis
        Orbital basis of all H/S blocks.
    settings
        Generator settings stored as JSON (method, cutoff, ...).
    resume
        Continue an existing ``<path>.partial`` instead of starting afresh.
    """

    def __init__(self, path: str | os.PathLike, basis: OrbitalBasis, settings: dict | None = None, resume: bool = False):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.basis = basis
        if resume and self.partial.exists():
            self._file = h5py.File(self.partial, "a")
            _check_header(self._file, self.partial)
            stored = OrbitalBasis.from_json(self._file.attrs["basis"])
            if stored != basis:
                raise FileFormatError(f"{self.partial} uses basis '{stored.name}', not '{basis.name}'; delete it to restart")
        else:
            self._file = h5py.File(self.partial, "w")
            self._file.attrs.update(
                format=FORMAT_NAME, version=FORMAT_VERSION, basis=basis.to_json(), orbital_order="e3nn",
                units=json.dumps(UNITS), settings=json.dumps(settings or {}),
            )
            self._file.create_group("structures")

    def __len__(self) -> int:
        return len(self._file["structures"])

    def check_resume(self, names: list[str], digests: list[str], settings: dict | None = None,
                     may_differ: tuple[str, ...] = ()) -> int:
        """Check a resumed file against this run's inputs; return how many are done.

        Parameters
        ----------
        names, digests
            Name and :func:`structure_digest` of every input structure, in order.
        settings
            This run's generator settings (compared with the stored ones, as JSON).
        may_differ
            Top-level settings keys that may change (e.g. SCF step limits); the file
            keeps its stored settings.

        Raises
        ------
        FileFormatError
            Other settings, more stored structures than inputs, or a stored structure
            whose name or digest differs from the input at its position.
        """
        if settings is not None:
            stored = json.loads(self._file.attrs.get("settings", "{}"))
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
        for k, key in enumerate(sorted(self._file["structures"])):
            attrs = self._file["structures"][key].attrs
            stored_name, stored_digest = str(attrs.get("name", "")), str(attrs.get("input_digest", ""))
            if stored_name != names[k] or (stored_digest and stored_digest != digests[k]):
                raise FileFormatError(
                    f"{self.partial}: structure {k} is '{stored_name}' but this run's input {k} is '{names[k]}'"
                    f"{' with other atoms' if stored_name == names[k] else ''}: resume with the same structure "
                    "files in the same order, or delete the partial file to restart"
                )
        return done

    def append(self, record: Record) -> None:
        """Write one structure and flush it to disk."""
        group = self._file["structures"].create_group(f"{len(self):06d}")
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
                if blocks.basis != self.basis:
                    raise FileFormatError(f"record uses basis '{blocks.basis.name}', dataset uses '{self.basis.name}'")
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
        self._file.flush()

    def close(self) -> Path:
        """Close and rename ``<path>.partial`` to ``<path>``; returns the final path."""
        self._file.close()
        os.replace(self.partial, self.path)
        return self.path

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()  # keep the partial file for resume


def _check_header(handle: h5py.File, path) -> None:
    if handle.attrs.get("format") != FORMAT_NAME:
        raise FileFormatError(f"{path} is not a hamtrans dataset (no format='{FORMAT_NAME}' attribute)")
    version = int(handle.attrs.get("version", -1))
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
        _check_header(self._file, self.path)
        self.basis = OrbitalBasis.from_json(self._file.attrs["basis"])
        self.settings = json.loads(self._file.attrs.get("settings", "{}"))
        self._keys = sorted(self._file["structures"])

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Record]:
        return (self[k] for k in range(len(self)))

    def __getitem__(self, index: int) -> Record:
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
