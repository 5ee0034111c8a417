"""DeepH bridge: the orbital table, round trips of real CP2K blocks, a hand-written DeepH folder, bad input, CLI.

The file format tested here is DeepH's processed folder as DeepH-pack's parsers write it
(deeph/preprocess/abacus_get_data.py, openmx_get_data.jl) and DeepH-pack / DeepH-E3 read it
(deeph/data.py, deephe3/graph.py): lat.dat and site_positions.dat hold vectors as columns,
keys are "[Rx, Ry, Rz, i, j]" with 1-based atoms, energies eV, lengths Å, and shells in
OpenMX's order p = (px, py, pz), d = (z², x²−y², xy, xz, yz).
"""

import json

import h5py
import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats.deeph import read_deeph, read_deeph_basis, write_deeph
from hamtrans.data.graphs import build_graph
from hamtrans.data.orbital_order import source_to_internal
from hamtrans.errors import FileFormatError, HamtransError, MatrixError
from tests.cp2k_outputs import read_tin


def openmx_real_harmonics(l: int, r: np.ndarray) -> np.ndarray:
    """The real harmonics in DeepH's (OpenMX's) order, all + signs, component-normalised (unit vectors r).

    p = (x, y, z); d = (3z² − 1, x² − y², xy, xz, yz); f = (z(5z² − 3), x(5z² − 1), y(5z² − 1),
    z(x² − y²), xyz, x(x² − 3y²), y(3x² − y²)) with the normalisations of the standard ones.
    """
    x, y, z = r.T
    if l == 0:
        return np.ones((len(r), 1))
    if l == 1:
        return np.sqrt(3.0) * np.stack([x, y, z], 1)
    if l == 2:
        c = np.sqrt(15.0)
        return np.stack([np.sqrt(5.0) / 2 * (3 * z**2 - 1), c / 2 * (x**2 - y**2), c * x * y, c * x * z, c * y * z], 1)
    if l == 3:
        return np.stack([np.sqrt(7) / 2 * z * (5 * z**2 - 3), np.sqrt(21 / 8) * x * (5 * z**2 - 1),
                         np.sqrt(21 / 8) * y * (5 * z**2 - 1), np.sqrt(105) / 2 * z * (x**2 - y**2),
                         np.sqrt(105) * x * y * z, np.sqrt(35 / 8) * x * (x**2 - 3 * y**2),
                         np.sqrt(35 / 8) * y * (3 * x**2 - y**2)], 1)
    raise ValueError(l)


def e3nn_harmonics(l: int, r: np.ndarray) -> np.ndarray:
    return o3.spherical_harmonics(l, torch.as_tensor(r), normalize=True, normalization="component").numpy()


def unit_vectors(n=40, seed=3):
    r = np.random.default_rng(seed).normal(size=(n, 3))
    return r / np.linalg.norm(r, axis=1, keepdims=True)


def read_block(path, key):
    with h5py.File(path, "r") as f:
        return f[key][()]


# -- (a) the orbital table ------------------------------------------------------------------
@pytest.mark.parametrize("l", [0, 1, 2, 3])
def test_deeph_table_maps_openmx_harmonics_onto_e3nn(l):
    """φ_internal = T φ_deeph: DeepH's functions in its order, mapped by the table, are e3nn's."""
    r = unit_vectors()
    np.testing.assert_allclose(openmx_real_harmonics(l, r) @ source_to_internal("deeph", l).T, e3nn_harmonics(l, r),
                               atol=1e-12)


def test_deeph_table_is_a_permutation_of_the_standard_order():
    """DeepH-pack's Us_openmx2wiki: standard (m = −l..l) function k is DeepH function index[k], no signs."""
    for l, index in {1: [1, 2, 0], 2: [2, 4, 0, 3, 1], 3: [6, 4, 2, 0, 1, 3, 5]}.items():
        permutation = np.eye(2 * l + 1)[index]
        np.testing.assert_allclose(source_to_internal("deeph", l), source_to_internal("standard", l) @ permutation,
                                   atol=1e-14)


def two_atoms(symbols, shells, vector, cell=10.0):
    basis = OrbitalBasis("test", shells)
    atoms = Atoms(symbols, positions=[[5, 5, 5], np.add([5, 5, 5], vector)], cell=[cell] * 3, pbc=False)
    return basis, atoms, build_graph(atoms, 2.5)


