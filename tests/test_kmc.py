"""KMC of vacancies and ions: lattice, detailed balance at zero field, field drift, exact resume."""

import copy

import numpy as np
import pytest

from hamtrans.data.structures import build_vcm_device
from hamtrans.kmc import Barriers, KineticMonteCarlo, KMCState, OxideLattice


@pytest.fixture(scope="module")
def lattice() -> OxideLattice:
    device = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=15.0, ti_length=0.0,
                              vacancies="none", seed=0)
    return OxideLattice.from_device(device)


def test_lattice_sites_and_structure(lattice):
    assert lattice.n_sites == int((lattice.pristine.numbers[lattice.pristine.arrays["region"] == 1] == 8).sum())
    assert lattice.n_interstitials > 0 and lattice.site_hops.shape[1] > 2 * lattice.n_sites
    distances = np.linalg.norm(lattice.interstitial_positions[:, None] - lattice.pristine.positions[None], axis=2)
    assert distances.min() >= 1.9 - 1e-9  # interstitials keep their clearance from every atom
    state = KMCState.initial(lattice, 0.1, seed=0)
    structure = lattice.structure(state.occupied)
    assert len(structure) == len(lattice.pristine) - state.n_vacancies


def test_zero_field_vacancy_distribution_stays_uniform(lattice):
    """Detailed balance: symmetric hops make the time-averaged vacancy density flat along x."""
    kmc = KineticMonteCarlo(lattice, Barriers(generation=10.0))  # hops only
    state = KMCState.initial(lattice, 0.15, seed=3)
    rng = np.random.default_rng(5)
    x = lattice.site_positions[:, 0]
    bins = np.digitize(x, np.quantile(x, [1 / 3, 2 / 3]))
    weights = np.zeros(3)
    for _ in range(6000):
        before = state.time
        vacancies = ~state.occupied
        kmc.step(state, 0.0, rng)
        weights += np.bincount(bins[vacancies], minlength=3) * (state.time - before)
    share = weights / weights.sum()
    expected = np.bincount(bins, minlength=3) / len(x)
    assert np.abs(share - expected).max() < 0.06  # ~3σ for 6000 correlated hops of 8 vacancies


def test_field_drives_vacancies_to_the_grounded_side_and_ions_to_the_positive(lattice):
    x = lattice.site_positions[:, 0]
    # vacancies already in the oxide, no generation and no exchange with the electrode: pure drift
    drift = KineticMonteCarlo(lattice, Barriers(generation=10.0, interface_generation=10.0, vacancy_hop=1.2,
                                                temperature=600))
    state = KMCState.initial(lattice, 0.1, seed=1)
    start = x[~state.occupied].mean()
    drift.run(state, voltage=3.0, max_events=1500)
    assert x[~state.occupied].mean() > start + 2.0  # V_O²⁺ toward the grounded right electrode
    # field-assisted Frenkel pairs: their ions go the other way
    kmc = KineticMonteCarlo(lattice, Barriers(generation=1.2, recombination=0.6, interface_generation=10.0,
                                              electrode_release=10.0, temperature=600))
    state = KMCState.initial(lattice, 0.1, seed=1)
    kmc.run(state, voltage=3.0, max_events=1500)
    assert state.events[0] > 0  # field-assisted generation happened
    if state.ions.any():
        assert lattice.interstitial_positions[state.ions, 0].mean() < x.mean()  # O²⁻ toward the positive left


def test_runs_are_seeded_and_resume_exactly(lattice):
    kmc = KineticMonteCarlo(lattice, Barriers(generation=1.5, temperature=500))
    one = KMCState.initial(lattice, 0.1, seed=7)
    kmc.run(one, 2.0, 400)
    two = KMCState.initial(lattice, 0.1, seed=7)
    kmc.run(two, 2.0, 150)
    resumed = copy.deepcopy(two)  # what a saved trajectory frame restores
    kmc.run(resumed, 2.0, 250)
    np.testing.assert_array_equal(one.occupied, resumed.occupied)
    np.testing.assert_array_equal(one.ions, resumed.ions)
    assert one.time == resumed.time and (one.events == resumed.events).all()
    other = KMCState.initial(lattice, 0.1, seed=8)
    kmc.run(other, 2.0, 400)
    assert not np.array_equal(one.occupied, other.occupied)


def test_trajectory_survives_a_crash_and_the_resumed_run_is_identical(lattice, tmp_path):
    import h5py

    from hamtrans.errors import FileFormatError
    from hamtrans.kmc.trajectory import TrajectoryWriter, read_frames

    kmc = KineticMonteCarlo(lattice, Barriers(generation=1.5, temperature=500))
    reference = KMCState.initial(lattice, 0.1, seed=4)
    for _ in range(3):
        kmc.run(reference, 2.0, 100)
    path = tmp_path / "kmc.h5"
    state = KMCState.initial(lattice, 0.1, seed=4)
    with TrajectoryWriter(path, lattice, {"seed": 4}) as writer:
        for _ in range(2):
            kmc.run(state, 2.0, 100)
            writer.append(state, 2.0, current=1e-6)
    with h5py.File(path, "a") as handle:  # a crash while frame 2 was being written
        handle["frames"].create_group("000002")["occupied"] = state.occupied
    with TrajectoryWriter(path, lattice, resume=True) as writer:
        assert len(writer) == 2
        restored, voltage = writer.last_state()
        kmc.run(restored, voltage, 100)
        writer.append(restored, voltage)
    frames = read_frames(path)
    assert len(frames) == 3 and frames[0]["current"] == 1e-6 and np.isnan(frames[2]["current"])
    np.testing.assert_array_equal(frames[-1]["occupied"], reference.occupied)
    assert frames[-1]["time"] == reference.time
    other = OxideLattice.from_device(build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24,
                                                      oxide_length=10.0, ti_length=0.0, vacancies="none", seed=0))
    with pytest.raises(FileFormatError, match="another device"):
        TrajectoryWriter(path, other, resume=True)
