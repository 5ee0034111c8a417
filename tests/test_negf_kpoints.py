"""Transverse k-points: Bloch sums, the k-averaged transmission and current, the films' Fermi level."""

import numpy as np
import pytest

from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.errors import HamtransError
from hamtrans.negf import Device, periodic_electrodes, transmission
from hamtrans.negf.kpoints import (
    kpoint_band_fermi_level,
    kpoint_current,
    kpoint_devices,
    kpoint_transmission,
    transverse_kpoints,
)
from tests.lattice_films import BASIS, SPACING, lattice_film, write_film_dataset


def test_bloch_sum_is_hermitian_and_gamma_is_the_fold():
    atoms, h, _ = lattice_film(6, 2, 1, cutoff=3.2, barrier=0.7)
    folded = h.to_sparse(axis=0)
    assert not np.iscomplexobj(folded.data)
    np.testing.assert_allclose(h.to_sparse(axis=0, kpoint=(0, 0, 0)).toarray(), folded.toarray(), atol=1e-14)
    at_k = h.to_sparse(axis=0, kpoint=(0, 0.3, 0.2)).toarray()
    np.testing.assert_allclose(at_k, at_k.conj().T, atol=1e-14)
    assert np.abs(at_k.imag).max() > 0.1  # the phases act
    # k and k + a reciprocal lattice vector give the same matrix; −k its complex conjugate
    np.testing.assert_allclose(h.to_sparse(axis=0, kpoint=(0, 1.3, -0.8)).toarray(), at_k, atol=1e-12)
    np.testing.assert_allclose(h.to_sparse(axis=0, kpoint=(0, -0.3, -0.2)).toarray(), at_k.conj(), atol=1e-14)


def test_mesh_weights_and_time_reversal():
    mesh = transverse_kpoints((1, 2, 4))
    assert len(mesh) == 6 and mesh.weights.sum() == pytest.approx(1.0)
    full = transverse_kpoints((1, 2, 4), time_reversal=False)
    assert len(full) == 8 and np.allclose(full.weights, 1 / 8)
    for k, w in zip(mesh.kpoints, mesh.weights):
        paired = np.isclose(np.abs(k - np.round(k)), 0.5) | np.isclose(k, 0.0)
        assert w == pytest.approx(1 / 8 if paired.all() else 2 / 8)
    shifted = transverse_kpoints((1, 2, 2), centering="monkhorst-pack", time_reversal=False)
    assert np.allclose(np.sort(np.abs(shifted.kpoints[:, 1])), 0.25)
    assert np.allclose(transverse_kpoints((3, 1, 1), axis="y").kpoints[:, 1], 0.0)