def identity_overlap(basis, atoms, graph):
    n = basis.orbital_counts(atoms.numbers)
    layout = BlockSparseMatrix(basis, atoms.numbers, graph, np.zeros(int((n**2).sum())),
                               np.zeros(int((n[graph.edge_index[0]] * n[graph.edge_index[1]]).sum())))
    for i in range(len(atoms)):
        layout.onsite_block(i)[...] = np.eye(n[i])
    return layout


def test_a_sigma_bond_along_z_lands_on_deeph_pz(tmp_path):
    """Absolute check: internal p = (x, y, z); a pσ bond along z is DeepH's pz, its third p function."""
    basis, atoms, graph = two_atoms("O2", {"O": (1,)}, [0, 0, 2])
    bond = np.diag([0.2, 0.2, -1.0])  # π, π, σ in the internal (x, y, z) order
    h = BlockSparseMatrix(basis, atoms.numbers, graph, np.zeros(18), np.tile(bond.ravel(), graph.n_edges))
    write_deeph(tmp_path, atoms, h, identity_overlap(basis, atoms, graph))
    block = read_block(tmp_path / "hamiltonians.h5", "[0, 0, 0, 1, 2]")  # px, py, pz of atom 1 × of atom 2
    np.testing.assert_allclose(block, np.diag([0.2, 0.2, -1.0]), atol=1e-14)


def test_s_p_and_s_d_couplings_along_a_bond_read_as_deeph_harmonics(tmp_path):
    """A σ coupling of an s orbital to a p and a d shell along u is V·Y(u): in DeepH's file, its own functions of u.

    Real DeepH data behave so (deepx-dock's MoTe2 example: S(s_Mo, p_Te) = −|S|·u, S(s_Mo, d_Te) = +|S|·Y_d(u)).
    """
    u = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    basis, atoms, graph = two_atoms("HTi", {"H": (0,), "Ti": (1, 2)}, 2.0 * u)
    h = identity_overlap(basis, atoms, graph).copy_with(np.zeros(1 + 64), np.zeros(2 * 8))
    forward = int(np.flatnonzero(graph.edge_index[0] == 0)[0])  # H -> Ti
    h.edge_block(forward)[0, :3] = -0.7 * e3nn_harmonics(1, u[None])[0]
    h.edge_block(forward)[0, 3:] = 0.4 * e3nn_harmonics(2, u[None])[0]
    h.edge_block(1 - forward)[...] = h.edge_block(forward).T
    write_deeph(tmp_path, atoms, h, identity_overlap(basis, atoms, graph))
    block = read_block(tmp_path / "hamiltonians.h5", "[0, 0, 0, 1, 2]")
    np.testing.assert_allclose(block[0, :3], -0.7 * np.sqrt(3) * u, atol=1e-13)  # (px, py, pz) = −0.7·√3·(ux, uy, uz)
    np.testing.assert_allclose(block[0, 3:], 0.4 * openmx_real_harmonics(2, u[None])[0], atol=1e-13)


# -- (b), (c) round trip of real CP2K blocks -------------------------------------------------
def test_cp2k_blocks_with_images_survive_the_round_trip(tmp_path):
    record = read_tin()  # TiN from CP2K per-image files (27 files): s, p, d SZV shells, 19 cell shifts
    assert len(record.hamiltonian.image_matrices()) == 19
    write_deeph(tmp_path, record.atoms, record.hamiltonian, record.overlap, fermi_level=12.3)
    atoms, h, s, fermi = read_deeph(tmp_path, basis_name="szv-from-deeph")
    assert fermi == 12.3
    np.testing.assert_array_equal(atoms.numbers, record.atoms.numbers)
    np.testing.assert_array_equal(atoms.positions, record.atoms.positions)
    np.testing.assert_array_equal(atoms.cell, record.atoms.cell)
    assert atoms.pbc.all() and h.basis.name == "szv-from-deeph"
    assert all(h.basis.shells_of(int(z)) == record.hamiltonian.basis.shells_of(int(z)) for z in atoms.numbers)
    np.testing.assert_array_equal(h.graph.edge_index, record.hamiltonian.graph.edge_index)
    np.testing.assert_array_equal(h.graph.shifts, record.hamiltonian.graph.shifts)
    for back, original in ((h, record.hamiltonian), (s, record.overlap)):
        images, expected = back.image_matrices(), original.image_matrices()
        assert set(images) == set(expected)
        scale = max(abs(m).max() for m in expected.values())
        for shift, matrix in expected.items():
            np.testing.assert_allclose(images[shift].toarray(), matrix.toarray(), rtol=0, atol=1e-12 * scale)
    for k in ([0, 0, 0], [0.1, 0.25, -0.3], [0.5, 0.0, 0.5]):
        for back, original in ((h, record.hamiltonian), (s, record.overlap)):
            ours = original.to_sparse(kpoint=k).toarray()
            np.testing.assert_allclose(back.to_sparse(kpoint=k).toarray(), ours, rtol=0, atol=1e-12 * abs(ours).max())
        np.testing.assert_allclose(np.linalg.eigvalsh(h.to_sparse(kpoint=k).toarray()),
                                   np.linalg.eigvalsh(record.hamiltonian.to_sparse(kpoint=k).toarray()), atol=1e-10)


