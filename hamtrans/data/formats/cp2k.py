"""CP2K Kohn–Sham and overlap matrices (``&KS_CSR_WRITE`` / ``&S_CSR_WRITE``).

* Γ-point runs write one folded matrix per quantity,
  ``PROJECT-KS_SPIN_1-1_0.csr`` and ``PROJECT-S_SPIN_1-1_0.csr``.
* Runs with k-points and ``REAL_SPACE T`` write one file per periodic image,
  ``PROJECT-KS_SPIN_1_R_<n>-1_0.csr``; the image vectors (integer multiples of
  the cell vectors) are only printed in the ``.out`` file, in the table after
  "KS CSR write| ... periodic images".

CP2K's image convention is ``S_R[i, j] = ⟨φ_i(r − τ_i)|φ_j(r − τ_j − R·cell)⟩``
with τ the positions WRAPPED to fractional coordinates in [−0.5, 0.5). The
loader keeps the structure's own positions (e.g. a device builder's frame with the
electrodes at both ends of the cell) and maps each graph edge ``(i, j, S)`` to
CP2K's image ``R = S + n_j − n_i``, where ``n`` is the integer cell shift that
CP2K's wrapping applies to each atom (:func:`cp2k_image_shifts`).
Matrices are in Hartree and CP2K's orbital order (standard real harmonics);
both are converted here, after :func:`check_matrices` has refused matrices that
cannot be a Kohn–Sham and an overlap matrix (not finite, not Hermitian, S not
positive definite).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from ase import Atoms
from ase.units import Hartree

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats.csr import read_triplet_matrix
from hamtrans.data.formats.dataset import Record
from hamtrans.data.formats.structure_io import read_structure
from hamtrans.data.graphs import AtomGraph, Cutoff, build_graph
from hamtrans.data.orbital_order import convert_matrix
from hamtrans.data.reference.images import check_unique_images
from hamtrans.errors import FileFormatError, MatrixError

_IMAGE_FILE = re.compile(r"_R_(\d+)-\d+_\d+\.csr(\.gz)?$")
_IMAGE_HEADER = re.compile(r"^\s*KS CSR write\|\s*(\d+) periodic images")


def wrap_like_cp2k(atoms: Atoms) -> Atoms:
    """Copy of ``atoms`` with periodic fractional coordinates wrapped to [−0.5, 0.5)."""
    wrapped = atoms.copy()
    if np.any(atoms.pbc):
        frac = atoms.cell.scaled_positions(atoms.positions)
        pbc = np.asarray(atoms.pbc)
        frac[:, pbc] -= np.floor(frac[:, pbc] + 0.5)
        wrapped.positions = frac @ np.asarray(atoms.cell)
    return wrapped


#: Fractional distance from the wrap boundary ±0.5 below which CP2K's wrapping is ambiguous.
BOUNDARY_TOLERANCE = 1e-6


def wrap_shifts(atoms: Atoms) -> np.ndarray:
    """Integer cell shift ``n`` of each atom with ``r = w(r) + n·cell``, ``w`` = :func:`wrap_like_cp2k`.

    Returns
    -------
    numpy.ndarray
        ``(n_atoms, 3)`` int64; zero along non-periodic axes.

    Raises
    ------
    FileFormatError
        An atom lies on the wrap boundary (fractional ±0.5 within
        :data:`BOUNDARY_TOLERANCE`), where CP2K's rounding decides its image.
    """
    n = np.zeros((len(atoms), 3), dtype=np.int64)
    if not np.any(atoms.pbc):
        return n
    pbc = np.asarray(atoms.pbc)
    frac = atoms.cell.scaled_positions(atoms.positions)
    centred = frac - np.floor(frac + 0.5)
    edge = np.abs(np.abs(centred) - 0.5) < BOUNDARY_TOLERANCE
    edge[:, ~pbc] = False
    if edge.any():
        a, k = (int(v) for v in np.argwhere(edge)[0])
        raise FileFormatError(
            f"atom {a} ({atoms[a].symbol}) lies on CP2K's wrap boundary (fractional {frac[a, k]:.6f} along cell "
            f"vector {'ABC'[k]}): which image CP2K gives it is a rounding accident. Run CP2K on a structure shifted "
            "off the boundary (hamtrans reference --code cp2k does this itself) and import those positions"
        )
    n[:, pbc] = np.rint(frac - centred).astype(np.int64)[:, pbc]
    return n


def cp2k_image_shifts(atoms: Atoms, edge_index: np.ndarray, shifts: np.ndarray,
                      cp2k_positions: np.ndarray | None = None) -> np.ndarray:
    """CP2K image ``R = S + n_j − n_i`` of each graph edge ``(i, j, S)`` built on ``atoms``' own positions.

    Parameters
    ----------
    atoms
        The structure in its own frame (not wrapped).
    edge_index, shifts
        Graph edges ``[i; j]`` (``(2, E)``) and their cell shifts ``S`` (``(E, 3)``).
    cp2k_positions
        ``(n_atoms, 3)`` Å positions CP2K was given, if they differ from ``atoms``' by a
        rigid translation; ``n`` is CP2K's wrap of these.

    Returns
    -------
    numpy.ndarray
        ``(E, 3)`` int64 image vectors of CP2K's per-image files.
    """
    frame = atoms
    if cp2k_positions is not None:
        frame = atoms.copy()
        frame.positions = np.asarray(cp2k_positions, dtype=np.float64)
        moved = frame.positions - atoms.positions
        if np.abs(moved - moved[0]).max(initial=0.0) > 1e-6:
            raise FileFormatError("cp2k_positions must be the structure's positions translated rigidly")
    n = wrap_shifts(frame)
    return np.asarray(shifts, dtype=np.int64) + n[edge_index[1]] - n[edge_index[0]]


def origin_shift(atoms: Atoms, margin: float = 1e-3) -> np.ndarray:
    """A translation (Å) that moves every atom off CP2K's wrap boundary along the periodic axes.

    Along each periodic cell vector the middle of the widest empty slab of
    fractional coordinates is put on the boundary ±0.5 (of equally wide slabs, the
    one nearest the boundary: the smallest move). Along axes where every atom is at
    least ``margin`` (fractional) away from the boundary the shift is zero.

    Returns
    -------
    numpy.ndarray
        ``(3,)`` translation in Å to add to every position.
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    shift = np.zeros(3)
    if not pbc.any() or len(atoms) == 0:
        return shift
    frac = atoms.cell.scaled_positions(atoms.positions)
    for k in np.flatnonzero(pbc):
        centred = frac[:, k] - np.floor(frac[:, k] + 0.5)
        if np.all(np.abs(np.abs(centred) - 0.5) >= margin):
            continue
        values = np.sort(np.round(frac[:, k] % 1.0, 9) % 1.0)
        gaps = np.round(np.diff(np.append(values, values[0] + 1.0)), 6)
        middles = values + gaps / 2
        moves = np.round((0.5 - middles + 0.5) % 1.0 - 0.5, 6)  # signed, in [-0.5, 0.5)
        widest = np.flatnonzero(gaps == gaps.max())
        best = widest[np.argmin(np.abs(moves[widest]))]  # of equal gaps the smallest move, then the first
        shift[k] = moves[best]
    return shift @ np.asarray(atoms.cell)


