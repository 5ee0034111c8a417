"""The potential task of ``hamtrans train`` (``task: potential``): energies, forces and stresses.

* Samples are whole structures from hamtrans HDF5 datasets or ASE-readable files
  (extxyz ...) whose frames carry energy and forces (stress optional).
* Statistics fitted before the first step: per-species energy shifts by least
  squares of the energies on the composition, the energy scale = force RMS
  (NequIP's choice), the average neighbour count within the cutoff.
* Loss per structure: ``w_E (ΔE/N)² + w_F ⟨ΔF²⟩ + w_σ ⟨Δσ²⟩`` (absolute values with
  ``loss: mae``); every structure weighs the same.
* Metrics: energy MAE (meV/atom), force MAE (meV/Å), stress MAE (meV/Å³) and RMSEs.

The optimisation loop is :class:`hamtrans.training.trainer.Trainer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

from hamtrans.errors import TrainingError
from hamtrans.models.model_file import save_potential
from hamtrans.models.potential import InteratomicPotential, PotentialInputs, evaluate, prepare_potential_inputs
from hamtrans.training.config import TrainConfig
from hamtrans.training.losses import loss_terms

VOIGT = [0, 4, 8, 5, 2, 1]  # flat indices of xx yy zz yz xz xy


@dataclass
class Labels:
    """Reference energy (eV), forces ``(N, 3)`` (eV/Å) and Voigt stress (eV/Å³, or ``None``) of a structure."""

    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    name: str


@dataclass
class PotentialSample:
    """One structure: model inputs and its labels as tensors."""

    name: str
    inputs: PotentialInputs
    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor | None
    volume: float

    @property
    def n_atoms(self) -> int:
        return len(self.inputs.species)


# -- data ------------------------------------------------------------------------------------


def read_labels(path: str | Path) -> list[Labels]:
    """Labelled structures of a hamtrans dataset (``.h5``) or of any ASE-readable file."""
    path = Path(path)
    if not path.exists():
        raise TrainingError(f"training data {path} does not exist")
    out = []
    if path.suffix in (".h5", ".hdf5"):
        from hamtrans.data.formats import Dataset

        with Dataset(path) as data:
            for k, record in enumerate(data):
                out.append(_checked(record.atoms, record.energy, record.forces, record.stress,
                                    record.name or f"{path.stem}:{k}", path))
    else:
        from ase.io import read

        for k, atoms in enumerate(read(path, index=":")):
            calc = atoms.calc
            if calc is None:
                raise TrainingError(f"{path}: frame {k} has no energy/forces (no calculator results in the file)")
            results = calc.results
            out.append(_checked(atoms, results.get("energy"), results.get("forces"), results.get("stress"),
                                f"{path.stem}:{k}", path))
    if not out:
        raise TrainingError(f"training data {path} is empty")
    return out


def _checked(atoms: Atoms, energy, forces, stress, name: str, path: Path) -> Labels:
    if energy is None or forces is None:
        raise TrainingError(f"{path}: structure {name!r} has no energy or forces; the potential needs both")
    forces = np.asarray(forces, dtype=np.float64)
    if forces.shape != (len(atoms), 3):
        raise TrainingError(f"{path}: structure {name!r} has forces of shape {forces.shape}, expected "
                            f"({len(atoms)}, 3)")
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        stress = stress.reshape(3, 3).flat[VOIGT] if stress.size == 9 else stress
        if not np.all(atoms.pbc):
            stress = None  # a stress is only defined for fully periodic cells
    return Labels(atoms, float(energy), forces, stress, name)


def make_sample(labels: Labels, model_config) -> PotentialSample:
    """Tensors of one labelled structure in the model's precision."""
    dtype = model_config.torch_dtype
    inputs = prepare_potential_inputs(labels.atoms, list(model_config.species), model_config.cutoff, dtype)
    stress = None if labels.stress is None else torch.as_tensor(labels.stress, dtype=dtype)
    return PotentialSample(labels.name, inputs, torch.tensor(labels.energy, dtype=dtype),
                           torch.as_tensor(labels.forces, dtype=dtype), stress,
                           float(labels.atoms.get_volume()) if np.all(labels.atoms.pbc) else float("nan"))


