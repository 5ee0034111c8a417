"""KMC physics: Poisson against analytic electrostatics, heat equation, detailed balance with charges, filaments."""

import copy

import numpy as np
import pytest

from hamtrans.config import ConfigError
from hamtrans.data.structures import build_vcm_device
from hamtrans.errors import HamtransError
from hamtrans.kmc import Barriers, KineticMonteCarlo, KMCState, OxideLattice
from hamtrans.kmc.electrostatics import COULOMB, PoissonSolver, SiteElectrostatics
from hamtrans.kmc.engine import ELECTRODE, EVENTS
from hamtrans.kmc.filament import FilamentAnalysis
from hamtrans.kmc.grid import DeviceGrid
from hamtrans.kmc.heating import GlobalHeating, LocalHeating
from hamtrans.kmc.iv_config import parse_iv_config


@pytest.fixture(scope="module")
def lattice() -> OxideLattice:
    device = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=10.0, ti_length=0.0,
                              vacancies="none", seed=0)
    return OxideLattice.from_device(device)


@pytest.fixture(scope="module")
def plates() -> tuple[DeviceGrid, PoissonSolver]:
    """Grounded plates 6 Å apart, 12 Å lateral period, 0.4 Å grid."""
    grid = DeviceGrid.covering(0.0, 6.0, (12.0, 12.0), 0.4)
    return grid, PoissonSolver(grid, permittivity=4.0)


def image_series(r: np.ndarray, charge_at: np.ndarray, d: float, period: float, eps: float) -> float:
    """Point charge (1 e) between grounded plates x = 0, d: images along x, periodic images across (V)."""
    total = 0.0
    for n in range(-60, 61):
        for a in range(-3, 4):
            for b in range(-3, 4):
                lateral = charge_at[1:] + period * np.array([a, b])
                for sign, x in ((1, charge_at[0] + 2 * n * d), (-1, -charge_at[0] + 2 * n * d)):
                    total += sign / np.linalg.norm(r - np.array([x, *lateral]))
    return COULOMB / eps * total


def test_parallel_plate_capacitor_is_the_linear_drop(plates):
    grid, solver = plates
    phi = solver.potential(1.7)
    x = grid.node_x()
    np.testing.assert_allclose(phi, 1.7 * (1 - x / 6.0)[:, None, None] * np.ones(grid.shape), atol=1e-12)
    # and the KMC sites see the same linear drop as the field-free model, with or without Poisson
    device = build_vcm_device(cross_section=(4.24, 4.24), electrode_length=4.24, oxide_length=5.0, ti_length=0.0,
                              vacancies="none", seed=0)
    lat = OxideLattice.from_device(device)
    poisson, linear = SiteElectrostatics.poisson(lat, spacing=0.5), SiteElectrostatics.linear(lat)
    np.testing.assert_allclose(poisson.applied, linear.applied, atol=1e-12)
    charges = np.zeros(lat.n_sites + lat.n_interstitials)
    np.testing.assert_allclose(poisson.potential(0.8, charges), linear.potential(0.8, charges), atol=1e-12)


def test_point_charge_between_grounded_plates_matches_the_image_series(plates):
    grid, solver = plates
    charge_at = np.array([2.3, 6.1, 5.9])
    phi = solver.potential(0.0, charge_at[None], np.array([1.0])).ravel()
    points = charge_at + np.array([[2.0, 0, 0], [-1.6, 0.5, 0.3], [0.4, 3.0, 0.0], [1.0, -2.5, 2.5], [3.2, 4, -4]])
    numeric = grid.weights(points) @ phi
    exact = np.array([image_series(p, charge_at, 6.0, 12.0, 4.0) for p in points])
    # cloud-in-cell charge on a 0.4 Å grid: 2 % at 2 Å; 2 mV (0.2 % of the peak) next to a plate
    np.testing.assert_allclose(numeric, exact, rtol=0.02, atol=2e-3)
    assert np.abs(numeric / exact - 1).max() > 1e-4  # the comparison is not trivially exact


def test_superposition_and_a_symmetric_site_green_matrix(plates):
    grid, solver = plates
    a, b = np.array([[1.5, 3.0, 3.0]]), np.array([[4.1, 8.2, 7.7]])
    both = solver.potential(0.5, np.concatenate([a, b]), np.array([2.0, -2.0]))
    parts = solver.potential(0.5, a, np.array([2.0])) + solver.potential(0.0, b, np.array([-2.0]))
    np.testing.assert_allclose(both, parts, atol=1e-12)
    sites = np.array([[1.5, 3.0, 3.0], [4.1, 8.2, 7.7], [3.0, 0.2, 11.9]])
    applied, green = solver.site_response(sites)
    np.testing.assert_allclose(green, green.T, rtol=1e-10)
    np.testing.assert_allclose(applied, 1 - sites[:, 0] / 6.0, atol=1e-12)
    charges = np.array([2.0, -2.0, 2.0])
    direct = grid.weights(sites) @ solver.potential(0.3, sites, charges).ravel()
    np.testing.assert_allclose(0.3 * applied + green @ charges, direct, atol=1e-10)