def read_image_table(out_file: str | os.PathLike) -> dict[int, tuple[int, int, int]]:
    """Image number -> integer cell shift, from a CP2K ``.out`` file (last KS table printed).

    The table is ``KS CSR write| <N> periodic images``, a ``Number X Y Z`` line
    and ``N`` rows of four integers; X, Y, Z count the ``&CELL`` vectors A, B, C.

    Raises
    ------
    FileFormatError
        If there is no table (run without ``REAL_SPACE T``) or it is cut short.
    """
    lines = Path(out_file).read_text(errors="replace").splitlines()
    headers = [k for k, line in enumerate(lines) if _IMAGE_HEADER.match(line)]
    if not headers:
        raise FileFormatError(
            f"{out_file}: no 'KS CSR write| N periodic images' table; run CP2K with REAL_SPACE T and k-points, "
            "or pass Γ-point matrix files instead"
        )
    start = headers[-1]
    count = int(_IMAGE_HEADER.match(lines[start]).group(1))
    table: dict[int, tuple[int, int, int]] = {}
    for line in lines[start + 2 : start + 2 + count]:
        parts = line.split()
        if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
            break
        table[int(parts[0])] = (int(parts[1]), int(parts[2]), int(parts[3]))
    if len(table) != count:
        raise FileFormatError(f"{out_file}: image table announces {count} images but has {len(table)} readable rows")
    return table