def test_written_files_follow_deeph_conventions(tmp_path):
    """Vectors as columns, 1-based keys for every block in both files, eV unchanged, DeepH's p order."""
    record = read_tin()
    write_deeph(tmp_path, record.atoms, record.hamiltonian, record.overlap)
    cell = np.asarray(record.atoms.cell)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "lat.dat"), cell.T)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "rlat.dat").T @ cell.T, 2 * np.pi * np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "site_positions.dat"), record.atoms.positions.T)
    assert (tmp_path / "element.dat").read_text().split() == ["22", "7"]
    assert (tmp_path / "orbital_types.dat").read_text().splitlines() == ["0  0  1  2", "0  1"]
    info = json.loads((tmp_path / "info.json").read_text())
    assert info == {"nsites": 2, "isorthogonal": False, "isspinful": False, "norbits": 14}
    shifts = {tuple(int(v) for v in row) for row in np.loadtxt(tmp_path / "R_list.dat", ndmin=2)}
    assert shifts == set(record.hamiltonian.image_matrices())
    with h5py.File(tmp_path / "hamiltonians.h5", "r") as hf, h5py.File(tmp_path / "overlaps.h5", "r") as sf:
        assert set(hf) == set(sf) and len(hf) == 2 + record.hamiltonian.graph.n_edges
        assert "[0, 0, 0, 1, 1]" in hf and "[0, 0, 0, 2, 2]" in hf and "[0, 0, 0, 0, 0]" not in hf
        home = record.hamiltonian.image_matrices()[(0, 0, 0)].toarray()
        # N (atom 2) s–s onsite element: no orbital rotation, same number in eV
        assert hf["[0, 0, 0, 2, 2]"][0, 0] == pytest.approx(home[10, 10], abs=1e-13)
        # N p shell: DeepH (px, py, pz) is internal (x, y, z) itself
        np.testing.assert_allclose(hf["[0, 0, 0, 2, 2]"][1:, 1:], home[11:, 11:], atol=1e-13)
        graph = record.hamiltonian.graph
        e = int(np.flatnonzero((graph.edge_index[0] == 0) & (graph.edge_index[1] == 1))[0])
        shift = ", ".join(str(int(v)) for v in graph.shifts[e])
        assert hf[f"[{shift}, 1, 2]"].shape == (10, 4)  # Ti (s, s, p, d) × N (s, p)


# -- (d) a folder written by hand, as DeepH writes it ---------------------------------------
def hand_written_chain(folder, fermi=-1.5):
    """Two H atoms per cell of a chain along a1 of a slanted cell; s orbitals; eV, Å, DeepH's files."""
    lattice = np.array([[2.0, 0.0, 0.0], [1.0, 8.0, 0.0], [0.0, 0.0, 9.0]])  # rows a1, a2, a3
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    np.savetxt(folder / "lat.dat", lattice.T)  # columns are a_k, as deeph-preprocess writes
    np.savetxt(folder / "rlat.dat", 2 * np.pi * np.linalg.inv(lattice))
    np.savetxt(folder / "site_positions.dat", positions.T)
    np.savetxt(folder / "element.dat", [1, 1], fmt="%d")
    (folder / "orbital_types.dat").write_text("0\n0\n")
    (folder / "info.json").write_text(json.dumps({"nsites": 2, "isorthogonal": False, "isspinful": False,
                                                  "norbits": 2, "fermi_level": fermi}))
    hoppings = {"[0, 0, 0, 1, 1]": -1.0, "[0, 0, 0, 2, 2]": -2.0,
                "[0, 0, 0, 1, 2]": -0.5, "[0, 0, 0, 2, 1]": -0.5,
                "[1, 0, 0, 2, 1]": -0.3, "[-1, 0, 0, 1, 2]": -0.3}
    overlaps = {"[0, 0, 0, 1, 1]": 1.0, "[0, 0, 0, 2, 2]": 1.0,
                "[0, 0, 0, 1, 2]": 0.1, "[0, 0, 0, 2, 1]": 0.1, "[1, 0, 0, 2, 1]": 0.05, "[-1, 0, 0, 1, 2]": 0.05}
    for name, table in (("hamiltonians.h5", hoppings), ("overlaps.h5", overlaps)):
        with h5py.File(folder / name, "w") as f:
            for key, value in table.items():
                f[key] = np.array([[value]])
    return lattice, positions


