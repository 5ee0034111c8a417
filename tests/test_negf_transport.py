"""Transmission, Green's-function observables, bias and current: analytic cases and references."""

import numpy as np
import pytest

from hamtrans.errors import HamtransError
from hamtrans.negf import (
    CONDUCTANCE_QUANTUM,
    Device,
    Lead,
    adaptive_simpson,
    current,
    green_function,
    landauer_current,
    linear_drop_potential,
    transmission,
    window_nodes,
)
from hamtrans.negf.landauer import thermal_energy
from hamtrans.negf.tight_binding import chain, open_channels, square_strip
from tests.negf_systems import dense_reference, random_chain_device


def test_chain_transmits_one_inside_the_band_and_zero_outside():
    device = Device.from_matrices(*chain(12))
    energies = np.array([-2.5, -1.99, -1.0, 0.0, 0.37, 1.99, 2.01, 4.0])
    expected = (np.abs(energies) < 2).astype(float)
    np.testing.assert_allclose(transmission(device, energies), expected, atol=1e-12)


def test_non_orthogonal_chain_band_edges_need_s01():
    s01, t = 0.1, -1.0
    lower, upper = 2 * t / (1 + 2 * s01), -2 * t / (1 - 2 * s01)  # −1.667, 2.5
    device = Device.from_matrices(*chain(12, t, s01))
    energies = np.array([lower - 0.05, lower + 0.05, 0.0, 2.1, upper - 0.05, upper + 0.05])
    np.testing.assert_allclose(transmission(device, energies), [0, 1, 1, 1, 1, 0], atol=1e-12)
    # negative control: a lead that forgets S01 has band [−2, 2] and gets T(2.1) and T(−1.7) wrong
    wrong = Lead(device.left.h00, device.left.s00, device.left.h01, np.zeros((1, 1)))
    broken = Device(device.hamiltonian, device.overlap, device.block_sizes, wrong, wrong, device.order,
                    device.orbital_positions, device.orbital_atoms)
    t_broken = transmission(broken, np.array([lower - 0.05, 2.1]))
    assert np.abs(t_broken - [0, 1]).max() > 0.1


@pytest.mark.parametrize("energy", [0.5, 1.7, 2.9, 3.5])
def test_clean_ribbon_has_integer_transmission(energy):
    device = Device.from_matrices(*square_strip(7, 6))
    t = transmission(device, [energy])[0]
    assert t == pytest.approx(open_channels(7, energy), abs=1e-10)


@pytest.mark.parametrize("complex_hopping", [False, True])
def test_rgf_matches_dense_inversion_on_a_disordered_non_orthogonal_device(complex_hopping):
    device = Device.from_matrices(*random_chain_device(complex_hopping=complex_hopping, seed=3))
    energies = np.linspace(-2.0, 3.0, 9)
    reference = dense_reference(device, energies)
    assert reference["transmission"].max() > 0.1  # something transmits
    np.testing.assert_allclose(transmission(device, energies), reference["transmission"], atol=1e-10)
    result = green_function(device, energies)
    np.testing.assert_allclose(result.transmission, reference["transmission"], atol=1e-10)
    np.testing.assert_allclose(result.dos, device.to_input_order(reference["dos"]), atol=1e-10)


@pytest.mark.parametrize("complex_hopping", [False, True])
def test_eta_sweep_matches_dense_caroli(complex_hopping):
    # with η > 0 and complex H, Tr[Γ_L G Γ_R Gᴴ] differs from Tr[Γ_R G Γ_L Gᴴ]: both APIs must give the first
    device = Device.from_matrices(*random_chain_device(seed=4, complex_hopping=complex_hopping))
    energies = np.linspace(-1.0, 2.0, 5)
    reference = dense_reference(device, energies, eta=1e-2)
    np.testing.assert_allclose(transmission(device, energies, eta=1e-2), reference["transmission"], atol=1e-10)
    np.testing.assert_allclose(green_function(device, energies, eta=1e-2).transmission, reference["transmission"],
                               atol=1e-10)


