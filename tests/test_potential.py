"""Interatomic potential physics: forces = −∇E, stress = strain derivative, invariances, locality, staged == serial."""

import numpy as np
import pytest
from ase import Atoms

from hamtrans.data.structures import bulk_tin
from hamtrans.models.potential import (
    InteratomicPotential,
    PotentialConfig,
    evaluate,
    prepare_potential_inputs,
    stress_from_virial,
)
from hamtrans.models.staged import evaluate_staged, ghost_decomposition
from tests.equivariance import assert_potential_equivariant
from tests.potential_teacher import random_potential
from tests.structures import mixed_cell

SPECIES = [7, 8, 22, 72]


def energy(model, atoms) -> float:
    inputs = prepare_potential_inputs(atoms, SPECIES, model.config.cutoff, model.config.torch_dtype)
    return float(evaluate(model, inputs)["energy"].detach())


def results(model, atoms) -> dict:
    inputs = prepare_potential_inputs(atoms, SPECIES, model.config.cutoff, model.config.torch_dtype)
    return {k: v.detach().double().numpy() for k, v in evaluate(model, inputs).items()}


@pytest.mark.parametrize("periodic", [True, False])
def test_forces_are_minus_the_energy_gradient(periodic):
    model = random_potential()
    atoms = mixed_cell()
    atoms.pbc = periodic
    forces = results(model, atoms)["forces"]
    step = 1e-5
    for atom, axis in [(0, 0), (3, 1), (7, 2), (11, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += step
        minus.positions[atom, axis] -= step
        finite = -(energy(model, plus) - energy(model, minus)) / (2 * step)
        assert abs(forces[atom, axis] - finite) < 1e-7 * max(1.0, abs(finite))
    assert np.abs(forces.sum(axis=0)).max() < 1e-12  # Newton's third law: no net force


def test_float32_forces_match_finite_differences_to_1e_3():
    model64 = random_potential("float64")
    model32 = random_potential("float32")
    model32.load_state_dict(model64.state_dict())
    atoms = mixed_cell(1)
    f32 = results(model32, atoms)["forces"]
    step = 1e-4
    for atom, axis in [(1, 0), (5, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += step
        minus.positions[atom, axis] -= step
        finite = -(energy(model64, plus) - energy(model64, minus)) / (2 * step)
        assert abs(f32[atom, axis] - finite) < 1e-3


def test_stress_is_the_strain_derivative_of_the_energy():
    model = random_potential()
    atoms = mixed_cell(2)
    out = results(model, atoms)
    stress = stress_from_virial(out["virial"], atoms.get_volume())
    step = 1e-6
    volume = atoms.get_volume()
    for voigt, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        strained = []
        for sign in (1, -1):
            symmetric = np.zeros((3, 3))
            symmetric[a, b] = symmetric[b, a] = sign * step / (2 if a != b else 1)
            strain = np.eye(3) + symmetric
            copy = atoms.copy()
            copy.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            strained.append(energy(model, copy))
        finite = (strained[0] - strained[1]) / (2 * step) / volume
        assert abs(stress[voigt] - finite) < 1e-8, (voigt, stress[voigt], finite)


def test_energy_invariant_and_forces_covariant_under_o3_translation_permutation():
    model = random_potential()
    atoms = mixed_cell(3)
    reference = results(model, atoms)
    assert_potential_equivariant(lambda structure: results(model, structure), atoms, 1e-10)  # parity included
    order = np.random.default_rng(0).permutation(len(atoms))
    shuffled = results(model, atoms[order])
    assert abs(shuffled["energy"] - reference["energy"]) < 1e-10
    np.testing.assert_allclose(shuffled["forces"], reference["forces"][order], atol=1e-12)
    np.testing.assert_allclose(shuffled["energies"], reference["energies"][order], atol=1e-12)


def test_atoms_beyond_the_receptive_field_change_an_atomic_energy_by_exactly_zero():
    model = random_potential(n_layers=2, cutoff=3.0)
    chain = Atoms("HfOHfOHfOHfO", positions=[[2.0 * k, 0.1 * (k % 2), 0] for k in range(8)])
    base = results(model, chain)["energies"]
    far = chain.copy()
    far.positions[7] += [0.0, 0.3, 0.2]  # 14 Å from atom 0; receptive field 2 × 3 Å
    moved = results(model, far)["energies"]
    assert moved[0] == base[0] and moved[1] == base[1]
    assert moved[6] != base[6]


@pytest.mark.parametrize("maker", [lambda: mixed_cell(4), lambda: bulk_tin((1, 1, 1), rattle=0.1, seed=1)])
def test_staged_evaluation_with_ghost_exchange_equals_serial(maker):
    """The LAMMPS path: local + ghost atoms, one exchange per layer. TiN (4.24 Å) is smaller than 2 × cutoff."""
    model = random_potential(n_layers=3)
    atoms = maker()
    serial = results(model, atoms)
    species, n_local, edge_index, vectors, exchange = ghost_decomposition(atoms, SPECIES, model.config.cutoff)
    assert len(species) > 2 * n_local  # many ghosts: the cell is small
    staged = evaluate_staged(model, species, n_local, edge_index, vectors, exchange)
    forces = exchange.reverse(staged.forces.detach()).numpy()  # ghost forces sent home (LAMMPS newton on)
    assert abs(float(staged.energies.sum()) - serial["energy"]) < 1e-12
    np.testing.assert_allclose(staged.energies.numpy(), serial["energies"], atol=1e-13)
    np.testing.assert_allclose(forces, serial["forces"], atol=1e-12)
    np.testing.assert_allclose(staged.virial.numpy(), serial["virial"], atol=1e-12)


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="dtype"):
        InteratomicPotential(PotentialConfig(species=(8,), dtype="float16"))
    with pytest.raises(ValueError, match="n_layers"):
        InteratomicPotential(PotentialConfig(species=(8,), n_layers=0))