def test_reader_on_a_hand_written_chain(tmp_path):
    lattice, positions = hand_written_chain(tmp_path)
    atoms, h, s, fermi = read_deeph(tmp_path)
    np.testing.assert_array_equal(atoms.cell, lattice)
    np.testing.assert_array_equal(atoms.positions, positions)
    np.testing.assert_array_equal(atoms.numbers, [1, 1])
    assert fermi == -1.5 and h.basis.name == "deeph" and h.graph.n_edges == 4
    np.testing.assert_allclose(h.onsite, [-1.0, -2.0])  # key atom 1 is our atom 0: 1-based, eV kept
    for k in (0.0, 0.2, 0.5):
        phase = np.exp(2j * np.pi * k)  # j = atom 1 in cell +1 couples to i = atom 2
        expected_h = [[-1.0, -0.5 - 0.3 / phase], [-0.5 - 0.3 * phase, -2.0]]
        expected_s = [[1.0, 0.1 + 0.05 / phase], [0.1 + 0.05 * phase, 1.0]]
        np.testing.assert_allclose(h.to_sparse(kpoint=(k, 0.3, 0)).toarray(), expected_h, atol=1e-15)
        np.testing.assert_allclose(s.to_sparse(kpoint=(k, 0.3, 0)).toarray(), expected_s, atol=1e-15)
    # the edge (atom 1 -> image of atom 0 in cell +a1) is 1 Å long along x
    edge = int(np.flatnonzero((h.graph.edge_index[0] == 1) & (h.graph.shifts[:, 0] == 1))[0])
    np.testing.assert_allclose(h.graph.vectors[edge], [1.0, 0.0, 0.0])


def test_reader_on_hand_written_p_and_d_blocks(tmp_path):
    """An H–Ti pair written with DeepH's (px, py, pz) and (z², x²−y², xy, xz, yz): same functions after reading."""
    rng = np.random.default_rng(5)
    np.savetxt(tmp_path / "lat.dat", np.diag([12.0, 12.0, 12.0]).T)
    np.savetxt(tmp_path / "site_positions.dat", np.array([[6.0, 6.0, 6.0], [6.0, 6.0, 7.8]]).T)
    np.savetxt(tmp_path / "element.dat", [1, 22], fmt="%d")
    (tmp_path / "orbital_types.dat").write_text("0\n0  1  2\n")
    (tmp_path / "info.json").write_text(json.dumps({"nsites": 2, "isorthogonal": False, "isspinful": False}))
    coupling = rng.normal(size=(1, 9))  # H s × Ti (s, px, py, pz, z², x²−y², xy, xz, yz)
    onsite_ti = rng.normal(size=(9, 9))
    onsite_ti = onsite_ti + onsite_ti.T
    blocks_h = {"[0, 0, 0, 1, 1]": [[-5.0]], "[0, 0, 0, 2, 2]": onsite_ti, "[0, 0, 0, 1, 2]": coupling,
                "[0, 0, 0, 2, 1]": coupling.T}
    blocks_s = {"[0, 0, 0, 1, 1]": [[1.0]], "[0, 0, 0, 2, 2]": np.eye(9), "[0, 0, 0, 1, 2]": 0.05 * coupling,
                "[0, 0, 0, 2, 1]": 0.05 * coupling.T}
    for name, table in (("hamiltonians.h5", blocks_h), ("overlaps.h5", blocks_s)):
        with h5py.File(tmp_path / name, "w") as f:
            for key, value in table.items():
                f[key] = np.asarray(value, dtype=float)
    atoms, h, s, fermi = read_deeph(tmp_path)
    assert fermi is None and h.basis.shells_of("Ti") == (0, 1, 2)
    block = h.edge_block(int(np.flatnonzero(h.graph.edge_index[0] == 0)[0]))[0]
    assert block[0] == pytest.approx(coupling[0, 0], abs=1e-15)
    np.testing.assert_allclose(block[1:4], coupling[0, 1:4], atol=1e-15)  # internal (x, y, z) = DeepH (px, py, pz)
    r = unit_vectors(seed=11)  # the d part: Σ_k c_k Y_k(r) is the same function in both orders
    np.testing.assert_allclose(e3nn_harmonics(2, r) @ block[4:], openmx_real_harmonics(2, r) @ coupling[0, 4:],
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(h.onsite_block(1)), np.linalg.eigvalsh(onsite_ti), atol=1e-12)


