"""DeepH bridge: block-sparse H, S with their cell shifts <-> a DeepH "processed" structure folder.

Layout
------
One folder per structure, as DeepH-pack's ``deeph-preprocess`` parsers write it and
DeepH-pack, DeepH-E3 and DeepH-2 read it (deepx-dock calls it the legacy layout and
converts it to its newer ``POSCAR``/``hamiltonian.h5`` one with ``dock convert deeph upgrade``)::

    lat.dat             3×3, Å; column k is lattice vector a_k (the cell transposed)
    rlat.dat            3×3, 1/Å; column k is b_k, with a_i·b_j = 2π δ_ij
    site_positions.dat  3×N, Å; column n is the Cartesian position of atom n
    element.dat         N atomic numbers, one a line
    orbital_types.dat   one line per atom: the l of each shell, e.g. "0  0  1  1  2"
    R_list.dat          the cell shifts (Rx Ry Rz) of the blocks, one a line
    info.json           {"nsites", "isorthogonal", "isspinful", "norbits", "fermi_level" (eV, if known)}
    hamiltonians.h5     one dataset per atom pair: key "[Rx, Ry, Rz, i, j]" (atoms 1-based) ->
    overlaps.h5           the (n_i, n_j) block ⟨φ_i(0)|H|φ_j(R)⟩ (eV) or ⟨φ_i(0)|φ_j(R)⟩

Blocks are in eV and Å (DeepH converts Hartree/Rydberg and Bohr when it parses a DFT
code), so no unit conversion happens here. DeepH's Bloch sum
``H(k) = Σ_R H(R) e^{2πi k·R}`` is the one of
:meth:`~hamtrans.data.blocks.BlockSparseMatrix.to_sparse`.

Orbital order
-------------
DeepH writes each shell in OpenMX's order ``m = 0, +1, −1, +2, −2, ...``:
``p = (px, py, pz)``, ``d = (z², x² − y², xy, xz, yz)``, ``f = (z³, xz², yz², z(x² − y²), xyz,
x(x² − 3y²), y(3x² − y²))``, every function with a + sign: DeepH maps them onto the
standard ``m = −l..l`` order by a permutation alone. That is the ``"deeph"`` entry of
:data:`hamtrans.data.orbital_order.SOURCE_ORDERS`, the one conversion table of this format:
``H_deeph = Tᵀ H T`` per block with ``T`` of :func:`~hamtrans.data.orbital_order.orbital_transform`.
DeepH's tables stop at f, so shells with ``l > 3`` are refused.

Not covered: spinful (SOC / non-collinear) data, which DeepH stores as complex blocks
twice the size, and the local-coordinate files ``rc.h5``/``rh.h5`` that DeepH-pack's
``deeph-preprocess`` derives from ``hamiltonians.h5`` for ``deeph-train``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

import h5py
import numpy as np
import scipy.sparse as sp
from ase import Atoms
from ase.data import chemical_symbols

from hamtrans.atomic_files import atomic_write
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout, BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph
from hamtrans.data.orbital_order import orbital_transform
from hamtrans.errors import FileFormatError, HamtransError

ORDER = "deeph"
#: Largest angular momentum of DeepH's orbital tables (s, p, d, f).
MAX_L = 3

LATTICE, RECIPROCAL, POSITIONS, ELEMENTS = "lat.dat", "rlat.dat", "site_positions.dat", "element.dat"
ORBITAL_TYPES, SHIFTS, INFO = "orbital_types.dat", "R_list.dat", "info.json"
HAMILTONIANS, OVERLAPS = "hamiltonians.h5", "overlaps.h5"
#: Every file :func:`write_deeph` writes.
FILES = (LATTICE, RECIPROCAL, POSITIONS, ELEMENTS, ORBITAL_TYPES, SHIFTS, INFO, HAMILTONIANS, OVERLAPS)
#: Files DeepH derives from ``hamiltonians.h5``; stale copies would no longer match new blocks.
DERIVED = ("rc.h5", "rh.h5", "rc_julia.h5", "rh_julia.h5", "hamiltonians_pred.h5")

Key = tuple[int, int, int, int, int]  # (Rx, Ry, Rz, i, j), atoms 0-based


# -- writing -------------------------------------------------------------------------------
def write_deeph(folder: str | os.PathLike, atoms: Atoms, hamiltonian: BlockSparseMatrix,
                overlap: BlockSparseMatrix, fermi_level: float | None = None) -> Path:
    """Write one structure's H and S as a DeepH processed folder (module docstring).

    Every file is written under a temporary name and renamed, so a file present under
    its final name is complete.

    Parameters
    ----------
    folder
        Output folder; created if missing.
    atoms
        The structure of the blocks (Å) with a full 3-D cell (a box around a molecule).
    hamiltonian, overlap
        Blocks (eV; S dimensionless) on the same graph. Each edge and each onsite block
        becomes one key in ``hamiltonians.h5`` and ``overlaps.h5`` (the same keys in both).
    fermi_level
        eV, stored as ``fermi_level`` in ``info.json``; ``None`` leaves it out.

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    HamtransError
        Atoms that are not those of the blocks, H and S on different graphs, a cell
        without three independent vectors, a shell beyond f, or files DeepH derived from
        an earlier ``hamiltonians.h5`` in ``folder``.
    """
    folder = Path(folder)
    _check_export(atoms, hamiltonian, overlap, fermi_level)
    stale = [name for name in DERIVED if (folder / name).exists()]
    if stale:
        raise HamtransError(f"{folder} holds {', '.join(stale)}, derived by DeepH from an earlier "
                            f"{HAMILTONIANS}; they would not match the new blocks: remove them or choose an empty "
                            "folder")
    folder.mkdir(parents=True, exist_ok=True)
    cell = np.asarray(atoms.cell, dtype=np.float64)
    numbers = np.asarray(atoms.numbers)
    basis = hamiltonian.basis
    keys = _block_keys(hamiltonian.graph, len(atoms))
    _write_text(folder / LATTICE, lambda f: np.savetxt(f, cell.T))
    _write_text(folder / RECIPROCAL, lambda f: np.savetxt(f, 2.0 * np.pi * np.linalg.inv(cell)))
    _write_text(folder / POSITIONS, lambda f: np.savetxt(f, np.asarray(atoms.positions, dtype=np.float64).T))
    _write_text(folder / ELEMENTS, lambda f: np.savetxt(f, numbers, fmt="%d"))
    _write_text(folder / ORBITAL_TYPES, lambda f: f.write("".join(
        "  ".join(str(l) for l in basis.shells_of(int(z))) + "\n" for z in numbers)))
    shifts = np.unique(np.array([key[:3] for key in keys], dtype=np.int64).reshape(-1, 3), axis=0)
    _write_text(folder / SHIFTS, lambda f: np.savetxt(f, shifts, fmt="%d"))
    info = {"nsites": len(atoms), "isorthogonal": False, "isspinful": False, "norbits": hamiltonian.n_orbitals}
    if fermi_level is not None:
        info["fermi_level"] = float(fermi_level)
    _write_text(folder / INFO, lambda f: json.dump(info, f, indent=4))
    transforms = _element_transforms(basis, numbers)
    for name, blocks in ((HAMILTONIANS, hamiltonian), (OVERLAPS, overlap)):
        atomic_write(folder / name, lambda path, blocks=blocks: _write_blocks(path, blocks, keys, transforms))
    return folder


def _check_export(atoms: Atoms, hamiltonian: BlockSparseMatrix, overlap: BlockSparseMatrix,
                          fermi_level: float | None) -> None:
    if len(atoms) != len(hamiltonian.numbers) or np.any(atoms.numbers != hamiltonian.numbers):
        raise HamtransError("atoms and hamiltonian differ in their atoms: give the structure the blocks belong to")
    if overlap is None:
        raise HamtransError("DeepH folders need S (overlaps.h5): give the overlap blocks of the record")
    same_graph = overlap.graph is hamiltonian.graph or (
        np.array_equal(overlap.graph.edge_index, hamiltonian.graph.edge_index)
        and np.array_equal(overlap.graph.shifts, hamiltonian.graph.shifts))
    if not same_graph or overlap.basis != hamiltonian.basis or np.any(overlap.numbers != hamiltonian.numbers):
        raise HamtransError("H and S are on different graphs or bases: give both blocks of one record or prediction")
    cell = np.asarray(atoms.cell, dtype=np.float64)
    if abs(np.linalg.det(cell)) < 1e-6:
        raise HamtransError(f"the cell {cell.round(3).tolist()} has no three independent vectors; DeepH files need "
                            "a 3-D lattice: set atoms.cell (for a molecule, a box larger than its matrix range)")
    if fermi_level is not None and not math.isfinite(float(fermi_level)):
        raise HamtransError(f"fermi_level = {fermi_level}: give a finite energy in eV or None")
    _check_shells(hamiltonian.basis, atoms.numbers, "the basis")


def _check_shells(basis: OrbitalBasis, numbers: Iterable[int], where: str) -> None:
    for z in sorted({int(z) for z in numbers}):
        if max(basis.shells_of(z)) > MAX_L:
            raise FileFormatError(f"{where}: {chemical_symbols[z]} has a shell with l = {max(basis.shells_of(z))}; "
                                  f"DeepH's orbital order is defined up to f (l = {MAX_L}): drop that shell "
                                  "(OrbitalBasis with fewer shells and BlockSparseMatrix.restricted)")


def _block_keys(graph: AtomGraph, n_atoms: int) -> list[Key]:
    """Onsite keys ``(0, 0, 0, i, i)`` then one key per edge, in graph order."""
    onsite = [(0, 0, 0, i, i) for i in range(n_atoms)]
    i, j = graph.edge_index
    edges = [(int(s[0]), int(s[1]), int(s[2]), int(a), int(b)) for s, a, b in zip(graph.shifts, i, j)]
    return onsite + edges


def _element_transforms(basis: OrbitalBasis, numbers: Iterable[int]) -> dict[int, np.ndarray]:
    """Per element the ``T`` with ``φ_internal = T φ_deeph`` of one atom's orbitals, dense ``(n, n)``."""
    return {z: orbital_transform(basis, [z], ORDER).toarray() for z in sorted({int(z) for z in numbers})}


