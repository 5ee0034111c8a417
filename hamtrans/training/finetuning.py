"""``hamtrans finetune``: fine-tune a trained potential without forgetting (reEWC, arXiv 2506.15223).

reEWC combines two remedies for catastrophic forgetting:

* **experience replay** — old training structures are mixed into the new data:
  ``round(replay_fraction · N_new)`` of them, drawn once by seed from the
  ``finetune.replay`` files, join the training set;
* **elastic weight consolidation** — a penalty ``λ/2 · Σ_k F_k (θ_k − θ*_k)²``
  keeps the weights that mattered for the old data close to their trained values
  ``θ*``; ``F`` is the diagonal empirical Fisher information, the mean over
  ``fisher_structures`` old structures of the squared gradient of their loss.

``ewc_weight: 0`` with ``replay_fraction: 0`` is plain fine-tuning. The model
hyper-parameters and data statistics (energy shifts, scale, neighbour count) are
those of the starting model. Validation runs on the new data; measure forgetting
with ``hamtrans evaluate`` on held-out old data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hamtrans.config import load_raw
from hamtrans.errors import TrainingError
from hamtrans.models.model_file import load_potential
from hamtrans.training.config import TrainConfig, parse_config
from hamtrans.training.potential_task import PotentialSample, PotentialTask, read_labels, split_labels


def load_finetune_config(path: str | Path) -> TrainConfig:
    """Read a fine-tuning configuration; the model section comes from ``finetune.model``."""
    raw = load_raw(path)
    start = (raw.get("finetune") or {}).get("model")
    if not start:
        raise TrainingError(f"{path}: finetune.model (the trained potential to start from) is required")
    if raw.get("task", "potential") != "potential":
        raise TrainingError(f"{path}: fine-tuning is available for task 'potential' only")
    model = load_potential(start)
    return parse_config({**raw, "task": "potential"}, model=model.config)


class ReplayEWCTask(PotentialTask):
    """:class:`~hamtrans.training.trainer.TrainingTask`: potential training from a trained model with reEWC."""

    def build(self) -> tuple[torch.nn.Module, list[PotentialSample], list[PotentialSample]]:
        ft = self.config.finetune
        if ft is None:
            raise TrainingError("the configuration has no finetune section")
        if ft.replay_fraction < 0 or ft.ewc_weight < 0:
            raise TrainingError("finetune.replay_fraction and finetune.ewc_weight must be ≥ 0")
        model = load_potential(ft.model, dtype=self.config.model.dtype)
        model.train()
        new_labels, validation_labels = split_labels(self.config)
        old_labels = [labels for path in ft.replay for labels in read_labels(path)]
        if (ft.replay_fraction > 0 or ft.ewc_weight > 0) and not old_labels:
            raise TrainingError("finetune.replay lists no old data, but replay or EWC was asked for")
        rng = np.random.default_rng(self.config.data.seed)
        replay_count = min(len(old_labels), int(round(ft.replay_fraction * len(new_labels))))
        replayed = [old_labels[k] for k in rng.choice(len(old_labels), replay_count, replace=False)]
        train = self.samples(new_labels + replayed)
        self.anchor = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.fisher = {}
        if ft.ewc_weight > 0:
            count = min(len(old_labels), ft.fisher_structures)
            chosen = [old_labels[k] for k in rng.choice(len(old_labels), count, replace=False)]
            self.fisher = diagonal_fisher(model, self, self.samples(chosen))
        return model, train, self.samples(validation_labels)

    def penalty(self, model: torch.nn.Module) -> torch.Tensor | None:
        if not self.fisher:
            return None
        total = sum((self.fisher[name] * (p - self.anchor[name]) ** 2).sum()
                    for name, p in model.named_parameters() if name in self.fisher)
        return 0.5 * self.config.finetune.ewc_weight * total


def diagonal_fisher(model: torch.nn.Module, task: PotentialTask, samples: list[PotentialSample]
                    ) -> dict[str, torch.Tensor]:
    """Mean squared gradient of each structure's loss per parameter (the empirical diagonal Fisher)."""
    fisher = {name: torch.zeros_like(p) for name, p in model.named_parameters() if p.requires_grad}
    for sample in samples:
        model.zero_grad()
        task.loss(model, sample).backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                fisher[name] += p.grad.detach() ** 2 / len(samples)
    model.zero_grad()
    return fisher
