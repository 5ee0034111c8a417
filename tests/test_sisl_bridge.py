"""sisl bridge: the orbital-order table, round trips of real CP2K blocks with images, TSHS read by sisl, T(E)
against sisl's electrode self-energies."""

import numpy as np
import pytest
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats.sisl_bridge import from_sisl, to_sisl, write_tshs
from hamtrans.data.graphs import build_graph
from hamtrans.data.orbital_order import orbital_transform
from hamtrans.errors import FileFormatError
from tests.cp2k_outputs import read_tin
from tests.lattice_films import SPACING, lattice_film

sisl = pytest.importorskip("sisl")

STANDARD = {0: ["s"], 1: ["py", "pz", "px"], 2: ["dxy", "dyz", "dz2", "dxz", "dx2-y2"],
            3: ["fy(3x2-y2)", "fxyz", "fz2y", "fz3", "fz2x", "fz(x2-y2)", "fx(x2-3y2)"]}


def test_sisl_orbital_order_is_the_standard_real_harmonics():
    """The 'sisl' table is the identity on the standard order m = −l..l: sisl's own names say which is which."""
    for l, names in STANDARD.items():
        got = [sisl.AtomicOrbital(n=l + 1, l=l, m=m, zeta=1, R=3.0).name()[1:-2] for m in range(-l, l + 1)]
        assert got == names


