"""``training.fit_energy_zero``: one learned constant per training structure absorbs a shifted potential zero."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hamtrans.config import ConfigError
from hamtrans.data.formats import Dataset, DatasetWriter, Record
from hamtrans.models.evaluation import energy_zero_shift
from hamtrans.models.model_file import load_model
from hamtrans.training.config import parse_config
from hamtrans.training.hamiltonian_task import HamiltonianTask, _aligned, _errors, _Pair, load_samples
from hamtrans.training.tasks import make_trainer
from tests.model_teacher import teacher_models, write_teacher_dataset

SHIFT = 0.4  # eV: the second structure's labels are H + SHIFT · S


@pytest.fixture(scope="module")
def shifted_data(tmp_path_factory) -> Path:
    """Two teacher-labelled devices; the second one's energy zero moved by SHIFT."""
    folder = tmp_path_factory.mktemp("energy_zero")
    write_teacher_dataset(folder / "teacher.h5", seeds=(1, 2))
    with Dataset(folder / "teacher.h5") as data:
        records, basis = [data[0], data[1]], data[0].hamiltonian.basis
    h, s = records[1].hamiltonian, records[1].overlap
    records[1] = Record(records[1].atoms, h.copy_with(h.onsite + SHIFT * s.onsite, h.edges + SHIFT * s.edges), s,
                        name=records[1].name)
    with DatasetWriter(folder / "shifted.h5", basis) as writer:
        for record in records:
            writer.append(record)
    return folder / "shifted.h5"


def raw_config(data: Path, out: Path, **training) -> dict:
    return {
        "model": {"basis": "gfn1-xtb", "species": ["N", "O", "Ti", "Hf"], "block_cutoff": 4.5, "mp_cutoff": 3.5,
                  "channels": 8, "heads": 2, "dtype": "float64"},
        "data": {"train": [str(data)], "split": "slab", "validation_fraction": 0.25, "slab_width": 4.0},
        "training": {"epochs": 3, "batch_size": 2, "checkpoint_every": 100, "learning_rate": 0.01,
                     "ema_decay": 0.0, "fit_energy_zero": True, **training},
        "output": {"directory": str(out)},
    }


def test_the_energy_zero_of_each_structure_enters_the_compared_hamiltonian(shifted_data):
    config = parse_config(raw_config(shifted_data, Path("unused")))
    train, validation, _, names = load_samples(config, config.model.orbital_basis())
    assert names == ["shifted:0", "shifted:1"]
    samples = train + validation
    assert {sample.structure for sample in samples} == {0, 1}
    network = _Pair(*teacher_models(), n_energy_zeros=2)  # the teacher: exact up to the energy zero
    errors = {}
    for zeros in ((0.0, 0.0), (0.0, SHIFT), (0.1, SHIFT + 0.1)):
        with torch.no_grad():
            network.energy_zero.copy_(torch.tensor(zeros))
            errors[zeros] = [(sample.structure, _errors(network(sample.inputs, None, sample.structure), sample)[0])
                             for sample in samples]
    for _, h_err in errors[(0.0, SHIFT)]:
        assert h_err.abs().max() < 1e-8  # labels stored to ~1e-9
    # without the learned constant the shifted structure's error is SHIFT · S, exactly
    for (structure, h_err), sample in zip(errors[(0.0, 0.0)], samples):
        expected = SHIFT * torch.cat([sample.s_onsite, sample.s_edges]) if structure == 1 else 0 * h_err
        assert torch.allclose(-h_err, expected, atol=1e-8)
        assert _aligned(h_err, sample).abs().max() < 1e-8  # samples without one are scored after their own
    # a common constant is the model's onsite energy zero, not an error that cancels
    assert all(h_err.abs().max() > 0.01 for _, h_err in errors[(0.1, SHIFT + 0.1)])


@pytest.mark.slow
def test_training_learns_the_shift_and_records_it(shifted_data, tmp_path):
    trainer = make_trainer(parse_config(raw_config(shifted_data, tmp_path / "fit")))
    trainer.run()
    zeros = trainer.model.energy_zero.detach().numpy()
    assert zeros[1] - zeros[0] > 0.1  # moving towards SHIFT (0.01 per Adam step)
    recorded = load_model(tmp_path / "fit" / "best.pt").metadata["training_energy_zero_meV"]
    assert set(recorded) == {"shifted:0", "shifted:1"}
    np.testing.assert_allclose([recorded["shifted:0"], recorded["shifted:1"]], 1e3 * zeros, atol=0.01)
    plain = make_trainer(parse_config(raw_config(shifted_data, tmp_path / "plain", fit_energy_zero=False)))
    plain.run()
    assert plain.model.energy_zero is None
    assert "training_energy_zero_meV" not in load_model(tmp_path / "plain" / "best.pt").metadata
    # the learned constants take the shift the shared model otherwise has to split between the two
    fitted, unfitted = trainer.validate(), plain.validate()
    assert fitted["total_mae_meV"] < unfitted["total_mae_meV"]
    assert np.isfinite(fitted["total_mae_meV"])