def key_text(key: Key) -> str:
    """The HDF5 key DeepH writes: ``'[Rx, Ry, Rz, i, j]'`` with 1-based atoms (``key`` has 0-based ones)."""
    rx, ry, rz, i, j = key
    return f"[{rx}, {ry}, {rz}, {i + 1}, {j + 1}]"


def _write_blocks(path: Path, blocks: BlockSparseMatrix, keys: list[Key], transforms: Mapping[int, np.ndarray]) -> None:
    n_atoms, numbers = len(blocks.numbers), blocks.numbers
    with h5py.File(path, "w") as out:
        for k, key in enumerate(keys):
            block = blocks.onsite_block(k) if k < n_atoms else blocks.edge_block(k - n_atoms)
            left, right = transforms[int(numbers[key[3]])], transforms[int(numbers[key[4]])]
            out.create_dataset(key_text(key), data=left.T @ block @ right)


def _write_text(path: Path, write) -> None:
    def text(partial: Path) -> None:
        with open(partial, "w", encoding="utf-8") as f:
            write(f)

    atomic_write(path, text)


# -- reading -------------------------------------------------------------------------------
def read_deeph(folder: str | os.PathLike, basis_name: str = "deeph", basis: OrbitalBasis | None = None,
               ) -> tuple[Atoms, BlockSparseMatrix, BlockSparseMatrix, float | None]:
    """``(atoms, H, S, fermi_level)`` from a DeepH processed folder (module docstring).

    The block graph is the set of atom pairs with a key in ``hamiltonians.h5`` or
    ``overlaps.h5`` (a pair in one file only has zero blocks in the other); the onsite
    keys ``[0, 0, 0, i, i]`` are the onsite blocks. The matrices are checked like every
    imported matrix: finite, Hermitian (``M(R) = M(−R)ᵀ``) and S positive definite.

    Parameters
    ----------
    folder
        Folder with ``lat.dat``, ``site_positions.dat``, ``element.dat``, ``orbital_types.dat``,
        ``info.json``, ``hamiltonians.h5`` and ``overlaps.h5`` (not needed when ``info.json``
        says ``"isorthogonal": true``; then S = 1).
    basis_name
        Name of the :class:`OrbitalBasis` built from ``orbital_types.dat``.
    basis
        Use this basis instead (e.g. the one of a dataset or model); each element's shells
        in ``orbital_types.dat`` must be its shells.

    Returns
    -------
    atoms
        Periodic structure (Å), cell from ``lat.dat``.
    hamiltonian, overlap
        Blocks in eV and internal (e3nn) orbital order.
    fermi_level
        ``fermi_level`` of ``info.json`` in eV, or ``None`` if it has none.

    Raises
    ------
    FileFormatError
        A missing or unreadable file, spinful data, a key not of the form
        ``[Rx, Ry, Rz, i, j]`` with 1-based atoms, a block whose shape does not match
        ``orbital_types.dat``, an element with two orbital sets, or a shell beyond f.
    MatrixError
        Non-finite or non-Hermitian blocks, or S not positive definite.
    """
    folder = _existing_folder(folder)
    info = _read_info(folder)
    atoms, orbital_types = _read_structure(folder, info)
    if basis is None:
        basis = _basis_of(folder, atoms.numbers, orbital_types, basis_name)
    else:
        _check_basis(folder, basis, atoms.numbers, orbital_types)
    _check_shells(basis, atoms.numbers, str(folder / ORBITAL_TYPES))
    counts = basis.orbital_counts(atoms.numbers)
    if "norbits" in info and int(info["norbits"]) != int(counts.sum()):
        raise FileFormatError(f"{folder / INFO}: norbits = {info['norbits']} but {ORBITAL_TYPES} gives "
                              f"{int(counts.sum())} orbitals: the files belong to different structures")
    h_blocks = _read_blocks(_required(folder, HAMILTONIANS), atoms.numbers, counts)
    orthogonal = bool(info.get("isorthogonal", False))
    if (folder / OVERLAPS).is_file() or not orthogonal:
        s_blocks = _read_blocks(_required(folder, OVERLAPS), atoms.numbers, counts)
    else:  # orthogonal basis: S = 1
        s_blocks = {(0, 0, 0, i, i): np.eye(int(n)) for i, n in enumerate(counts)}
    _check_images(folder, h_blocks, s_blocks, counts)
    graph = _graph_of(atoms, set(h_blocks) | set(s_blocks))
    transforms = _element_transforms(basis, atoms.numbers)
    hamiltonian = _blocks_on_graph(h_blocks, basis, atoms.numbers, graph, transforms)
    overlap = _blocks_on_graph(s_blocks, basis, atoms.numbers, graph, transforms)
    fermi = info.get("fermi_level")
    if fermi is not None and (isinstance(fermi, bool) or not isinstance(fermi, (int, float))
                              or not math.isfinite(fermi)):
        raise FileFormatError(f"{folder / INFO}: fermi_level = {fermi!r} is not a finite energy in eV")
    return atoms, hamiltonian, overlap, None if fermi is None else float(fermi)


