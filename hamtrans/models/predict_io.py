"""Writers for predicted matrices in external layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from ase import Atoms
from ase.units import Hartree

from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.orbital_order import orbital_transform


def write_triplets(path: Path, matrix: sp.spmatrix) -> None:
    """1-based upper-triangle ``row col value`` ASCII triplets (the CP2K/ETH ``.csr`` layout)."""
    coo = sp.triu(matrix).tocoo()
    table = np.column_stack([coo.row + 1, coo.col + 1, coo.data])
    np.savetxt(path, table, fmt="%d %d %.16e")


def write_csr_folder(folder: Path, atoms: Atoms, hamiltonian: BlockSparseMatrix, overlap: BlockSparseMatrix | None) -> None:
    """``structure.xyz``, ``H.csr`` (Hartree) and ``S.csr`` in CP2K's orbital order, Γ-folded.

    This is the layout :func:`hamtrans.data.formats.read_eth_directory` and
    ``hamtrans transport FOLDER`` read back (the inverse of their conversion).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atoms.write(folder / "structure.xyz", format="extxyz")
    transform = orbital_transform(hamiltonian.basis, atoms.numbers, "cp2k")  # internal = T · cp2k · Tᵀ
    to_cp2k = lambda m: (transform.T @ m @ transform).tocsr()
    write_triplets(folder / "H.csr", to_cp2k(hamiltonian.to_sparse()) / Hartree)
    if overlap is not None:
        write_triplets(folder / "S.csr", to_cp2k(overlap.to_sparse()))
