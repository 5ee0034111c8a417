"""The task a training configuration names, and a trainer for it."""

from __future__ import annotations

from hamtrans.training.config import TrainConfig
from hamtrans.training.hamiltonian_task import HamiltonianTask
from hamtrans.training.potential_task import PotentialTask
from hamtrans.training.trainer import Trainer, TrainingTask

__all__ = ["make_task", "make_trainer"]


def make_task(config: TrainConfig) -> TrainingTask:
    """:class:`PotentialTask` for ``task: potential``, :class:`HamiltonianTask` otherwise."""
    return PotentialTask(config) if config.task == "potential" else HamiltonianTask(config)


def make_trainer(config: TrainConfig, **options) -> Trainer:
    """A :class:`Trainer` of the configuration's task; ``options`` are the trainer's keywords."""
    return Trainer(config, make_task(config), **options)