def test_orthogonal_folder_without_overlaps_gets_unit_s(tmp_path):
    hand_written_chain(tmp_path)
    (tmp_path / "overlaps.h5").unlink()
    info = json.loads((tmp_path / "info.json").read_text())
    (tmp_path / "info.json").write_text(json.dumps({**info, "isorthogonal": True}))
    _, h, s, _ = read_deeph(tmp_path)
    np.testing.assert_allclose(s.to_sparse(kpoint=(0.3, 0, 0)).toarray(), np.eye(2))


def test_one_basis_for_several_folders(tmp_path):
    record = read_tin()
    write_deeph(tmp_path / "tin", record.atoms, record.hamiltonian, record.overlap)
    (tmp_path / "chain").mkdir()
    hand_written_chain(tmp_path / "chain")
    basis = read_deeph_basis([tmp_path / "tin", tmp_path / "chain"])
    assert basis.shells == {"H": (0,), "N": (0, 1), "Ti": (0, 0, 1, 2)}
    _, h, _, _ = read_deeph(tmp_path / "chain", basis=basis)
    assert h.basis == basis
    (tmp_path / "chain-p").mkdir()
    hand_written_chain(tmp_path / "chain-p")
    (tmp_path / "chain-p" / "orbital_types.dat").write_text("0  1\n0  1\n")
    with pytest.raises(FileFormatError, match="element H has shells l = \\[0\\] in .*chain but l = \\[0, 1\\]"):
        read_deeph_basis([tmp_path / "tin", tmp_path / "chain", tmp_path / "chain-p"])


# -- (e) bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lat.dat", "site_positions.dat", "element.dat", "orbital_types.dat", "info.json",
                                  "hamiltonians.h5", "overlaps.h5"])
