"""A well-conditioned toy electronic structure: random-weight H model and an overlap model fixed to S = 1."""

import torch

from hamtrans.models import HamiltonianModel, HamiltonianModelConfig, OverlapModel

CONFIG = HamiltonianModelConfig(basis="gfn1-xtb", species=(7, 8, 22, 72), block_cutoff=4.5, mp_cutoff=3.5,
                                channels=8, heads=2, dtype="float64")


def unit_overlap_models(seed: int = 11) -> tuple[HamiltonianModel, OverlapModel]:
    """``(H model, S model)``: H with random weights, S = identity (onsite unit blocks, no edge overlap)."""
    torch.manual_seed(seed)
    hamiltonian, overlap = HamiltonianModel(CONFIG).eval(), OverlapModel(CONFIG).eval()
    with torch.no_grad():
        for net in overlap.coefficients.values():
            for p in net.parameters():
                p.zero_()
        for a in range(len(CONFIG.species)):
            matrix = overlap.coupling.matrix(a, a)
            identity = torch.eye(int(round(matrix.shape[0] ** 0.5)), dtype=matrix.dtype).flatten()
            getattr(overlap, f"onsite_{a}").copy_(matrix.T @ identity)
    return hamiltonian, overlap
