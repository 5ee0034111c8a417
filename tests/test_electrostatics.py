"""Long-range electrostatics: Ewald sum against analytic and brute-force values, the ½(VS + SV) term,
and the Hamiltonian model with charges (prediction and training)."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from ase import Atoms
from ase.build import bulk
from scipy.special import erf

from hamtrans.calculators import HamiltonianCalculator
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import Dataset, Record
from hamtrans.data.graphs import build_graph
from hamtrans.errors import StructureError
from hamtrans.models.electrostatics import COULOMB_CONSTANT, electron_potential, neutralized, potential_blocks
from hamtrans.models.hamiltonian import HamiltonianModel, HamiltonianModelConfig, OverlapModel
from hamtrans.models.inputs import prepare_inputs
from hamtrans.models.model_file import HamiltonianPredictor, load_model, save_model
from hamtrans.training.config import parse_config
from hamtrans.training.hamiltonian_task import _errors, _Pair, samples_from_record
from hamtrans.training.tasks import make_trainer
from hamtrans.training.trainer import TrainingError
from tests.equivariance import assert_matrices_equivariant
from tests.model_teacher import write_teacher_dataset
from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS

NACL_MADELUNG = 1.747565


def test_rock_salt_madelung_potential():
    """Point-like charges ±1 on rock salt: V = ±α k_e / d at every site, in any cell choice."""
    d = 2.82
    expected = NACL_MADELUNG * COULOMB_CONSTANT / d
    primitive = bulk("NaCl", "rocksalt", a=2 * d)
    np.testing.assert_allclose(electron_potential(primitive, [1.0, -1.0], 0.05), [expected, -expected], rtol=1e-6)
    cubic = bulk("NaCl", "rocksalt", a=2 * d, cubic=True) * (2, 1, 1)
    charges = np.where(cubic.numbers == 11, 1.0, -1.0)
    np.testing.assert_allclose(electron_potential(cubic, charges, 0.05), charges * expected, rtol=1e-6)


def test_ewald_matches_a_brute_force_image_sum_in_a_triclinic_cell():
    """The difference of two widths (one above the Ewald splitting width, one below) is short-ranged,
    so a plain image sum converges to it."""
    rng = np.random.default_rng(0)
    cell = np.array([[6.0, 0.5, 0.3], [0.2, 7.0, 0.1], [0.4, 0.6, 8.0]])
    atoms = Atoms("H6", positions=rng.uniform(0, 6, (6, 3)), cell=cell, pbc=True)
    charges = neutralized(rng.normal(size=6))
    difference = electron_potential(atoms, charges, 2.5) - electron_potential(atoms, charges, 0.7)
    brute = np.zeros(6)
    positions = atoms.get_positions()
    images = np.stack(np.meshgrid(*[np.arange(-4, 5)] * 3, indexing="ij"), -1).reshape(-1, 3) @ cell
    for i in range(6):
        r = np.linalg.norm(positions[None, :, :] + images[:, None, :] - positions[i], axis=-1)
        r[r == 0] = np.inf
        kernel = (erf(r / (np.sqrt(2) * 2.5)) - erf(r / (np.sqrt(2) * 0.7))) / r
        brute[i] = -COULOMB_CONSTANT * (kernel * charges).sum()
    assert np.abs(brute).max() > 0.1
    np.testing.assert_allclose(difference, brute, atol=1e-9)


def test_open_cluster_equals_the_same_cluster_in_a_large_periodic_box():
    """A square quadrupole (no net charge, no dipole): the periodic images' contribution falls as L⁻⁵."""
    positions = np.array([[0, 0, 0], [2.0, 0, 0], [2.0, 2.0, 0], [0, 2.0, 0]])
    charges = np.array([1.0, -1.0, 1.0, -1.0])
    expected = -COULOMB_CONSTANT * charges * (-2 * erf(2 / np.sqrt(2)) / 2 + erf(2.0) / np.sqrt(8))
    np.testing.assert_allclose(electron_potential(Atoms("H4", positions=positions), charges, 1.0), expected,
                               rtol=1e-12)
    image_part = {}
    for box in (40.0, 60.0):
        boxed = Atoms("H4", positions=positions + box / 2, cell=[box] * 3, pbc=True)
        image_part[box] = electron_potential(boxed, charges, 1.0) - expected
    assert np.abs(image_part[60.0]).max() < 1e-5
    np.testing.assert_allclose(image_part[40.0] / image_part[60.0], 1.5**5, rtol=0.05)


