"""Device construction: lead detection, repetition checks, block-tridiagonal partition, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from hamtrans.errors import HamtransError, LeadError, MatrixError, PartitionError
from hamtrans.negf import Device, transmission
from hamtrans.negf.partition import check_block_tridiagonal, coupling_pattern
from hamtrans.negf.tight_binding import chain, ssh_chain
from tests.negf_systems import random_chain_device


def test_principal_layer_follows_the_coupling_range():
    h, s, positions = random_chain_device(n_sites=14, orbitals=2)  # 2nd-neighbour couplings
    device = Device.from_matrices(h, s, positions)
    # lead period 1 site, but couplings reach 2 sites: principal layer = 2 sites = 4 orbitals
    assert device.block_sizes[0] == 4 and device.block_sizes[-1] == 4
    assert device.block_sizes.sum() == 28
    assert np.all(device.block_sizes == 4)  # interior slabs as thin as the coupling range allows


def test_invalid_partition_names_the_block_pair():
    h, s, _ = random_chain_device(n_sites=10, orbitals=2)
    with pytest.raises(PartitionError, match="block 0 couples to block 2"):
        check_block_tridiagonal(coupling_pattern(h, s), np.array([2, 2, 2, 2, 4, 4, 4]))


def test_two_species_lead_period_detected():
    # A(2 orbitals) B(1 orbital) alternating at 1 Å: the pure translation of 1 Å maps A onto B, so the period is 2 Å
    n_cells, sites = 6, []
    for cell in range(n_cells):
        sites += [(2.0 * cell, 2), (2.0 * cell + 1, 1)]
    positions = np.concatenate([[[x, 0, 0]] * k for x, k in sites])
    n = len(positions)
    rng = np.random.default_rng(1)
    h = np.zeros((n, n))
    x = positions[:, 0]
    near = np.abs(x[:, None] - x[None, :]) <= 1.0
    pattern_values = rng.normal(size=(3, 3))
    for i in range(n):
        for j in range(n):
            if near[i, j]:
                h[i, j] = pattern_values[i % 3, j % 3] + 0.1 * round(x[j] - x[i])
    h = (h + h.T) / 2
    device = Device.from_matrices(h, np.eye(n), positions)
    assert device.left.n_orbitals == 3 and device.right.n_orbitals == 3


def test_electrode_cells_must_repeat():
    h, s, positions = chain(10)
    h = h.tolil()
    h[1, 1] = 0.01  # second cell of the left electrode differs
    with pytest.raises(LeadError, match="do not repeat"):
        Device.from_matrices(h.tocsr(), s, positions)
    with pytest.raises(LeadError, match="lead_cell=1.5"):
        Device.from_matrices(*chain(10), lead_cell=1.5)


def test_device_too_short_for_the_coupling_range():
    h, s, positions = random_chain_device(n_sites=5, orbitals=1, lead_sites=2, disorder=0.0)
    with pytest.raises((LeadError, PartitionError)):
        Device.from_matrices(h, s, positions)


def test_bad_matrices():
    h, s, positions = chain(8)
    with pytest.raises(MatrixError, match="same shape"):
        Device.from_matrices(h, sp.identity(7), positions)
    with pytest.raises(MatrixError, match="shape"):
        Device.from_matrices(h, s, positions[:5])
    bad = h.tolil()
    bad[2, 3] = 5.0
    with pytest.raises(MatrixError, match="H is not Hermitian"):
        Device.from_matrices(bad.tocsr(), s, positions)
    s_bad = chain(8, overlap=0.7)[1]  # 1 + 2·0.7·cos k < 0: not positive definite
    with pytest.raises(MatrixError, match="not positive definite"):
        Device.from_matrices(chain(8, overlap=0.7)[0], s_bad, positions)
    nan = h.tolil()
    nan[3, 3] = np.nan
    with pytest.raises(MatrixError, match="NaN"):
        Device.from_matrices(nan.tocsr(), s, positions)


def test_empty_energy_grid():
    device = Device.from_matrices(*chain(8))
    with pytest.raises(HamtransError, match="empty energy grid"):
        transmission(device, [])


def test_potential_must_be_flat_on_the_leads():
    device = Device.from_matrices(*chain(8), lead_cell=2.0)
    with pytest.raises(MatrixError, match="flat"):
        device.with_potential(np.linspace(0, 1, 8))


def test_input_atom_order_does_not_matter():
    # the same chain with its atoms listed in a scrambled order (not sorted along the axis)
    h, s, positions = chain(12)
    permutation = np.random.default_rng(0).permutation(12)
    scrambled = Device.from_matrices(h[permutation][:, permutation], s[permutation][:, permutation],
                                     positions[permutation], lead_cell=2.0)
    np.testing.assert_allclose(transmission(scrambled, [-1.5, -0.3, 0.4, 1.2]), 1.0, atol=1e-12)
    from tests.negf_systems import random_chain_device as device_matrices

    h, s, positions = device_matrices(n_sites=14, orbitals=2, seed=12)
    atoms = np.repeat(np.arange(14), 2)
    order = np.random.default_rng(1).permutation(14)
    orbitals = np.concatenate([np.flatnonzero(atoms == a) for a in order])
    sorted_device = Device.from_matrices(h, s, positions)
    shuffled = Device.from_matrices(h[orbitals][:, orbitals], s[orbitals][:, orbitals], positions[orbitals])
    energies = np.linspace(-1.0, 2.0, 5)
    np.testing.assert_allclose(transmission(shuffled, energies), transmission(sorted_device, energies), atol=1e-10)


def test_lead_period_is_checked_on_the_hoppings_too():
    # SSH chain: every site looks alike, but hoppings alternate (-1, -0.6): the period is 2 sites
    device = Device.from_matrices(*ssh_chain(16))
    assert device.left.n_orbitals == 2
    # bands |E| in [0.4, 1.6]: gap around E = 0, full transmission at E = 1
    np.testing.assert_allclose(transmission(device, [0.1, 1.0]), [0.0, 1.0], atol=1e-9)


def test_bound_state_at_the_energy_is_a_clear_error():
    # SSH chain of 16 sites between its leads: an exact zero-energy state makes the η = 0 sweep singular
    device = Device.from_matrices(*ssh_chain(16))
    with pytest.raises(HamtransError, match="singular"):
        transmission(device, [0.0])
    assert transmission(device, [0.0], eta=1e-6)[0] < 1e-6


def test_uncoupled_lead_is_refused():
    with pytest.raises(LeadError, match="not coupled"):
        Device.from_matrices(*chain(10, hopping=-0.01), threshold=0.05)