def test_left_right_symmetry_and_reversed_device():
    device = Device.from_matrices(*random_chain_device(complex_hopping=True, seed=5))
    energies = np.linspace(-1.5, 2.5, 7)
    forward = transmission(device, energies)
    np.testing.assert_allclose(transmission(device.reversed(), energies), forward, atol=1e-10)
    # T_RL from the right-injected spectral function equals T_LR
    result = green_function(device, energies)
    np.testing.assert_allclose(result.transmission, forward, atol=1e-10)


def test_sum_rule_and_spectral_decomposition():
    device = Device.from_matrices(*random_chain_device(seed=6))
    energies = np.linspace(-1.5, 2.5, 7)
    result = green_function(device, energies)
    np.testing.assert_allclose(result.trace_gamma_spectral - result.trace_gamma_g_gamma_g, result.transmission,
                               atol=1e-10)
    np.testing.assert_allclose(result.spectral_left + result.spectral_right, result.dos, atol=1e-10)
    assert result.per_atom("dos").shape == (7, 14)
    np.testing.assert_allclose(result.per_slab("dos").sum(1), result.dos.sum(1), atol=1e-10)


def test_sancho_rubio_transport_converges_to_eigenmode_with_eta():
    device = Device.from_matrices(*random_chain_device(seed=7))
    energies = np.linspace(-1.0, 2.0, 5)
    exact = transmission(device, energies, eta=1e-6)
    np.testing.assert_allclose(transmission(device, energies, eta=1e-6, lead_method="sancho-rubio"), exact, atol=1e-8)


def test_matches_ase_transport_calculator():
    from ase.transport.calculators import TransportCalculator

    h, s, positions = random_chain_device(n_sites=12, orbitals=2, seed=8)
    device = Device.from_matrices(h, s, positions)
    n_pl = device.block_sizes[0]
    h1 = h[: 2 * n_pl, : 2 * n_pl].toarray()
    s1 = s[: 2 * n_pl, : 2 * n_pl].toarray()
    energies = np.linspace(-1.5, 2.5, 9)
    eta = 1e-5
    calc = TransportCalculator(h=h.toarray(), s=s.toarray(), h1=h1, s1=s1, energies=energies, dos=False,
                               eta=eta, eta1=eta, eta2=eta, logfile=None, verbose=False)
    reference = calc.get_transmission()
    np.testing.assert_allclose(transmission(device, energies, eta=eta), reference, atol=1e-8)


def test_uniform_potential_shifts_the_spectrum_in_a_non_orthogonal_basis():
    h, s, positions = random_chain_device(seed=9)
    device = Device.from_matrices(h, s, positions)
    shift = 0.37
    shifted = device.with_potential(np.full(device.n_orbitals, shift))
    energies = np.linspace(-1.0, 2.0, 6)
    np.testing.assert_allclose(transmission(shifted, energies + shift), transmission(device, energies), atol=1e-10)


def test_landauer_integral_of_a_perfect_channel_is_the_bias():
    energies = np.linspace(-1.0, 1.0, 20001)
    for kt in (0.0, 0.025):
        value = landauer_current(energies, np.ones_like(energies), 0.1, -0.1, kt)
        assert value == pytest.approx(CONDUCTANCE_QUANTUM * 0.2, rel=1e-6 if kt else 1e-3)


def test_perfect_chain_conducts_one_quantum():
    # the linear drop inside the chain reflects a little (measured 1.8e-5 of the current)
    device = Device.from_matrices(*chain(12))
    for temperature in (0.0, 300.0):
        result = current(device, bias=0.2, temperature=temperature, tolerance=1e-6)
        assert result.current == pytest.approx(CONDUCTANCE_QUANTUM * 0.2, rel=1e-4)
        assert result.converged and result.mu_left - result.mu_right == pytest.approx(0.2)
    # the uniform grid stops 10 kT beyond each chemical potential: it leaves out 2 kT·ln(1 + e^-10) of window
    uniform = current(device, bias=0.2, temperature=300.0, grid="uniform", points=4001)
    left_out = 2 * thermal_energy(300.0) * np.log1p(np.exp(-10.0)) / 0.2
    assert uniform.current == pytest.approx(result.current * (1 - left_out), rel=1e-6)
    assert uniform.energies[-1] - uniform.energies[0] == pytest.approx(0.2 + 20 * thermal_energy(300.0))