@pytest.mark.parametrize("l", [1, 2, 3])
def test_the_sisl_table_maps_our_harmonics_onto_sisls_own(l):
    """sisl's real harmonics (SIESTA's, with (−1)^m) equal Tᵀ Y_internal up to one positive factor per l."""
    import torch
    from e3nn import o3
    from sisl._core.orbital import _rspherical_harm

    from hamtrans.data.orbital_order import source_to_internal

    directions = np.random.default_rng(1).normal(size=(20, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    ours = o3.spherical_harmonics(l, torch.tensor(directions), normalize=True).numpy()   # internal order
    mapped = ours @ source_to_internal("sisl", l)                                          # (Tᵀ Y) per direction
    theirs = np.array([[_rspherical_harm(l, m, np.arctan2(y, x), z) for m in range(-l, l + 1)]
                       for x, y, z in directions])
    ratio = theirs / np.where(np.abs(mapped) > 1e-8, mapped, np.nan)
    factor = np.nanmedian(ratio)
    assert factor > 0
    np.testing.assert_allclose(theirs, factor * mapped, atol=1e-10)


def test_a_sigma_bond_along_z_lands_on_sisl_pz():
    """Absolute check of the conversion: internal p = (x, y, z); a pσ bond along z couples sisl's pz only."""
    basis = OrbitalBasis("test-p", {"O": (1,)})
    atoms = Atoms("O2", positions=[[5, 5, 4], [5, 5, 6]], cell=[10, 10, 10], pbc=False)
    graph = build_graph(atoms, 2.5)
    bond = np.diag([0.2, 0.2, -1.0])  # π, π, σ in the internal (x, y, z) order
    h = BlockSparseMatrix(basis, atoms.numbers, graph, np.zeros(18), np.tile(bond.ravel(), graph.n_edges))
    dense = to_sisl(atoms, h).tocsr(0).toarray()[:, :6]
    names = [o.name() for o in sisl.Atom(8, [sisl.AtomicOrbital(n=2, l=1, m=m, zeta=1, R=3) for m in (-1, 0, 1)]).orbitals]
    pz = names.index("2pzZ1")
    assert dense[pz, 3 + pz] == pytest.approx(-1.0)
    assert dense[names.index("2pxZ1"), 3 + names.index("2pxZ1")] == pytest.approx(0.2)
    assert np.count_nonzero(dense[:3, 3:]) == 3


def test_cp2k_blocks_with_images_survive_the_round_trip_and_keep_their_bands():
    record = read_tin()
    hamiltonian = to_sisl(record.atoms, record.hamiltonian, record.overlap)
    assert hamiltonian.geometry.no == record.hamiltonian.n_orbitals and not hamiltonian.orthogonal
    transform = orbital_transform(record.hamiltonian.basis, record.atoms.numbers, "sisl").toarray()
    for k in ([0, 0, 0], [0.1, 0.25, -0.3], [0.5, 0.0, 0.5]):
        for theirs, ours in ((hamiltonian.Hk(k=k), record.hamiltonian), (hamiltonian.Sk(k=k), record.overlap)):
            np.testing.assert_allclose(theirs.toarray(), transform.T @ ours.to_sparse(kpoint=k).toarray() @ transform,
                                       atol=1e-12)
        # the bands (eigenvalues of H(k) in the orthonormalised basis) are the same
        np.testing.assert_allclose(np.linalg.eigvalsh(hamiltonian.Hk(k=k).toarray()),
                                   np.linalg.eigvalsh(record.hamiltonian.to_sparse(kpoint=k).toarray()), atol=1e-10)
    atoms, h, s = from_sisl(hamiltonian, basis_name=record.hamiltonian.basis.name)
    np.testing.assert_allclose(atoms.positions, record.atoms.positions)
    assert all(h.basis.shells_of(int(z)) == record.hamiltonian.basis.shells_of(int(z)) for z in set(atoms.numbers))
    back, original = h.image_matrices(), record.hamiltonian.image_matrices()
    for shift, matrix in original.items():
        if matrix.nnz:
            np.testing.assert_allclose(back[shift].toarray(), matrix.toarray(), atol=1e-12)
    np.testing.assert_allclose(s.to_sparse(kpoint=(0.2, 0.1, 0)).toarray(),
                               record.overlap.to_sparse(kpoint=(0.2, 0.1, 0)).toarray(), atol=1e-12)


def test_tshs_is_read_by_sisl_with_the_fermi_level_at_zero(tmp_path):
    record = read_tin()
    fermi = 12.3
    write_tshs(tmp_path / "tin.TSHS", record.atoms, record.hamiltonian, record.overlap, fermi_level=fermi)
    read = sisl.get_sile(str(tmp_path / "tin.TSHS")).read_hamiltonian()
    k = [0.2, -0.1, 0.35]
    shifted = record.hamiltonian.to_sparse(kpoint=k) - fermi * record.overlap.to_sparse(kpoint=k)
    np.testing.assert_allclose(np.linalg.eigvalsh(read.Hk(k=k).toarray()), np.linalg.eigvalsh(shifted.toarray()),
                               atol=1e-8)
    np.testing.assert_allclose(np.linalg.eigvalsh(read.Sk(k=k).toarray()),
                               np.linalg.eigvalsh(record.overlap.to_sparse(kpoint=k).toarray()), atol=1e-10)


def test_a_shell_out_of_order_is_refused():
    atom = sisl.Atom(8, [sisl.AtomicOrbital(n=2, l=1, m=m, zeta=1, R=3) for m in (1, -1, 0)])
    geometry = sisl.Geometry([[0, 0, 0]], atom, lattice=sisl.Lattice(10.0))
    with pytest.raises(FileFormatError, match="not one shell"):
        from_sisl(sisl.Hamiltonian(geometry))


def test_export_command_writes_a_tshs_that_sisl_reads(tmp_path):
    from hamtrans.cli import main
    from hamtrans.data.formats import DatasetWriter, Record

    record = read_tin()
    with DatasetWriter(tmp_path / "tin.h5", record.hamiltonian.basis, {"source": "test"}) as writer:
        writer.append(Record(record.atoms, record.hamiltonian, record.overlap, fermi_level=12.3, name="tin"))
    out = tmp_path / "tin.TSHS"
    assert main(["export", str(tmp_path / "tin.h5"), str(out), "--fermi-zero"]) == 0
    read = sisl.get_sile(str(out)).read_hamiltonian()
    shifted = record.hamiltonian.to_sparse(kpoint=(0.1, 0, 0)) - 12.3 * record.overlap.to_sparse(kpoint=(0.1, 0, 0))
    np.testing.assert_allclose(np.linalg.eigvalsh(read.Hk(k=[0.1, 0, 0]).toarray()),
                               np.linalg.eigvalsh(shifted.toarray()), atol=1e-8)
    assert not list(tmp_path.glob(".*partial*"))
    assert main(["export", str(tmp_path / "tin.h5"), str(tmp_path / "tin.dat")]) == 2


def test_transmission_equals_sisl_self_energies_and_a_dense_inverse_at_each_k():
    """T(E, k⊥) of a non-orthogonal film with a scatterer: ours (periodic leads, RGF) against sisl's
    ``RecursiveSI`` electrodes and the dense Caroli formula on the device exported with ``to_sisl``."""
    from hamtrans.negf.kpoints import kpoint_devices, kpoint_transmission, transverse_kpoints

    atoms, h, s = lattice_film(12, 2, 1, 3.2, barrier=0.9)  # couplings reach two columns (3 Å)
    kpoints = transverse_kpoints((1, 2, 1))
    energies = np.array([-2.7, -1.1, 0.35, 1.6])
    ours = kpoint_transmission(kpoint_devices(h, s, atoms, kpoints, lead_cell=3 * SPACING), kpoints, energies)
    electrode = to_sisl(*lattice_film(3, 2, 1, 3.2))  # one clean principal layer: the device's end cells
    left, right = sisl.RecursiveSI(electrode, "-A", eta=1e-10), sisl.RecursiveSI(electrode, "+A", eta=1e-10)
    device = to_sisl(atoms, h, s)
    device.set_nsc(a=1)  # open along the transport axis
    m = electrode.no
    for k, resolved in zip(kpoints.kpoints, ours.resolved):
        h_k, s_k = device.Hk(k=k).toarray(), device.Sk(k=k).toarray()
        for energy, t_ours in zip(energies, resolved):
            sigma_l, sigma_r = left.self_energy(energy, k=k), right.self_energy(energy, k=k)
            inverse = (energy + 1e-10j) * s_k - h_k
            inverse[:m, :m] -= sigma_l
            inverse[-m:, -m:] -= sigma_r
            corner = np.linalg.inv(inverse)[:m, -m:]
            gamma_l, gamma_r = 1j * (sigma_l - sigma_l.conj().T), 1j * (sigma_r - sigma_r.conj().T)
            t_sisl = np.trace(gamma_l @ corner @ gamma_r @ corner.conj().T).real
            assert t_ours == pytest.approx(t_sisl, abs=1e-7)
    assert ours.resolved.max() > 1.5 and ours.resolved.min() < 0.5  # several channels, and scattering
