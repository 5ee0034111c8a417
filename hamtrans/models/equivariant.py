"""Building blocks shared by the equivariant models (Hamiltonian, overlap, potential)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict

import torch
from e3nn import o3

#: The precisions a model can be built in (``dtype`` of the model configurations).
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ModelConfigMixin:
    """What every model configuration dataclass shares: its ``dtype`` as torch dtype and a JSON-able dict."""

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict:
        return {**asdict(self), "species": list(self.species)}


@contextmanager
def default_dtype(dtype: torch.dtype):
    """Temporarily set torch's default dtype (models are built in their own precision)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def channelwise_tensor_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: set[tuple[int, int]]
                               ) -> tuple[o3.TensorProduct, o3.Irreps]:
    """Channel-wise ("uvu") tensor product ``irreps_in ⊗ Y`` keeping outputs whose ``(l, p)`` is in ``allowed``.

    The weights (one per channel and path) are external, so a radial network can
    supply them per edge. Returns the product and its output irreps (unsorted,
    one entry per path).
    """
    outputs, instructions = [], []
    for i1, (mul, ir1) in enumerate(irreps_in):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir_out in ir1 * ir2:
                if (ir_out.l, ir_out.p) in allowed:
                    instructions.append((i1, i2, len(outputs), "uvu", True))
                    outputs.append((mul, ir_out))
    irreps_out = o3.Irreps(outputs)
    tp = o3.TensorProduct(irreps_in, irreps_sh, irreps_out, instructions, shared_weights=False, internal_weights=False)
    return tp, irreps_out
