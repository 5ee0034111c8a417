"""``hamtrans train`` / ``hamtrans finetune`` configuration: YAML sections with documented keys and defaults.

``task: hamiltonian`` (every key optional except ``data.train`` and ``model.species``)::

    task: hamiltonian
    model:                      # HamiltonianModelConfig
      basis: gfn1-xtb
      species: [N, O, Ti, Hf]
      block_cutoff: 4.5         # Å, must match the dataset's graph cutoff
      mp_cutoff: 4.0            # Å, message-passing radius
      lmax: 4
      channels: 16
      n_layers: 1
      heads: 4
      dtype: float32
      electrostatics: false     # latent charges whose long-range potential adds ½(VS + SV) to H
      charge_width: 2.0         # Å, Gaussian width of those charges
      edge_convolution: tensor-product  # or so2: the edge stage in the edge-aligned frame (L³, not L⁶)
      mmax: null                # so2 only: largest |m| mixed (null: all)
    data:
      train: [a.h5, b.h5]       # hamtrans HDF5 datasets
      validation: []            # extra files used only for validation
      split: slab               # 'slab' or 'structure': how validation_fraction splits train
      validation_fraction: 0.1
      slab_axis: 0              # augmented partitioning: cut along this axis
      slab_width: 1.0           # Å; null = whole structures, no slicing
      seed: 0
    training:
      epochs: 100
      batch_size: 4             # slabs (or structures) per optimiser step
      learning_rate: 0.003
      lr_factor: 0.5            # ReduceLROnPlateau on best_metric
      lr_patience: 10
      min_learning_rate: 1.0e-5
      ema_decay: 0.99           # exponential moving average of the weights (used to validate and save)
      gradient_clip: 10.0
      loss: mse                 # 'mse' or 'mae' on H (and S) entries, eV
      train_overlap: true       # also fit the two-centre overlap model
      overlap_weight: 10.0
      onsite_weight: 1.0        # weight of the onsite-block entries of H in the loss (edges: 1); the
                                # onsite levels set band and defect energies but are few among the entries
                                # (val_loss uses it too; the energy zero of a validation structure stays
                                # the unweighted least-squares one)
      edge_magnitude_scale: null  # eV; weight every edge-block entry of H by 1 + |H_ref| / scale, so
                                # the few large hoppings that set band edges are not outvoted by the
                                # many small entries near block_cutoff (null: all weigh 1)
      initial_model: null       # start from this trained model's weights (same hyper-parameters; a
                                # charge head it lacks starts at zero charges)
      checkpoint_every: 50      # optimiser steps between checkpoints
      max_steps: null           # stop after this many steps in total
      best_metric: val_loss     # validation figure (lower is better) that picks best.pt and drives the
                                # schedule: val_loss or a metrics.csv column (node_mae_meV, edge_mae_meV,
                                # total_mae_meV, overlap_mae; for potentials energy_mae_meV_atom, ...)
      fit_energy_zero: false    # learn one constant c_k per training structure: labels are compared with
                                # H + c_k S (a reference's potential zero belongs to the whole cell)
    output:
      directory: runs/hamiltonian

``task: potential`` trains :class:`~hamtrans.models.potential.InteratomicPotential`
on energies, forces and stresses of whole structures (``data.slab_*`` do not apply;
both ``split`` values split by structure). Its ``model`` section and extra keys::

    task: potential
    model:                      # PotentialConfig
      species: [N, O, Ti, Hf]
      cutoff: 5.0               # Å, per interaction layer
      lmax: 2
      channels: 16
      n_layers: 3
      n_radial: 8
      radial_hidden: 64
      dtype: float32
    data:
      train: [train.h5]         # hamtrans HDF5 datasets with energy/forces (stress) or ASE-readable
                                # files (extxyz ...) whose frames carry energy/forces (stress)
    training:
      energy_weight: 1.0        # on (ΔE / N_atoms)², eV²
      force_weight: 1.0         # on the mean of ΔF², (eV/Å)²
      stress_weight: 10.0       # on the mean of Δσ², (eV/Å³)²; structures without stress skip it
    output:
      directory: runs/potential

``hamtrans finetune`` reads the same file plus a ``finetune`` section (reEWC:
experience replay + elastic weight consolidation, arXiv 2506.15223). The model
hyper-parameters come from the starting model, so ``model`` must be omitted::

    finetune:
      model: runs/potential/best.pt   # the trained model to start from
      replay: [old_train.h5]          # data the model was trained on (experience replay)
      replay_fraction: 0.5            # replayed old structures per new structure in every epoch
      ewc_weight: 1000.0              # λ of the EWC penalty λ/2 · Σ F_k (θ_k − θ*_k)² (0: plain replay)
      fisher_structures: 32           # old structures used to estimate the diagonal Fisher F
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from ase.data import atomic_numbers

from hamtrans.config import ConfigError, as_dict, check_keys, is_finite_number, load_raw, section
from hamtrans.models.hamiltonian import HamiltonianModelConfig, check_config
from hamtrans.models.potential import PotentialConfig


@dataclass(frozen=True)
class DataSection:
    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    split: str = "slab"
    validation_fraction: float = 0.1
    slab_axis: int = 0
    slab_width: float | None = 1.0
    seed: int = 0


@dataclass(frozen=True)
class TrainingSection:
    epochs: int = 100
    batch_size: int = 4
    learning_rate: float = 3e-3
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_learning_rate: float = 1e-5
    ema_decay: float = 0.99
    gradient_clip: float = 10.0
    loss: str = "mse"
    train_overlap: bool = True
    overlap_weight: float = 10.0
    onsite_weight: float = 1.0
    edge_magnitude_scale: float | None = None
    initial_model: str | None = None
    checkpoint_every: int = 50
    max_steps: int | None = None
    best_metric: str = "val_loss"
    fit_energy_zero: bool = False
    energy_weight: float = 1.0
    force_weight: float = 1.0
    stress_weight: float = 10.0


@dataclass(frozen=True)
class OutputSection:
    directory: str = "runs/hamiltonian"


@dataclass(frozen=True)
class FinetuneSection:
    model: str = ""
    replay: tuple[str, ...] = ()
    replay_fraction: float = 0.5
    ewc_weight: float = 1000.0
    fisher_structures: int = 32


@dataclass(frozen=True)
class TrainConfig:
    """The whole configuration (see the module docstring for every key)."""

    model: HamiltonianModelConfig | PotentialConfig
    data: DataSection = field(default_factory=DataSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    output: OutputSection = field(default_factory=OutputSection)
    task: str = "hamiltonian"
    finetune: FinetuneSection | None = None

    def to_dict(self) -> dict:
        out = {"task": self.task, "model": self.model.to_dict(), "data": as_dict(self.data),
               "training": as_dict(self.training), "output": as_dict(self.output)}
        if self.finetune is not None:
            out["finetune"] = as_dict(self.finetune)
        return out


# -- limits of the numeric keys: (test, what the value must be) -------------------------------------------

Rule = tuple[Callable[[object], bool], str]


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def optional(rule: Rule) -> Rule:
    """``rule`` that also allows ``null``."""
    return (lambda v: v is None or rule[0](v)), f"null or {rule[1]}"


POSITIVE: Rule = (lambda v: is_finite_number(v) and v > 0, "> 0 and finite")
NON_NEGATIVE: Rule = (lambda v: is_finite_number(v) and v >= 0, "≥ 0 and finite")
FRACTION: Rule = (lambda v: is_finite_number(v) and 0 <= v < 1, "in [0, 1)")
COUNT: Rule = (lambda v: _integer(v) and v >= 1, "an integer ≥ 1")
NON_NEGATIVE_INTEGER: Rule = (lambda v: _integer(v) and v >= 0, "an integer ≥ 0")
FLAG: Rule = (lambda v: isinstance(v, bool), "true or false")

RULES: dict[type, dict[str, Rule]] = {
    DataSection: {"validation_fraction": FRACTION,
                  "slab_axis": (lambda v: _integer(v) and 0 <= v <= 2, "0, 1 or 2 (x, y or z)"),
                  "slab_width": optional(POSITIVE), "seed": NON_NEGATIVE_INTEGER},
    TrainingSection: {"epochs": COUNT, "batch_size": COUNT, "learning_rate": POSITIVE,
                      "lr_factor": (lambda v: is_finite_number(v) and 0 < v < 1, "in (0, 1)"),
                      "lr_patience": NON_NEGATIVE_INTEGER, "min_learning_rate": NON_NEGATIVE, "ema_decay": FRACTION,
                      "gradient_clip": POSITIVE, "train_overlap": FLAG, "overlap_weight": NON_NEGATIVE,
                      "onsite_weight": POSITIVE, "edge_magnitude_scale": optional(POSITIVE), "checkpoint_every": COUNT, "max_steps": optional(COUNT),
                      "fit_energy_zero": FLAG, "energy_weight": NON_NEGATIVE, "force_weight": NON_NEGATIVE,
                      "stress_weight": NON_NEGATIVE},
    FinetuneSection: {"replay_fraction": NON_NEGATIVE, "ewc_weight": NON_NEGATIVE, "fisher_structures": COUNT},
    HamiltonianModelConfig: {"block_cutoff": POSITIVE, "block_margin": NON_NEGATIVE, "mp_cutoff": POSITIVE,
                             "lmax": NON_NEGATIVE_INTEGER, "channels": COUNT, "n_layers": COUNT, "heads": COUNT,
                             "n_radial": COUNT, "radial_hidden": COUNT, "electrostatics": FLAG,
                             "charge_width": POSITIVE, "mmax": optional(NON_NEGATIVE_INTEGER)},
    PotentialConfig: {"cutoff": POSITIVE, "lmax": NON_NEGATIVE_INTEGER, "channels": COUNT, "n_layers": COUNT,
                      "n_radial": COUNT, "radial_hidden": COUNT},
}


def check_values(instance, where: str) -> None:
    """Raise :class:`ConfigError` for the first key of a section outside its limits (:data:`RULES`).

    The message names the key, the value and what it must be.
    """
    rules = RULES[type(instance)]
    for f in fields(instance):
        if f.name in rules:
            test, requirement = rules[f.name]
            value = getattr(instance, f.name)
            if not test(value):
                raise ConfigError(f"{where}.{f.name} must be {requirement}, not {value!r}")


def _species(values) -> tuple[int, ...]:
    out = []
    for value in values:
        if isinstance(value, str):
            if value not in atomic_numbers:
                raise ConfigError(f"model.species: '{value}' is not an element symbol")
            out.append(atomic_numbers[value])
        else:
            out.append(int(value))
    return tuple(out)


TASKS = {"hamiltonian": HamiltonianModelConfig, "potential": PotentialConfig}


def parse_config(raw: dict, model: HamiltonianModelConfig | PotentialConfig | None = None) -> TrainConfig:
    """Validate a configuration dictionary (relative paths are relative to the working directory).

    ``model`` supplies the model hyper-parameters instead of the ``model`` section
    (fine-tuning takes them from the starting model). Every number is checked against its
    limits (:data:`RULES`) before anything is read or trained.
    """
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a YAML mapping")
    check_keys(raw, TrainConfig, "the configuration")
    task = raw.get("task", "hamiltonian")
    if task not in TASKS:
        raise ConfigError(f"task '{task}' is not known; available: {', '.join(TASKS)}")
    if model is None:
        model = _model_section(TASKS[task], raw.get("model"))
    elif raw.get("model"):
        raise ConfigError("the model section is not used here: the hyper-parameters come from the starting model")
    check_values(model, "model")
    if task == "hamiltonian":
        check_config(model, model.orbital_basis())
    data = section(DataSection, raw.get("data"), "data")
    check_values(data, "data")
    if not data.train:
        raise ConfigError("data.train must list at least one dataset file")
    if data.split not in ("slab", "structure"):
        raise ConfigError(f"data.split must be 'slab' or 'structure', not '{data.split}'")
    training = section(TrainingSection, raw.get("training"), "training")
    check_values(training, "training")
    if training.loss not in ("mse", "mae"):
        raise ConfigError(f"training.loss must be 'mse' or 'mae', not '{training.loss}'")
    if task != "hamiltonian" and training.initial_model:
        raise ConfigError("training.initial_model is for task 'hamiltonian'; potentials use hamtrans finetune")
    output = section(OutputSection, raw.get("output"), "output")
    finetune = None if raw.get("finetune") is None else section(FinetuneSection, raw["finetune"], "finetune")
    if finetune is not None:
        check_values(finetune, "finetune")
    return TrainConfig(model=model, data=data, training=training, output=output, task=task, finetune=finetune)


def _model_section(cls, given: dict | None):
    model_raw = dict(given or {})
    check_keys(model_raw, cls, "model")
    if "species" not in model_raw:
        raise ConfigError("model.species is required (e.g. [N, O, Ti, Hf])")
    model_raw["species"] = _species(model_raw["species"])
    if cls is HamiltonianModelConfig:
        model_raw.setdefault("basis", "gfn1-xtb")
    if model_raw.get("dtype", "float32") not in ("float32", "float64"):
        raise ConfigError(f"model.dtype must be 'float32' or 'float64', not '{model_raw['dtype']}'")
    return section(cls, model_raw, "model")


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML configuration file."""
    return parse_config(load_raw(path))