@pytest.mark.parametrize("mesh", [(1, 2, 1), (1, 2, 3)])
def test_kpoint_average_equals_the_gamma_point_of_the_supercell(mesh):
    """n_y·n_z · T_cell averaged over a Γ-centred mesh = T of the (1, n_y, n_z) supercell at Γ."""
    cutoff, lead_cell = 3.2, 3 * SPACING  # couplings reach 2 columns: principal layer of 3
    atoms, h, s = lattice_film(12, 2, 1, cutoff, barrier=0.9)
    kpoints = transverse_kpoints(mesh)
    energies = np.linspace(-3.0, 2.0, 9)
    result = kpoint_transmission(kpoint_devices(h, s, atoms, kpoints, lead_cell=lead_cell), kpoints, energies)
    big, bh, bs = lattice_film(12, 2 * mesh[1], mesh[2], cutoff, barrier=0.9)
    supercell = Device.from_atoms(bh.to_sparse(axis=0), bs.to_sparse(axis=0), big, BASIS,
                                  electrodes=periodic_electrodes(bh, bs, big, 0, lead_cell))
    expected = transmission(supercell, energies)
    assert expected.max() > 1.0  # several channels: a real test of the sum
    np.testing.assert_allclose(result.transmission * mesh[1] * mesh[2], expected, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(kpoints.weights @ result.resolved, result.transmission)


def test_clean_cubic_lattice_counts_the_open_channels_of_each_k():
    """Nearest-neighbour cubic lattice, S = 1: T(E, k⊥) = 1 where |E − ε⊥(k⊥)| < 2 (t = 1 eV)."""
    atoms, h, _ = lattice_film(6, 1, 1, cutoff=1.6)
    unit = BlockSparseMatrix(BASIS, atoms.numbers, h.graph, np.ones(len(atoms)), np.zeros(h.graph.n_edges))
    kpoints = transverse_kpoints((1, 4, 6))
    energies = np.array([-4.7, -3.1, -1.3, 0.4, 2.2, 3.9])
    result = kpoint_transmission(kpoint_devices(h, unit, atoms, kpoints, lead_cell=SPACING), kpoints, energies)
    transverse = -2 * (np.cos(2 * np.pi * kpoints.kpoints[:, 1]) + np.cos(2 * np.pi * kpoints.kpoints[:, 2]))
    expected = (np.abs(energies[None, :] - transverse[:, None]) < 2.0).astype(float)
    np.testing.assert_allclose(result.resolved, expected, atol=1e-8)
    assert 0.0 < result.transmission.min() < result.transmission.max() <= 1.0


def test_kpoint_fermi_level_of_a_half_filled_cubic_lattice_is_zero():
    """Particle–hole symmetry of the nearest-neighbour cubic band puts μ at 0 at half filling; Γ alone does not."""
    atoms, h, _ = lattice_film(6, 1, 1, cutoff=1.6)
    unit = BlockSparseMatrix(BASIS, atoms.numbers, h.graph, np.ones(len(atoms)), np.zeros(h.graph.n_edges))
    kpoints = transverse_kpoints((1, 4, 4))
    devices = kpoint_devices(h, unit, atoms, kpoints, lead_cell=SPACING)
    assert kpoint_band_fermi_level(devices, kpoints, n_electrons=1.0) == pytest.approx(0.0, abs=1e-6)
    gamma = transverse_kpoints((1, 1, 1))
    # at Γ the transverse band sits at −4 eV: half filling puts μ there
    assert kpoint_band_fermi_level(kpoint_devices(h, unit, atoms, gamma, lead_cell=SPACING), gamma,
                                   n_electrons=1.0) == pytest.approx(-4.0, abs=1e-3)


def test_kpoint_current_is_the_weighted_sum_of_the_k_currents():
    atoms, h, s = lattice_film(12, 2, 1, 3.2, barrier=0.9)
    kpoints = transverse_kpoints((1, 2, 2))
    devices = kpoint_devices(h, s, atoms, kpoints, lead_cell=3 * SPACING)
    result = kpoint_current(devices, kpoints, bias=0.2, temperature=300.0, fermi_level=-1.0, grid="uniform",
                            points=41)
    assert result.current == pytest.approx(sum(w * r.current for w, r in zip(kpoints.weights, result.resolved)))
    assert result.current > 0 and len(result.resolved) == len(kpoints)


def test_bad_kpoint_input_is_a_named_error():
    atoms, h, s = lattice_film(6, 1, 1, cutoff=1.6)
    with pytest.raises(HamtransError, match="transport axis"):
        transverse_kpoints((2, 2, 1))
    with pytest.raises(HamtransError, match="positive integers"):
        transverse_kpoints((1, 0, 2))
    with pytest.raises(HamtransError, match="centering"):
        transverse_kpoints((1, 2, 2), centering="shifted")
    with pytest.raises(HamtransError, match="along the transport axis"):
        h.to_sparse(axis=0, kpoint=(0.1, 0, 0))
    with pytest.raises(HamtransError, match="three finite"):
        h.to_sparse(axis=0, kpoint=(0, np.nan, 0))
    with pytest.raises(HamtransError, match="lead_cell"):
        kpoint_devices(h, s, atoms, transverse_kpoints((1, 2, 1)))
    slab = atoms.copy()
    slab.pbc = (True, False, True)
    with pytest.raises(HamtransError, match="not periodic"):
        kpoint_devices(h, s, slab, transverse_kpoints((1, 2, 1)), lead_cell=SPACING)
    kpoints = transverse_kpoints((1, 2, 1))
    with pytest.raises(HamtransError, match="devices for"):
        kpoint_transmission([], kpoints, [0.0])


def test_transport_command_with_kpoints_writes_the_average_and_each_k(tmp_path):
    from hamtrans.cli import main

    write_film_dataset(tmp_path / "film.h5")
    out = tmp_path / "out"
    assert main(["transport", str(tmp_path / "film.h5"), "--leads", "periodic", "--lead-cell", str(3 * SPACING),
                 "--kpoints", "1", "2", "3", "--points", "7", "--bias", "0.2", "--out", str(out)]) == 0
    table = np.loadtxt(out / "transmission.dat")
    kpoints = transverse_kpoints((1, 2, 3))
    assert table.shape == (7, 3 + len(kpoints))
    np.testing.assert_allclose(table[:, 3:] @ kpoints.weights, table[:, 2], rtol=1e-9)
    summary = __import__("json").loads((out / "current.json").read_text())
    assert summary["kpoint_mesh"] == [1, 2, 3] and summary["current_A"] > 0
    # Γ-folded (no --kpoints) is the one-point mesh
    assert main(["transport", str(tmp_path / "film.h5"), "--leads", "periodic", "--lead-cell", str(3 * SPACING),
                 "--points", "7", "--bias", "0.2", "--out", str(tmp_path / "gamma")]) == 0
    gamma = np.loadtxt(tmp_path / "gamma" / "transmission.dat")
    np.testing.assert_allclose(gamma[:, 2], table[:, 3], rtol=1e-9)  # the first k-point is Γ
