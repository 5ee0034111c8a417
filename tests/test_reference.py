"""GFN1-xTB reference (tblite): orbital order proved by rotation covariance, and E/F/stress."""

import numpy as np
import pytest
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.electrons import fermi_level
from hamtrans.data.orbital_order import rotation_matrix_for_orbitals
from hamtrans.data.reference import TBLiteReference, check_unique_images
from hamtrans.data.structures import bulk_hfo2
from hamtrans.errors import AmbiguousImageError, HamtransError, StructureError, UnknownElementError
from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS


@pytest.fixture(scope="module")
def reference():
    return TBLiteReference(cutoff=6.0)


@pytest.fixture(scope="module")
def rotated_pair(reference):
    from scipy.spatial.transform import Rotation

    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    rotation = Rotation.from_euler("zyx", [0.7, -0.4, 1.1]).as_matrix()
    turned = atoms.copy()
    turned.positions = (atoms.positions - atoms.positions.mean(0)) @ rotation.T + [0.3, -1.0, 2.0]
    return reference.compute(atoms), reference.compute(turned), rotation


def test_basis_table_matches_tblite():
    from hamtrans.data.reference._blas import bind_fast_blas

    bind_fast_blas()
    from tblite.interface import Calculator

    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    calc = Calculator("GFN1-xTB", atoms.numbers, atoms.positions / 0.529177210903)
    ls, shell_atom = calc.get("angular-momenta"), calc.get("shell-map")
    basis = OrbitalBasis.named("gfn1-xtb")
    for atom, z in enumerate(atoms.numbers):
        assert tuple(ls[shell_atom == atom]) == basis.shells_of(int(z))


@pytest.mark.parametrize("name, tolerance", [("hamiltonian", 1e-6), ("overlap", 1e-10)])
def test_rotation_covariance(rotated_pair, name, tolerance):
    """H(R·x) = D(R) H(x) D(R)ᵀ block by block, after the tblite → internal conversion."""
    first, second, rotation = rotated_pair
    a, b = getattr(first, name), getattr(second, name)
    d = rotation_matrix_for_orbitals(a.basis, a.numbers, rotation).toarray()
    expected = d @ a.to_sparse().toarray() @ d.T
    assert np.abs(expected - b.to_sparse().toarray()).max() < tolerance
    assert np.abs(b.to_sparse().toarray() - a.to_sparse().toarray()).max() > 0.1  # the rotation did change H/S


def test_wrong_order_breaks_covariance(rotated_pair):
    """Negative control: reading tblite's p shells in PySCF's order must fail the same check."""
    from hamtrans.data.orbital_order import orbital_transform

    first, second, rotation = rotated_pair
    h0, h1 = first.hamiltonian, second.hamiltonian
    t_ok = orbital_transform(h0.basis, h0.numbers, "tblite").toarray()
    t_bad = orbital_transform(h0.basis, h0.numbers, "pyscf").toarray()
    mislabel = t_bad @ t_ok.T  # internal -> tblite raw -> misread as pyscf
    d = rotation_matrix_for_orbitals(h0.basis, h0.numbers, rotation).toarray()
    a = mislabel @ h0.to_sparse().toarray() @ mislabel.T
    b = mislabel @ h1.to_sparse().toarray() @ mislabel.T
    assert np.abs(d @ a @ d.T - b).max() > 1e-2


def test_hermitian_and_normalised(rotated_pair):
    first = rotated_pair[0]
    assert first.hamiltonian.hermiticity_error() < 1e-10
    diag = first.overlap.to_sparse().diagonal()
    np.testing.assert_allclose(diag, 1.0, atol=1e-6)  # tblite normalises its STO-nG Ti 4p to 1 - 2e-7


def test_forces_are_minus_energy_gradient(reference, cluster):
    result = reference.compute(cluster, blocks=False)
    h = 2e-3
    for atom, axis in [(0, 0), (2, 1), (5, 2)]:
        plus, minus = cluster.copy(), cluster.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        numeric = -(reference.compute(plus, blocks=False).energy - reference.compute(minus, blocks=False).energy) / (2 * h)
        assert result.forces[atom, axis] == pytest.approx(numeric, abs=2e-3)


def test_stress_is_strain_derivative(reference):
    atoms = bulk_hfo2(rattle=0.05, seed=2)
    result = reference.compute(atoms, blocks=False)
    h = 1e-3
    volume = atoms.get_volume()
    for voigt, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h / (1 if a == b else 2)
            strain[b, a] += 0 if a == b else sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            energies.append(reference.compute(strained, blocks=False).energy)
        numeric = (energies[0] - energies[1]) / (2 * h) / volume
        assert result.stress[voigt] == pytest.approx(numeric, abs=5e-5), voigt


