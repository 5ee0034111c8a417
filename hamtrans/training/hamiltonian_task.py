"""The Hamiltonian task of ``hamtrans train``: H (and S) blocks of slabs or whole structures.

* Samples are slabs of the dataset structures with their halo (augmented
  partitioning, :mod:`hamtrans.models.partitioning`) or whole structures; the loss runs over the
  owned blocks only, so every block of a structure is counted once.
* Validation split by structure or by slab; extra validation files.
* Statistics: per-slot scales and onsite shifts of the H heads, onsite S constants,
  fitted from the training records before the first step (or taken, with all the
  weights, from ``training.initial_model``).
* ``model.electrostatics``: every sample also carries the inputs of its whole
  structure (the latent charges of all atoms are needed for the potential at any
  one) and the matrix ``G`` of :func:`~hamtrans.models.electrostatics.potential_matrix`
  rows for its atoms; the prediction compared with the labels is
  ``H_local + ½(VS + SV)`` with ``V = G (q − q̄)`` and the reference S.
* ``training.fit_energy_zero``: one learned constant ``c_k`` per training
  structure, the labels compared with ``H + c_k S_ref``. The potential zero of a
  reference calculation is a property of the whole cell (it moved by up to ±0.4 eV between
  the VCM devices), so without it a local model fits noise it cannot explain.
  With ``training.initial_model`` they start at the least-squares constants of that
  model's predictions (else at 0). Samples of structures without a learned constant
  (validation files, structures held out by ``split: structure``) are scored with
  their least-squares constant.
* Metrics: onsite ("node") MAE, edge MAE, total MAE (meV) and the S MAE.

The optimisation loop itself is :class:`hamtrans.training.trainer.Trainer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout
from hamtrans.data.formats import Dataset
from hamtrans.data.graphs import build_graph
from hamtrans.errors import TrainingError
from hamtrans.models.electrostatics import potential_matrix
from hamtrans.models.evaluation import energy_zero_shift
from hamtrans.models.hamiltonian import HamiltonianModel, OverlapModel
from hamtrans.models.inputs import ModelInputs, prepare_inputs, species_indices
from hamtrans.models.model_file import load_model, save_model
from hamtrans.models.partitioning import slice_structure
from hamtrans.training.config import TrainConfig, TrainingSection
from hamtrans.training.losses import loss_terms


@dataclass
class Sample:
    """One slab or structure: model inputs and the owned targets (H in eV, S).

    With electrostatics: ``charge_inputs`` (the whole structure), ``green`` (``(n, N)``
    eV/e: potential at the sample's atoms per unit charge on each structure atom) and
    the sample atoms of every owned onsite entry ``(n_on,)`` and edge entry ``(2, n_ed)``.
    ``structure``: index of the training structure whose learned energy zero applies
    (``training.fit_energy_zero``), −1 for none.
    """

    name: str
    inputs: ModelInputs
    onsite_index: torch.Tensor
    edge_index: torch.Tensor
    h_onsite: torch.Tensor
    h_edges: torch.Tensor
    s_onsite: torch.Tensor
    s_edges: torch.Tensor
    charge_inputs: ModelInputs | None = None
    green: torch.Tensor | None = None
    onsite_atoms: torch.Tensor | None = None
    edge_atoms: torch.Tensor | None = None
    structure: int = -1

    @property
    def entries(self) -> int:
        return int(self.h_onsite.numel() + self.h_edges.numel())


# -- data ------------------------------------------------------------------------------------


def _check_record(record, model_basis: OrbitalBasis, config, source: str, settings: dict) -> None:
    """Refuse a record the model cannot be trained on (``settings``: its dataset's generator settings)."""
    if record.hamiltonian is None or record.overlap is None:
        raise TrainingError(f"{source}: structure {record.name!r} has no H and S blocks")
    basis = record.hamiltonian.basis
    species_indices(record.atoms.numbers, list(config.model.species))  # unknown elements: clear error
    for z in set(int(z) for z in record.atoms.numbers):
        if model_basis.shells_of(z) != basis.shells_of(z):
            raise TrainingError(f"{source}: dataset basis '{basis.name}' ({basis.irreps(z)} for Z={z}) does not "
                                f"match the model basis '{model_basis.name}' ({model_basis.irreps(z)})")
    _check_block_cutoff(record, config.model.block_cutoff, settings.get("cutoff"), source)


def _check_block_cutoff(record, block_cutoff: float, dataset_cutoff: float | dict | None, source: str) -> None:
    """Refuse a ``model.block_cutoff`` other than the radius the dataset's blocks were cut at.

    A smaller one leaves labelled blocks the model never predicts; a larger one makes the
    model predict blocks (between the two radii) it was never trained on. The radius is the
    dataset's stored ``cutoff`` setting (the largest one of a per-pair table); datasets
    without it are checked on their graphs: no block beyond ``block_cutoff`` and a block
    for every atom pair within it.
    """
    fix = "set model.block_cutoff to the dataset's cutoff (or regenerate the dataset at the model's)"
    if dataset_cutoff is not None:
        radius = max(dataset_cutoff.values()) if isinstance(dataset_cutoff, dict) else float(dataset_cutoff)
        if not math.isclose(radius, block_cutoff, rel_tol=0.0, abs_tol=1e-6):
            raise TrainingError(f"{source}: the dataset's blocks were cut at {radius:g} Å but model.block_cutoff is "
                                f"{block_cutoff:g} Å; {fix}")
        return
    longest = float(record.graph.distances.max(initial=0.0))
    if longest > block_cutoff + 1e-6:
        raise TrainingError(f"{source}: dataset blocks reach {longest:.2f} Å but model.block_cutoff is "
                            f"{block_cutoff:g} Å; {fix}")
    within = build_graph(record.atoms, block_cutoff, check=False).n_edges
    if within > record.graph.n_edges:
        raise TrainingError(f"{source}: structure {record.name!r} has blocks for {record.graph.n_edges} atom pairs "
                            f"(reaching {longest:.2f} Å) but {within} pairs lie within model.block_cutoff = "
                            f"{block_cutoff:g} Å: the dataset was cut at a smaller radius; {fix}")


def samples_from_record(record, config: TrainConfig, model_basis: OrbitalBasis, name: str,
                        structure: int = -1) -> list[Sample]:
    """Slabs (or the whole structure) of one record as training samples (of training structure ``structure``)."""
    mc, dc = config.model, config.data
    dtype = mc.torch_dtype
    tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)
    index = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long)
    h, s = record.hamiltonian, record.overlap
    whole = None
    if dc.slab_width is None or mc.electrostatics:
        whole = prepare_inputs(record.atoms, record.graph, model_basis, list(mc.species), mc.mp_cutoff, dtype)
    green = potential_matrix(record.atoms, mc.charge_width) if mc.electrostatics else None

    def electrostatics(atoms, numbers, graph, onsite, edges, source_atom) -> dict:
        """Sample fields of the long-range term for owned flat entries ``onsite``/``edges``."""
        if not mc.electrostatics:
            return {}
        layout = BlockLayout(model_basis, numbers, graph)
        entry_atom = np.repeat(np.arange(len(numbers)), layout.counts**2)[onsite]
        entry_edge = np.repeat(np.arange(graph.n_edges), np.diff(layout.edge_ptr))[edges]
        return {"charge_inputs": whole, "green": tensor(green[source_atom]), "onsite_atoms": index(entry_atom),
                "edge_atoms": index(graph.edge_index[:, entry_edge])}

    if dc.slab_width is None:
        on, ed = np.arange(h.onsite.size), np.arange(h.edges.size)
        extra = electrostatics(record.atoms, record.atoms.numbers, record.graph, on, ed, np.arange(len(record.atoms)))
        return [Sample(name, whole, index(on), index(ed), tensor(h.onsite), tensor(h.edges), tensor(s.onsite),
                       tensor(s.edges), **extra, structure=structure)]
    halo = mc.block_cutoff + mc.receptive_field
    out = []
    for k, slab in enumerate(slice_structure(record.atoms, record.graph, dc.slab_axis, dc.slab_width, halo)):
        inputs = prepare_inputs(slab.atoms, slab.graph, model_basis, list(mc.species), mc.mp_cutoff, dtype)
        slab_on, full_on, slab_ed, full_ed = slab.label_indices(model_basis, record.atoms.numbers, record.graph)
        extra = electrostatics(slab.atoms, slab.atoms.numbers, slab.graph, slab_on, slab_ed, slab.source_atom)
        out.append(Sample(f"{name}/slab{k}", inputs, index(slab_on), index(slab_ed), tensor(h.onsite[full_on]),
                          tensor(h.edges[full_ed]), tensor(s.onsite[full_on]), tensor(s.edges[full_ed]), **extra,
                          structure=structure))
    return out


