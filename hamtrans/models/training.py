"""Training of the Hamiltonian (and overlap) model: ``hamtrans train CONFIG.yaml``.

* Samples are slabs of the dataset structures with their halo (augmented
  partitioning, :mod:`.partitioning`) or whole structures; the loss runs over the
  owned blocks only, so every block of a structure is counted once.
* Validation split by structure or by slab; extra validation files.
* Adam, ReduceLROnPlateau on the validation loss, gradient clipping, an
  exponential moving average (EMA) of the weights that is validated and saved.
* Per-epoch metrics (onsite "node" MAE, edge MAE, total MAE in meV, S MAE) to
  ``metrics.csv`` and a tqdm bar.
* ``checkpoint.pt`` every ``checkpoint_every`` steps and at each epoch end,
  ``best.pt`` (a model file) at the best validation loss; both written
  atomically. ``--resume`` restores weights, EMA, optimiser, scheduler, epoch and
  the position inside the epoch (batch order is a function of seed and epoch), so
  a resumed run continues exactly.
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
from contextlib import nullcontext as _nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import Dataset
from hamtrans.errors import HamtransError
from hamtrans.models.hamiltonian import HamiltonianModel, OverlapModel
from hamtrans.models.inputs import ModelInputs, prepare_inputs, species_indices
from hamtrans.models.model_file import save_model
from hamtrans.models.partitioning import slice_structure
from hamtrans.models.train_config import TrainConfig

METRIC_FIELDS = ["epoch", "step", "learning_rate", "train_loss", "val_loss", "node_mae_meV", "edge_mae_meV",
                 "total_mae_meV", "overlap_mae", "seconds"]


class TrainingError(HamtransError):
    """Training cannot go on (NaN loss, data that does not fit the model)."""


@dataclass
class Sample:
    """One slab or structure: model inputs and the owned targets (H in eV, S)."""

    name: str
    inputs: ModelInputs
    onsite_index: torch.Tensor
    edge_index: torch.Tensor
    h_onsite: torch.Tensor
    h_edges: torch.Tensor
    s_onsite: torch.Tensor
    s_edges: torch.Tensor

    @property
    def entries(self) -> int:
        return int(self.h_onsite.numel() + self.h_edges.numel())


# -- data ------------------------------------------------------------------------------------


def _check_record(record, model_basis: OrbitalBasis, config, source: str) -> None:
    if record.hamiltonian is None or record.overlap is None:
        raise TrainingError(f"{source}: structure {record.name!r} has no H and S blocks")
    basis = record.hamiltonian.basis
    species_indices(record.atoms.numbers, list(config.model.species))  # unknown elements: clear error
    for z in set(int(z) for z in record.atoms.numbers):
        if model_basis.shells_of(z) != basis.shells_of(z):
            raise TrainingError(f"{source}: dataset basis '{basis.name}' ({basis.irreps(z)} for Z={z}) does not "
                                f"match the model basis '{model_basis.name}' ({model_basis.irreps(z)})")
    longest = float(record.graph.distances.max(initial=0.0))
    if longest > config.model.block_cutoff + 1e-6:
        raise TrainingError(f"{source}: dataset blocks reach {longest:.2f} Å but model.block_cutoff is "
                            f"{config.model.block_cutoff} Å; raise block_cutoff to at least the dataset cutoff")


def samples_from_record(record, config: TrainConfig, model_basis: OrbitalBasis, name: str) -> list[Sample]:
    """Slabs (or the whole structure) of one record as training samples."""
    mc, dc = config.model, config.data
    dtype = mc.torch_dtype
    tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)
    index = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long)
    h, s = record.hamiltonian, record.overlap
    if dc.slab_width is None:
        inputs = prepare_inputs(record.atoms, record.graph, model_basis, list(mc.species), mc.mp_cutoff, dtype)
        on, ed = np.arange(h.onsite.size), np.arange(h.edges.size)
        return [Sample(name, inputs, index(on), index(ed), tensor(h.onsite), tensor(h.edges), tensor(s.onsite),
                       tensor(s.edges))]
    halo = mc.block_cutoff + mc.receptive_field
    out = []
    for k, slab in enumerate(slice_structure(record.atoms, record.graph, dc.slab_axis, dc.slab_width, halo)):
        inputs = prepare_inputs(slab.atoms, slab.graph, model_basis, list(mc.species), mc.mp_cutoff, dtype)
        slab_on, full_on, slab_ed, full_ed = slab.label_indices(model_basis, record.atoms.numbers, record.graph)
        out.append(Sample(f"{name}/slab{k}", inputs, index(slab_on), index(slab_ed), tensor(h.onsite[full_on]),
                          tensor(h.edges[full_ed]), tensor(s.onsite[full_on]), tensor(s.edges[full_ed])))
    return out


def load_samples(config: TrainConfig, model_basis: OrbitalBasis):
    """``(train, validation, records)``: samples split as configured, and the training records (for statistics)."""
    dc = config.data
    rng = np.random.default_rng(dc.seed)
    train_records, validation = [], []
    for path in dc.train:
        with Dataset(path) as data:
            if len(data) == 0:
                raise TrainingError(f"dataset {path} is empty")
            for k, record in enumerate(data):
                _check_record(record, model_basis, config, path)
                train_records.append((f"{Path(path).stem}:{k}", record))
    for path in dc.validation:
        with Dataset(path) as data:
            for k, record in enumerate(data):
                _check_record(record, model_basis, config, path)
                validation += samples_from_record(record, config, model_basis, f"{Path(path).stem}:{k}")
    held_out = set()
    if dc.split == "structure" and len(train_records) > 1 and dc.validation_fraction > 0:
        count = max(1, int(round(dc.validation_fraction * len(train_records))))
        held_out = set(rng.choice(len(train_records), count, replace=False).tolist())
    train = []
    for k, (name, record) in enumerate(train_records):
        samples = samples_from_record(record, config, model_basis, name)
        (validation if k in held_out else train).extend(samples)
    if dc.split == "slab" and dc.validation_fraction > 0 and len(train) > 1:
        count = max(1, int(round(dc.validation_fraction * len(train))))
        chosen = set(rng.choice(len(train), count, replace=False).tolist())
        validation += [sample for k, sample in enumerate(train) if k in chosen]
        train = [sample for k, sample in enumerate(train) if k not in chosen]
    if not train:
        raise TrainingError("no training samples left after the validation split")
    return train, validation, [record for k, (_, record) in enumerate(train_records) if k not in held_out]


# -- statistics --------------------------------------------------------------------------------


def fit_statistics(model: HamiltonianModel, records) -> None:
    """Set the model's per-slot scales and onsite shifts from the training records' H blocks."""
    species = {z: k for k, z in enumerate(model.species)}
    sums: dict = {}
    for record in records:
        h, numbers = record.hamiltonian, record.atoms.numbers
        layout = h.layout
        for kind, pointer, pairs in (("onsite", layout.onsite_ptr, [(z, z) for z in numbers]),
                                     ("edge", layout.edge_ptr,
                                      list(zip(numbers[h.graph.edge_index[0]], numbers[h.graph.edge_index[1]])))):
            values = h.onsite if kind == "onsite" else h.edges
            pair_keys = np.array([species[int(a)] * len(species) + species[int(b)] for a, b in pairs])
            for key in np.unique(pair_keys):
                a, b = divmod(int(key), len(species))
                blocks = np.flatnonzero(pair_keys == key)
                size = pointer[blocks[0] + 1] - pointer[blocks[0]]
                flat = values[pointer[blocks][:, None] + np.arange(size)]
                matrix = model.coupling.matrix(a, b).double().cpu().numpy()
                slots = flat @ matrix   # orthogonal: slots = Aᵀ · block
                entry = sums.setdefault((kind, a, b), [np.zeros(size), np.zeros(size), 0])
                entry[0] += slots.sum(0)
                entry[1] += (slots**2).sum(0)
                entry[2] += len(blocks)
    with torch.no_grad():
        for (kind, a, b), (total, squares, count) in sums.items():
            irreps = model.coupling.pair_irreps[(a, b)]
            expand = getattr(model, f"expand_{a}_{b}").cpu().numpy()
            mean = total / count
            per_irrep_mean = np.bincount(expand, mean) / np.bincount(expand)
            invariant = np.array([ir.l == 0 and ir.p == 1 for _, ir in irreps])
            shift = np.where(invariant, per_irrep_mean, 0.0) if kind == "onsite" else np.zeros(len(invariant))
            variance = squares / count - shift[expand] ** 2
            rms = np.sqrt(np.maximum(np.bincount(expand, variance) / np.bincount(expand), 0.0))
            scale = np.maximum(rms, 1e-4)  # eV; keeps slots that are zero in the data trainable
            if kind == "onsite":
                getattr(model, f"onsite_shift_{a}").copy_(torch.as_tensor(shift))
                getattr(model, f"onsite_scale_{a}").copy_(torch.as_tensor(scale))
            else:
                getattr(model, f"edge_scale_{a}_{b}").copy_(torch.as_tensor(scale))


# -- the trainer -------------------------------------------------------------------------------


class _Pair(torch.nn.Module):
    """H and S models as one module (one DDP wrapper, one state dict)."""

    def __init__(self, hamiltonian: HamiltonianModel, overlap: OverlapModel | None) -> None:
        super().__init__()
        self.hamiltonian = hamiltonian
        self.overlap = overlap

    def forward(self, inputs: ModelInputs):
        h = self.hamiltonian(inputs)
        s = self.overlap(inputs) if self.overlap is not None else None
        return h, s


def _errors(pair_output, sample: Sample):
    (h_on, h_ed), s_out = pair_output
    h_err = torch.cat([h_on[sample.onsite_index] - sample.h_onsite, h_ed[sample.edge_index] - sample.h_edges])
    s_err = None
    if s_out is not None:
        s_on, s_ed = s_out
        s_err = torch.cat([s_on[sample.onsite_index] - sample.s_onsite, s_ed[sample.edge_index] - sample.s_edges])
    return h_err, s_err


class Trainer:
    """Runs a training configuration; see the module docstring."""

    def __init__(self, config: TrainConfig, resume: bool = False, stop_after_step: int | None = None) -> None:
        self.config = config
        self.directory = Path(config.output.directory)
        self.stop_after_step = stop_after_step
        self.world, self.rank = 1, 0
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.world, self.rank = dist.get_world_size(), dist.get_rank()
        basis = config.model.orbital_basis()
        self.train_samples, self.validation_samples, records = load_samples(config, basis)
        torch.manual_seed(config.data.seed)
        hamiltonian = HamiltonianModel(config.model)
        overlap = OverlapModel(config.model) if config.training.train_overlap else None
        fit_statistics(hamiltonian, records)
        if overlap is not None:
            _fit_overlap_onsite(overlap, records)
        self.model = _Pair(hamiltonian, overlap)
        self.ema = copy.deepcopy(self.model)  # 3× faster than building e3nn modules again
        self.network = self.model
        if self.world > 1:
            self.network = torch.nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=True)
        tc = config.training
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=tc.lr_factor, patience=tc.lr_patience, min_lr=tc.min_learning_rate)
        self.step, self.epoch, self.batch_in_epoch, self.best = 0, 0, 0, math.inf
        if self.rank == 0:
            self.directory.mkdir(parents=True, exist_ok=True)
        if resume:
            self._load_checkpoint()
        elif self.rank == 0:
            (self.directory / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
            with open(self.directory / "metrics.csv", "w", newline="") as handle:
                csv.writer(handle).writerow(METRIC_FIELDS)

    # -- checkpoints ------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.directory / "checkpoint.pt"

    def _save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        state = {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "best": self.best,
            "model": self.model.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "config": json.dumps(self.config.to_dict()),
        }
        partial = self.checkpoint_path.with_name("checkpoint.pt.partial")
        torch.save(state, partial)
        os.replace(partial, self.checkpoint_path)

    def _load_checkpoint(self) -> None:
        if not self.checkpoint_path.exists():
            raise TrainingError(f"--resume: no checkpoint at {self.checkpoint_path}")
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        if _without_length(json.loads(state["config"])) != _without_length(self.config.to_dict()):
            raise TrainingError("--resume: the configuration differs from the one the checkpoint was written with "
                                "(only training.epochs and training.max_steps may change, to extend a run)")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.batch_in_epoch, self.best = (
            state["step"], state["epoch"], state["batch_in_epoch"], state["best"])
        if self.rank == 0:  # drop metric rows of epochs the checkpoint had not finished
            path = self.directory / "metrics.csv"
            rows = list(csv.reader(open(path))) if path.exists() else [METRIC_FIELDS]
            kept = [rows[0]] + [r for r in rows[1:] if int(r[0]) < self.epoch]
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerows(kept)

    # -- steps ------------------------------------------------------------------------------
    def _batches(self, epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng([self.config.data.seed, epoch]).permutation(len(self.train_samples))
        size = self.config.training.batch_size
        return [order[k:k + size] for k in range(0, len(order), size)]

    def _loss_terms(self, errors: torch.Tensor) -> torch.Tensor:
        return (errors**2).sum() if self.config.training.loss == "mse" else errors.abs().sum()

    def _train_step(self, batch: np.ndarray) -> float:
        tc = self.config.training
        mine = batch[self.rank::self.world]
        total_entries = sum(self.train_samples[k].entries for k in batch)
        self.optimizer.zero_grad()
        loss_value = 0.0
        # every rank runs at least one backward (a rank without samples contributes zero) and
        # gradients are all-reduced only on its last one
        work = [(k, 1.0) for k in mine] or [(batch[0], 0.0)]
        for position, (k, weight) in enumerate(work):
            sample = self.train_samples[k]
            sync = position == len(work) - 1 or self.world == 1
            context = self.network.no_sync() if not sync else _nullcontext()
            with context:
                h_err, s_err = _errors(self.network(sample.inputs), sample)
                loss = self._loss_terms(h_err)
                if s_err is not None:
                    loss = loss + tc.overlap_weight * self._loss_terms(s_err)
                loss = weight * loss / total_entries * self.world  # DDP averages over ranks
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
        sums = torch.zeros(6, dtype=torch.float64)  # |node|, n_node, |edge|, n_edge, loss, |S|
        s_count = 0
        with torch.no_grad():
            for sample in samples[self.rank::self.world]:
                (h_on, h_ed), s_out = self.ema(sample.inputs)
                node = h_on[sample.onsite_index] - sample.h_onsite
                edge = h_ed[sample.edge_index] - sample.h_edges
                sums[0] += node.abs().sum().item()
                sums[1] += node.numel()
                sums[2] += edge.abs().sum().item()
                sums[3] += edge.numel()
                sums[4] += self._loss_terms(torch.cat([node, edge])).item()
                if s_out is not None:
                    _, s_err = _errors(((h_on, h_ed), s_out), sample)
                    sums[5] += s_err.abs().sum().item()
                    sums[4] += self.config.training.overlap_weight * self._loss_terms(s_err).item()
                    s_count += s_err.numel()
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(sums)
            count = torch.tensor([s_count], dtype=torch.float64)
            dist.all_reduce(count)
            s_count = int(count)
        n_all = max(sums[1] + sums[3], 1)
        return {
            "val_loss": float(sums[4] / n_all),
            "node_mae_meV": float(sums[0] / max(sums[1], 1) * 1e3),
            "edge_mae_meV": float(sums[2] / max(sums[3], 1) * 1e3),
            "total_mae_meV": float((sums[0] + sums[2]) / n_all * 1e3),
            "overlap_mae": float(sums[5] / s_count) if s_count else float("nan"),
        }

    def _save_best(self, metrics: dict) -> None:
        if self.rank != 0:
            return
        metadata = {"metrics": metrics, "epoch": self.epoch, "step": self.step,
                    "train_data": list(self.config.data.train), "config": self.config.to_dict()}
        save_model(self.directory / "best.pt", self.ema.hamiltonian, self.ema.overlap, metadata)

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
            self.scheduler.step(metrics["val_loss"])
            finished_epoch = self.batch_in_epoch >= len(batches)
            row = {"epoch": self.epoch, "step": self.step, "learning_rate": self.optimizer.param_groups[0]["lr"],
                   "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   "seconds": time.perf_counter() - start, **metrics}
            if metrics["val_loss"] < self.best:
                self.best = metrics["val_loss"]
                self._save_best(metrics)
            if self.rank == 0:
                with open(self.directory / "metrics.csv", "a", newline="") as handle:
                    csv.writer(handle).writerow([row[k] for k in METRIC_FIELDS])
                print(f"epoch {self.epoch}: loss {row['train_loss']:.3e}  node {metrics['node_mae_meV']:.2f}  "
                      f"edge {metrics['edge_mae_meV']:.2f}  total {metrics['total_mae_meV']:.2f} meV  "
                      f"S {metrics['overlap_mae']:.1e}  lr {row['learning_rate']:.1e}", flush=True)
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


def _fit_overlap_onsite(overlap: OverlapModel, records) -> None:
    """Onsite S blocks are per-element constants: set their invariant slots to the data mean."""
    with torch.no_grad():
        for a, z in enumerate(overlap.species):
            blocks = []
            for record in records:
                s = record.overlap
                for atom in np.flatnonzero(record.atoms.numbers == z):
                    blocks.append(s.onsite_block(atom).ravel())
            if not blocks:
                continue
            slots = np.mean(blocks, axis=0) @ overlap.coupling.matrix(a, a).double().cpu().numpy()
            getattr(overlap, f"onsite_{a}").copy_(torch.as_tensor(slots))
