"""Simple cubic s-orbital films, periodic in all three directions, for the k-point and DOS transport tests."""

import numpy as np
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.graphs import build_graph

SPACING = 1.5  # Å
BASIS = OrbitalBasis("test-s", {"H": (0,)})


def lattice_film(columns: int, width: int, height: int, cutoff: float, barrier: float = 0.0):
    """Simple cubic s-orbital film ``columns × width × height`` sites, periodic in x, y, z.

    Hopping ``−exp(−(d − a))`` eV and overlap ``0.05·exp(−2(d − a))`` to every site within
    ``cutoff``; onsite ``barrier·(1 + 0.3·(y_index mod 2))`` eV on the middle third of the
    columns (a scatterer that is not uniform across a two-site cell), 0 elsewhere. Returns
    ``(atoms, H, S)`` as block-sparse matrices with their cell shifts.
    """
    x, y, z = np.meshgrid(np.arange(columns), np.arange(width), np.arange(height), indexing="ij")
    positions = np.stack([x.ravel(), y.ravel(), z.ravel()], 1) * SPACING
    atoms = Atoms(f"H{len(positions)}", positions=positions, cell=np.array([columns, width, height]) * SPACING,
                  pbc=True)
    graph = build_graph(atoms, cutoff, check=False)
    d = graph.distances
    middle = (x.ravel() >= columns // 3) & (x.ravel() < columns - columns // 3)
    onsite_h = np.where(middle, barrier * (1.0 + 0.3 * (y.ravel() % 2)), 0.0)
    hamiltonian = BlockSparseMatrix(BASIS, atoms.numbers, graph, onsite_h, -np.exp(-(d - SPACING)))
    overlap = BlockSparseMatrix(BASIS, atoms.numbers, graph, np.ones(len(atoms)), 0.05 * np.exp(-2 * (d - SPACING)))
    return atoms, hamiltonian, overlap


def write_film_dataset(path):
    """A one-record data set of the 12 × 2 × 1 barrier film (lattice cutoff 3.2 Å, barrier 0.9 eV) at ``path``.

    Returns ``(atoms, H, S)`` of the record.
    """
    atoms, h, s = lattice_film(12, 2, 1, 3.2, barrier=0.9)
    with DatasetWriter(path, BASIS, {"source": "test"}) as writer:
        writer.append(Record(atoms, h, s, fermi_level=-1.0, name="film"))
    return atoms, h, s