def load_samples(config: TrainConfig, model_basis: OrbitalBasis):
    """``(train, validation, records, names)``: samples split as configured, the training records (for
    statistics) and the names of the structures whose samples carry ``structure`` indices into them."""
    dc = config.data
    rng = np.random.default_rng(dc.seed)
    train_records, validation = [], []
    for path in dc.train:
        with Dataset(path) as data:
            if len(data) == 0:
                raise TrainingError(f"dataset {path} is empty")
            for k, record in enumerate(data):
                _check_record(record, model_basis, config, path, data.settings)
                train_records.append((f"{Path(path).stem}:{k}", record))
    for path in dc.validation:
        with Dataset(path) as data:
            for k, record in enumerate(data):
                _check_record(record, model_basis, config, path, data.settings)
                validation += samples_from_record(record, config, model_basis, f"{Path(path).stem}:{k}")
    held_out = set()
    if dc.split == "structure" and len(train_records) > 1 and dc.validation_fraction > 0:
        count = max(1, int(round(dc.validation_fraction * len(train_records))))
        held_out = set(rng.choice(len(train_records), count, replace=False).tolist())
    train, kept = [], [k for k in range(len(train_records)) if k not in held_out]
    for name, record in (train_records[k] for k in sorted(held_out)):
        validation.extend(samples_from_record(record, config, model_basis, name))
    for structure, k in enumerate(kept):
        name, record = train_records[k]
        train.extend(samples_from_record(record, config, model_basis, name, structure=structure))
    if dc.split == "slab" and dc.validation_fraction > 0 and len(train) > 1:
        count = max(1, int(round(dc.validation_fraction * len(train))))
        chosen = set(rng.choice(len(train), count, replace=False).tolist())
        validation += [sample for k, sample in enumerate(train) if k in chosen]
        train = [sample for k, sample in enumerate(train) if k not in chosen]
    if not train:
        raise TrainingError("no training samples left after the validation split")
    return train, validation, [train_records[k][1] for k in kept], [train_records[k][0] for k in kept]


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




