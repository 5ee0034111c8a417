"""``hamtrans evaluate``: errors after removing the energy zero (H → H + cS) are gauge invariant."""

from pathlib import Path

import numpy as np
import pytest

import hamtrans.models.evaluation as evaluation
from hamtrans.data.formats import Dataset
from hamtrans.models import load_model
from hamtrans.models.evaluation import energy_zero_shift, evaluate_model

FIXTURE = Path(__file__).parent / "fixtures" / "vcm" / "formed_1.h5"  # GFN1-xTB blocks of a VCM device


@pytest.fixture(scope="module")
def record():
    with Dataset(FIXTURE) as data:
        return data[0]


def test_energy_zero_shift_recovers_a_rigid_shift(record):
    h, s = record.hamiltonian, record.overlap
    shifted = h.copy_with(h.onsite - 0.37 * s.onsite, h.edges - 0.37 * s.edges)
    assert energy_zero_shift(shifted, h, s) == pytest.approx(0.37, abs=1e-12)
    # noise uncorrelated with S moves the estimate by less than its own size
    rng = np.random.default_rng(0)
    noisy = shifted.copy_with(shifted.onsite + rng.normal(0, 0.01, h.onsite.size),
                              shifted.edges + rng.normal(0, 0.01, h.edges.size))
    assert energy_zero_shift(noisy, h, s) == pytest.approx(0.37, abs=1e-3)


class ShiftedPredictor:
    """A loaded model whose every H is moved by ``shift`` · S (eV): a different energy zero."""

    def __init__(self, predictor, shift: float) -> None:
        self.predictor, self.shift = predictor, shift
        self.config, self.metadata = predictor.config, predictor.metadata

    def predict(self, atoms, graph=None):
        h, s = self.predictor.predict(atoms, graph=graph)
        return h.copy_with(h.onsite + self.shift * s.onsite, h.edges + self.shift * s.edges), s


def test_aligned_errors_ignore_the_energy_zero(tmp_path, monkeypatch):
    plain = evaluate_model("vcm-gfn1", FIXTURE, tmp_path / "plain", max_eigen_orbitals=0)
    monkeypatch.setattr(evaluation, "load_model", lambda path: ShiftedPredictor(load_model(path), 0.5))
    moved = evaluate_model("vcm-gfn1", FIXTURE, tmp_path / "moved", max_eigen_orbitals=0)
    before, after = plain["structures"][0], moved["structures"][0]
    assert abs(after["total_mae_meV"] - before["total_mae_meV"]) > 10  # raw MAE sees the 0.5 eV shift
    assert after["energy_zero_shift_meV"] == pytest.approx(before["energy_zero_shift_meV"] - 500, abs=0.5)
    for key in ("aligned_node_mae_meV", "aligned_edge_mae_meV", "aligned_total_mae_meV"):
        # equal up to predicted S ≠ reference S (~5e-5 · 0.5 eV)
        assert after[key] == pytest.approx(before[key], abs=0.05), key
    assert before["aligned_total_mae_meV"] <= before["total_mae_meV"]
    assert moved["total"]["aligned_total_mae_meV"] == pytest.approx(plain["total"]["aligned_total_mae_meV"], abs=0.05)


def test_eigenvalues_are_scored_in_the_largest_sub_basis_with_a_positive_definite_overlap(tmp_path, monkeypatch):
    """The fixture's whole-basis Γ-folded S is indefinite (smallest eigenvalue −0.46); the compact one is not."""
    plain = evaluate_model("vcm-gfn1", FIXTURE, tmp_path / "plain")["structures"][0]
    assert plain["eigen_basis"] == "gfn1-xtb-compact"
    assert plain["eigen_window_count"] > 50 and 0 < plain["eigen_window_mean_percent"] < plain["eigen_window_max_percent"]
    # a rigid shift of the prediction moves every raw eigenvalue by it and no aligned one
    monkeypatch.setattr(evaluation, "load_model", lambda path: ShiftedPredictor(load_model(path), 0.5))
    moved = evaluate_model("vcm-gfn1", FIXTURE, tmp_path / "moved")["structures"][0]
    assert abs(moved["eigen_mae_meV"] - plain["eigen_mae_meV"]) > 100
    assert moved["eigen_window_max_meV"] == pytest.approx(plain["eigen_window_max_meV"], abs=0.1)
    assert moved["eigen_window_mean_percent"] == pytest.approx(plain["eigen_window_mean_percent"], abs=1e-3)


def test_a_named_eigen_basis_with_an_indefinite_overlap_says_so(tmp_path):
    entry = evaluate_model("vcm-gfn1", FIXTURE, tmp_path, eigen_basis="gfn1-xtb")["structures"][0]
    assert "eigen_mae_meV" not in entry and "not positive definite in gfn1-xtb" in entry["eigen_error"]


def test_onsite_level_errors_are_the_mean_diagonal_errors_of_each_atom(record):
    from hamtrans.models.evaluation import level_errors

    h, s = record.hamiltonian, record.overlap
    rng = np.random.default_rng(3)
    moved = h.copy_with(h.onsite.copy(), h.edges)
    atom = 7
    block = moved.onsite[moved.layout.onsite_ptr[atom]:moved.layout.onsite_ptr[atom + 1]]
    n = h.layout.counts[atom]
    block[:: n + 1] += 0.2  # every diagonal entry of one atom up by 0.2 eV
    block[1] += rng.normal()  # an off-diagonal entry does not count
    errors = level_errors(moved, h, s, 0.0)
    assert errors[atom] == pytest.approx(0.2, abs=1e-12) and np.abs(np.delete(errors, atom)).max() == 0
    # after the energy zero c the level errors of unchanged atoms are c times their diagonal S (1 for GFN1)
    shifted = level_errors(h, h, s, 0.05)
    np.testing.assert_allclose(shifted, 0.05, atol=1e-12)


def test_the_summary_reports_the_onsite_level_spread_per_element(tmp_path):
    levels = evaluate_model("vcm-gfn1", FIXTURE, tmp_path, max_eigen_orbitals=0)["onsite_level_by_element"]
    assert set(levels) == {"Hf", "N", "O", "Ti"} and all(v["std_meV"] > 0 and v["atoms"] > 0 for v in levels.values())