def split_labels(config: TrainConfig) -> tuple[list[Labels], list[Labels]]:
    """``(train, validation)`` structures: ``validation_fraction`` of ``data.train`` by seed, plus ``data.validation``."""
    dc = config.data
    train = [labels for path in dc.train for labels in read_labels(path)]
    validation = [labels for path in dc.validation for labels in read_labels(path)]
    if dc.validation_fraction > 0 and len(train) > 1:
        count = max(1, int(round(dc.validation_fraction * len(train))))
        held_out = set(np.random.default_rng(dc.seed).choice(len(train), count, replace=False).tolist())
        validation += [labels for k, labels in enumerate(train) if k in held_out]
        train = [labels for k, labels in enumerate(train) if k not in held_out]
    return train, validation


# -- statistics --------------------------------------------------------------------------------


def fit_statistics(model: InteratomicPotential, samples: list[PotentialSample]) -> None:
    """Per-species energy shifts (least squares on composition), energy scale (force RMS), neighbour count."""
    n_species = len(model.species)
    counts = np.array([np.bincount(s.inputs.species.numpy(), minlength=n_species) for s in samples], dtype=float)
    energies = np.array([float(s.energy) for s in samples])
    ridge = 1e-8 * np.eye(n_species)  # species absent from the data get shift 0 instead of a singular solve
    shifts = np.linalg.solve(counts.T @ counts + ridge, counts.T @ energies)
    forces = np.concatenate([s.forces.double().numpy().ravel() for s in samples])
    rms = float(np.sqrt(np.mean(forces**2))) if forces.size else 1.0
    neighbours = sum(s.inputs.edge_index.shape[1] for s in samples) / sum(s.n_atoms for s in samples)
    with torch.no_grad():
        model.energy_shift.copy_(torch.as_tensor(shifts))
        model.energy_scale.fill_(max(rms, 1e-3))
        model.average_neighbours.fill_(max(neighbours, 1.0))


# -- errors ----------------------------------------------------------------------------------------


