"""CP2K matrices: real CP2K 2023.1 output (tests/fixtures/cp2k, see its README)."""

import json

import numpy as np
import pytest

import hamtrans.data.formats.cp2k as cp2k
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import read_cp2k, read_image_table
from hamtrans.data.orbital_order import orbital_transform, rotation_matrix_for_orbitals
from hamtrans.errors import FileFormatError
from tests.cp2k_outputs import FIX, SZV, read_tin

DZVP = OrbitalBasis.named("dzvp-molopt-sr-gth")


def cluster(name, basis, binary=False):
    folder = FIX / f"cluster_{name}" if not binary else FIX / "cluster_a_szv_binary"
    xyz = FIX / f"cluster_{name}" / f"cluster{name[0].upper()}.xyz"
    ks = next(folder.glob("*KS_SPIN_1-1_0.csr*"))
    s = next(folder.glob("*-S_SPIN_1-1_0.csr*"))
    return read_cp2k(xyz, ks, s, basis, cutoff=6.0)


@pytest.fixture(scope="module")
def rotation():
    return np.array(json.loads((FIX / "rotation.json").read_text())["R"])


def test_ascii_and_binary_agree():
    a, b = cluster("a_szv", SZV), cluster("a_szv", SZV, binary=True)
    assert a.hamiltonian.n_orbitals == 32
    np.testing.assert_allclose(a.hamiltonian.edges, b.hamiltonian.edges, atol=1e-12)
    np.testing.assert_allclose(a.overlap.onsite, b.overlap.onsite, atol=1e-13)


@pytest.mark.parametrize("basis, tag", [(SZV, "szv"), (DZVP, "dzvp")])
def test_rotation_covariance(rotation, basis, tag):
    """S (every shell up to f) is covariant to 1e-10: proves the CP2K order table.

    KS only to ~3e-4 of its largest element (0.02 eV of -63 eV): CP2K's real-space
    integration grid does not rotate with the molecule (egg-box effect), a property
    of the reference, not of hamtrans.
    """
    a, b = cluster(f"a_{tag}", basis), cluster(f"b_{tag}", basis)
    d = rotation_matrix_for_orbitals(basis, a.atoms.numbers, rotation).toarray()
    for name, relative_tolerance in (("overlap", 1e-10), ("hamiltonian", 1e-3)):
        ma, mb = getattr(a, name).to_sparse().toarray(), getattr(b, name).to_sparse().toarray()
        assert np.abs(d @ ma @ d.T - mb).max() < relative_tolerance * np.abs(mb).max(), name
        assert np.abs(ma - mb).max() > 0.1
    # negative control: misreading CP2K's p shells in PySCF order breaks covariance
    t_ok = orbital_transform(basis, a.atoms.numbers, "cp2k").toarray()
    t_bad = orbital_transform(basis, a.atoms.numbers, "pyscf").toarray()
    wrong = t_bad @ t_ok.T
    sa, sb = (wrong @ x.overlap.to_sparse().toarray() @ wrong.T for x in (a, b))
    assert np.abs(d @ sa @ d.T - sb).max() > 1e-2


def test_units_and_levels():
    a = cluster("a_szv", SZV)
    h, s = a.hamiltonian.to_sparse().toarray(), a.overlap.to_sparse().toarray()
    from scipy.linalg import eigh

    eps = eigh(h, s, eigvals_only=True)
    # CP2K printed the Fermi energy -0.12669 Ha for this run (41 electrons, smeared)
    assert eps.min() < -0.12669 * 27.211386 < eps.max()
    assert np.all(np.abs(np.diag(s) - 1.0) < 1e-6)


def test_image_table():
    table = read_image_table(FIX / "tin_images" / "TiN_kp_shift.out")
    assert len(table) == 497 and table[1] == (0, 0, 0) and table[2] == (-1, 0, 0)
    assert all(tuple(-v for v in shift) in table.values() for shift in table.values())


def edge_norm_spread(record):
    """Largest spread of block norms among symmetry-equivalent edges (same pair, same length)."""
    blocks, graph = record.overlap, record.overlap.graph
    z = record.atoms.numbers[graph.edge_index]
    groups = {}
    for e in range(graph.n_edges):
        key = (z[0, e], z[1, e], round(float(graph.distances[e]), 4))
        groups.setdefault(key, []).append(np.linalg.norm(blocks.edge_block(e)))
    return max(np.ptp(v) for v in groups.values())


def test_real_space_images():
    record = read_tin()
    assert record.overlap.graph.n_edges > 20
    assert record.overlap.hermiticity_error() < 1e-12
    assert record.hamiltonian.hermiticity_error() < 1e-12
    assert edge_norm_spread(record) < 1e-10  # equivalent bonds get identical blocks


def test_unwrapped_positions_mislabel_images(monkeypatch):
    """Negative control: ignoring CP2K's [-0.5, 0.5) wrapping assigns blocks to the wrong bonds."""
    monkeypatch.setattr(cp2k, "wrap_shifts", lambda atoms: np.zeros((len(atoms), 3), dtype=np.int64))
    assert edge_norm_spread(read_tin()) > 1e-3


def test_cp2k_errors(tmp_path):
    folder = FIX / "tin_images"
    with pytest.raises(FileFormatError, match="need images"):
        read_cp2k(folder / "TiN_shift.extxyz", sorted(folder.glob("*KS_SPIN_1_R_*")),
                  sorted(folder.glob("*-S_SPIN_1_R_*")), SZV, cutoff=5.0, out_file=folder / "TiN_kp_shift.out")
    with pytest.raises(FileFormatError, match="out_file"):
        read_cp2k(folder / "TiN_shift.extxyz", sorted(folder.glob("*KS_*")), sorted(folder.glob("*-S_*")), SZV, 3.1)
    (tmp_path / "x.out").write_text("no table here\n")
    with pytest.raises(FileFormatError, match="REAL_SPACE T"):
        read_image_table(tmp_path / "x.out")
    with pytest.raises(FileFormatError, match="matrix has 32 orbitals but the structure has 91"):
        cluster("a_szv", DZVP)