def test_fermi_level_in_gap_of_insulator(reference):
    result = reference.compute(bulk_hfo2(), blocks=False)
    assert np.isfinite(result.fermi_level)
    eps = np.array([-3.0, -2.0, 1.0, 2.0])
    assert fermi_level(eps, 4.0, 1e-3) == pytest.approx(-0.5)
    # k-weighted levels: half of a band's weight below a gap ... the same midpoint rule
    assert fermi_level(eps, 2.0, 1e-3, weights=np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(-0.5)


def test_mulliken_charges_are_neutral_and_ionic(reference):
    result = reference.compute(bulk_hfo2(), blocks=False)
    numbers = result.atoms.numbers
    assert abs(result.charges.sum()) < 1e-8
    assert result.charges[numbers == 72].min() > 0.5 and result.charges[numbers == 8].max() < -0.2


def test_small_periodic_cell_refused(reference):
    atoms = bulk_hfo2()
    with pytest.raises(AmbiguousImageError, match=r"cell too small.*at least cutoff \+ image_range = 18\.0 Å"):
        reference.compute(atoms)


def test_unique_image_rule_exact():
    atoms = bulk_hfo2().repeat((4, 4, 4))  # 20.3 Å widths
    check_unique_images(atoms, 5.0, 10.0)  # 5 + 10 <= 20.3: passes
    with pytest.raises(AmbiguousImageError, match="mixes images"):
        check_unique_images(atoms, 5.0, 18.5)  # Hf-Hf at 3.6 Å has its next image at 18.0 Å
    with pytest.raises(AmbiguousImageError, match="at least the cutoff"):
        check_unique_images(atoms, 5.0, 4.0)
    check_unique_images(Atoms("O2", positions=[[0, 0, 0], [1.2, 0, 0]]), 5.0, 50.0)  # open: always fine


def test_bad_input(reference):
    with pytest.raises(UnknownElementError, match="Au"):
        reference.compute(Atoms("AuO", positions=[[0, 0, 0], [2, 0, 0]]))
    slab = bulk_hfo2().repeat((4, 4, 4))
    slab.pbc = [True, True, False]
    with pytest.raises(StructureError, match="fully periodic or fully open"):
        reference.compute(slab, blocks=False)
    with pytest.raises(StructureError, match="overlap"):
        reference.compute(Atoms("O2", positions=[[0, 0, 0], [0.2, 0, 0]]))


def test_scf_failure_lists_every_attempt(cluster):
    reference = TBLiteReference(cutoff=4.0, max_iterations=2)
    with pytest.raises(HamtransError, match=r"did not converge .* after 3 attempts .*damping=0\.2, memory=30") as info:
        reference.compute(cluster, blocks=False)
    assert "electronic_temperature" in str(info.value)


def test_compact_basis_is_the_restricted_whole_basis(reference):
    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    full = reference.compute(atoms)
    compact = TBLiteReference(cutoff=6.0, basis="gfn1-xtb-compact").compute(atoms)
    assert compact.hamiltonian.basis.name == "gfn1-xtb-compact"
    # atol: two SCF runs; zero elements carry 1e-14 noise (threaded BLAS), which rtol alone fails on
    np.testing.assert_allclose(compact.hamiltonian.onsite, full.hamiltonian.restricted(compact.hamiltonian.basis).onsite,
                               atol=1e-12)
    np.testing.assert_allclose(compact.overlap.edges, full.overlap.restricted(compact.overlap.basis).edges, atol=1e-12)
    # Fermi level of the restricted molecule: between its own HOMO and LUMO, electron count unchanged
    import scipy.linalg

    h, s = compact.hamiltonian.to_sparse().toarray(), compact.overlap.to_sparse().toarray()
    levels = scipy.linalg.eigh(h, s, eigvals_only=True)
    n_occupied = int(round(sum(atoms.numbers) - sum({1: 0, 7: 2, 8: 2, 22: 18, 72: 68}[z] for z in atoms.numbers))) // 2
    assert levels[n_occupied - 1] < compact.fermi_level < levels[n_occupied]
    assert np.linalg.eigvalsh(s).min() > np.linalg.eigvalsh(full.overlap.to_sparse().toarray()).min()