def test_current_zero_at_zero_bias_and_odd_for_a_symmetric_device():
    h, s, positions = random_chain_device(n_sites=12, orbitals=1, seed=10, disorder=0.0)
    device = Device.from_matrices(h, s, positions)
    assert current(device, 0.0).current == 0.0
    # linear response: I(δ) → G0 · T(E_F) · δ
    small = current(device, 2e-3, fermi_level=0.5, temperature=0.0, tolerance=1e-8).current
    assert small == pytest.approx(CONDUCTANCE_QUANTUM * transmission(device, [0.5])[0] * 2e-3, rel=1e-3)
    forward = current(device, 0.3, fermi_level=0.5, tolerance=1e-6).current
    backward = current(device, -0.3, fermi_level=0.5, tolerance=1e-6).current
    assert forward > 0
    assert backward == pytest.approx(-forward, rel=1e-5)


def test_adaptive_grid_matches_a_dense_uniform_grid_with_fewer_points():
    device = Device.from_matrices(*random_chain_device(seed=11))
    adaptive = current(device, 0.5, fermi_level=2.0, tolerance=1e-5)  # T(2.0 eV) = 0.87: an open window
    uniform = current(device, 0.5, fermi_level=2.0, grid="uniform", points=4001)
    assert abs(uniform.current) > 1e-6
    assert adaptive.current == pytest.approx(uniform.current, rel=1e-4, abs=0)
    assert adaptive.energies.size < 1000


def test_window_nodes_are_dense_where_the_window_is_open():
    nodes = window_nodes(-1.0, 1.0, (-0.3, 0.2), resolution=0.01)
    assert nodes.size % 2 == 1 and np.all(np.diff(nodes) > 0) and nodes[0] == -1.0 and nodes[-1] == 1.0
    core = nodes[(nodes >= -0.3) & (nodes <= 0.2)]
    assert np.diff(core).max() <= 0.01 + 1e-12 and core[0] == -0.3 and core[-1] == 0.2
    assert np.sum(nodes < -0.3) == 4 and np.sum(nodes > 0.2) == 4  # two Simpson panels per tail
    np.testing.assert_allclose(nodes[1::2], (nodes[:-1:2] + nodes[2::2]) / 2)
    clipped = window_nodes(-1.0, 1.0, (-2.0, 0.2), resolution=0.01)  # a core beyond the interval is clipped
    assert clipped[0] == -1.0 and np.sum(clipped > 0.2) == 4 and np.diff(clipped[clipped <= 0.2]).max() <= 0.01 + 1e-12
    with pytest.raises(HamtransError, match="resolution 0.0 eV"):
        window_nodes(-1.0, 1.0, (-0.3, 0.2), resolution=0.0)
    with pytest.raises(HamtransError, match="tail_panels"):
        window_nodes(-1.0, 1.0, (-0.3, 0.2), resolution=0.01, tail_panels=0)
    with pytest.raises(HamtransError, match="odd number"):
        adaptive_simpson(np.sin, np.linspace(0.0, 1.0, 4))
    with pytest.raises(HamtransError, match="midpoint"):
        adaptive_simpson(np.sin, np.array([0.0, 0.3, 1.0]))
    with pytest.raises(HamtransError, match="max_points"):
        adaptive_simpson(np.sin, np.linspace(0.0, 1.0, 101), max_points=51)