def test_bad_input_is_refused():
    wire = Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=[3, 10, 10], pbc=[True, False, False])
    with pytest.raises(StructureError, match="fully periodic or open"):
        electron_potential(wire, [1.0, -1.0], 1.0)
    with pytest.raises(ValueError, match="3 charges given for 2 atoms"):
        electron_potential(wire, [1.0, -1.0, 0.0], 1.0)


def _cluster_and_config():
    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    config = HamiltonianModelConfig(basis="gfn1-xtb", species=(1, 7, 8, 22, 72), block_cutoff=5.0, mp_cutoff=3.5,
                                    channels=8, heads=2, dtype="float64", electrostatics=True)
    return atoms, config


def test_a_uniform_potential_shifts_every_level_by_itself():
    """½(V₀S + SV₀) = V₀S: the generalised eigenvalues of H + V₀S are those of H plus V₀."""
    atoms, config = _cluster_and_config()
    torch.manual_seed(0)
    predictor = _random_predictor(config)
    h, s = predictor.predict(atoms)
    rows, cols = s.layout.onsite_indices()
    s = s.copy_with((rows == cols).astype(float), 0.02 * s.edges)  # a positive definite S
    term = potential_blocks(s, np.full(len(atoms), 0.37))
    shifted = h.copy_with(h.onsite + term.onsite, h.edges + term.edges)
    levels = scipy.linalg.eigh(h.to_sparse().toarray(), s.to_sparse().toarray(), eigvals_only=True)
    moved = scipy.linalg.eigh(shifted.to_sparse().toarray(), s.to_sparse().toarray(), eigvals_only=True)
    np.testing.assert_allclose(moved - levels, 0.37, atol=1e-9)


def _random_predictor(config, path=None):
    """A random model (charges varying by element if it has electrostatics), through a model file if ``path``."""
    hamiltonian, overlap = HamiltonianModel(config), OverlapModel(config)
    with torch.no_grad():
        for a in range(len(config.species)):
            getattr(overlap, f"onsite_{a}").copy_(getattr(overlap, f"invariant_{a}"))
        if config.electrostatics:
            hamiltonian.charge_head.weight.normal_(0.0, 1.0)
    if path is None:
        return HamiltonianPredictor(hamiltonian.eval(), overlap.eval())
    return load_model(save_model(path, hamiltonian, overlap))


def test_prediction_adds_the_potential_of_neutral_charges_and_stays_equivariant(tmp_path):
    atoms, config = _cluster_and_config()
    torch.manual_seed(3)
    predictor = _random_predictor(config, tmp_path / "es.pt")
    assert predictor.config.electrostatics
    prediction = predictor.predict_all(atoms)
    assert abs(prediction.charges.sum()) < 1e-12 and np.ptp(prediction.charges) > 0.1
    calculator_charges = HamiltonianCalculator(model=predictor).get_charges(atoms)
    np.testing.assert_allclose(calculator_charges, prediction.charges, atol=1e-12)
    charged = predictor.predict_all(atoms, total_charge=1.0)
    assert abs(charged.charges.sum() - 1.0) < 1e-12
    graph = build_graph(atoms, config.block_cutoff)
    local = predictor.hamiltonian
    inputs = prepare_inputs(atoms, graph, predictor.basis, list(config.species), config.mp_cutoff, torch.float64)
    with torch.no_grad():
        onsite, _ = local(inputs)
    term = potential_blocks(prediction.overlap, electron_potential(atoms, prediction.charges, config.charge_width))
    np.testing.assert_allclose(prediction.hamiltonian.onsite, onsite.numpy() + term.onsite, atol=1e-12)
    assert np.abs(term.onsite).max() > 0.1
    assert prediction.hamiltonian.hermiticity_error() < 1e-12
    assert_matrices_equivariant(predictor.predict, atoms, predictor.basis, 1e-10)  # H and S, parity included


def test_a_distant_charge_reaches_the_blocks_only_through_electrostatics():
    """Moving an atom 25 → 30 Å away: the local model's blocks change by exactly 0, the electrostatic
    model's onsite energies by the change of its 1/r potential."""
    atoms, config = _cluster_and_config()
    near = atoms + Atoms("O", positions=[[25.0, 0.0, 0.0]])
    away = atoms + Atoms("O", positions=[[30.0, 0.0, 0.0]])
    first_block = slice(0, int(OrbitalBasis.named("gfn1-xtb").orbital_counts(atoms.numbers[:1])[0]) ** 2)
    changes = {}
    for electrostatics in (False, True):
        torch.manual_seed(4)
        predictor = _random_predictor(HamiltonianModelConfig(**{**config.to_dict(),
                                                                       "electrostatics": electrostatics}))
        changes[electrostatics] = (predictor.predict(away)[0].onsite[first_block]
                                   - predictor.predict(near)[0].onsite[first_block])
    assert np.abs(changes[False]).max() == 0.0
    assert np.abs(changes[True]).max() > 1e-4


