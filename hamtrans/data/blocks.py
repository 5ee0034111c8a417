"""Block-sparse real-space matrices (H or S) on a neighbour graph.

A :class:`BlockSparseMatrix` holds one onsite block per atom and one block per
directed edge ``(i, j, S)`` of an :class:`~hamtrans.data.graphs.AtomGraph`:

``onsite[i] = M_ii(0)``  and  ``edge[e] = M_ij(S) = ⟨φ_i(r − r_i)|M|φ_j(r − r_j − S·cell)⟩``.

Blocks are stored flat (row-major, atoms then edges in graph order), so a whole
matrix is two float arrays plus the graph; block shapes follow from the basis.
Hermiticity of a real matrix is ``M_ji(−S) = M_ij(S)ᵀ``.

Conversions to scipy sparse matrices (``N_orb × N_orb``):

* :meth:`BlockSparseMatrix.to_sparse` with ``axis=None``: Γ-folded periodic matrix
  ``Σ_S M(S)``;
* ``axis=a, shift=n``: blocks whose shift along ``a`` equals ``n``, folded over the
  other directions. ``shift=0`` is the open matrix along ``a`` (transport device),
  ``shift=1`` the coupling to the next cell (lead ``H01``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.graphs import AtomGraph
from hamtrans.errors import AmbiguousImageError, HamtransError

#: Names of the lattice directions accepted as ``axis`` (any case).
AXES = {"x": 0, "y": 1, "z": 2}


def lattice_axis(axis: int | str) -> int:
    """A lattice direction as 0, 1 or 2, from ``0/1/2`` or ``"x"/"y"/"z"`` (any case).

    Raises
    ------
    HamtransError
        For anything else (another string, an integer outside 0–2, a float, a bool).
    """
    if isinstance(axis, str) and axis.lower() in AXES:
        return AXES[axis.lower()]
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, (bool, np.bool_)) and 0 <= axis <= 2:
        return int(axis)
    raise HamtransError(f"axis={axis!r} is not a lattice direction: give 0, 1, 2 or 'x', 'y', 'z'")


def bloch_vector(kpoint, axis: int | None = None) -> np.ndarray:
    """``kpoint`` as a ``(3,)`` float array of reciprocal-lattice coordinates, checked.

    Raises
    ------
    HamtransError
        Not three finite real numbers, or a nonzero component along ``axis`` (the open
        transport direction has no Bloch phase).
    """
    k = np.asarray(kpoint)
    if k.shape != (3,) or k.dtype.kind not in "iuf" or not np.isfinite(k).all():
        raise HamtransError(f"kpoint = {kpoint!r}: give three finite reciprocal-lattice coordinates (k1, k2, k3)")
    k = k.astype(float)
    if axis is not None and k[axis] != 0.0:
        raise HamtransError(f"kpoint = {kpoint!r} has a component {k[axis]:g} along the transport axis {axis}: the "
                            "device is open along it, so that component must be 0 (the leads' k along the axis is "
                            "summed by the NEGF)")
    return k


def block_entry_indices(
    row_start: np.ndarray, row_size: np.ndarray, col_start: np.ndarray, col_size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Global (row, col) of every entry of a list of blocks, row-major per block.

    Parameters
    ----------
    row_start, row_size, col_start, col_size
        First orbital and size of each block along rows and columns, shape ``(n_blocks,)``.

    Returns
    -------
    rows, cols
        Shape ``(Σ row_size·col_size,)`` each.
    """
    sizes = row_size * col_size
    block = np.repeat(np.arange(len(sizes)), sizes)
    local = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    ncol = col_size[block]
    return row_start[block] + local // ncol, col_start[block] + local % ncol


