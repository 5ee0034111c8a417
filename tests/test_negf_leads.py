"""Lead surface Green's functions: analytic chain, both methods, singular couplings, Schur basis, checks."""

import warnings

import numpy as np
import pytest

from hamtrans.calculators import HamiltonianCalculator
from hamtrans.data.structures import build_vcm_device
from hamtrans.errors import LeadError
from hamtrans.negf import Device, Lead, LeadWarning, surface_green_function, transmission
from hamtrans.negf.backend import get_backend
from hamtrans.negf.electrodes import periodic_electrodes
from hamtrans.negf.leads import (
    _lead_modes,
    _outgoing_transfer,
    _schur_transfer,
    check_surface_green_function,
    lead_couplings,
    surface_green_functions,
)
from hamtrans.negf.tight_binding import chain

CHAIN = Lead(np.zeros((1, 1)), np.eye(1), -np.ones((1, 1)), np.zeros((1, 1)))


def analytic_chain_surface(z):
    """Retarded surface Green's function of the t = −1 chain: g = (z − √(z² − 4)) / 2, |g| ≤ 1."""
    root = np.sqrt(z * z - 4 + 0j)
    g = (z - root) / 2
    return np.where(np.abs(g) <= 1, g, (z + root) / 2)


@pytest.mark.parametrize("side", ["left", "right"])
def test_eigenmode_matches_analytic_chain(side):
    energies = np.array([-2.5, -1.999, -1.0, 0.0, 0.3, 1.9, 3.0]) + 0j
    g = surface_green_function(CHAIN, energies, side)[:, 0, 0]
    expected = analytic_chain_surface(energies + 1e-300j)
    inside = np.abs(energies.real) < 2
    expected[inside] = (energies[inside] - 1j * np.sqrt(4 - energies[inside].real ** 2)) / 2
    np.testing.assert_allclose(g, expected, atol=1e-12)
    assert np.all(g.imag[inside] < 0)  # retarded root


def test_sancho_rubio_agrees_with_eigenmode_at_same_complex_energy():
    lead = Lead(*(chain(6, -1.0, 0.1)[i].toarray()[:2, :2] for i in (0, 1)),
                np.array([[0, 0], [-1.0, 0]]), np.array([[0, 0], [0.1, 0]]))
    z = np.linspace(-3, 3, 13) + 1e-4j
    for side in ("left", "right"):
        exact = surface_green_function(lead, z, side)
        decimated = surface_green_function(lead, z, side, method="sancho-rubio")
        np.testing.assert_allclose(decimated, exact, atol=1e-9)


def test_sancho_rubio_trap_at_band_centre_is_reported_not_returned():
    # decimation loses precision at E = 0 of a chain for tiny η (GUIDE §4: T = 0 instead of 1)
    with pytest.raises(LeadError, match="E = 0"):
        surface_green_function(CHAIN, np.array([0.0 + 1e-9j]), "right", method="sancho-rubio")
    with pytest.raises(LeadError, match="η > 0"):
        surface_green_function(CHAIN, np.array([0.5 + 0j]), "right", method="sancho-rubio")


def test_rank_deficient_coupling_lead():
    # two-site cell, only the outer orbitals couple: H01 has rank 1 (infinite/zero λ in the pencil)
    lead = Lead(np.array([[0.0, -1.0], [-1.0, 0.0]]), np.eye(2), np.array([[0.0, 0.0], [-1.0, 0.0]]), np.zeros((2, 2)))
    z = np.array([-1.5, -0.2, 0.7, 1.99]) + 0j
    both = surface_green_functions(lead, z, ("left", "right"))
    for side in ("left", "right"):
        decimated = surface_green_function(lead, z + 1e-7j, side, method="sancho-rubio")
        np.testing.assert_allclose(both[side], decimated, atol=1e-5)
    # a uniform chain written with a two-site cell transmits perfectly
    h, s, positions = chain(12)
    device = Device.from_matrices(h, s, positions, lead_cell=2.0)
    assert device.block_sizes[0] == 2
    np.testing.assert_allclose(transmission(device, z.real), 1.0, atol=1e-12)


def test_band_edge_warns_and_stays_finite():
    h, s, positions = chain(8)
    device = Device.from_matrices(h, s, positions)
    with pytest.warns(LeadWarning, match="band edge"):
        t = transmission(device, [2.0])
    assert np.isfinite(t).all() and 0 <= t[0] <= 1 + 1e-9


def test_advanced_solution_fails_the_retarded_check():
    z = np.array([0.5 + 0j])
    g = surface_green_function(CHAIN, z, "right")
    backend = get_backend("numpy")
    check_surface_green_function(CHAIN, z, "right", g, backend)  # passes
    with pytest.raises(LeadError, match="not the retarded solution"):
        check_surface_green_function(CHAIN, z, "right", g.conj(), backend)


