"""Potential training (task: potential), its model file and the ASE PotentialCalculator."""

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from hamtrans.calculators import PotentialCalculator
from hamtrans.config import ConfigError
from hamtrans.data.structures import bulk_hfo2
from hamtrans.errors import FileFormatError, StructureError, TrainingError, UnknownElementError
from hamtrans.models.model_file import load_model, load_potential, save_potential
from hamtrans.training.config import parse_config
from hamtrans.training.tasks import make_trainer
from tests.potential_teacher import labelled_structures, write_teacher_data
from tests.training_configs import potential_raw_config
from tests.training_runs import train_single_and_distributed


@pytest.fixture(scope="module")
def teacher_files(tmp_path_factory):
    return write_teacher_data(tmp_path_factory.mktemp("potential"))


def test_training_learns_energies_forces_and_stress(teacher_files, tmp_path):
    h5, _ = teacher_files
    trainer = make_trainer(parse_config(potential_raw_config(h5, tmp_path / "t", epochs=15, ema_decay=0.5)))
    first = trainer.validate()
    last = trainer.run()
    assert last["val_loss"] < 0.3 * first["val_loss"]
    assert last["force_mae_meV_A"] < first["force_mae_meV_A"]
    assert np.isfinite(last["stress_mae_meV_A3"])
    model = load_potential(tmp_path / "t" / "best.pt")
    assert model.metadata["train_data"] == [str(h5)]
    # the fitted statistics travel with the file
    assert float(model.average_neighbours) > 1 and float(model.energy_scale) != 1.0


def test_extxyz_and_hdf5_data_give_the_same_run(teacher_files, tmp_path):
    h5, xyz = teacher_files
    a = make_trainer(parse_config(potential_raw_config(h5, tmp_path / "a", max_steps=2))).run()
    b = make_trainer(parse_config(potential_raw_config(xyz, tmp_path / "b", max_steps=2))).run()
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)


def test_potential_training_resumes_exactly(teacher_files, tmp_path):
    h5, _ = teacher_files
    reference = make_trainer(parse_config(potential_raw_config(h5, tmp_path / "a")))
    reference.run()
    crashed = make_trainer(parse_config(potential_raw_config(h5, tmp_path / "b")), stop_after_step=2)
    with pytest.raises(KeyboardInterrupt):
        crashed.run()
    resumed = make_trainer(parse_config(potential_raw_config(h5, tmp_path / "b")), resume=True)
    resumed.run()
    for (name, a), (_, b) in zip(reference.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6), name


@pytest.mark.slow
def test_distributed_potential_training_matches_single_process(teacher_files, tmp_path):
    h5, _ = teacher_files
    single, double = train_single_and_distributed(
        tmp_path, potential_raw_config(h5, tmp_path / "single", batch_size=4),
        potential_raw_config(h5, tmp_path / "ddp", batch_size=4))
    for a, b in zip(single, double):
        assert float(a[3]) == pytest.approx(float(b[3]), rel=1e-4)  # train loss
        assert float(a[4]) == pytest.approx(float(b[4]), rel=1e-4)  # validation loss


def test_bad_potential_data_and_config(tmp_path, teacher_files):
    atoms = Atoms("HfO", positions=[[0, 0, 0], [2, 0, 0]])
    atoms.write(tmp_path / "unlabelled.extxyz")
    with pytest.raises(TrainingError, match="no energy/forces"):
        make_trainer(parse_config(potential_raw_config(tmp_path / "unlabelled.extxyz", tmp_path / "x")))
    with pytest.raises(TrainingError, match="does not exist"):
        make_trainer(parse_config(potential_raw_config(tmp_path / "missing.h5", tmp_path / "x")))
    raw = potential_raw_config(teacher_files[0], tmp_path / "x")
    raw["task"] = "potentail"
    with pytest.raises(ConfigError, match="task 'potentail' is not known"):
        parse_config(raw)
    raw = potential_raw_config(teacher_files[0], tmp_path / "x")
    raw["model"]["block_cutoff"] = 4.0  # a Hamiltonian-model key
    with pytest.raises(ConfigError, match="unknown key 'block_cutoff' in model"):
        parse_config(raw)


