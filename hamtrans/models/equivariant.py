"""Building blocks shared by the equivariant models (Hamiltonian, overlap, potential)."""

from __future__ import annotations

import math
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


class ChannelwiseTensorProduct(torch.nn.Module):
    """Channel-wise ("uvu") tensor product ``x ⊗ Y`` with per-sample path weights.

    Computes what ``e3nn.o3.TensorProduct`` computes for "uvu" instructions with
    external weights (component irrep normalisation, element path normalisation),
    with the same flat weight layout, so models trained with either load into the
    other. One path per ``(input irrep, Y irrep, allowed output)``; each path has its
    own output block::

        out_p[z, u, k] = sqrt(2 l_out + 1) · w_p[z, u] · Σ_ij x[z, u, i] Y[z, j] C_ijk

    Why not e3nn's module: its generated code slices the inputs and the weight
    tensor once per path, and the backward of each slice writes a zero tensor of the
    full input size. With ~50 paths and 10⁴–10⁵ edges that zero filling took 63 % of
    a training step of an 8 Å Hamiltonian model. Here the inputs are split once
    (``torch.split``: one concatenation in the backward) and ``Y`` is contracted with
    the Clebsch–Gordan tensor before the channels.

    Parameters
    ----------
    irreps_in
        Input irreps (any multiplicities).
    irreps_sh
        Irreps of the second operand (multiplicity 1 each: spherical harmonics).
    allowed
        ``(l, parity)`` of the outputs to keep.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: set[tuple[int, int]]) -> None:
        super().__init__()
        if any(mul != 1 for mul, _ in irreps_sh):
            raise ValueError(f"the second operand must have multiplicity 1 per irrep, got {irreps_sh}")
        self.irreps_in, self.irreps_sh = o3.Irreps(irreps_in), o3.Irreps(irreps_sh)
        outputs, self.paths = [], []
        for i1, (mul, ir1) in enumerate(self.irreps_in):
            for i2, (_, ir2) in enumerate(self.irreps_sh):
                for ir_out in ir1 * ir2:
                    if (ir_out.l, ir_out.p) in allowed:
                        name = f"cg_{ir1.l}_{ir2.l}_{ir_out.l}"
                        if not hasattr(self, name):
                            self.register_buffer(name, o3.wigner_3j(ir1.l, ir2.l, ir_out.l), persistent=False)
                        self.paths.append((i1, i2, name, ir_out.dim))
                        outputs.append((mul, ir_out))
        self.irreps_out = o3.Irreps(outputs)
        self.weight_numel = sum(self.irreps_in[i1].mul for i1, *_ in self.paths)
        self._weight_sizes = [self.irreps_in[i1].mul for i1, *_ in self.paths]
        self._register_load_state_dict_pre_hook(_drop_e3nn_module_state)

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x (Z, irreps_in.dim)``, ``y (Z, irreps_sh.dim)``, ``weight (Z, weight_numel)`` → ``(Z, irreps_out.dim)``."""
        blocks = self.path_blocks(x, y, weight)
        return torch.cat([b.flatten(1) for b in blocks], dim=1) if blocks else x.new_zeros((len(x), 0))

    def path_blocks(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> list[torch.Tensor]:
        """The output of every path as ``(Z, mul, 2 l_out + 1)``, unflattened (see :func:`linear_on_blocks`)."""
        n = x.shape[0]
        xs = [part.reshape(n, mul, ir.dim)
              for part, (mul, ir) in zip(torch.split(x, [m.dim for m in self.irreps_in], dim=1), self.irreps_in)]
        ys = torch.split(y, [m.dim for m in self.irreps_sh], dim=1)
        ws = torch.split(weight, self._weight_sizes, dim=1)
        blocks = []
        for (i1, i2, name, dim_out), w in zip(self.paths, ws):
            coupled = torch.einsum("zj,ijk->zik", ys[i2], getattr(self, name))
            blocks.append(torch.einsum("zui,zik->zuk", xs[i1], coupled) * (w * dim_out**0.5)[:, :, None])
        return blocks


def linear_on_blocks(linear: o3.Linear, blocks: list[torch.Tensor]) -> torch.Tensor:
    """``linear(cat(blocks))`` without the flat input: one matrix product per path.

    ``blocks[i]`` is input irrep ``i`` of ``linear`` as ``(Z, mul, dim)`` (as from
    :meth:`ChannelwiseTensorProduct.path_blocks`). The result equals e3nn's module on
    the flattened input, with its weights, but never slices a wide ``(Z, D)`` tensor,
    whose backward costs a full-size zero fill per input irrep.
    """
    if any(ins.i_in == -1 for ins in linear.instructions):
        raise ValueError("linear_on_blocks does not handle biases")
    n = blocks[0].shape[0]
    weights = torch.split(linear.weight, [math.prod(ins.path_shape) for ins in linear.instructions])
    outputs: list[torch.Tensor | None] = [None] * len(linear.irreps_out)
    for ins, w in zip(linear.instructions, weights):
        term = ins.path_weight * torch.einsum("zuk,uv->zvk", blocks[ins.i_in], w.reshape(ins.path_shape))
        outputs[ins.i_out] = term if outputs[ins.i_out] is None else outputs[ins.i_out] + term
    flat = [blocks[0].new_zeros((n, m.dim)) if out is None else out.reshape(n, m.dim)
            for out, m in zip(outputs, linear.irreps_out)]
    return torch.cat(flat, dim=1)


def _drop_e3nn_module_state(state_dict: dict, prefix: str, *args) -> None:
    """Files written when this product was an ``e3nn.o3.TensorProduct`` hold its empty ``weight``, its
    all-ones ``output_mask`` (every output here has a path) and possibly its generated code's Wigner 3j
    constants; none carries trained information."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        name = key[len(prefix):]
        if name in ("weight", "output_mask") or name.startswith("_compiled_main_left_right."):
            del state_dict[key]


def channelwise_tensor_product(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, allowed: set[tuple[int, int]]
                               ) -> tuple[ChannelwiseTensorProduct, o3.Irreps]:
    """Channel-wise ("uvu") tensor product ``irreps_in ⊗ Y`` keeping outputs whose ``(l, p)`` is in ``allowed``.

    The weights (one per channel and path) are external, so a radial network can
    supply them per edge. Returns the product and its output irreps (unsorted,
    one entry per path).
    """
    tp = ChannelwiseTensorProduct(irreps_in, irreps_sh, allowed)
    return tp, tp.irreps_out
