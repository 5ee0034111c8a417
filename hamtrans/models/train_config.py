"""``hamtrans train`` configuration: YAML sections with documented keys and defaults.

Example (every key optional except ``data.train`` and ``model.species``)::

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
      lr_factor: 0.5            # ReduceLROnPlateau on the validation loss
      lr_patience: 10
      min_learning_rate: 1.0e-5
      ema_decay: 0.99           # exponential moving average of the weights (used to validate and save)
      gradient_clip: 10.0
      loss: mse                 # 'mse' or 'mae' on H (and S) entries, eV
      train_overlap: true       # also fit the two-centre overlap model
      overlap_weight: 10.0
      checkpoint_every: 50      # optimiser steps between checkpoints
      max_steps: null           # stop after this many steps in total
    output:
      directory: runs/hamiltonian
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from ase.data import atomic_numbers

from hamtrans.errors import HamtransError
from hamtrans.models.hamiltonian import HamiltonianModelConfig


class ConfigError(HamtransError):
    """A training configuration is invalid."""


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
    checkpoint_every: int = 50
    max_steps: int | None = None


@dataclass(frozen=True)
class OutputSection:
    directory: str = "runs/hamiltonian"


@dataclass(frozen=True)
class TrainConfig:
    """The whole configuration (see the module docstring for every key)."""

    model: HamiltonianModelConfig
    data: DataSection = field(default_factory=DataSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    output: OutputSection = field(default_factory=OutputSection)
    task: str = "hamiltonian"

    def to_dict(self) -> dict:
        return {"task": self.task, "model": self.model.to_dict(), "data": _as_dict(self.data),
                "training": _as_dict(self.training), "output": _as_dict(self.output)}


def _as_dict(section) -> dict:
    out = {}
    for f in fields(section):
        value = getattr(section, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _check_keys(given: dict, cls, where: str) -> None:
    valid = [f.name for f in fields(cls)]
    for key in given:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
            raise ConfigError(f"unknown key '{key}' in {where}{hint}")


def _section(cls, given: dict | None, where: str):
    given = dict(given or {})
    _check_keys(given, cls, where)
    for f in fields(cls):
        if f.name in given and isinstance(given[f.name], list):
            given[f.name] = tuple(given[f.name])
    return cls(**given)


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


def parse_config(raw: dict) -> TrainConfig:
    """Validate a configuration dictionary (relative paths are relative to the working directory)."""
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a YAML mapping")
    _check_keys(raw, TrainConfig, "the configuration")
    task = raw.get("task", "hamiltonian")
    if task != "hamiltonian":
        raise ConfigError(f"task '{task}' is not available in this version (only 'hamiltonian')")
    model_raw = dict(raw.get("model") or {})
    _check_keys(model_raw, HamiltonianModelConfig, "model")
    if "species" not in model_raw:
        raise ConfigError("model.species is required (e.g. [N, O, Ti, Hf])")
    model_raw["species"] = _species(model_raw["species"])
    model_raw.setdefault("basis", "gfn1-xtb")
    model = HamiltonianModelConfig(**model_raw)
    data = _section(DataSection, raw.get("data"), "data")
    if not data.train:
        raise ConfigError("data.train must list at least one dataset file")
    if data.split not in ("slab", "structure"):
        raise ConfigError(f"data.split must be 'slab' or 'structure', not '{data.split}'")
    training = _section(TrainingSection, raw.get("training"), "training")
    if training.loss not in ("mse", "mae"):
        raise ConfigError(f"training.loss must be 'mse' or 'mae', not '{training.loss}'")
    output = _section(OutputSection, raw.get("output"), "output")
    return TrainConfig(model=model, data=data, training=training, output=output, task=task)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    return parse_config(yaml.safe_load(path.read_text()))