def prediction_errors(model: torch.nn.Module, sample: PotentialSample, training: bool
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(ΔE/N, ΔF, Δσ)`` of one structure (``Δσ`` is ``None`` without a reference stress)."""
    out = evaluate(model, sample.inputs, training=training)
    energy_error = (out["energy"] - sample.energy) / sample.n_atoms
    force_error = out["forces"] - sample.forces
    stress_error = None
    if sample.stress is not None:
        stress = -out["virial"].flatten()[VOIGT] / sample.volume
        stress_error = stress - sample.stress
    return energy_error, force_error, stress_error


def evaluate_potential(model: InteratomicPotential, labels: list[Labels]) -> dict:
    """Energy (meV/atom), force (meV/Å) and stress (meV/Å³) MAE and RMSE of a potential on labelled structures."""
    model.eval()
    errors = [prediction_errors(model, make_sample(item, model.config), training=False) for item in labels]
    energy = np.array([float(e.detach()) for e, _, _ in errors])
    forces = np.concatenate([f.detach().double().numpy().ravel() for _, f, _ in errors])
    stress = [s.detach().double().numpy() for _, _, s in errors if s is not None]
    stress = np.concatenate(stress) if stress else np.array([np.nan])
    return {
        "structures": len(labels),
        "atoms": int(sum(len(item.atoms) for item in labels)),
        "energy_mae_meV_atom": float(np.abs(energy).mean() * 1e3),
        "energy_rmse_meV_atom": float(np.sqrt((energy**2).mean()) * 1e3),
        "force_mae_meV_A": float(np.abs(forces).mean() * 1e3),
        "force_rmse_meV_A": float(np.sqrt((forces**2).mean()) * 1e3),
        "stress_mae_meV_A3": float(np.abs(stress).mean() * 1e3),
    }


# -- the task ----------------------------------------------------------------------------------


class PotentialTask:
    """:class:`~hamtrans.training.trainer.TrainingTask` for the interatomic potential."""

    metric_fields = ["energy_mae_meV_atom", "force_mae_meV_A", "stress_mae_meV_A3", "energy_rmse_meV_atom",
                     "force_rmse_meV_A"]

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def samples(self, labels: list[Labels]) -> list[PotentialSample]:
        return [make_sample(item, self.config.model) for item in labels]

    def build(self) -> tuple[torch.nn.Module, list[PotentialSample], list[PotentialSample]]:
        train_labels, validation_labels = split_labels(self.config)
        train, validation = self.samples(train_labels), self.samples(validation_labels)
        torch.manual_seed(self.config.data.seed)
        model = InteratomicPotential(self.config.model)
        fit_statistics(model, train)
        return model, train, validation

    def entries(self, sample: PotentialSample) -> int:
        return 1

    def _weighted(self, energy_error: torch.Tensor, force_error: torch.Tensor,
                  stress_error: torch.Tensor | None) -> torch.Tensor:
        tc = self.config.training
        loss = (tc.energy_weight * loss_terms(energy_error, tc.loss)
                + tc.force_weight * loss_terms(force_error, tc.loss) / force_error.numel())
        if stress_error is not None:
            loss = loss + tc.stress_weight * loss_terms(stress_error, tc.loss) / stress_error.numel()
        return loss

    def loss(self, network: torch.nn.Module, sample: PotentialSample) -> torch.Tensor:
        # a DDP wrapper is called as the model, so its reducer sees the forward
        return self._weighted(*prediction_errors(network, sample, training=True))

    def penalty(self, model: torch.nn.Module) -> None:
        return None

    def validation_sums(self, model: torch.nn.Module, sample: PotentialSample) -> torch.Tensor:
        """``[Σ|ΔE/N|, Σ(ΔE/N)², n, Σ|ΔF|, ΣΔF², n_F, Σ|Δσ|, n_σ, loss]``."""
        errors = prediction_errors(model, sample, training=False)
        e, f, s = (None if t is None else t.detach().double() for t in errors)
        loss = self._weighted(e, f, s)
        return torch.tensor([e.abs().item(), (e**2).item(), 1, f.abs().sum().item(), (f**2).sum().item(), f.numel(),
                             0.0 if s is None else s.abs().sum().item(), 0 if s is None else 6, float(loss)],
                            dtype=torch.float64)

    def metrics(self, sums: torch.Tensor) -> dict:
        e_abs, e_sq, n, f_abs, f_sq, n_f, s_abs, n_s, loss = sums.tolist()
        return {
            "val_loss": loss / max(n, 1),
            "energy_mae_meV_atom": e_abs / max(n, 1) * 1e3,
            "force_mae_meV_A": f_abs / max(n_f, 1) * 1e3,
            "stress_mae_meV_A3": s_abs / n_s * 1e3 if n_s else float("nan"),
            "energy_rmse_meV_atom": (e_sq / max(n, 1)) ** 0.5 * 1e3,
            "force_rmse_meV_A": (f_sq / max(n_f, 1)) ** 0.5 * 1e3,
        }

    def summary(self, metrics: dict) -> str:
        return (f"E {metrics['energy_mae_meV_atom']:.2f} meV/atom  F {metrics['force_mae_meV_A']:.1f} meV/Å  "
                f"σ {metrics['stress_mae_meV_A3']:.2f} meV/Å³")

    def save(self, path: Path, model: torch.nn.Module, metadata: dict) -> None:
        save_potential(path, model, metadata)