def test_bad_leads():
    with pytest.raises(LeadError, match="not Hermitian"):
        Lead(np.array([[0.0, 1.0], [0.0, 0.0]]), np.eye(2), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(LeadError, match="one shape"):
        Lead(np.zeros((2, 2)), np.eye(2), np.zeros((1, 1)), np.zeros((2, 2)))
    with pytest.raises(LeadError, match="unknown lead method"):
        surface_green_function(CHAIN, np.array([0.1 + 0j]), "right", method="magic")


def test_reduced_mode_solve_agrees_with_the_full_pencil():
    # principal layer of 3 sites, nearest-neighbour chain with 2 orbitals: only the outer site couples on,
    # so the reduced pencil is used; filling the zero couplings with 1e-300 forces the full 2n pencil
    rng = np.random.default_rng(4)
    onsite = rng.normal(size=(2, 2))
    onsite = onsite + onsite.T
    hop = rng.normal(size=(2, 2))
    h00 = np.kron(np.eye(3), onsite) + np.kron(np.eye(3, k=1), hop) + np.kron(np.eye(3, k=-1), hop.T)
    h01 = np.kron(np.eye(3, k=-2), hop)  # last site of the cell -> first site of the next
    s00 = np.eye(6) + 0.05 * (np.kron(np.eye(3, k=1), np.ones((2, 2))) + np.kron(np.eye(3, k=-1), np.ones((2, 2))))
    s01 = 0.05 * np.kron(np.eye(3, k=-2), np.ones((2, 2)))
    sparse_lead = Lead(h00, s00, h01, s01)
    dense_lead = Lead(h00, s00, np.where(h01 == 0, 1e-300, h01), np.where(s01 == 0, 1e-300, s01))
    z = np.linspace(-3, 3, 9) + 0j
    reduced = surface_green_functions(sparse_lead, z)
    full = surface_green_functions(dense_lead, z)
    for side in ("left", "right"):
        np.testing.assert_allclose(reduced[side], full[side], atol=1e-9)


def test_singular_coupling_between_the_coupled_orbitals():
    # R = C = 2 orbitals couple between cells, but through a rank-1 block: the reduced route must step aside
    h00 = np.array([[0.3, -0.8, 0.1], [-0.8, -0.2, -0.5], [0.1, -0.5, 0.6]])
    h01 = np.zeros((3, 3))
    h01[np.ix_([1, 2], [0, 1])] = np.outer([1.0, 0.5], [-0.9, -0.4])
    sparse_lead = Lead(h00, np.eye(3), h01, np.zeros((3, 3)))
    filled = Lead(h00, np.eye(3), np.where(h01 == 0, 1e-300, h01), np.where(h01 == 0, 1e-300, 0.0))
    z = np.linspace(-2.5, 2.5, 11) + 0j
    a, b = surface_green_functions(sparse_lead, z), surface_green_functions(filled, z)
    for side in ("left", "right"):
        np.testing.assert_allclose(a[side], b[side], atol=1e-9)
        decimated = surface_green_function(sparse_lead, z + 1e-7j, side, method="sancho-rubio")
        np.testing.assert_allclose(a[side], decimated, atol=1e-4)


@pytest.mark.parametrize("side", ["left", "right"])
def test_schur_basis_gives_the_eigenvector_transfer_matrix(side):
    # a two-orbital cell with S ≠ I: in a band (propagating + evanescent modes) and in gaps
    lead = Lead(np.array([[0.4, -0.7], [-0.7, -0.3]]), np.array([[1.0, 0.1], [0.1, 1.0]]),
                np.array([[-0.5, 0.2], [0.3, -0.6]]), np.array([[0.05, 0.0], [0.02, 0.04]]))
    for energy in (-3.0, -0.9, 0.1, 0.8, 3.5):
        (a0,), (fwd,), (bwd,) = lead_couplings(lead, np.array([energy + 0j]), "right")
        modes = _lead_modes(a0, fwd, bwd, (np.arange(2), np.arange(2)), full_pencil=True)
        np.testing.assert_allclose(_schur_transfer(a0, fwd, bwd, fwd, side), _outgoing_transfer(modes, fwd, side),
                                   atol=1e-10)


def test_eigenmode_lead_of_a_model_wire_next_to_its_band_edges():
    # the TiN cell of a 4.24 Å wire in the compact GFN1 basis (80 orbitals, 40 coupled between cells): its
    # mode vectors are nearly parallel within 1–70 meV of band edges, where only the Schur basis stays exact
    atoms = build_vcm_device(cross_section=(4.24, 4.24), vacuum=12.5, electrode_length=12.72, ti_length=0.0,
                             vacancies="filament")
    model = HamiltonianCalculator(model="vcm-gfn1", basis="gfn1-xtb-compact")
    model.get_property("hamiltonian", atoms)
    lead = periodic_electrodes(*model.blocks, atoms, 0, 4.24)[0].lead
    z = np.linspace(-11.5507, -11.2507, 16) + 0j
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeadWarning)  # no band-edge fallback: every energy solved on the real axis
        exact = surface_green_functions(lead, z)
    decimated = surface_green_functions(lead, z + 1e-7j, method="sancho-rubio", max_iterations=400)
    for side in ("left", "right"):
        error = np.abs(exact[side] - decimated[side]).max(axis=(1, 2)) / np.abs(decimated[side]).max(axis=(1, 2))
        assert error.max() < 3e-6  # Sancho–Rubio's own error at η = 1e-7 eV: 2e-7–1e-6
