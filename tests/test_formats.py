"""File formats: triplet CSR files, the HDF5 dataset, the ETH three-file layout."""

import gzip

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from ase import Atoms
from ase.io import write
from ase.units import Hartree

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout, BlockSparseMatrix
from hamtrans.data.formats import Dataset, DatasetWriter, Record, read_eth_directory, read_triplet_matrix
from hamtrans.data.formats.csr import BINARY_RECORD
from hamtrans.data.graphs import build_graph
from hamtrans.data.orbital_order import orbital_transform
from hamtrans.errors import AmbiguousImageError, FileFormatError


def write_ascii(path, matrix, upper=False):
    coo = sp.coo_matrix(matrix)
    keep = coo.row <= coo.col if upper else np.ones(coo.nnz, bool)
    with open(path, "w") as handle:
        for r, c, v in zip(coo.row[keep], coo.col[keep], coo.data[keep]):
            handle.write(f"{r + 1:8d}{c + 1:8d} {v:.14E}\n")


def write_binary(path, matrix):
    coo = sp.coo_matrix(matrix)
    rec = np.zeros(coo.nnz, BINARY_RECORD)
    rec["head"] = rec["tail"] = 16
    rec["row"], rec["col"], rec["value"] = coo.row + 1, coo.col + 1, coo.data
    path.write_bytes(rec.tobytes())


@pytest.fixture
def symmetric():
    m = np.random.default_rng(0).normal(size=(7, 7))
    return m + m.T


def test_ascii_full_upper_gzip_and_binary_agree(tmp_path, symmetric):
    write_ascii(tmp_path / "full.csr", symmetric)
    write_ascii(tmp_path / "upper.csr", symmetric, upper=True)
    write_binary(tmp_path / "bin.csr", symmetric)
    (tmp_path / "full.csr.gz").write_bytes(gzip.compress((tmp_path / "full.csr").read_bytes()))
    for name in ("full.csr", "upper.csr", "bin.csr", "full.csr.gz"):
        np.testing.assert_allclose(read_triplet_matrix(tmp_path / name, 7).toarray(), symmetric, atol=1e-13)


def test_image_matrix_not_mirrored(tmp_path):
    upper_only = np.triu(np.arange(1.0, 10.0).reshape(3, 3))
    write_ascii(tmp_path / "img.csr", upper_only)
    np.testing.assert_array_equal(read_triplet_matrix(tmp_path / "img.csr", symmetric=False).toarray(), upper_only)