def test_a_missing_file_is_named(tmp_path, name):
    hand_written_chain(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(FileFormatError, match=f"{name} is missing"):
        read_deeph(tmp_path)


def test_the_newer_deepx_dock_layout_is_recognised(tmp_path):
    (tmp_path / "POSCAR").write_text("x\n1.0\n")
    (tmp_path / "info.json").write_text(json.dumps({"atoms_quantity": 1, "spinful": False}))
    (tmp_path / "hamiltonian.h5").write_bytes(b"")
    with pytest.raises(FileFormatError, match="deepx-dock's newer layout.*downgrade"):
        read_deeph(tmp_path)


@pytest.mark.parametrize("key, message", [("[0, 0, 0, 1]", r"is not '\[Rx, Ry, Rz, i, j\]'"),
                                          ("(0, 0, 0, 1, 2)", r"is not '\[Rx, Ry, Rz, i, j\]'"),
                                          ("[0, 0, 0.5, 1, 2]", r"is not '\[Rx, Ry, Rz, i, j\]'"),
                                          ("[0, 0, 0, 0, 1]", "outside 1..2: DeepH counts atoms from 1"),
                                          ("[0, 0, 0, 1, 3]", "outside 1..2")])
def test_a_malformed_key_is_refused(tmp_path, key, message):
    hand_written_chain(tmp_path)
    with h5py.File(tmp_path / "hamiltonians.h5", "a") as f:
        f[key] = np.array([[0.0]])
    with pytest.raises(FileFormatError, match=message):
        read_deeph(tmp_path)


def test_a_block_of_the_wrong_shape_is_refused(tmp_path):
    hand_written_chain(tmp_path)
    with h5py.File(tmp_path / "overlaps.h5", "a") as f:
        del f["[0, 0, 0, 1, 2]"]
        f["[0, 0, 0, 1, 2]"] = np.zeros((1, 4))
    with pytest.raises(FileFormatError, match=r"block \[0, 0, 0, 1, 2\] has shape \(1, 4\).*atom 2 \(H\) 1"):
        read_deeph(tmp_path)


def test_spinful_data_is_refused(tmp_path):
    hand_written_chain(tmp_path)
    info = json.loads((tmp_path / "info.json").read_text())
    (tmp_path / "info.json").write_text(json.dumps({**info, "isspinful": True}))
    with pytest.raises(FileFormatError, match="spinful"):
        read_deeph(tmp_path)


def test_complex_blocks_are_refused(tmp_path):
    hand_written_chain(tmp_path)
    with h5py.File(tmp_path / "hamiltonians.h5", "a") as f:
        del f["[0, 0, 0, 1, 2]"]
        f["[0, 0, 0, 1, 2]"] = np.array([[-0.5 + 0.1j]])
    with pytest.raises(FileFormatError, match="complex"):
        read_deeph(tmp_path)


def test_orbital_types_that_disagree_are_refused(tmp_path):
    hand_written_chain(tmp_path)
    (tmp_path / "orbital_types.dat").write_text("0\n")
    with pytest.raises(FileFormatError, match="1 lines for the 2 atoms"):
        read_deeph(tmp_path)
    (tmp_path / "orbital_types.dat").write_text("0\n0  1\n")
    with pytest.raises(FileFormatError, match="one orbital set per element"):
        read_deeph(tmp_path)
    (tmp_path / "orbital_types.dat").write_text("0\n0\n")
    with pytest.raises(FileFormatError, match="atom 1 \\(H\\) has shells l = \\[0\\], basis 'szv-molopt-sr-gth'"):
        read_deeph(tmp_path, basis=OrbitalBasis("szv-molopt-sr-gth", {"H": (0, 1)}))


def test_a_lattice_with_rows_for_columns_shape_is_refused(tmp_path):
    hand_written_chain(tmp_path)
    np.savetxt(tmp_path / "site_positions.dat", np.zeros((2, 3)))  # atoms as rows: not DeepH's 3×N
    with pytest.raises(FileFormatError, match=r"shape \(2, 3\), but 2 atoms.*3×2"):
        read_deeph(tmp_path)


def test_non_hermitian_blocks_are_refused(tmp_path):
    hand_written_chain(tmp_path)
    with h5py.File(tmp_path / "hamiltonians.h5", "a") as f:
        f["[1, 0, 0, 2, 1]"][...] = [[-0.4]]
    with pytest.raises(MatrixError, match="hamiltonians.h5 is not Hermitian"):
        read_deeph(tmp_path)


def test_writer_refuses_what_deeph_cannot_hold(tmp_path):
    record = read_tin()
    g_basis = OrbitalBasis("with-g", {"H": (0, 4)})
    atoms = Atoms("H2", positions=[[5, 5, 5], [5, 5, 6]], cell=[10, 10, 10])
    graph = build_graph(atoms, 2.0)
    with pytest.raises(FileFormatError, match="l = 4; DeepH's orbital order is defined up to f"):
        blocks = identity_overlap(g_basis, atoms, graph)
        write_deeph(tmp_path / "g", atoms, blocks, blocks)
    with pytest.raises(HamtransError, match="different graphs"):
        other = read_tin(cutoff=2.5)
        write_deeph(tmp_path / "x", record.atoms, record.hamiltonian, other.overlap)
    flat = record.atoms.copy()
    flat.cell = [[4, 0, 0], [0, 4, 0], [0, 0, 0]]
    with pytest.raises(HamtransError, match="no three independent vectors"):
        write_deeph(tmp_path / "x", flat, record.hamiltonian, record.overlap)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "rh.h5").write_bytes(b"")
    with pytest.raises(HamtransError, match="rh.h5, derived by DeepH"):
        write_deeph(tmp_path / "old", record.atoms, record.hamiltonian, record.overlap)
    assert not (tmp_path / "x").exists() and not (tmp_path / "old" / "hamiltonians.h5").exists()


