"""The orbital-order tables, checked against explicit real spherical harmonics."""

import numpy as np
import pytest
import torch
from e3nn import o3
from scipy.spatial.transform import Rotation

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.orbital_order import (
    convert_matrix,
    orbital_transform,
    rotation_matrix_for_orbitals,
    source_to_internal,
    wigner_d,
)


def standard_real_harmonics(l: int, r: np.ndarray) -> np.ndarray:
    """Textbook real harmonics about z, m = -l..l, no Condon-Shortley phase (unit vectors r)."""
    x, y, z = r.T
    if l == 0:
        return np.ones((len(r), 1))
    if l == 1:
        return np.sqrt(3.0) * np.stack([y, z, x], 1)
    if l == 2:
        c = np.sqrt(15.0)
        return np.stack([c * x * y, c * y * z, np.sqrt(5.0) / 2 * (3 * z**2 - 1), c * x * z, c / 2 * (x**2 - y**2)], 1)
    if l == 3:
        return np.stack(
            [
                np.sqrt(35 / 8) * y * (3 * x**2 - y**2),
                np.sqrt(105) * x * y * z,
                np.sqrt(21 / 8) * y * (5 * z**2 - 1),
                np.sqrt(7) / 2 * z * (5 * z**2 - 3),
                np.sqrt(21 / 8) * x * (5 * z**2 - 1),
                np.sqrt(105) / 2 * z * (x**2 - y**2),
                np.sqrt(35 / 8) * x * (x**2 - 3 * y**2),
            ],
            1,
        )
    raise ValueError(l)


def unit_vectors(n=50, seed=1):
    r = np.random.default_rng(seed).normal(size=(n, 3))
    return r / np.linalg.norm(r, axis=1, keepdims=True)


@pytest.mark.parametrize("l", [0, 1, 2, 3])
def test_standard_to_internal_maps_textbook_harmonics_onto_e3nn(l):
    r = unit_vectors()
    y_e3nn = o3.spherical_harmonics(l, torch.as_tensor(r), normalize=True, normalization="component").numpy()
    mapped = standard_real_harmonics(l, r) @ source_to_internal("cp2k", l).T
    np.testing.assert_allclose(mapped, y_e3nn, atol=1e-12)


def test_pyscf_p_order():
    r = unit_vectors()
    pyscf_p = np.sqrt(3) * r  # PySCF writes p as (px, py, pz)
    y_e3nn = o3.spherical_harmonics(1, torch.as_tensor(r), normalize=True, normalization="component").numpy()
    np.testing.assert_allclose(pyscf_p @ source_to_internal("pyscf", 1).T, y_e3nn, atol=1e-12)


def test_internal_l1_is_xyz():
    np.testing.assert_allclose(source_to_internal("tblite", 1), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("l", [1, 2, 3, 4])
def test_wigner_d_is_exact_representation(l, rotation):
    d = wigner_d(l, rotation)
    np.testing.assert_allclose(d @ d.T, np.eye(2 * l + 1), atol=1e-13)
    r = unit_vectors(seed=7)
    y = o3.spherical_harmonics(l, torch.as_tensor(r), normalize=True).numpy()
    y_rot = o3.spherical_harmonics(l, torch.as_tensor(r @ rotation.T), normalize=True).numpy()
    np.testing.assert_allclose(y_rot, y @ d.T, atol=1e-13)
    other = wigner_d(l, rotation.T)
    np.testing.assert_allclose(wigner_d(l, rotation @ rotation.T), d @ other, atol=1e-12)


@pytest.mark.parametrize("l", [0, 1, 2, 3, 4])
def test_wigner_d_of_improper_transformations_carries_the_parity(l):
    """Inversion, a mirror and a rotoinversion: ``Y^l(R x) = D Y^l(x)`` with ``D = (−1)^l D(−R)``."""
    rotation = Rotation.from_euler("zyx", [0.3, 1.2, -0.8]).as_matrix()
    r = unit_vectors(seed=3)
    y = o3.spherical_harmonics(l, torch.as_tensor(r), normalize=True).numpy()
    for improper in (-np.eye(3), np.diag([1.0, -1.0, 1.0]), -rotation):
        d = wigner_d(l, improper)
        y_moved = o3.spherical_harmonics(l, torch.as_tensor(r @ improper.T), normalize=True).numpy()
        np.testing.assert_allclose(y_moved, y @ d.T, atol=1e-13)
    np.testing.assert_allclose(wigner_d(l, -np.eye(3)), (-1) ** l * np.eye(2 * l + 1), atol=1e-13)


def test_wigner_d_rejects_a_matrix_that_is_not_orthogonal():
    with pytest.raises(ValueError, match="orthogonal"):
        wigner_d(1, np.diag([1.0, 1.0, 2.0]))


def test_transform_round_trip_and_orthogonality():
    basis = OrbitalBasis.named("dzvp-molopt-sr-gth")
    numbers = [72, 8, 22, 7, 1]
    t = orbital_transform(basis, numbers, "cp2k").toarray()
    np.testing.assert_allclose(t @ t.T, np.eye(len(t)), atol=1e-13)
    m = np.random.default_rng(0).normal(size=t.shape)
    np.testing.assert_allclose(convert_matrix(m, basis, numbers, "cp2k"), t @ m @ t.T, atol=1e-12)
    d = rotation_matrix_for_orbitals(basis, numbers, np.eye(3)).toarray()
    np.testing.assert_allclose(d, np.eye(len(t)), atol=1e-13)