def read_deeph_basis(folders: Iterable[str | os.PathLike], name: str = "deeph") -> OrbitalBasis:
    """One :class:`OrbitalBasis` holding every element of the DeepH folders (shells from ``orbital_types.dat``).

    Reads only ``element.dat`` and ``orbital_types.dat``, so a dataset of many folders can
    be given one basis before its blocks are read.

    Raises
    ------
    FileFormatError
        An element with different shells in two folders (or two atoms of one folder).
    """
    shells: dict[str, tuple[int, ...]] = {}
    seen: dict[str, Path] = {}
    for folder in folders:
        folder = _existing_folder(folder)
        numbers = _read_numbers(folder)
        orbital_types = _read_orbital_types(folder, len(numbers))
        for symbol, ls in _basis_of(folder, numbers, orbital_types, name).shells.items():
            if symbol in shells and shells[symbol] != ls:
                raise FileFormatError(f"element {symbol} has shells l = {list(shells[symbol])} in {seen[symbol]} "
                                      f"but l = {list(ls)} in {folder}: one dataset needs one basis per element; "
                                      "import these folders into separate datasets")
            shells.setdefault(symbol, ls)
            seen.setdefault(symbol, folder)
    return OrbitalBasis(name, shells)


def _existing_folder(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileFormatError(f"{folder} is not a folder: give a DeepH structure folder (with {LATTICE}, "
                              f"{POSITIONS}, {ELEMENTS}, {ORBITAL_TYPES}, {INFO}, {HAMILTONIANS}, {OVERLAPS})")
    return folder


def _required(folder: Path, name: str) -> Path:
    path = folder / name
    if path.is_file():
        return path
    if (folder / "POSCAR").is_file() and any((folder / new).is_file() for new in ("hamiltonian.h5", "overlap.h5")):
        raise FileFormatError(f"{folder} is in deepx-dock's newer layout (POSCAR, hamiltonian.h5), not DeepH's "
                              f"processed one (no {name}): convert it with 'dock convert deeph downgrade "
                              "UPDATED_DIR LEGACY_DIR' (deepx-dock) and import the legacy folders")
    raise FileFormatError(f"{path} is missing: a DeepH folder needs {LATTICE}, {POSITIONS}, {ELEMENTS}, "
                          f"{ORBITAL_TYPES}, {INFO}, {HAMILTONIANS} and {OVERLAPS} (as deeph-preprocess writes "
                          "them): give the processed folder of the structure")


def _load_table(folder: Path, name: str, **kwargs) -> np.ndarray:
    path = _required(folder, name)
    try:
        return np.loadtxt(path, **kwargs)
    except ValueError as exc:
        raise FileFormatError(f"{path}: not a table of numbers ({exc}): the file is corrupt") from None


def _read_info(folder: Path) -> dict:
    path = _required(folder, INFO)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: not JSON ({exc}): the file is corrupt") from None
    if not isinstance(info, dict):
        raise FileFormatError(f"{path}: holds {type(info).__name__}, not a JSON object of the structure's settings")
    if info.get("isspinful", False):
        raise FileFormatError(f"{path}: isspinful is true: spinful (SOC / non-collinear) DeepH data has complex "
                              "2×2 spin blocks, and hamtrans holds one real spin channel; give a spinless "
                              "calculation")
    return info


def _read_numbers(folder: Path) -> np.ndarray:
    values = _load_table(folder, ELEMENTS, ndmin=1)
    if values.ndim != 1 or values.size == 0 or np.any(values != np.round(values)) or np.any(values < 1) \
            or np.any(values >= len(chemical_symbols)):
        raise FileFormatError(f"{folder / ELEMENTS}: give one atomic number per line (found {values.ravel()[:6]})")
    return values.astype(np.int64)


def _read_orbital_types(folder: Path, n_atoms: int) -> list[tuple[int, ...]]:
    path = _required(folder, ORBITAL_TYPES)
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        types = [tuple(int(v) for v in line) for line in lines]
    except ValueError:
        raise FileFormatError(f"{path}: each line must be the l of an atom's shells, e.g. '0  0  1  1  2'") from None
    if len(types) != n_atoms:
        raise FileFormatError(f"{path}: {len(types)} lines for the {n_atoms} atoms of {ELEMENTS}: give one line "
                              "per atom")
    if any(min(t) < 0 for t in types):
        raise FileFormatError(f"{path}: negative angular momentum in {next(t for t in types if min(t) < 0)}")
    return types


def _read_structure(folder: Path, info: Mapping) -> tuple[Atoms, list[tuple[int, ...]]]:
    numbers = _read_numbers(folder)
    lattice = _load_table(folder, LATTICE, ndmin=2)
    if lattice.shape != (3, 3):
        raise FileFormatError(f"{folder / LATTICE}: shape {lattice.shape}, not 3×3 (columns a1, a2, a3 in Å)")
    positions = _load_table(folder, POSITIONS, ndmin=2)
    if positions.shape == (1, 3) and len(numbers) == 1:  # one atom written as a row
        positions = positions.T
    if positions.shape != (3, len(numbers)):
        raise FileFormatError(f"{folder / POSITIONS}: shape {positions.shape}, but {len(numbers)} atoms in "
                              f"{ELEMENTS} need 3×{len(numbers)} (one column per atom, Å)")
    if "nsites" in info and int(info["nsites"]) != len(numbers):
        raise FileFormatError(f"{folder / INFO}: nsites = {info['nsites']} but {ELEMENTS} has {len(numbers)} atoms")
    for name, table in ((LATTICE, lattice), (POSITIONS, positions)):
        if not np.isfinite(table).all():
            raise FileFormatError(f"{folder / name}: holds values that are not finite: the file is corrupt")
    atoms = Atoms(numbers=numbers, positions=positions.T, cell=lattice.T, pbc=True)
    return atoms, _read_orbital_types(folder, len(numbers))


def _basis_of(folder: Path, numbers: np.ndarray, orbital_types: list[tuple[int, ...]], name: str) -> OrbitalBasis:
    shells: dict[str, tuple[int, ...]] = {}
    for atom, (z, ls) in enumerate(zip(numbers, orbital_types)):
        symbol = chemical_symbols[int(z)]
        if shells.setdefault(symbol, ls) != ls:
            raise FileFormatError(f"{folder / ORBITAL_TYPES}: atom {atom + 1} ({symbol}) has shells l = {list(ls)}, "
                                  f"another {symbol} has l = {list(shells[symbol])}: give one orbital set per element")
    return OrbitalBasis(name, shells)


def _check_basis(folder: Path, basis: OrbitalBasis, numbers: np.ndarray, orbital_types: list[tuple[int, ...]]) -> None:
    for atom, (z, ls) in enumerate(zip(numbers, orbital_types)):
        if basis.shells_of(int(z)) != ls:
            raise FileFormatError(f"{folder / ORBITAL_TYPES}: atom {atom + 1} ({chemical_symbols[int(z)]}) has "
                                  f"shells l = {list(ls)}, basis '{basis.name}' has l = "
                                  f"{list(basis.shells_of(int(z)))}: give the basis the data were computed in")


def parse_key(text: str, path: Path, n_atoms: int) -> Key:
    """``'[Rx, Ry, Rz, i, j]'`` (1-based atoms) -> ``(Rx, Ry, Rz, i, j)`` with 0-based atoms.

    Raises
    ------
    FileFormatError
        Not five integers in brackets, or an atom outside ``1..n_atoms``.
    """
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != 5 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise FileFormatError(f"{path}: key {text!r} is not '[Rx, Ry, Rz, i, j]' (cell shift, then 1-based atoms); "
                              "the file is not a DeepH block file (or holds the 6-entry keys of positions.h5)")
    rx, ry, rz, i, j = values
    if not (1 <= i <= n_atoms and 1 <= j <= n_atoms):
        raise FileFormatError(f"{path}: key {text!r} names atom {i if not 1 <= i <= n_atoms else j}, outside "
                              f"1..{n_atoms}: DeepH counts atoms from 1, and the file belongs to this structure")
    return rx, ry, rz, i - 1, j - 1


def _read_blocks(path: Path, numbers: np.ndarray, counts: np.ndarray) -> dict[Key, np.ndarray]:
    """Every block of a DeepH HDF5 file, in DeepH order and file units, keyed with 0-based atoms."""
    try:
        source = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not an HDF5 file ({exc}): the file is corrupt") from None
    blocks: dict[Key, np.ndarray] = {}
    with source:
        for text, dataset in source.items():
            key = parse_key(text, path, len(numbers))
            if not isinstance(dataset, h5py.Dataset):
                raise FileFormatError(f"{path}: {text!r} is a group, not a block: not a DeepH block file")
            block = np.asarray(dataset[()])
            i, j = key[3], key[4]
            want = (int(counts[i]), int(counts[j]))
            if block.shape != want:
                raise FileFormatError(
                    f"{path}: block {text} has shape {block.shape}, but {ORBITAL_TYPES} gives atom {i + 1} "
                    f"({chemical_symbols[int(numbers[i])]}) {want[0]} and atom {j + 1} "
                    f"({chemical_symbols[int(numbers[j])]}) {want[1]} orbitals (2l + 1 per shell): the files belong "
                    "to different structures or bases" + (" (or the data are spinful: twice the size)"
                                                          if block.shape == (2 * want[0], 2 * want[1]) else ""))
            if np.iscomplexobj(block):
                if np.abs(block.imag).max(initial=0.0) > 0.0:
                    raise FileFormatError(f"{path}: block {text} is complex: spinful (SOC) DeepH data is not "
                                          "supported; give a spinless calculation")
                block = block.real
            blocks[key] = np.asarray(block, dtype=np.float64)
    return blocks


def _check_images(folder: Path, h_blocks: Mapping[Key, np.ndarray], s_blocks: Mapping[Key, np.ndarray],
                  counts: np.ndarray) -> None:
    """Finite, Hermitian H and S, S(0) positive definite: the checks of every imported matrix (DeepH order)."""
    from hamtrans.data.formats.cp2k import check_matrices

    offsets = np.concatenate([[0], np.cumsum(counts)])
    n = int(offsets[-1])

    def images(blocks: Mapping[Key, np.ndarray]) -> dict[tuple[int, int, int], sp.csr_matrix]:
        parts: dict[tuple[int, int, int], list] = {}
        for (rx, ry, rz, i, j), block in blocks.items():
            rows, cols = np.meshgrid(np.arange(offsets[i], offsets[i + 1]), np.arange(offsets[j], offsets[j + 1]),
                                     indexing="ij")
            parts.setdefault((rx, ry, rz), []).append((block.ravel(), rows.ravel(), cols.ravel()))
        return {shift: sp.coo_matrix((np.concatenate([p[0] for p in group]),
                                      (np.concatenate([p[1] for p in group]), np.concatenate([p[2] for p in group]))),
                                     shape=(n, n)).tocsr() for shift, group in parts.items()}

    h, s = images(h_blocks), images(s_blocks)
    names = ({shift: str(folder / HAMILTONIANS) for shift in h}, {shift: str(folder / OVERLAPS) for shift in s})
    check_matrices(h, s, energy_scale=1.0, sources=names)


def _graph_of(atoms: Atoms, keys: Iterable[Key]) -> AtomGraph:
    """The block graph of the keys, onsite ``(i, i, 0)`` left out, sorted by ``(i, j, S)``."""
    table = np.array([key for key in keys if not (key[3] == key[4] and key[:3] == (0, 0, 0))],
                     dtype=np.int64).reshape(-1, 5)
    return AtomGraph.from_edges(atoms, table[:, 3:].T, table[:, :3])[0]


def _blocks_on_graph(blocks: Mapping[Key, np.ndarray], basis: OrbitalBasis, numbers: np.ndarray, graph: AtomGraph,
                     transforms: Mapping[int, np.ndarray]) -> BlockSparseMatrix:
    """Flat internal-order blocks of the keys on ``graph``; a pair without a key has a zero block."""
    layout = BlockLayout(basis, numbers, graph)
    matrix = BlockSparseMatrix(basis, numbers, graph, np.zeros(int(layout.onsite_ptr[-1])),
                               np.zeros(int(layout.edge_ptr[-1])))

    def internal(key: Key) -> np.ndarray | None:
        block = blocks.get(key)
        if block is None:
            return None
        return transforms[int(numbers[key[3]])] @ block @ transforms[int(numbers[key[4]])].T

    for i in range(len(numbers)):
        block = internal((0, 0, 0, i, i))
        if block is not None:
            matrix.onsite_block(i)[...] = block
    for e, ((a, b), s) in enumerate(zip(graph.edge_index.T, graph.shifts)):
        block = internal((int(s[0]), int(s[1]), int(s[2]), int(a), int(b)))
        if block is not None:
            matrix.edge_block(e)[...] = block
    return matrix