def test_first_pass_at_large_energies_low_temperature_and_with_a_uniform_grid():
    device = Device.from_matrices(*chain(12))  # a perfect chain: T = 1 on −2 … 2 eV
    h, s, positions = chain(12)
    shifted = Device.from_matrices(h - 9.4 * s, s, positions)  # the same band around −9.4 eV
    # 0 K, 1 mV at E_F = −9.4 eV: the first pass's midpoints carry rounding of |E|, not of the 1 meV window
    small = current(shifted, 1e-3, temperature=0.0, fermi_level=-9.4, tolerance=1e-8)
    assert small.current == pytest.approx(CONDUCTANCE_QUANTUM * 1e-3, rel=1e-3)
    # at 4 K the default first pass is capped at 256 panels of the open window, not one per kT
    cold = current(device, 1.0, temperature=4.0, tolerance=1e-4)
    assert cold.energies.size < 1200 and cold.converged
    assert cold.current == pytest.approx(CONDUCTANCE_QUANTUM * 1.0, rel=1e-3)
    with pytest.raises(HamtransError, match="uniform grid takes points"):
        current(device, 0.2, grid="uniform", points=11, resolution=0.01)


def test_a_narrow_peak_between_coarse_first_pass_nodes_needs_a_finer_resolution():
    # a 1 meV Gaussian half-way between two 20 meV nodes: the coarse pass sees a flat integrand
    # and "converges" without it; a 1 meV first pass finds and resolves it. (A Lorentzian's
    # long tails usually lead the refinement to it: 4 % short with the coarse pass.)
    width, centre = 1e-3, 0.01
    peak = lambda e: np.exp(-0.5 * ((e - centre) / width) ** 2)
    exact = width * np.sqrt(2 * np.pi)
    coarse = adaptive_simpson(peak, window_nodes(-0.2, 0.2, (-0.2, 0.2), 0.02), relative_tolerance=1e-3,
                              absolute_tolerance=1e-9)
    fine = adaptive_simpson(peak, window_nodes(-0.2, 0.2, (-0.2, 0.2), 0.001), relative_tolerance=1e-3)
    assert coarse.converged and coarse.integral < 1e-6 * exact
    assert fine.integral == pytest.approx(exact, rel=1e-3)


def test_adaptive_simpson_on_a_narrow_lorentzian():
    width = 1e-3
    lorentzian = lambda e: width / ((e - 0.1) ** 2 + width**2)
    result = adaptive_simpson(lorentzian, np.linspace(-1.0, 1.0, 129), relative_tolerance=1e-6, max_points=20000)
    exact = np.arctan(0.9 / width) + np.arctan(1.1 / width)
    assert result.converged and result.integral == pytest.approx(exact, rel=1e-5)
    near = np.sum(np.abs(result.points - 0.1) < 10 * width)
    assert near > 0.3 * result.points.size  # points gather at the resonance


def test_linear_drop_and_bias_region():
    device = Device.from_matrices(*chain(20))
    potential = linear_drop_potential(device, 1.0, region=(5.0, 15.0))
    assert potential[0] == 0.5 and potential[-1] == -0.5 and potential[10] == pytest.approx(0.0)
    with pytest.raises(HamtransError, match="overlaps a lead"):
        linear_drop_potential(device, 1.0, region=(-3.0, 15.0))
    biased = device.with_potential(potential)
    assert biased.left.shift == 0.5 and biased.right.shift == -0.5


def test_explicit_potential_must_agree_with_the_bias():
    device = Device.from_matrices(*chain(12))
    potential = linear_drop_potential(device, 0.4)
    assert current(device, 0.4, potential=potential).current > 0
    with pytest.raises(HamtransError, match="disagrees with the given potential"):
        current(device, 0.5, potential=np.zeros(12))
    with pytest.raises(HamtransError, match="region"):
        current(device, 0.4, potential=potential, region=(3.0, 8.0))


def test_bad_grid_option():
    device = Device.from_matrices(*chain(8))
    with pytest.raises(HamtransError, match="unknown grid"):
        current(device, 0.1, grid="log")
    with pytest.raises(HamtransError, match="unknown sweep option"):
        transmission(device, [0.1], etaa=1e-3)
