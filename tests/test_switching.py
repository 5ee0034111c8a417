"""SET and RESET that emerge from the KMC physics (Poisson, heating, electrode reservoir, compliance), and exact resume.

The current here is a stand-in with the conductances the shipped model gives on the
demo device (HRS ~6.5e-6 S, a closed filament ~2.7× more: ``G = G₀ exp(−gap/λ)``), so
the test exercises the KMC, the heating loop and the compliance, not the NEGF (tested apart).
"""

import numpy as np
import pytest

from hamtrans.calculators import HamiltonianCalculator
from hamtrans.kmc.iv_config import parse_iv_config
from hamtrans.kmc.trajectory import read_frames
from tests.gap_conductance import GapConductance


def sweep(directory, seed: int, **sections) -> GapConductance:
    raw = {"device": {"cross_section": [8.48, 8.48], "electrode_length": 16.96, "oxide_length": 10.0,
                      "ti_length": 0.0, "vacuum": 12.0, "seed": 0},
           "kmc": {"vacancy_fraction": 0.05, "seed": seed, "max_events": 2000},
           "heating": {"model": "local", "tolerance": 25.0, "max_iterations": 2},
           "sweep": {"max_voltage": 1.0, "min_voltage": -1.0, "step": 0.25, "rate": 1000.0, "compliance": 1e-5},
           "transport": {"hamiltonian": "stand-in", "fermi_level": 0.0},
           "output": {"directory": str(directory)}, **sections}
    # the stand-in current needs no Hamiltonian
    return GapConductance(parse_iv_config(raw), hamiltonian=object.__new__(HamiltonianCalculator), progress=False)


@pytest.mark.slow
def test_set_closes_the_gap_and_reset_reopens_it_in_four_of_five_seeds(tmp_path):
    outcomes = []
    for seed in range(1, 6):
        frames = sweep(tmp_path / str(seed), seed).run()
        end_of_set = next(k for k, f in enumerate(frames) if k > 0 and f["voltage"] == 0.0)
        start, after_set, end = frames[0]["gap"], frames[end_of_set]["gap"], frames[-1]["gap"]
        set_happened = frames[end_of_set]["spanning"] or after_set < start - 2.5
        reset_happened = end > after_set + 2.5 and frames[-1]["reservoir"] < frames[end_of_set]["reservoir"]
        outcomes.append((set_happened, reset_happened))
        # oxygen is conserved: every new vacancy's ion sits on an interstitial or in the electrode
        for f in frames:
            assert (~f["occupied"]).sum() - (~frames[0]["occupied"]).sum() == f["ions"].sum() + f["reservoir"]
        assert all(f["device_voltage_V"] <= f["voltage"] + 1e-12 for f in frames if f["voltage"] > 0)
    assert sum(s for s, _ in outcomes) >= 4, outcomes
    assert sum(s and r for s, r in outcomes) >= 4, outcomes  # full SET/RESET cycles


@pytest.mark.slow
def test_compliance_limits_the_set_branch_current(tmp_path):
    frames = sweep(tmp_path, 1).run()
    positive = [f for f in frames if f["voltage"] > 0]
    # within the compliance, unless the conductance rose during the hold and the loop ran out of holds
    assert all(abs(f["current"]) <= 1e-5 * (1 + 1e-9) or f["iterations"] == 2 for f in positive)
    assert max(abs(f["current"]) for f in positive) < 2e-5
    limited = [f for f in positive if f["device_voltage_V"] < f["voltage"]]
    assert limited  # the filament reaches the compliance at the top of the SET branch
    unlimited = sweep(tmp_path / "free", 1, sweep={"max_voltage": 1.0, "min_voltage": -1.0, "step": 0.25,
                                                   "rate": 1000.0}).run()
    assert all(f["device_voltage_V"] == f["voltage"] for f in unlimited)


@pytest.mark.slow
def test_resume_with_heating_reservoir_and_compliance_is_exact(tmp_path):
    reference = sweep(tmp_path / "full", 3).run()

    class Crash(GapConductance):
        calls = 0

        def current(self, state, voltage):
            if voltage != 0.0:
                Crash.calls += 1
                if Crash.calls == 9:
                    raise KeyboardInterrupt("simulated crash")
            return super().current(state, voltage)

    crashing = sweep(tmp_path / "cut", 3)
    crashing.__class__ = Crash
    with pytest.raises(KeyboardInterrupt):
        crashing.run()
    assert 0 < len(read_frames(tmp_path / "cut" / "trajectory.h5")) < len(reference)
    resumed = sweep(tmp_path / "cut", 3).run()
    assert len(resumed) == len(reference)
    for a, b in zip(resumed, reference):
        assert a["time"] == b["time"] and a["current"] == b["current"] and a["reservoir"] == b["reservoir"]
        assert a["temperature_K"] == b["temperature_K"] and a["device_voltage_V"] == b["device_voltage_V"]
        np.testing.assert_array_equal(a["occupied"], b["occupied"])
        np.testing.assert_array_equal(a["ions"], b["ions"])