def test_permittivity_and_spacing_errors():
    grid = DeviceGrid.covering(0.0, 5.0, (5.0, 5.0), 0.5)
    with pytest.raises(HamtransError, match="permittivity must be positive"):
        PoissonSolver(grid, permittivity=0.0)
    with pytest.raises(HamtransError, match="grid spacing must be a positive"):
        DeviceGrid.covering(0.0, 5.0, (5.0, 5.0), -1.0)


def test_heat_equation_rod_energy_balance_and_global_model():
    grid = DeviceGrid.covering(0.0, 12.0, (6.0, 6.0), 0.5)
    heating = LocalHeating(grid, ambient=300.0, oxide_conductivity=0.8, vacancy_conductivity=0.8)
    power = 2e-7  # W, uniform in the oxide (no vacancy): the 1D rod T = T0 + p x (L − x) / (2 κ)
    temperature = heating.temperature(np.zeros((0, 3)), power)
    x = grid.node_x()
    density = power / (grid.n_interior * grid.cell_volume)  # W/Å³
    kappa = 0.8e-10  # W/(Å K)
    exact = 300.0 + density * x * (12.0 - x) / (2 * kappa)
    np.testing.assert_allclose(temperature[:, 0, 0], exact, rtol=1e-10)
    assert temperature.max() > 400  # a measurable rise
    # a vacancy path: the heat flowing into the electrodes is the power released
    vacancies = np.array([[4.0, 3.0, 3.0], [6.5, 3.1, 2.8], [8.0, 2.9, 3.2]])
    heating = LocalHeating(grid, ambient=300.0)
    temperature = heating.temperature(vacancies, power)
    assert heating.heat_to_electrodes(temperature, heating.conductivity(vacancies)) == pytest.approx(power, rel=1e-9)
    hottest = np.unravel_index(np.argmax(temperature), temperature.shape)
    assert 3.0 < x[hottest[0]] < 9.0
    assert GlobalHeating(300.0, 1e8).site_temperatures(vacancies, vacancies, 1e-6) == pytest.approx([400.0] * 3)
    with pytest.raises(HamtransError, match="thermal resistance must be ≥ 0"):
        GlobalHeating(300.0, -1.0)


def test_rates_rise_with_dissipated_power(lattice):
    kmc = KineticMonteCarlo(lattice, Barriers())
    state = KMCState.initial(lattice, 0.1, seed=0)
    heating = GlobalHeating(300.0, 2e8)
    totals = []
    for power in (0.0, 1e-6, 3e-6):
        temperatures = heating.site_temperatures(lattice.all_positions, np.zeros((0, 3)), power)
        rates, kinds, _ = kmc.rates(state, 1.0, temperatures)
        totals.append(np.bincount(kinds, weights=rates, minlength=len(EVENTS)))
    totals = np.array(totals)
    moving = totals[0] > 0
    assert moving.any() and np.all(totals[1][moving] > 10 * totals[0][moving])
    assert np.all(totals[2][moving] > totals[1][moving])


def test_detailed_balance_with_charged_defects_is_exact(lattice):
    """Every hop and its reverse: r_ab / r_ba = exp(−ΔE / kT), ΔE from the electrostatic energy from scratch."""
    from ase.units import kB

    electrostatics = SiteElectrostatics.poisson(lattice, spacing=0.5)
    kmc = KineticMonteCarlo(lattice, Barriers(temperature=700.0), electrostatics, screening=False)
    state = KMCState.initial(lattice, 0.15, seed=2)
    state.ions[:3] = True
    voltage = 0.7
    rates, kinds, pairs = kmc.rates(state, voltage)
    checked = 0
    for k in np.flatnonzero(np.isin(kinds, [EVENTS.index("vacancy_hop"), EVENTS.index("ion_hop")])):
        source, target = pairs[:, k]
        after = copy.deepcopy(state)
        kmc._move(after, int(source), int(target))
        back_rates, back_kinds, back_pairs = kmc.rates(after, voltage)
        back = np.flatnonzero((back_pairs[0] == target) & (back_pairs[1] == source))
        assert len(back) == 1
        delta = electrostatics.energy(voltage, kmc.charges(after)) - electrostatics.energy(voltage, kmc.charges(state))
        assert rates[k] / back_rates[back[0]] == pytest.approx(np.exp(-delta / (kB * 700.0)), rel=1e-9)
        checked += 1
    assert checked > 20
    # the incremental update after an event equals a fresh solve
    potential = kmc.site_potential(state, voltage)
    rng = np.random.default_rng(0)
    for _ in range(50):
        kmc.step(state, voltage, rng, potential=potential)
    np.testing.assert_allclose(potential, kmc.site_potential(state, voltage), atol=1e-12)