def image_files(files: Sequence[str | os.PathLike], table: Mapping[int, tuple[int, int, int]]) -> dict[tuple[int, int, int], Path]:
    """Map per-image file names (``..._R_<n>-1_0.csr``) to their cell shifts."""
    result = {}
    for name in files:
        match = _IMAGE_FILE.search(str(name))
        if not match:
            raise FileFormatError(f"{name}: not a CP2K per-image file name (expected ..._R_<n>-1_0.csr)")
        n = int(match.group(1))
        if n not in table:
            raise FileFormatError(f"{name}: image {n} is not in the .out image table ({len(table)} images)")
        result[table[n]] = Path(name)
    return result


#: Largest accepted max |M − Mᵀ| (per image: max |M(R) − M(−R)ᵀ|) relative to max |M|. CP2K's own files
#: are symmetric to 1e-14 relative; a file that is not is corrupt or no KS/S matrix.
HERMITIAN_TOLERANCE = 1e-6
#: Orbitals up to which S is tested with a dense Cholesky factorisation (and, if it fails, diagonalised
#: densely for the message); larger S are too when more than :data:`DENSE_FILL` of the entries are stored,
#: else with a sparse LDLᵀ (and Lanczos for the message).
DENSE_LIMIT = 2000
DENSE_FILL = 0.2

ImageMatrices = Mapping[tuple[int, int, int], sp.spmatrix]


def check_matrices(hamiltonian: ImageMatrices, overlap: ImageMatrices, energy_scale: float = Hartree,
                   sources: tuple[Mapping[tuple[int, int, int], str], Mapping[tuple[int, int, int], str]] | None = None,
                   ) -> None:
    """Refuse imported KS and S matrices (Γ-folded under ``(0, 0, 0)``, or per image) that are unusable.

    Checks, in this order: every stored entry is finite; each matrix is Hermitian,
    ``M(R) = M(−R)ᵀ`` for the images given in pairs (Γ: ``M = Mᵀ``), to
    :data:`HERMITIAN_TOLERANCE` × max |M|; S is positive definite: the Γ matrix, or
    for per-image files the home-cell ``S(0, 0, 0)``, the Gram matrix of the cell's
    orbitals (a sum over only some images need not be).

    Parameters
    ----------
    hamiltonian, overlap
        Image vector -> sparse matrix in file units.
    energy_scale
        eV per file energy unit of the KS matrix (for the messages).
    sources
        Image vector -> file name of the KS and of the S matrices, for the messages.

    Raises
    ------
    MatrixError
        Naming the file, the offending entry or value, and the fix.
    """
    for k, (label, images, scale, unit) in enumerate((("KS", hamiltonian, energy_scale, " eV"),
                                                      ("S", overlap, 1.0, ""))):
        names = sources[k] if sources is not None else {}
        for shift, matrix in images.items():
            m = sp.coo_matrix(matrix)
            bad = np.flatnonzero(~np.isfinite(m.data))
            if bad.size:
                r, c = int(m.row[bad[0]]) + 1, int(m.col[bad[0]]) + 1
                raise MatrixError(f"{_describe(label, shift, names)}: entry ({r}, {c}) is {m.data[bad[0]]} "
                                  f"({bad.size} entries not finite): the file is corrupt or comes from a diverged "
                                  "run; export it again")
        largest = max((float(abs(sp.csr_matrix(m)).max()) for m in images.values()), default=0.0)
        tolerance = HERMITIAN_TOLERANCE * largest
        for shift, matrix in images.items():
            mirror = tuple(-v for v in shift)
            if mirror not in images:
                continue
            diff = abs(sp.csr_matrix(matrix) - sp.csr_matrix(images[mirror]).T).tocoo()
            if diff.nnz and diff.data.max() > tolerance:
                at = int(np.argmax(diff.data))
                pair = "M − Mᵀ" if shift == mirror else f"M{shift} − M{mirror}ᵀ"
                raise MatrixError(
                    f"{_describe(label, shift, names)} is not Hermitian: max |{pair}| = {diff.data[at] * scale:.3g}"
                    f"{unit} at entry ({diff.row[at] + 1}, {diff.col[at] + 1}), above the tolerance "
                    f"{tolerance * scale:.2g}{unit} ({HERMITIAN_TOLERANCE:g} × max |M|): the file is corrupt or not "
                    f"a {label} matrix; export it again")
    home = (0, 0, 0)
    where = _describe("S", home, sources[1] if sources is not None else {})
    if home not in overlap:
        raise MatrixError(f"no {where} was given: pass the S file of the home cell")
    s = sp.csr_matrix(overlap[home])
    s = 0.5 * (s + s.T)
    if not positive_definite(s):
        smallest = smallest_eigenvalue(s)
        value = (f"smallest eigenvalue {smallest:.4g}" if smallest is not None
                 else "a pivot ≤ 0 in its factorisation; Lanczos did not converge to its smallest eigenvalue")
        raise MatrixError(
            f"{where} is not positive definite ({value}); the overlap of independent orbitals has only positive "
            "eigenvalues: the file is corrupt, belongs to another structure or basis, or is not an overlap matrix")