class _Pair(torch.nn.Module):
    """H and S models as one module (one DDP wrapper, one state dict), and the training structures'
    learned energy zeros (eV, ``(n_structures,)``) when ``training.fit_energy_zero`` asks for them."""

    def __init__(self, hamiltonian: HamiltonianModel, overlap: OverlapModel | None, n_energy_zeros: int = 0) -> None:
        super().__init__()
        self.hamiltonian = hamiltonian
        self.overlap = overlap
        self.energy_zero = torch.nn.Parameter(torch.zeros(n_energy_zeros, dtype=hamiltonian.config.torch_dtype)) \
            if n_energy_zeros else None

    def forward(self, inputs: ModelInputs, charge_inputs: ModelInputs | None = None, structure: int = -1):
        """``((H onsite, H edges), (S onsite, S edges) or None, charges of charge_inputs or None, energy zero
        of training structure ``structure`` or None)`` (inside ``forward`` so that DDP sees the parameter)."""
        h = self.hamiltonian(inputs)
        s = self.overlap(inputs) if self.overlap is not None else None
        charges = None if charge_inputs is None else self.hamiltonian.charges(charge_inputs)
        zero = self.energy_zero[structure] if self.energy_zero is not None and structure >= 0 else None
        return h, s, charges, zero


def _predicted_h(pair_output, sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
    """Owned onsite and edge entries of H: the local blocks plus, with charges, ``½(VS + SV)``, plus the
    structure's energy zero times the reference S."""
    (h_on, h_ed), _, charges, zero = pair_output
    onsite, edges = h_on[sample.onsite_index], h_ed[sample.edge_index]
    if charges is not None:
        potential = sample.green @ (charges - charges.mean())   # neutral structure
        onsite = onsite + potential[sample.onsite_atoms] * sample.s_onsite
        edges = edges + 0.5 * (potential[sample.edge_atoms[0]] + potential[sample.edge_atoms[1]]) * sample.s_edges
    if zero is not None:
        onsite, edges = onsite + zero * sample.s_onsite, edges + zero * sample.s_edges
    return onsite, edges


def _aligned(h_err: torch.Tensor, sample: Sample) -> torch.Tensor:
    """``h_err`` after its least-squares energy zero: for samples without a learned one."""
    overlap = torch.cat([sample.s_onsite, sample.s_edges])
    return h_err - (h_err @ overlap) / (overlap @ overlap) * overlap


def _errors(pair_output, sample: Sample):
    onsite, edges = _predicted_h(pair_output, sample)
    h_err = torch.cat([onsite - sample.h_onsite, edges - sample.h_edges])
    s_out = pair_output[1]
    s_err = None
    if s_out is not None:
        s_on, s_ed = s_out
        s_err = torch.cat([s_on[sample.onsite_index] - sample.s_onsite, s_ed[sample.edge_index] - sample.s_edges])
    return h_err, s_err




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


def _start_from(path: str, hamiltonian: HamiltonianModel, overlap: OverlapModel | None):
    """Copy a trained model's weights and statistics; modules it lacks (a charge head) keep their start.
    Returns the loaded :class:`~hamtrans.models.model_file.HamiltonianPredictor`."""
    start = load_model(path)
    mine, theirs = hamiltonian.config.to_dict(), start.config.to_dict()
    free = {"electrostatics", "charge_width", "basis", "smooth_cutoffs"}  # a legacy model may start a smooth one
    different = [k for k in mine if k not in free and mine[k] != theirs.get(k)]
    if hamiltonian.config.orbital_basis() != start.config.orbital_basis():
        different.append("basis")
    if different:
        raise TrainingError(f"training.initial_model {path} differs from the model section in "
                            f"{', '.join(f'{k} ({theirs.get(k)!r} vs {mine[k]!r})' for k in different)}")
    result = hamiltonian.load_state_dict(start.hamiltonian.state_dict(), strict=False)
    unexpected = [k for k in result.unexpected_keys if "._compiled_main" not in k]
    missing = [k for k in result.missing_keys if "._compiled_main" not in k and not k.startswith("charge_head.")]
    if unexpected or missing:
        raise TrainingError(f"training.initial_model {path}: weights do not fit ({', '.join((unexpected + missing)[:5])})")
    if overlap is not None and start.overlap is not None:
        overlap.load_state_dict(start.overlap.state_dict())
    return start


def _initial_energy_zeros(start, records) -> np.ndarray:
    """Least-squares energy zero (eV) of every training record against the starting model's prediction."""
    zeros = []
    for record in records:
        h, _ = start.predict(record.atoms, graph=record.graph)
        zeros.append(energy_zero_shift(h, record.hamiltonian, record.overlap))
    return np.asarray(zeros)


def edge_entry_weights(h_edges: torch.Tensor, scale: float | None) -> torch.Tensor | None:
    """Loss weight of every edge-block entry of H: ``1 + |H_ref| / scale``, or ``None`` without a scale.

    Parameters
    ----------
    h_edges
        Reference edge-block entries (eV), ``(n_edge_entries,)``.
    scale
        ``training.edge_magnitude_scale`` (eV): an entry of this size counts twice.

    Returns
    -------
    torch.Tensor or None
        ``(n_edge_entries,)`` weights ≥ 1.
    """
    return None if scale is None else 1.0 + h_edges.abs() / scale


def _hamiltonian_loss(h_err: torch.Tensor, sample: Sample, training: TrainingSection) -> torch.Tensor:
    """Loss of the H entries: onsite-block entries weighted by ``onsite_weight``, edge entries by
    :func:`edge_entry_weights`."""
    n_onsite = sample.h_onsite.numel()
    return (training.onsite_weight * loss_terms(h_err[:n_onsite], training.loss)
            + loss_terms(h_err[n_onsite:], training.loss,
                         edge_entry_weights(sample.h_edges, training.edge_magnitude_scale)))


class HamiltonianTask:
    """:class:`~hamtrans.training.trainer.TrainingTask` for the Hamiltonian (and overlap) model."""

    metric_fields = ["node_mae_meV", "edge_mae_meV", "total_mae_meV", "overlap_mae"]

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def build(self) -> tuple[torch.nn.Module, list[Sample], list[Sample]]:
        config = self.config
        if config.model.electrostatics and not config.training.train_overlap:
            raise TrainingError("model.electrostatics needs the overlap model (training.train_overlap: true): "
                                "the long-range term ½(VS + SV) is built from the predicted S")
        train, validation, records, self.structure_names = load_samples(config, config.model.orbital_basis())
        torch.manual_seed(config.data.seed)
        hamiltonian = HamiltonianModel(config.model)
        overlap = OverlapModel(config.model) if config.training.train_overlap else None
        fit_statistics(hamiltonian, records)
        if overlap is not None:
            _fit_overlap_onsite(overlap, records)
        start = _start_from(config.training.initial_model, hamiltonian, overlap) \
            if config.training.initial_model else None
        pair = _Pair(hamiltonian, overlap, len(self.structure_names) if config.training.fit_energy_zero else 0)
        if config.training.fit_energy_zero and start is not None:
            with torch.no_grad():
                pair.energy_zero.copy_(torch.as_tensor(_initial_energy_zeros(start, records)))
        return pair, train, validation

    def entries(self, sample: Sample) -> int:
        return sample.entries

    def loss(self, network: torch.nn.Module, sample: Sample) -> torch.Tensor:
        tc = self.config.training
        h_err, s_err = _errors(network(sample.inputs, sample.charge_inputs, sample.structure), sample)
        loss = _hamiltonian_loss(h_err, sample, tc)
        if s_err is not None:
            loss = loss + tc.overlap_weight * loss_terms(s_err, tc.loss)
        return loss

    def penalty(self, model: torch.nn.Module) -> None:
        return None

    def validation_sums(self, model: torch.nn.Module, sample: Sample) -> torch.Tensor:
        """``[Σ|node|, n_node, Σ|edge|, n_edge, loss, Σ|S|, n_S]`` of one sample."""
        tc = self.config.training
        with torch.no_grad():
            h_err, s_err = _errors(model(sample.inputs, sample.charge_inputs, sample.structure), sample)
            if tc.fit_energy_zero and sample.structure < 0:
                h_err = _aligned(h_err, sample)
        node, edge = h_err[:sample.h_onsite.numel()], h_err[sample.h_onsite.numel():]
        loss = _hamiltonian_loss(h_err, sample, tc).item()
        s_sum = s_count = 0.0
        if s_err is not None:
            s_sum, s_count = s_err.abs().sum().item(), s_err.numel()
            loss += tc.overlap_weight * loss_terms(s_err, tc.loss).item()
        return torch.tensor([node.abs().sum().item(), node.numel(), edge.abs().sum().item(), edge.numel(), loss,
                             s_sum, s_count], dtype=torch.float64)

    def metrics(self, sums: torch.Tensor) -> dict:
        node, n_node, edge, n_edge, loss, s_sum, s_count = sums.tolist()
        n_all = max(n_node + n_edge, 1)
        return {
            "val_loss": loss / n_all,
            "node_mae_meV": node / max(n_node, 1) * 1e3,
            "edge_mae_meV": edge / max(n_edge, 1) * 1e3,
            "total_mae_meV": (node + edge) / n_all * 1e3,
            "overlap_mae": s_sum / s_count if s_count else float("nan"),
        }

    def summary(self, metrics: dict) -> str:
        return (f"node {metrics['node_mae_meV']:.2f}  edge {metrics['edge_mae_meV']:.2f}  "
                f"total {metrics['total_mae_meV']:.2f} meV  S {metrics['overlap_mae']:.1e}")

    def save(self, path: Path, model: torch.nn.Module, metadata: dict) -> None:
        if model.energy_zero is not None:  # relative to the model's own (arbitrary) energy zero
            metadata = {**metadata, "training_energy_zero_meV": {
                name: round(1e3 * value, 2) for name, value in zip(self.structure_names, model.energy_zero.tolist())}}
        save_model(path, model.hamiltonian, model.overlap, metadata)
