"""Random-weight potentials: the teacher of small training sets (labels any potential can learn) and a
perturbed one with non-trivial statistics for the physics checks."""

from pathlib import Path

import numpy as np
import torch
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.structures import bulk_hfo2, bulk_tin
from hamtrans.models.potential import (
    InteratomicPotential,
    PotentialConfig,
    evaluate,
    prepare_potential_inputs,
    stress_from_virial,
)

SPECIES = (7, 8, 22, 72)


def teacher(seed: int = 42) -> InteratomicPotential:
    torch.manual_seed(seed)
    model = InteratomicPotential(PotentialConfig(species=SPECIES, cutoff=3.5, channels=8, lmax=1, n_layers=1,
                                                 radial_hidden=16, dtype="float64"))
    with torch.no_grad():
        model.energy_shift.copy_(torch.tensor([-3.0, -4.5, -6.0, -9.0]))
        model.average_neighbours.fill_(10.0)
    return model


def random_potential(dtype: str = "float64", n_layers: int = 2, cutoff: float = 4.0,
                     seed: int = 0) -> InteratomicPotential:
    """A potential with random (not trained) weights and non-trivial statistics."""
    torch.manual_seed(seed)
    model = InteratomicPotential(PotentialConfig(species=SPECIES, cutoff=cutoff, channels=8, lmax=2,
                                                 n_layers=n_layers, radial_hidden=16, dtype=dtype))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
        model.energy_shift.copy_(torch.tensor([-3.0, -4.0, -6.0, -9.0]))
        model.energy_scale.fill_(0.7)
        model.average_neighbours.fill_(12.0)
    return model


def labelled_structures(count: int, seed: int = 0, teacher_seed: int = 42):
    """Rattled, strained HfO2 and TiN cells with the teacher's energy, forces and stress."""
    model, out = teacher(teacher_seed), []
    rng = np.random.default_rng(seed)
    for k in range(count):
        maker = bulk_hfo2 if k % 2 == 0 else bulk_tin
        atoms = maker((1, 1, 1), rattle=0.1, seed=int(rng.integers(1 << 30)))
        atoms.set_cell(atoms.cell.array * (1 + rng.uniform(-0.03, 0.03)), scale_atoms=True)
        inputs = prepare_potential_inputs(atoms, list(SPECIES), model.config.cutoff, torch.float64)
        result = evaluate(model, inputs)
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(result["energy"].detach()), forces=result["forces"].detach().numpy(),
            stress=stress_from_virial(result["virial"].detach().numpy(), atoms.get_volume()))
        out.append(atoms)
    return out


def write_teacher_data(folder: Path, count: int = 12, seed: int = 0, teacher_seed: int = 42,
                       name: str = "teacher_potential") -> tuple[Path, Path]:
    """The same labelled structures as a hamtrans dataset and as extxyz; returns both paths."""
    frames = labelled_structures(count, seed, teacher_seed)
    h5, xyz = folder / f"{name}.h5", folder / f"{name}.extxyz"
    with DatasetWriter(h5, OrbitalBasis.named("gfn1-xtb"), {"method": "teacher potential"}) as writer:
        for k, atoms in enumerate(frames):
            calc = atoms.calc
            writer.append(Record(atoms, energy=calc.results["energy"], forces=calc.results["forces"],
                                 stress=calc.results["stress"], source="teacher", name=f"teacher-{k}"))
    write(xyz, frames)
    return h5, xyz
