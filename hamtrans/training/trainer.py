"""The training loop of ``hamtrans train`` and ``hamtrans finetune``, shared by every task.

What is learned comes from a :class:`TrainingTask` (:mod:`.hamiltonian_task`
for H/S blocks, :mod:`.potential_task` for energies/forces/stress,
:mod:`.finetuning` for replay + EWC fine-tuning; :mod:`.tasks` picks the one a
configuration names); this module knows only the protocol and owns the rest:

* Adam, ReduceLROnPlateau on ``training.best_metric`` (the validation loss by
  default, or one of the task's MAE columns), gradient clipping, an
  exponential moving average (EMA) of the weights that is validated and saved.
* Per-epoch metrics (the task's fields) to ``metrics.csv`` and a tqdm bar.
* ``checkpoint.pt`` every ``checkpoint_every`` steps and at each epoch end,
  ``best.pt`` (a model file) at the lowest ``best_metric``; these, ``metrics.csv``
  and ``config.json`` are written atomically (a temporary file in the same folder,
  then ``os.replace``), so a process killed at any moment leaves every file either
  complete or as it was, and ``--resume`` loses at most ``checkpoint_every`` steps.
  ``--resume`` restores weights, EMA, optimiser, scheduler, epoch and the position
  inside the epoch (batch order is a function of seed and epoch), so a resumed run
  continues exactly.
* An output folder that already holds a run is refused unless the run is resumed
  or ``overwrite`` replaces it (its files are then removed before training starts).
* Data-parallel with ``torchrun`` (DDP; gloo on CPU, nccl on GPU): each rank
  takes every ``world``-th sample of a batch; losses are normalised by the global
  entry count, so the gradient equals the single-process one.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from hamtrans.atomic_files import atomic_write
from hamtrans.errors import TrainingError
from hamtrans.training.config import TrainConfig

__all__ = ["Trainer", "TrainingError", "TrainingTask"]

#: Files of a run in its output folder (with their ``.partial`` temporaries, what ``overwrite`` removes).
RUN_FILES = ("best.pt", "checkpoint.pt", "metrics.csv", "config.json")


class TrainingTask(Protocol):
    """What a task gives the trainer."""

    #: Validation metrics written to ``metrics.csv`` (besides ``val_loss``).
    metric_fields: list[str]

    def build(self) -> tuple[torch.nn.Module, list, list]:
        """The model (data statistics fitted), the training samples and the validation samples."""

    def entries(self, sample) -> int:
        """How many loss terms a sample holds (losses are normalised by the batch total)."""

    def loss(self, network: torch.nn.Module, sample) -> torch.Tensor:
        """Sum of the sample's loss terms."""

    def penalty(self, model: torch.nn.Module) -> torch.Tensor | None:
        """A per-step regularisation added to the batch loss (e.g. EWC), or ``None``."""

    def validation_sums(self, model: torch.nn.Module, sample) -> torch.Tensor:
        """Fixed-length float64 vector of sums over one sample (added over samples and ranks)."""

    def metrics(self, sums: torch.Tensor) -> dict:
        """Metrics (with ``val_loss``) from the summed vectors."""

    def summary(self, metrics: dict) -> str:
        """One-line progress text."""

    def save(self, path: Path, model: torch.nn.Module, metadata: dict) -> None:
        """Write a model file."""