class BlockSparseMatrix:
    """Onsite and edge blocks of a real matrix in an atomic-orbital basis.

    Parameters
    ----------
    basis
        Orbital basis (fixes block shapes).
    numbers
        Atomic numbers, shape ``(n_atoms,)``.
    graph
        Neighbour graph whose edges carry the offsite blocks.
    onsite
        Flattened onsite blocks, shape ``(Σ n_i²,)``.
    edges
        Flattened edge blocks, shape ``(Σ_e n_i·n_j,)``.
    """

    def __init__(
        self,
        basis: OrbitalBasis,
        numbers: Sequence[int] | np.ndarray,
        graph: AtomGraph,
        onsite: np.ndarray,
        edges: np.ndarray,
    ) -> None:
        self.basis = basis
        self.numbers = np.asarray(numbers, dtype=np.int64)
        self.graph = graph
        self.layout = BlockLayout(basis, self.numbers, graph)
        self.onsite = np.asarray(onsite, dtype=np.float64)
        self.edges = np.asarray(edges, dtype=np.float64)
        need_onsite, need_edges = int(self.layout.onsite_ptr[-1]), int(self.layout.edge_ptr[-1])
        if self.onsite.shape != (need_onsite,) or self.edges.shape != (need_edges,):
            raise HamtransError(
                f"block data has {self.onsite.size} onsite / {self.edges.size} edge values; the basis "
                f"'{basis.name}' and graph need {need_onsite} / {need_edges}"
            )

    # -- layout ---------------------------------------------------------------------
    @property
    def n_orbitals(self) -> int:
        return self.layout.n_orbitals

    def onsite_block(self, atom: int) -> np.ndarray:
        """Onsite block ``M_ii(0)``, shape ``(n_i, n_i)`` (a view)."""
        n = self.layout.counts[atom]
        return self.onsite[self.layout.onsite_ptr[atom] : self.layout.onsite_ptr[atom + 1]].reshape(n, n)

    def edge_block(self, edge: int) -> np.ndarray:
        """Edge block ``M_ij(S)``, shape ``(n_i, n_j)`` (a view)."""
        i, j = self.graph.edge_index[:, edge]
        return self.edges[self.layout.edge_ptr[edge] : self.layout.edge_ptr[edge + 1]].reshape(
            self.layout.counts[i], self.layout.counts[j]
        )

    def __repr__(self) -> str:
        return (
            f"BlockSparseMatrix(atoms={len(self.numbers)}, orbitals={self.n_orbitals}, "
            f"edges={self.graph.n_edges}, basis='{self.basis.name}')"
        )

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_gamma(
        cls,
        matrix,
        basis: OrbitalBasis,
        numbers: Sequence[int] | np.ndarray,
        graph: AtomGraph,
    ) -> "BlockSparseMatrix":
        """Blocks of a Γ-folded matrix ``Σ_S M(S)``, one image per atom pair.

        Valid only when every pair ``(i, j)`` has at most one image in ``graph``
        (and no atom sees its own image); otherwise the folded block cannot be
        split and :class:`~hamtrans.errors.AmbiguousImageError` is raised. Whether
        images *outside* the graph are negligible is the caller's responsibility
        (see :func:`hamtrans.data.reference.check_unique_images`).

        Parameters
        ----------
        matrix
            Dense array or scipy sparse matrix, ``(N_orb, N_orb)``, internal order.
        """
        numbers = np.asarray(numbers)
        i, j = graph.edge_index
        self_image = np.flatnonzero(i == j)
        pair = i * graph.n_atoms + j
        unique, first, counts = np.unique(pair, return_index=True, return_counts=True)
        if self_image.size or np.any(counts > 1):
            e = int(self_image[0]) if self_image.size else int(first[np.argmax(counts > 1)])
            a, b = int(i[e]), int(j[e])
            images = np.flatnonzero(pair == pair[e])
            shifts = ", ".join(f"{tuple(graph.shifts[k])} at {graph.distances[k]:.2f} Å" for k in images[:4])
            raise AmbiguousImageError(
                f"cannot split a Γ-folded matrix: atoms {a} and {b} have several periodic images "
                f"within the cutoff ({shifts}{', ' if a == b else ''}{'its own image' if a == b else ''}). "
                "Use a larger cell (atoms.repeat) or a smaller cutoff."
            )
        return cls.from_images({(0, 0, 0): matrix}, basis, numbers, graph, fold=True)

    @classmethod
    def from_images(
        cls,
        images: Mapping[tuple[int, int, int], object],
        basis: OrbitalBasis,
        numbers: Sequence[int] | np.ndarray,
        graph: AtomGraph,
        fold: bool = False,
    ) -> "BlockSparseMatrix":
        """Blocks from per-image matrices ``M(S)`` (e.g. CP2K REAL_SPACE output).

        Parameters
        ----------
        images
            Cell shift ``S`` -> matrix ``(N_orb, N_orb)``, dense or scipy sparse,
            internal order. A shift absent from ``images`` has zero blocks.
        fold
            Read every edge from the ``(0, 0, 0)`` entry (Γ-folded input).
        """
        numbers = np.asarray(numbers)
        layout = BlockLayout(basis, numbers, graph)
        onsite = _sample(images.get((0, 0, 0)), *layout.onsite_indices(), layout.n_orbitals)
        edges = np.zeros(int(layout.edge_ptr[-1]))
        rows, cols = layout.edge_indices()
        if fold:
            edges = _sample(images.get((0, 0, 0)), rows, cols, layout.n_orbitals)
        else:
            entry_edge = np.repeat(np.arange(graph.n_edges), np.diff(layout.edge_ptr))
            for shift, matrix in images.items():
                edge_mask = np.all(graph.shifts == np.asarray(shift), axis=1)
                if edge_mask.any():
                    sel = edge_mask[entry_edge]
                    edges[sel] = _sample(matrix, rows[sel], cols[sel], layout.n_orbitals)
        return cls(basis, numbers, graph, onsite, edges)

    # -- algebra and checks ------------------------------------------------------------
    def restricted(self, basis: OrbitalBasis) -> "BlockSparseMatrix":
        """The same matrix in a sub-basis: every block cut to the sub-basis' orbitals.

        For H and S this is the Galerkin projection onto the smaller basis (the
        exact matrices of the sub-basis functions). ``basis`` must keep, per
        element, an ordered subsequence of this basis' shells
        (:meth:`OrbitalBasis.orbitals_within`).
        """
        if basis == self.basis:
            return self
        kept = {int(z): basis.orbitals_within(self.basis, int(z)) for z in np.unique(self.numbers)}
        new = BlockLayout(basis, self.numbers, self.graph)
        old = self.layout

        def sources(owner_rows, owner_cols, ptr, old_cols, counts_rows, counts_cols):
            n_rows, n_cols = counts_rows, counts_cols
            rows, cols = block_entry_indices(np.zeros_like(n_rows), n_rows, np.zeros_like(n_cols), n_cols)
            owner = np.repeat(np.arange(len(n_rows)), n_rows * n_cols)
            old_row = _lookup(kept, self.numbers[owner_rows][owner], rows)
            old_col = _lookup(kept, self.numbers[owner_cols][owner], cols)
            return ptr[owner] + old_row * old_cols[owner] + old_col

        atoms = np.arange(len(self.numbers))
        onsite = self.onsite[sources(atoms, atoms, old.onsite_ptr, old.counts, new.counts, new.counts)]
        i, j = self.graph.edge_index
        edges = self.edges[sources(i, j, old.edge_ptr, old.counts[j], new.counts[i], new.counts[j])]
        return BlockSparseMatrix(basis, self.numbers, self.graph, onsite, edges)

    def copy_with(self, onsite: np.ndarray, edges: np.ndarray) -> "BlockSparseMatrix":
        """Same layout, new values."""
        return BlockSparseMatrix(self.basis, self.numbers, self.graph, onsite, edges)

    def transposed_edges(self) -> np.ndarray:
        """Flat edge data of ``M_ji(−S)ᵀ`` in this matrix' edge order."""
        return self.edges[self.layout.transposed_edge_source()]

    def transposed_onsite(self) -> np.ndarray:
        """Flat onsite data of ``M_ii(0)ᵀ``."""
        return self.onsite[self.layout.transposed_onsite_source()]

    def hermiticity_error(self) -> float:
        """Largest ``|M_ij(S) − M_ji(−S)ᵀ|`` over all blocks (0 for an exactly symmetric matrix)."""
        onsite = np.abs(self.onsite - self.transposed_onsite()).max(initial=0.0)
        edges = np.abs(self.edges - self.transposed_edges()).max(initial=0.0)
        return float(max(onsite, edges))

    def symmetrized(self) -> "BlockSparseMatrix":
        """``(M + Mᵀ)/2`` block by block: exactly hermitian."""
        return self.copy_with(
            0.5 * (self.onsite + self.transposed_onsite()), 0.5 * (self.edges + self.transposed_edges())
        )

    def check_hermitian(self, tolerance: float) -> None:
        """Raise if :meth:`hermiticity_error` exceeds ``tolerance`` (same unit as the matrix)."""
        err = self.hermiticity_error()
        if err > tolerance:
            raise HamtransError(f"matrix is not hermitian: max |M_ij(S) − M_ji(−S)ᵀ| = {err:.3e} > {tolerance:.1e}")

    # -- export ----------------------------------------------------------------------
    def to_sparse(self, axis: int | None = None, shift: int = 0, kpoint=None) -> sp.csr_matrix:
        """Assemble a scipy CSR matrix ``(N_orb, N_orb)``.

        Parameters
        ----------
        axis
            ``None``: fold all images (Γ point, or the Bloch sum at ``kpoint``). Otherwise
            keep only blocks whose shift along this lattice direction (0, 1, 2 or ``'x'``,
            ``'y'``, ``'z'``) equals ``shift`` and fold the others.
        shift
            Cell offset along ``axis``: 0 = open/device matrix, 1 = coupling to the next cell.
        kpoint
            ``(3,)`` reciprocal-lattice coordinates ``k``: folded images carry the Bloch
            phase ``exp(2πi k·S)`` (a complex Hermitian matrix; ``M(k) = Σ_S M(S) e^{2πi k·S}``
            for the block of ``j`` in cell ``S``). ``None`` (the default) is Γ, a real matrix.
            Along ``axis`` the component must be 0: that direction is not folded.

        Raises
        ------
        HamtransError
            ``axis`` is none of the above, or ``kpoint`` is not three finite numbers with
            no component along ``axis``.
        """
        if axis is not None:
            axis = lattice_axis(axis)
        rows, cols = self.layout.edge_indices()
        values, shifts, sizes = self.edges, self.graph.shifts, np.diff(self.layout.edge_ptr)
        if axis is not None:
            kept = shifts[:, axis] == shift
            keep = np.repeat(kept, sizes)
            rows, cols, values = rows[keep], cols[keep], values[keep]
            shifts, sizes = shifts[kept], sizes[kept]
        if kpoint is not None:
            phase = np.exp(2j * np.pi * (shifts @ bloch_vector(kpoint, axis)))
            values = values * np.repeat(phase, sizes)
        if axis is None or shift == 0:  # onsite blocks live in the home cell
            rows_on, cols_on = self.layout.onsite_indices()
            rows, cols = np.concatenate([rows_on, rows]), np.concatenate([cols_on, cols])
            values = np.concatenate([self.onsite, values])
        n = self.n_orbitals
        matrix = sp.coo_matrix((values, (rows, cols)), shape=(n, n))
        return matrix.tocsr()  # duplicate (i, j) entries from several images are summed: folding

    def image_matrices(self) -> dict[tuple[int, int, int], sp.csr_matrix]:
        """Per-image matrices ``M(S)`` (the inverse of :meth:`from_images`); ``(0, 0, 0)`` holds the onsite blocks."""
        rows, cols = self.layout.edge_indices()
        entry_edge = np.repeat(np.arange(self.graph.n_edges), np.diff(self.layout.edge_ptr))
        unique, inverse = np.unique(self.graph.shifts, axis=0, return_inverse=True)
        inverse = inverse.ravel()[entry_edge]
        n = self.n_orbitals
        images = {}
        for k, shift in enumerate(unique):
            sel = inverse == k
            images[tuple(int(v) for v in shift)] = sp.coo_matrix((self.edges[sel], (rows[sel], cols[sel])), shape=(n, n)).tocsr()
        onsite = sp.coo_matrix((self.onsite, self.layout.onsite_indices()), shape=(n, n)).tocsr()
        images[(0, 0, 0)] = images[(0, 0, 0)] + onsite if (0, 0, 0) in images else onsite
        return images


