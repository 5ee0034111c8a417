"""The three-file layout of the ETH large-structure code: ``structure.xyz``, ``H.csr``, ``S.csr``.

The matrices are Γ-folded CP2K matrices (Hartree, CP2K orbital order) as 1-based
triplets, upper triangle; the structure is extended XYZ with its ``Lattice``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats.cp2k import matrices_to_record
from hamtrans.data.formats.csr import read_triplet_matrix
from hamtrans.data.formats.dataset import Record
from hamtrans.data.formats.structure_io import read_structure
from hamtrans.data.graphs import Cutoff


def read_eth_directory(
    directory: str | os.PathLike,
    basis: OrbitalBasis,
    cutoff: Cutoff,
    image_range: float,
    energy_unit: str = "hartree",
) -> Record:
    """Load ``structure.xyz``, ``H.csr`` and ``S.csr`` from one directory.

    Parameters
    ----------
    directory
        Folder holding the three files.
    basis
        CP2K basis used to produce the matrices (e.g. ``OrbitalBasis.named('szv-molopt-sr-gth')``).
    cutoff, image_range
        Graph cutoff and Γ-splitting range (Å), see :mod:`hamtrans.data.reference.images`.
    energy_unit
        ``'hartree'`` (CP2K's) or ``'ev'``.
    """
    directory = Path(directory)
    atoms = read_structure(directory / "structure.xyz")
    n = int(basis.orbital_offsets(atoms.numbers)[-1])
    h = read_triplet_matrix(directory / "H.csr", n)
    s = read_triplet_matrix(directory / "S.csr", n)
    return matrices_to_record(atoms, {(0, 0, 0): h}, {(0, 0, 0): s}, basis, cutoff, image_range,
                              energy_unit, gamma=True, name=directory.name,
                              sources=({(0, 0, 0): str(directory / "H.csr")}, {(0, 0, 0): str(directory / "S.csr")}))