@pytest.mark.slow
def test_energy_zeros_start_from_the_initial_models_least_squares_values(shifted_data, tmp_path):
    plain = make_trainer(parse_config(raw_config(shifted_data, tmp_path / "plain", epochs=1, fit_energy_zero=False)))
    plain.run()
    start = tmp_path / "plain" / "best.pt"
    grown = make_trainer(parse_config(raw_config(shifted_data, tmp_path / "grown", initial_model=str(start))))
    model = load_model(start)
    with Dataset(shifted_data) as data:
        expected = [energy_zero_shift(model.predict(r.atoms, graph=r.graph)[0], r.hamiltonian, r.overlap) for r in data]
    np.testing.assert_allclose(grown.model.energy_zero.detach().numpy(), expected, atol=1e-9)
    assert expected[1] - expected[0] == pytest.approx(SHIFT, abs=0.1)  # one model, two energy zeros


def unshifted_teacher_loss(data: Path, **training) -> tuple[float, torch.Tensor, object]:
    """Training loss, H errors and sample of the shifted structure under the unshifted teacher (no energy
    zeros: every entry is off by SHIFT · S); checks that validation reports the same loss."""
    config = parse_config(raw_config(data, Path("unused"), fit_energy_zero=False, train_overlap=False, **training))
    train, validation, _, _ = load_samples(config, config.model.orbital_basis())
    sample = next(s for s in train + validation if s.structure == 1)
    network = _Pair(teacher_models()[0], None, n_energy_zeros=0)
    task = HamiltonianTask(config)
    with torch.no_grad():
        value = task.loss(network, sample).item()
        h_err = _errors(network(sample.inputs, None, sample.structure), sample)[0]
    assert task.validation_sums(network, sample)[4].item() == pytest.approx(value, rel=1e-12)
    return value, h_err, sample


def test_onsite_weight_scales_the_onsite_block_entries_of_the_loss(shifted_data):
    # without energy zeros the teacher is off by exactly 0.4·S on the shifted structure: onsite and edges
    losses = {}
    for weight in (1.0, 7.0):
        losses[weight], h_err, sample = unshifted_teacher_loss(shifted_data, loss="mae", onsite_weight=weight)
    onsite, edges = h_err[:sample.h_onsite.numel()].abs().sum().item(), h_err[sample.h_onsite.numel():].abs().sum().item()
    assert onsite > 1.0 and edges > 1.0
    assert losses[1.0] == pytest.approx(onsite + edges, rel=1e-12)
    assert losses[7.0] == pytest.approx(7.0 * onsite + edges, rel=1e-12)
    with pytest.raises(ConfigError, match="onsite_weight must be > 0"):
        parse_config(raw_config(shifted_data, Path("unused"), onsite_weight=0.0))


@pytest.mark.parametrize("loss", ["mae", "mse"])
def test_edge_magnitude_scale_weights_each_edge_entry_by_its_reference_size(shifted_data, loss):
    # the unshifted teacher is off by 0.4·S on the shifted structure, so every entry has an error
    plain, h_err, sample = unshifted_teacher_loss(shifted_data, loss=loss, edge_magnitude_scale=None)
    weighted, _, _ = unshifted_teacher_loss(shifted_data, loss=loss, edge_magnitude_scale=0.005)
    terms = h_err**2 if loss == "mse" else h_err.abs()
    n_onsite = sample.h_onsite.numel()
    onsite, edges = terms[:n_onsite].sum().item(), terms[n_onsite:]
    assert plain == pytest.approx(onsite + edges.sum().item(), rel=1e-12)
    expected = onsite + ((1.0 + sample.h_edges.abs() / 0.005) * edges).sum().item()
    assert weighted == pytest.approx(expected, rel=1e-12)
    assert weighted - onsite > 1.5 * edges.sum().item()  # the edge weights are not all close to one
    with pytest.raises(ConfigError, match="edge_magnitude_scale must be null or > 0"):
        parse_config(raw_config(shifted_data, Path("unused"), edge_magnitude_scale=0.0))