# -- CLI -------------------------------------------------------------------------------------
def tin_dataset(path, records=1):
    from hamtrans.data.formats import DatasetWriter, Record

    record = read_tin()
    with DatasetWriter(path, record.hamiltonian.basis, {"source": "test"}) as writer:
        for k in range(records):
            writer.append(Record(record.atoms, record.hamiltonian, record.overlap, fermi_level=12.3 + k,
                                 name=f"tin{k}"))
    return record


def test_export_command_writes_a_deeph_folder(tmp_path, capsys):
    from hamtrans.cli import main

    record = tin_dataset(tmp_path / "tin.h5")
    out = tmp_path / "deeph" / "tin"
    assert main(["export", str(tmp_path / "tin.h5"), str(out), "--format", "deeph"]) == 0
    assert "14 orbitals, 19 cell images, DeepH folder" in capsys.readouterr().out
    atoms, h, s, fermi = read_deeph(out)
    assert fermi == 12.3
    np.testing.assert_allclose(h.to_sparse(kpoint=(0.1, 0.2, 0)).toarray(),
                               record.hamiltonian.to_sparse(kpoint=(0.1, 0.2, 0)).toarray(), atol=1e-12)
    assert not list(out.glob("*.partial"))
    # --fermi-zero: H − E_F S, stored E_F = 0
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "zero"), "--format", "deeph", "--fermi-zero"]) == 0
    _, h0, _, fermi0 = read_deeph(tmp_path / "zero")
    assert fermi0 == 0.0
    shifted = record.hamiltonian.to_sparse(kpoint=(0.1, 0, 0)) - 12.3 * record.overlap.to_sparse(kpoint=(0.1, 0, 0))
    np.testing.assert_allclose(h0.to_sparse(kpoint=(0.1, 0, 0)).toarray(), shifted.toarray(), atol=1e-11)


def test_export_needs_a_format_for_a_folder(tmp_path, capsys):
    from hamtrans.cli import main

    tin_dataset(tmp_path / "tin.h5")
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "out")]) == 2
    assert "ending in .TSHS" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "out"), "--format", "tshs"]) == 2
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "out.TSHS"), "--format", "deeph"]) == 2
    assert "--format deeph writes a folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "out.TSHS"), "--all"]) == 2
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "tin.h5"), "--format", "deeph"]) == 2
    assert not (tmp_path / "out").exists()


def test_export_all_then_import_deeph_round_trip(tmp_path, capsys):
    from hamtrans.cli import main
    from hamtrans.data.formats import Dataset

    record = tin_dataset(tmp_path / "tin.h5", records=2)
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "deeph"), "--format", "deeph", "--all"]) == 0
    folders = sorted((tmp_path / "deeph").iterdir())
    assert [f.name for f in folders] == ["000000", "000001"]
    assert main(["import-deeph", *map(str, folders), "-o", str(tmp_path / "back.h5")]) == 0
    assert "wrote 2 structures" in capsys.readouterr().out
    with Dataset(tmp_path / "back.h5") as data:
        assert len(data) == 2 and data.basis.name == "deeph"
        for k, back in enumerate(data):
            assert back.fermi_level == 12.3 + k and back.name == f"{k:06d}" and back.source == "deeph"
            for ours, theirs in ((back.hamiltonian, record.hamiltonian), (back.overlap, record.overlap)):
                np.testing.assert_allclose(ours.to_sparse(kpoint=(0.2, -0.1, 0.3)).toarray(),
                                           theirs.to_sparse(kpoint=(0.2, -0.1, 0.3)).toarray(), atol=1e-12)
    # into the dataset's own basis: the files' shells are SZV's
    assert main(["import-deeph", str(folders[0]), "-o", str(tmp_path / "szv.h5"), "--basis", "szv-molopt-sr-gth"]) == 0
    with Dataset(tmp_path / "szv.h5") as data:
        assert data.basis == record.hamiltonian.basis
    assert main(["import-deeph", str(folders[0]), "-o", str(tmp_path / "dzvp.h5"),
                 "--basis", "dzvp-molopt-sr-gth"]) == 2
    assert "basis 'dzvp-molopt-sr-gth' has l" in capsys.readouterr().err


def test_import_deeph_names_a_bad_folder(tmp_path, capsys):
    from hamtrans.cli import main

    hand_written_chain(tmp_path)
    (tmp_path / "overlaps.h5").unlink()
    assert main(["import-deeph", str(tmp_path), "-o", str(tmp_path / "out.h5")]) == 2
    assert "overlaps.h5 is missing" in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()