class BlockLayout:
    """Flat-block layout of a basis on a graph.

    Attributes
    ----------
    counts, offsets
        Orbitals per atom ``(n_atoms,)`` and first orbital per atom plus total ``(n_atoms + 1,)``.
    onsite_ptr, edge_ptr
        Start of each onsite / edge block in the flat arrays, plus the total.
    """

    def __init__(self, basis: OrbitalBasis, numbers: np.ndarray, graph: AtomGraph) -> None:
        if len(numbers) != graph.n_atoms:
            raise HamtransError(f"graph has {graph.n_atoms} atoms but {len(numbers)} atomic numbers were given")
        self.graph = graph
        self.counts = basis.orbital_counts(numbers)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        i, j = graph.edge_index
        self.onsite_ptr = np.concatenate([[0], np.cumsum(self.counts**2)])
        self.edge_ptr = np.concatenate([[0], np.cumsum(self.counts[i] * self.counts[j])])

    @property
    def n_orbitals(self) -> int:
        return int(self.offsets[-1])

    def onsite_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Global (row, col) of every flat onsite entry."""
        start = self.offsets[:-1]
        return block_entry_indices(start, self.counts, start, self.counts)

    def edge_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Global (row, col) of every flat edge entry."""
        i, j = self.graph.edge_index
        return block_entry_indices(self.offsets[i], self.counts[i], self.offsets[j], self.counts[j])

    def transposed_edge_source(self) -> np.ndarray:
        """Index into the flat edge data giving, per entry, the transposed entry of the reverse edge.

        ``edges[transposed_edge_source()]`` is ``M_ji(−S)ᵀ`` in edge order.
        """
        reverse = self.graph.reverse_edges()
        i, j = self.graph.edge_index
        ni, nj = self.counts[i], self.counts[j]
        # entry (a, b) of edge e equals entry (b, a) of its reverse edge
        rows, cols = block_entry_indices(np.zeros_like(ni), ni, np.zeros_like(nj), nj)
        owner = np.repeat(np.arange(self.graph.n_edges), ni * nj)
        return self.edge_ptr[reverse[owner]] + cols * ni[owner] + rows

    def transposed_onsite_source(self) -> np.ndarray:
        """Index into the flat onsite data giving the transposed entry of the same block."""
        n = self.counts
        rows, cols = block_entry_indices(np.zeros_like(n), n, np.zeros_like(n), n)
        owner = np.repeat(np.arange(len(n)), n * n)
        return self.onsite_ptr[owner] + cols * n[owner] + rows


def _lookup(kept: Mapping[int, np.ndarray], numbers: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Parent-basis orbital index of sub-basis orbital ``local[k]`` of an atom with ``numbers[k]``."""
    out = np.empty_like(local)
    for z, table in kept.items():
        mask = numbers == z
        out[mask] = table[local[mask]]
    return out


def _sample(matrix, rows: np.ndarray, cols: np.ndarray, n_orbitals: int) -> np.ndarray:
    """Entries ``matrix[rows, cols]`` of a dense or sparse matrix; zeros if ``matrix`` is None."""
    if matrix is None:
        return np.zeros(len(rows))
    if matrix.shape != (n_orbitals, n_orbitals):
        raise HamtransError(
            f"matrix is {matrix.shape[0]}×{matrix.shape[1]} but the structure has {n_orbitals} orbitals "
            "in this basis: wrong basis, wrong structure, or a truncated matrix file"
        )
    if sp.issparse(matrix):
        return np.asarray(matrix.tocsr()[rows, cols]).ravel().astype(np.float64)
    return np.asarray(matrix, dtype=np.float64)[rows, cols]