@pytest.fixture(scope="module")
def trained(teacher_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    make_trainer(parse_config(potential_raw_config(teacher_files[0], out, epochs=2))).run()
    return out / "best.pt"


def test_calculator_follows_ase_conventions(trained):
    calc = PotentialCalculator(trained)
    atoms = labelled_structures(1, seed=5)[0]
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert atoms.get_potential_energies().sum() == pytest.approx(energy, abs=1e-4)
    assert calc.get_property("free_energy", atoms) == energy
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert forces.shape == (len(atoms), 3) and stress.shape == (6,)
    # the same (unchanged) atoms are not recomputed
    results = calc.results
    atoms.get_forces()
    assert calc.results is results
    atoms.positions[0, 0] += 0.05
    assert calc.check_state(atoms) == ["positions"]
    moved = atoms.get_potential_energy()
    assert calc.results is not results and moved == PotentialCalculator(trained).get_potential_energy(atoms)
    # float64 rebuild of the same weights agrees to float32 round-off
    calc64 = PotentialCalculator(load_potential(trained, dtype="float64"))
    assert calc64.get_potential_energy(atoms) == pytest.approx(atoms.get_potential_energy(), abs=1e-4)


def test_calculator_errors_are_clear(trained, tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        PotentialCalculator(tmp_path / "missing.pt")
    with pytest.raises(UnknownElementError, match="Cu"):
        PotentialCalculator(trained).get_potential_energy(Atoms("CuO", positions=[[0, 0, 0], [2, 0, 0]]))
    cluster = Atoms("HfO", positions=[[0, 0, 0], [2, 0, 0]])
    cluster.calc = PotentialCalculator(trained)
    assert np.isfinite(cluster.get_potential_energy())
    with pytest.raises(PropertyNotImplementedError, match="fully periodic"):
        cluster.get_stress()
    with pytest.raises(FileFormatError, match="not a hamtrans Hamiltonian model.*interatomic potential"):
        load_model(trained)
    no_cell = Atoms("HfO", positions=[[0, 0, 0], [2, 0, 0]], pbc=True)
    with pytest.raises(StructureError, match="cell vectors"):
        PotentialCalculator(trained).get_potential_energy(no_cell)
    overlapping = Atoms("HfO", positions=[[0, 0, 0], [0.2, 0, 0]])
    with pytest.raises(StructureError, match="overlap"):
        PotentialCalculator(trained).get_forces(overlapping)


def test_model_file_round_trip_and_version_guard(trained, tmp_path):
    model = load_potential(trained)
    path = save_potential(tmp_path / "copy.pt", model, {"note": "copy"})
    again = load_potential(path)
    assert again.metadata == {"note": "copy"}
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    payload = torch.load(path, weights_only=True)
    payload["version"] = [2, 0]
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(FileFormatError, match="interatomic potential format 2.x"):
        load_potential(tmp_path / "future.pt")


@pytest.mark.slow
def test_nve_md_with_the_shipped_potential_conserves_energy_in_float64():
    """Velocity Verlet, 1 fs, 0.4 ps from 600 K: drift < 1e-4 eV/atom/ps (2 ps runs: benchmarks/potential_nve.py)."""
    atoms = bulk_hfo2((2, 1, 1), rattle=0.05, seed=1)
    atoms.calc = PotentialCalculator(load_potential("vcm-gfn1-potential", dtype="float64"))
    thermalize_momenta(atoms, temperature_K=600, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    totals = []
    for _ in range(400):
        dynamics.run(1)
        totals.append(atoms.get_total_energy() / len(atoms))
    times_ps = np.arange(len(totals)) * 1e-3
    assert abs(np.polyfit(times_ps, totals, 1)[0]) < 1e-4  # eV/atom/ps
    assert np.ptp(totals) < 3e-4  # eV/atom: the 1 fs integration error only, no jumps at the cutoff
    assert atoms.get_temperature() > 300  # the atoms did move
