"""The shipped VCM model: loads by name, is equivariant in float32, and keeps its measured accuracy."""

from pathlib import Path

import numpy as np
import pytest

from hamtrans.data.formats import Dataset
from hamtrans.data.structures import cut_cluster
from hamtrans.models import load_model
from hamtrans.models.evaluation import evaluate_model
from hamtrans.models.pretrained import available
from tests.equivariance import assert_matrices_equivariant

FIXTURE = Path(__file__).parent / "fixtures" / "vcm" / "formed_1.h5"  # unseen formed-filament device, GFN1-xTB


def test_shipped_model_loads_by_name():
    assert "vcm-gfn1" in available()
    model = load_model("vcm-gfn1")
    assert model.config.species == (7, 8, 22, 72) and model.basis.name == "gfn1-xtb"
    assert model.overlap is not None and model.config.dtype == "float32"
    assert "random_1" in " ".join(model.metadata["train_data"])


def test_shipped_model_is_equivariant_in_float32():
    model = load_model("vcm-gfn1")
    with Dataset(FIXTURE) as data:
        device = data[0].atoms
    cluster = cut_cluster(device, center=int(np.flatnonzero(device.numbers == 72)[0]), radius=6.0)
    assert_matrices_equivariant(model.predict, cluster, model.basis, 1e-5)  # H and S, rotations and parity


def test_shipped_model_accuracy_on_an_unseen_device(tmp_path):
    summary = evaluate_model("vcm-gfn1", FIXTURE, tmp_path, max_eigen_orbitals=0)
    recorded = load_model("vcm-gfn1").metadata["test_formed_1"]
    # regression guard: the shipped file must reproduce the figures quoted in the README
    assert summary["total"]["total_mae_meV"] == pytest.approx(recorded["total_mae_meV"], rel=1e-3)
    assert summary["total"]["node"]["mae_meV"] == pytest.approx(recorded["node_mae_meV"], rel=1e-3)
    assert summary["structures"][0]["aligned_total_mae_meV"] == pytest.approx(recorded["aligned_total_mae_meV"],
                                                                              rel=1e-3)


POTENTIAL_FIXTURE = Path(__file__).parent / "fixtures" / "potential" / "gfn1_test.h5"  # held-out GFN1-xTB cells


def test_shipped_potential_loads_by_name_and_keeps_its_accuracy():
    from hamtrans.models.model_file import load_potential
    from hamtrans.training.potential_task import evaluate_potential, read_labels

    assert "vcm-gfn1-potential" in available()
    model = load_potential("vcm-gfn1-potential")
    assert model.config.species == (7, 8, 22, 72) and model.config.dtype == "float32"
    summary = evaluate_potential(model, read_labels(POTENTIAL_FIXTURE))
    recorded = model.metadata["test_all held-out"]
    # regression guard: the shipped file must reproduce the figures quoted in the README
    for key in ("energy_mae_meV_atom", "force_mae_meV_A", "stress_mae_meV_A3"):
        assert summary[key] == pytest.approx(recorded[key], rel=1e-3), key


def test_shipped_transport_model_has_a_positive_definite_compact_overlap():
    from hamtrans.data.basis import OrbitalBasis

    model = load_model("vcm-gfn1-8")
    assert model.config.block_cutoff == 8.0 and "within 8 Å" in model.metadata["reference"]
    assert model.metadata["test_formed_1"]["total_mae_meV"] < 10.0
    with Dataset(FIXTURE) as data:
        device = data[0].atoms
    _, s = model.predict(device)
    compact = s.restricted(OrbitalBasis.named("gfn1-xtb-compact"))
    # open along the transport axis, as the NEGF device sees it; the whole-basis one is not definite
    assert np.linalg.eigvalsh(compact.to_sparse(axis=0).toarray()).min() > 0.1


PBE_FILM = Path(__file__).parents[1] / "examples" / "vcm" / "table1_pbe" / "film_mq30_broken_1.extxyz"


def test_shipped_pbe_model_predicts_a_film_with_a_positive_definite_overlap_at_every_k():
    from ase.io import read

    from hamtrans.negf.kpoints import kpoint_devices, transverse_kpoints

    model = load_model("vcm-pbe-szv")
    assert model.basis.name == "szv-molopt-sr-gth" and model.config.block_cutoff == 8.0
    assert model.metadata["reference"].startswith("CP2K") and "PBE" in model.metadata["reference"]
    assert model.metadata["metrics"]["total_mae_meV"] < 20.0  # validation slabs of the training films
    film = read(PBE_FILM)  # an unseen test film (the structure its PBE reference was computed on)
    h, s = model.predict(film)
    kpoints = transverse_kpoints((1, 2, 4))
    for device in kpoint_devices(h, s, film, kpoints, lead_cell=4.24):
        hamiltonian, overlap = device.hamiltonian.toarray(), device.overlap.toarray()
        assert np.abs(hamiltonian - hamiltonian.conj().T).max() < 1e-10
        assert np.linalg.eigvalsh(overlap).min() > 0.05  # the whole SZV basis is the transport basis