def test_bad_csr_files(tmp_path, symmetric):
    write_ascii(tmp_path / "m.csr", symmetric)
    with pytest.raises(FileFormatError, match="matrix has 7 orbitals but the structure has 9"):
        read_triplet_matrix(tmp_path / "m.csr", 9)
    text = (tmp_path / "m.csr").read_text()
    (tmp_path / "cut.csr").write_text(text[: len(text) // 2])  # cut inside a line
    with pytest.raises(FileFormatError, match="truncated"):
        read_triplet_matrix(tmp_path / "cut.csr")
    (tmp_path / "short_line.csr").write_text("1 1 1.0\n1 2\n")
    with pytest.raises(FileFormatError, match="line 2 is not a 'row col value' triplet"):
        read_triplet_matrix(tmp_path / "short_line.csr")
    write_binary(tmp_path / "b.csr", symmetric)
    raw = (tmp_path / "b.csr").read_bytes()
    (tmp_path / "short.csr").write_bytes(raw[:-5])
    with pytest.raises(FileFormatError, match="truncated"):
        read_triplet_matrix(tmp_path / "short.csr")
    (tmp_path / "empty.csr").write_text("")
    with pytest.raises(FileFormatError, match="empty"):
        read_triplet_matrix(tmp_path / "empty.csr")
    with pytest.raises(FileFormatError, match="cannot read"):
        read_triplet_matrix(tmp_path / "missing.csr")


def small_record():
    basis = OrbitalBasis.named("gfn1-xtb")
    atoms = Atoms("HfO2", positions=[[0, 0, 0], [2.0, 0.1, 0], [-0.3, 2.0, 0.2]], cell=[9, 9.5, 10], pbc=True)
    graph = build_graph(atoms, 3.0)
    layout = BlockLayout(basis, atoms.numbers, graph)
    rng = np.random.default_rng(1)
    h = BlockSparseMatrix(basis, atoms.numbers, graph, rng.normal(size=layout.onsite_ptr[-1]), rng.normal(size=layout.edge_ptr[-1])).symmetrized()
    s = h.copy_with(h.onsite * 0.1, h.edges * 0.01)
    return Record(atoms, h, s, energy=-12.5, forces=rng.normal(size=(3, 3)), stress=rng.normal(size=6),
                  fermi_level=-4.2, source="test", name="tiny", charges=np.array([1.2, -0.6, -0.6]))


def assert_records_equal(a: Record, b: Record):
    np.testing.assert_array_equal(a.atoms.numbers, b.atoms.numbers)
    np.testing.assert_allclose(a.atoms.positions, b.atoms.positions)
    np.testing.assert_array_equal(a.hamiltonian.graph.shifts, b.hamiltonian.graph.shifts)
    np.testing.assert_array_equal(a.hamiltonian.edges, b.hamiltonian.edges)
    np.testing.assert_array_equal(a.overlap.onsite, b.overlap.onsite)
    np.testing.assert_allclose(a.forces, b.forces)
    np.testing.assert_array_equal(a.charges, b.charges)
    assert (a.energy, a.fermi_level, a.name) == (b.energy, b.fermi_level, b.name)


def test_dataset_round_trip(tmp_path):
    record = small_record()
    with DatasetWriter(tmp_path / "d.h5", record.hamiltonian.basis, {"cutoff": 3.0}) as writer:
        writer.append(record)
        writer.append(record)
    with Dataset(tmp_path / "d.h5") as data:
        assert len(data) == 2 and data.settings == {"cutoff": 3.0}
        assert_records_equal(data[1], record)


def test_dataset_resume_after_crash(tmp_path):
    record = small_record()
    path = tmp_path / "d.h5"
    with pytest.raises(RuntimeError):
        with DatasetWriter(path, record.hamiltonian.basis) as writer:
            writer.append(record)
            raise RuntimeError("killed")
    assert not path.exists() and (tmp_path / "d.h5.partial").exists()
    with DatasetWriter(path, record.hamiltonian.basis, resume=True) as writer:
        assert len(writer) == 1
        writer.append(record)
    with Dataset(path) as data:
        assert len(data) == 2
    (tmp_path / "d.h5").rename(tmp_path / "d.h5.partial")  # a partial file in gfn1-xtb
    with pytest.raises(FileFormatError, match="uses basis 'gfn1-xtb'"):
        DatasetWriter(path, OrbitalBasis.named("szv-molopt-sr-gth"), resume=True)


def test_dataset_bad_files(tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError, match="truncated or not HDF5"):
        Dataset(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle.attrs["format"] = "something-else"
    with pytest.raises(FileFormatError, match="not a hamtrans dataset"):
        Dataset(tmp_path / "other.h5")
    record = small_record()
    with DatasetWriter(tmp_path / "v.h5", record.hamiltonian.basis) as writer:
        writer.append(record)
    with h5py.File(tmp_path / "v.h5", "a") as handle:
        handle.attrs["version"] = 99
    with pytest.raises(FileFormatError, match="version 99"):
        Dataset(tmp_path / "v.h5")


def test_eth_layout_round_trip(tmp_path):
    """Internal eV blocks -> CP2K order, Hartree, upper triangle on disk -> read back identical."""
    record = small_record()
    basis = OrbitalBasis.named("szv-molopt-sr-gth")
    atoms = record.atoms
    graph = build_graph(atoms, 3.0)
    layout = BlockLayout(basis, atoms.numbers, graph)
    rng = np.random.default_rng(4)
    h = BlockSparseMatrix(basis, atoms.numbers, graph, rng.normal(size=layout.onsite_ptr[-1]), rng.normal(size=layout.edge_ptr[-1])).symmetrized()
    t = orbital_transform(basis, atoms.numbers, "cp2k").toarray()
    h_cp2k_hartree = t.T @ h.to_sparse().toarray() @ t / Hartree
    write_ascii(tmp_path / "H.csr", h_cp2k_hartree, upper=True)
    s_internal = h.to_sparse().toarray() * 1e-2 + np.eye(h.n_orbitals)  # an overlap: positive definite
    write_ascii(tmp_path / "S.csr", t.T @ s_internal @ t, upper=True)
    write(tmp_path / "structure.xyz", atoms, format="extxyz")
    back = read_eth_directory(tmp_path, basis, 3.0, image_range=5.0)
    np.testing.assert_allclose(back.hamiltonian.edges, h.edges, atol=1e-10)
    np.testing.assert_allclose(back.hamiltonian.onsite, h.onsite, atol=1e-10)
    np.testing.assert_allclose(back.overlap.edges, h.edges * 1e-2, atol=1e-12)
    with pytest.raises(AmbiguousImageError, match="cell too small"):
        read_eth_directory(tmp_path, basis, 3.0, image_range=8.0)
    with pytest.raises(FileFormatError, match="orbitals"):
        read_eth_directory(tmp_path, OrbitalBasis.named("gfn1-xtb"), 3.0, image_range=5.0)