class Trainer:
    """Runs a training configuration; see the module docstring.

    Parameters
    ----------
    config
        Parsed configuration.
    task
        What is learned (:func:`hamtrans.training.tasks.make_task` gives the one the
        configuration names).
    resume
        Continue from ``<output.directory>/checkpoint.pt``.
    stop_after_step
        Raise ``KeyboardInterrupt`` after this step (tests of crash recovery).
    overwrite
        Replace a run already in ``output.directory`` (without it, and without
        ``resume``, such a folder is refused).

    Raises
    ------
    TrainingError
        ``output.directory`` holds a run and neither ``resume`` nor ``overwrite`` is given,
        or both are, or the data do not fit the configuration.
    """

    def __init__(self, config: TrainConfig, task: TrainingTask, resume: bool = False,
                 stop_after_step: int | None = None, overwrite: bool = False) -> None:
        self.config = config
        self.directory = Path(config.output.directory)
        self.stop_after_step = stop_after_step
        # every rank checks before the DDP wrapper's first collective, so none has written yet
        self._check_output_folder(resume, overwrite)
        self.world, self.rank = 1, 0
        self._owns_process_group = False
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
                self._owns_process_group = True
            self.world, self.rank = dist.get_world_size(), dist.get_rank()
        self.task = task
        self.metric_fields = ["epoch", "step", "learning_rate", "train_loss", "val_loss", *self.task.metric_fields,
                              "seconds"]
        selectable = ["val_loss", *self.task.metric_fields]
        if config.training.best_metric not in selectable:
            raise TrainingError(f"training.best_metric {config.training.best_metric!r} is not a validation metric of "
                                f"this task; choose one of {', '.join(selectable)}")
        self.model, self.train_samples, self.validation_samples = self.task.build()
        if not self.train_samples:
            raise TrainingError("no training samples left after the validation split")
        self.ema = copy.deepcopy(self.model)  # 3× faster than building e3nn modules again
        self.network = self.model
        if self.world > 1:
            self.network = torch.nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=True)
        tc = config.training
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=tc.lr_factor, patience=tc.lr_patience, min_lr=tc.min_learning_rate)
        self.step, self.epoch, self.batch_in_epoch, self.best = 0, 0, 0, math.inf
        self.metric_rows: list[list] = []
        if self.rank == 0:
            self.directory.mkdir(parents=True, exist_ok=True)
        if resume:
            self._load_checkpoint()
        elif self.rank == 0:
            for name in RUN_FILES:
                for path in (self.directory / name, self.directory / f"{name}.partial"):
                    path.unlink(missing_ok=True)
            atomic_write(self.directory / "config.json",
                         lambda path: path.write_text(json.dumps(config.to_dict(), indent=2) + "\n"))
            self._write_metrics()

    def _check_output_folder(self, resume: bool, overwrite: bool) -> None:
        """Refuse to start a new run over the files of another one (see the class ``Raises``)."""
        if resume and overwrite:
            raise TrainingError("--resume continues the run in output.directory and --overwrite replaces it: "
                                "give one of them")
        found = [name for name in RUN_FILES[:3] if (self.directory / name).exists()]
        if found and not (resume or overwrite):
            raise TrainingError(
                f"output.directory {self.directory} already holds a training run ({', '.join(found)}); training "
                f"would overwrite it: continue it with --resume, replace it with --overwrite, or choose another "
                f"output.directory")

    # -- files ------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.directory / "checkpoint.pt"

    def _write_metrics(self) -> None:
        """``metrics.csv``: the header and :attr:`metric_rows`, replaced as a whole (atomic)."""

        def write(path: Path) -> None:
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerows([self.metric_fields, *self.metric_rows])

        atomic_write(self.directory / "metrics.csv", write)

    def _save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        state = {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "best": self.best,
            "model": self.model.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "config": json.dumps(self.config.to_dict()),
        }
        atomic_write(self.checkpoint_path, lambda path: torch.save(state, path))

    def _load_checkpoint(self) -> None:
        if not self.checkpoint_path.exists():
            raise TrainingError(f"--resume: no checkpoint at {self.checkpoint_path} (no run there, or it stopped "
                                f"before its first checkpoint); start the run without --resume, with --overwrite "
                                f"where the folder holds its other files")
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
            saved_config = json.loads(state["config"])
            position = state["step"], state["epoch"], state["batch_in_epoch"], state["best"]
        except Exception as exc:  # not a torch file, or not a checkpoint of this trainer
            raise TrainingError(f"--resume: {self.checkpoint_path} is not a hamtrans training checkpoint "
                                f"({type(exc).__name__}: {exc}); start the run again with --overwrite") from None
        if saved_config.get("task") == "hamiltonian":  # checkpoints older than the option
            saved_config["model"].setdefault("smooth_cutoffs", False)
        if _without_length(saved_config) != _without_length(self.config.to_dict()):
            raise TrainingError("--resume: the configuration differs from the one the checkpoint was written with "
                                "(only training.epochs and training.max_steps may change, to extend a run)")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.batch_in_epoch, self.best = position
        if self.rank == 0:  # keep the metric rows of the epochs the checkpoint had finished
            path = self.directory / "metrics.csv"
            rows = list(csv.reader(open(path, newline=""))) if path.exists() else []
            self.metric_rows = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < self.epoch]
            self._write_metrics()

    # -- steps ------------------------------------------------------------------------------
    def _batches(self, epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng([self.config.data.seed, epoch]).permutation(len(self.train_samples))
        size = self.config.training.batch_size
        return [order[k:k + size] for k in range(0, len(order), size)]

    def _train_step(self, batch: np.ndarray) -> float:
        tc = self.config.training
        mine = batch[self.rank::self.world]
        total_entries = sum(self.task.entries(self.train_samples[k]) for k in batch)
        self.optimizer.zero_grad()
        loss_value = 0.0
        # every rank runs at least one backward (a rank without samples contributes zero) and
        # gradients are all-reduced only on its last one
        work = [(k, 1.0) for k in mine] or [(batch[0], 0.0)]
        for position, (k, weight) in enumerate(work):
            sample = self.train_samples[k]
            last = position == len(work) - 1
            context = self.network.no_sync() if not (last or self.world == 1) else nullcontext()
            with context:
                loss = weight * self.task.loss(self.network, sample) / total_entries * self.world  # DDP averages
                extra = self.task.penalty(self.model) if last else None
                if extra is not None:
                    loss = loss + extra
                loss.backward()
            loss_value += loss.item() / self.world
        if self.world > 1:
            import torch.distributed as dist

            value = torch.tensor([loss_value], dtype=torch.float64)
            dist.all_reduce(value)
            loss_value = float(value)
        if not math.isfinite(loss_value):
            raise TrainingError(
                f"loss became {loss_value} at step {self.step + 1} (epoch {self.epoch}); training stopped. "
                f"The last good checkpoint is {self.checkpoint_path}; lower training.learning_rate and --resume")
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.gradient_clip)
        self.optimizer.step()
        with torch.no_grad():
            for ema_p, p in zip(self.ema.parameters(), self.model.parameters()):
                ema_p.mul_(tc.ema_decay).add_(p.detach(), alpha=1 - tc.ema_decay)
            # buffers (data statistics, coupling tables) are fixed during training
        return loss_value

    def validate(self) -> dict:
        """Metrics of the EMA weights on the validation samples (training samples if none)."""
        samples = self.validation_samples or self.train_samples
        sums = None
        for sample in samples[self.rank::self.world]:
            part = self.task.validation_sums(self.ema, sample)
            sums = part if sums is None else sums + part
        if sums is None:  # more ranks than validation samples
            sums = 0.0 * self.task.validation_sums(self.ema, samples[0])
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(sums)
        return self.task.metrics(sums)

    def _save_best(self, metrics: dict) -> None:
        if self.rank != 0:
            return
        metadata = {"metrics": metrics, "epoch": self.epoch, "step": self.step,
                    "train_data": list(self.config.data.train), "config": self.config.to_dict()}
        self.task.save(self.directory / "best.pt", self.ema, metadata)

    def close(self) -> None:
        """Wait for every rank and tear down the process group this trainer created.

        Without it the gloo threads are destroyed during interpreter shutdown, which aborts a rank
        (``terminate called without an active exception``) after training has already finished.
        The DDP wrapper (its reducer holds communication buffers and work handles) is released
        before the group goes, so nothing refers to the group's threads any more.
        """
        if self._owns_process_group:
            import gc

            import torch.distributed as dist

            dist.barrier()
            self.network = self.model
            gc.collect()
            dist.destroy_process_group()
            self._owns_process_group = False

    def run(self) -> dict:
        """Train until ``epochs`` (or ``max_steps``); returns the last validation metrics."""
        tc = self.config.training
        metrics: dict = {}
        while self.epoch < tc.epochs:
            batches = self._batches(self.epoch)
            start = time.perf_counter()
            losses = []
            bar = tqdm(total=len(batches), initial=self.batch_in_epoch, desc=f"epoch {self.epoch}",
                       disable=self.rank != 0, unit="batch", leave=False)
            while self.batch_in_epoch < len(batches):
                losses.append(self._train_step(batches[self.batch_in_epoch]))
                self.step += 1
                self.batch_in_epoch += 1
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3e}")
                if self.step % tc.checkpoint_every == 0:
                    self._save_checkpoint()
                if self.stop_after_step is not None and self.step >= self.stop_after_step:
                    bar.close()
                    raise KeyboardInterrupt(f"stopped after step {self.step} (test hook)")
                if tc.max_steps is not None and self.step >= tc.max_steps:
                    break
            bar.close()
            metrics = self.validate()
            if not math.isfinite(metrics[tc.best_metric]):
                raise TrainingError(
                    f"validation {tc.best_metric} is {metrics[tc.best_metric]} after epoch {self.epoch}, so best.pt "
                    f"cannot be chosen by it: the validation data do not define it (e.g. no stress, no overlap "
                    f"model) or the model diverged; set training.best_metric to val_loss or lower "
                    f"training.learning_rate")
            self.scheduler.step(metrics[tc.best_metric])
            finished_epoch = self.batch_in_epoch >= len(batches)
            row = {"epoch": self.epoch, "step": self.step, "learning_rate": self.optimizer.param_groups[0]["lr"],
                   "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   "seconds": time.perf_counter() - start, **metrics}
            if metrics[tc.best_metric] < self.best:
                self.best = metrics[tc.best_metric]
                self._save_best(metrics)
            if self.rank == 0:
                self.metric_rows.append([row[k] for k in self.metric_fields])
                self._write_metrics()
                print(f"epoch {self.epoch}: loss {row['train_loss']:.3e}  {self.task.summary(metrics)}  "
                      f"lr {row['learning_rate']:.1e}", flush=True)
            if finished_epoch:
                self.epoch += 1
                self.batch_in_epoch = 0
            self._save_checkpoint()
            if tc.max_steps is not None and self.step >= tc.max_steps:
                break
        return metrics


def _without_length(config: dict) -> dict:
    """A configuration without the keys that only set how long to train."""
    training = {k: v for k, v in config["training"].items() if k not in ("epochs", "max_steps")}
    return {**config, "training": training}