@pytest.fixture(scope="module")
def charged_teacher(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("charged") / "teacher.h5"
    write_teacher_dataset(path, seeds=(1, 2), electrostatics=True)
    return path


def _raw_config(data: Path, out: Path, electrostatics: bool = True, **training) -> dict:
    return {
        "model": {"basis": "gfn1-xtb", "species": ["N", "O", "Ti", "Hf"], "block_cutoff": 4.5, "mp_cutoff": 3.5,
                  "channels": 8, "heads": 2, "electrostatics": electrostatics, "charge_width": 1.0},
        "data": {"train": [str(data)], "split": "slab", "validation_fraction": 0.25, "slab_width": 4.0},
        "training": {"epochs": 2, "batch_size": 2, "checkpoint_every": 1, "learning_rate": 0.01, **training},
        "output": {"directory": str(out)},
    }


def test_slab_training_predictions_equal_the_whole_structure_prediction(charged_teacher):
    """Augmented partitioning with electrostatics: every slab's owned entries of H_local + ½(VS + SV)
    (latent charges of the whole structure, G rows of the slab atoms) equal the predictor's result."""
    config = parse_config(_raw_config(charged_teacher, Path("unused")))
    config = type(config)(**{**config.__dict__, "model": HamiltonianModelConfig(
        **{**config.model.to_dict(), "dtype": "float64", "species": (7, 8, 22, 72)})})
    torch.manual_seed(5)
    predictor = _random_predictor(config.model)
    with Dataset(charged_teacher) as data:
        record = data[0]
    prediction = predictor.predict_all(record.atoms, graph=record.graph)
    own = Record(record.atoms, prediction.hamiltonian, prediction.overlap)
    samples = samples_from_record(own, config, predictor.basis, "self")
    assert len(samples) > 2 and np.abs(prediction.charges).max() > 0.05
    network = _Pair(predictor.hamiltonian, predictor.overlap)
    for sample in samples:
        with torch.no_grad():
            h_err, s_err = _errors(network(sample.inputs, sample.charge_inputs), sample)
        assert h_err.abs().max() < 1e-9 and s_err.abs().max() < 1e-12


@pytest.mark.slow
def test_a_local_model_starts_an_electrostatic_one_exactly(charged_teacher, tmp_path):
    """training.initial_model copies every weight; the new charge head starts at zero charges."""
    local = make_trainer(parse_config(_raw_config(charged_teacher, tmp_path / "local", False, epochs=1)))
    local.run()
    start = tmp_path / "local" / "best.pt"
    grown = make_trainer(parse_config(_raw_config(charged_teacher, tmp_path / "grown", True, initial_model=str(start))))
    again = make_trainer(parse_config(_raw_config(charged_teacher, tmp_path / "again", False, initial_model=str(start))))
    first, reference = grown.validate(), again.validate()
    for key in ("node_mae_meV", "edge_mae_meV", "overlap_mae"):
        assert first[key] == pytest.approx(reference[key], rel=1e-6)
    last = grown.run()  # the charge channel opens
    assert last["val_loss"] < first["val_loss"]
    charges = load_model(tmp_path / "grown" / "best.pt").predict_all(_teacher_atoms(charged_teacher)).charges
    assert np.ptp(charges) > 1e-4
    raw = _raw_config(charged_teacher, tmp_path / "bad", True, initial_model=str(start))
    raw["model"]["channels"] = 4
    raw["model"]["heads"] = 2
    with pytest.raises(TrainingError, match="channels"):
        make_trainer(parse_config(raw))


def _teacher_atoms(path):
    with Dataset(path) as data:
        return data[0].atoms


def test_electrostatics_without_the_overlap_model_is_refused(charged_teacher, tmp_path):
    raw = _raw_config(charged_teacher, tmp_path / "o")
    raw["training"]["train_overlap"] = False
    with pytest.raises(TrainingError, match="needs the overlap model"):
        make_trainer(parse_config(raw))