def test_zero_field_exchange_with_the_electrode_balances(lattice):
    """At 0 V and uniform T the reservoir exchange obeys detailed balance with its multiplicity."""
    kmc = KineticMonteCarlo(lattice, Barriers(temperature=900.0))
    state = KMCState.initial(lattice, 0.0, seed=0)
    state.reservoir = 3
    site = int(np.flatnonzero(kmc.interface[lattice.n_sites:])[0]) + lattice.n_sites
    rates, kinds, pairs = kmc.rates(state, 0.0)
    release = np.flatnonzero((pairs[0] == ELECTRODE) & (pairs[1] == site))
    assert len(release) == 1 and kinds[release[0]] == EVENTS.index("ion_from_electrode")
    after = copy.deepcopy(state)
    kmc._move(after, ELECTRODE, site)
    back_rates, back_kinds, back_pairs = kmc.rates(after, 0.0)
    take = np.flatnonzero((back_pairs[0] == site) & (back_pairs[1] == ELECTRODE))
    ratio = rates[release[0]] / back_rates[take[0]]
    b = kmc.barriers
    from ase.units import kB

    assert ratio == pytest.approx(3 * np.exp(-(b.electrode_release - b.ion_hop) / (kB * 900.0)), rel=1e-9)


def test_filament_metrics(lattice):
    analysis = FilamentAnalysis(lattice)
    occupied = np.ones(lattice.n_sites, dtype=bool)
    empty = analysis(occupied)
    assert empty.gap == pytest.approx(np.diff(lattice.electrode_planes)[0]) and not empty.spanning
    x, y, z = lattice.site_positions.T
    centre = np.array(lattice.period) / 2
    # a column of vacancies through the oxide: a spanning path
    order = np.argsort(x)
    column = [order[0]]
    for k in order[1:]:
        if np.linalg.norm(lattice.site_positions[k] - lattice.site_positions[column[-1]]) < 3.5:
            column.append(k)
    occupied[column] = False
    metrics = analysis(occupied)
    if metrics.spanning:
        assert metrics.gap == 0.0 and metrics.left_cluster == metrics.right_cluster >= 3
    else:  # the column's steps may exceed the connection radius across the seam: it still narrows the gap
        assert metrics.gap < empty.gap
    # vacancies only at the left: the left cluster grows and the gap is what remains to the right electrode
    occupied = np.ones(lattice.n_sites, dtype=bool)
    left = np.flatnonzero(x - lattice.electrode_planes[0] < 4.0)
    occupied[left] = False
    metrics = analysis(occupied)
    assert metrics.left_cluster >= 1 and metrics.right_cluster == 0 and not metrics.spanning
    assert metrics.gap == pytest.approx(lattice.electrode_planes[1] - x[left].max())
    del y, z, centre


def test_bad_physics_settings_are_named_errors():
    with pytest.raises(ConfigError, match="permittivity must be positive"):
        parse_iv_config({"electrostatics": {"permittivity": -1.0}})
    with pytest.raises(ConfigError, match="thermal_resistance must be ≥ 0"):
        parse_iv_config({"heating": {"model": "global", "thermal_resistance": -5.0}})
    with pytest.raises(ConfigError, match="sweep.rate must be a positive ramp rate"):
        parse_iv_config({"sweep": {"rate": 0.0}})
    with pytest.raises(ConfigError, match="read_voltage = 3.0 V must be positive and a point of the sweep"):
        parse_iv_config({"sweep": {"max_voltage": 2.0, "min_voltage": -2.0, "step": 0.5, "read_voltage": 3.0}})
    with pytest.raises(ConfigError, match="heating.model must be"):
        parse_iv_config({"heating": {"model": "joule"}})
    with pytest.raises(ConfigError, match="kmc.barriers: barrier vacancy_hop must be a finite energy"):
        parse_iv_config({"kmc": {"barriers": {"vacancy_hop": -0.1}}})
    with pytest.raises(ConfigError, match="kmc.barriers.generation must be a number, not 'abc'"):
        parse_iv_config({"kmc": {"barriers": {"generation": "abc"}}})
    with pytest.raises(ConfigError, match="kmc.barriers must be a mapping"):
        parse_iv_config({"kmc": {"barriers": [1.0, 2.0]}})
    assert parse_iv_config({"kmc": {"barriers": {"generation": "2e0"}}}).barriers.generation == 2.0
    config = parse_iv_config({"sweep": {"max_voltage": 1.0, "min_voltage": -1.0, "step": 0.25, "rate": 50.0,
                                        "read_voltage": 0.25}})
    assert config.hold_time == pytest.approx(0.005)
