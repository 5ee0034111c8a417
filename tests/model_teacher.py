"""Random-weight Hamiltonian models: the test configuration, randomised weights, prediction, and a fixed
"teacher" that labels small VCM devices (learnable H/S data without a DFT run)."""

from __future__ import annotations

import numpy as np
import torch

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.graphs import build_graph
from hamtrans.data.structures import build_vcm_device
from hamtrans.models.electrostatics import electron_potential, neutralized, potential_blocks
from hamtrans.models.hamiltonian import HamiltonianModel, HamiltonianModelConfig, OverlapModel
from hamtrans.models.inputs import prepare_inputs

BASIS = OrbitalBasis.named("gfn1-xtb")
SPECIES = (7, 8, 22, 72)
TEACHER = HamiltonianModelConfig(basis="gfn1-xtb", species=SPECIES, block_cutoff=4.5, mp_cutoff=3.5, channels=8,
                                 heads=2, dtype="float64")


def config(**changes) -> HamiltonianModelConfig:
    """The test models' configuration (H, N, O, Ti, Hf; block cutoff 5 Å) with ``changes`` applied."""
    settings = dict(basis="gfn1-xtb", species=(1, 7, 8, 22, 72), block_cutoff=5.0, mp_cutoff=3.5, channels=8, heads=2)
    settings.update(changes)
    return HamiltonianModelConfig(**settings)


def predict(model, atoms, cutoff=5.0) -> BlockSparseMatrix:
    """``model``'s matrix of ``atoms`` on the graph of radius ``cutoff`` (Å), in float64."""
    graph = build_graph(atoms, cutoff)
    inputs = prepare_inputs(atoms, graph, BASIS, list(model.config.species), model.config.mp_cutoff,
                            model.config.torch_dtype)
    with torch.no_grad():
        onsite, edges = model(inputs)
    return BlockSparseMatrix(BASIS, atoms.numbers, graph, onsite.double().numpy(), edges.double().numpy())


def randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every parameter and statistics buffer non-trivial values (an untrained model is too tame)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if name.startswith(("onsite_shift", "onsite_scale", "edge_scale", "onsite_")) and tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))


def teacher_models(electrostatics: bool = False) -> tuple[HamiltonianModel, OverlapModel]:
    """The fixed teacher H and S models (the S edges it labels are scaled by 0.1 on top)."""
    torch.manual_seed(7)
    config = TEACHER.__class__(**{**TEACHER.to_dict(), "electrostatics": electrostatics})
    teacher, overlap = HamiltonianModel(config), OverlapModel(config)
    with torch.no_grad():
        for a in range(len(SPECIES)):  # unit onsite overlap: S stays positive definite
            getattr(overlap, f"onsite_{a}").copy_(getattr(overlap, f"invariant_{a}") * 1.0)
        if electrostatics:
            teacher.charge_head.weight.normal_(0.0, 0.5)
    return teacher, overlap


def write_teacher_dataset(path, seeds=(1,), cutoff: float = 4.5, electrostatics: bool = False) -> None:
    """Teacher-labelled devices; with ``electrostatics`` H includes the long-range term ``½(VS + SV)``
    of the teacher's (random, neutralised) latent charges."""
    teacher, overlap = teacher_models(electrostatics)
    config = teacher.config
    basis = OrbitalBasis.named("gfn1-xtb")
    with DatasetWriter(path, basis, {"source": "teacher"}) as writer:
        for seed in seeds:
            atoms = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=5.0,
                                     ti_length=0.0, vacancies="random", seed=seed)
            graph = build_graph(atoms, cutoff)
            inputs = prepare_inputs(atoms, graph, basis, list(SPECIES), TEACHER.mp_cutoff, torch.float64)
            with torch.no_grad():
                (h_on, h_ed, charges), (s_on, s_ed) = teacher.forward_with_charges(inputs), overlap(inputs)
            h = BlockSparseMatrix(basis, atoms.numbers, graph, h_on.numpy(), h_ed.numpy())
            s = BlockSparseMatrix(basis, atoms.numbers, graph, s_on.numpy(), 0.1 * s_ed.numpy())
            if electrostatics:
                charges = neutralized(charges.numpy())
                term = potential_blocks(s, electron_potential(atoms, charges, config.charge_width))
                h = h.copy_with(h.onsite + term.onsite, h.edges + term.edges)
            writer.append(Record(atoms, h, s, fermi_level=float(np.median(h_on.numpy())), name=f"device-{seed}"))