def _describe(label: str, shift: tuple[int, int, int], names: Mapping[tuple[int, int, int], str]) -> str:
    """``'KS file <name>'``, or ``'KS matrix of image (0, 0, 0)'`` without a file name."""
    return f"{label} file {names[shift]}" if shift in names else f"{label} matrix of image {shift}"


def positive_definite(s: sp.spmatrix) -> bool:
    """Whether the symmetric sparse matrix ``s`` is positive definite.

    A dense Cholesky factorisation decides up to :data:`DENSE_LIMIT` orbitals or when more
    than :data:`DENSE_FILL` of the entries are stored; otherwise a sparse LDLᵀ with
    symmetric diagonal pivoting (SuperLU): ``s`` is positive definite exactly when every
    pivot is positive.
    """
    n = s.shape[0]
    if n <= DENSE_LIMIT or s.nnz > DENSE_FILL * n * n:
        try:
            scipy.linalg.cholesky(s.toarray(), lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            return False
        return True
    try:
        lu = spla.splu(sp.csc_matrix(s), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
    except RuntimeError:  # an exactly singular pivot
        return False
    # with diagonal pivots (row order = column order) the pivots are the D of P S Pᵀ = L D Lᵀ: Sylvester's law
    return bool(np.array_equal(lu.perm_r, lu.perm_c) and np.all(lu.U.diagonal() > 0))


def smallest_eigenvalue(s: sp.spmatrix) -> float | None:
    """Smallest eigenvalue of the symmetric sparse matrix ``s``: dense up to :data:`DENSE_LIMIT` orbitals,
    else Lanczos (300 restarts at most: fast for an isolated eigenvalue); ``None`` if Lanczos does not converge."""
    if s.shape[0] <= DENSE_LIMIT:
        return float(scipy.linalg.eigh(s.toarray(), eigvals_only=True, subset_by_index=[0, 0], check_finite=False)[0])
    try:
        return float(spla.eigsh(s, k=1, which="SA", tol=1e-6, maxiter=300, return_eigenvectors=False)[0])
    except spla.ArpackNoConvergence:
        return None


def matrices_to_record(
    atoms: Atoms,
    hamiltonian: Mapping[tuple[int, int, int], object],
    overlap: Mapping[tuple[int, int, int], object],
    basis: OrbitalBasis,
    cutoff: Cutoff,
    image_range: float,
    energy_unit: str = "hartree",
    gamma: bool = True,
    name: str = "",
    source: str = "cp2k",
    cp2k_positions: np.ndarray | None = None,
    sources: tuple[Mapping[tuple[int, int, int], str], Mapping[tuple[int, int, int], str]] | None = None,
) -> Record:
    """Convert CP2K-order matrices (per image, or Γ-folded under ``(0, 0, 0)``) into a :class:`Record`.

    Parameters
    ----------
    energy_unit
        ``'hartree'`` or ``'ev'`` for the Hamiltonian.
    gamma
        Matrices are Γ-folded: requires an unambiguous cell (checked). Otherwise
        they are CP2K's per-image matrices, keyed by CP2K's image vector ``R``.
    cp2k_positions
        Per-image runs: the positions CP2K was given (Å), when they are ``atoms``'
        translated (:func:`origin_shift`); default ``atoms.positions``.
    sources
        Image vector -> file name of the KS and of the S matrices, named by the errors
        of :func:`check_matrices`.

    Returns
    -------
    Record
        With ``atoms`` as given (positions not wrapped: a device keeps its electrodes
        at the cell ends) and edge shifts in that frame.
    """
    scale = {"hartree": Hartree, "ev": 1.0}.get(energy_unit.lower())
    if scale is None:
        raise FileFormatError(f"energy_unit must be 'hartree' or 'ev', not '{energy_unit}'")
    check_matrices(hamiltonian, overlap, scale, sources)
    if gamma:
        check_unique_images(atoms, cutoff, image_range)
    graph = build_graph(atoms, cutoff)
    if not gamma:
        # the blocks of edge (i, j, S) between the structure's own positions are CP2K's image R
        # between its wrapped positions; sample them through a graph labelled with R
        cp2k_graph = AtomGraph(graph.edge_index, cp2k_image_shifts(atoms, graph.edge_index, graph.shifts, cp2k_positions),
                               graph.vectors, graph.n_atoms)
        needed = {tuple(int(v) for v in shift) for shift in cp2k_graph.shifts} - {(0, 0, 0)}
        missing = (needed - set(hamiltonian)) | (needed - set(overlap))
        if missing:
            raise FileFormatError(
                f"edges within the cutoff need images {sorted(missing)[:4]}{' ...' if len(missing) > 4 else ''} "
                "but no KS/S file was given for them: pass all ..._R_<n>-1_0.csr files or lower the cutoff"
            )

    def blocks(images, factor):
        converted = {s: convert_matrix(m * factor, basis, atoms.numbers, "cp2k") for s, m in images.items()}
        if gamma:
            return BlockSparseMatrix.from_gamma(converted[(0, 0, 0)], basis, atoms.numbers, graph)
        sampled = BlockSparseMatrix.from_images(converted, basis, atoms.numbers, cp2k_graph)
        return BlockSparseMatrix(basis, atoms.numbers, graph, sampled.onsite, sampled.edges)

    return Record(atoms, blocks(hamiltonian, scale), blocks(overlap, 1.0), source=source, name=name)


def read_cp2k(
    structure: str | os.PathLike,
    ks_files: str | os.PathLike | Sequence[str | os.PathLike],
    s_files: str | os.PathLike | Sequence[str | os.PathLike],
    basis: OrbitalBasis,
    cutoff: Cutoff,
    image_range: float = 12.0,
    out_file: str | os.PathLike | None = None,
) -> Record:
    """Load a CP2K calculation: structure (with cell) + KS and S matrix files.

    Parameters
    ----------
    structure
        Structure file with the cell (extended XYZ, CP2K ``.cif``/``.xyz`` with cell, ...).
    ks_files, s_files
        One Γ-point ``.csr`` file each, or lists of per-image files (then ``out_file``
        must give the image table).
    basis
        The CP2K basis of the run (named, or from :meth:`OrbitalBasis.from_cp2k_file`).
    cutoff, image_range
        Graph cutoff and Γ-splitting range in Å.
    """
    atoms = read_structure(structure)
    n = int(basis.orbital_offsets(atoms.numbers)[-1])
    single = isinstance(ks_files, (str, os.PathLike))
    if single != isinstance(s_files, (str, os.PathLike)):
        raise FileFormatError("give KS and S both as single Γ files or both as lists of per-image files")
    if single:
        h = {(0, 0, 0): read_triplet_matrix(ks_files, n)}
        s = {(0, 0, 0): read_triplet_matrix(s_files, n)}
        return matrices_to_record(atoms, h, s, basis, cutoff, image_range, gamma=True, name=Path(structure).stem,
                                  sources=({(0, 0, 0): str(ks_files)}, {(0, 0, 0): str(s_files)}))
    if out_file is None:
        raise FileFormatError("per-image CP2K files need out_file= (the .out with the 'KS CSR write' image table)")
    table = read_image_table(out_file)
    ks_images, s_images = image_files(ks_files, table), image_files(s_files, table)
    h = {shift: read_triplet_matrix(p, n, symmetric=False) for shift, p in ks_images.items()}
    s = {shift: read_triplet_matrix(p, n, symmetric=False) for shift, p in s_images.items()}
    sources = tuple({shift: str(p) for shift, p in images.items()} for images in (ks_images, s_images))
    return matrices_to_record(atoms, h, s, basis, cutoff, image_range, gamma=False, name=Path(structure).stem,
                              sources=sources)
