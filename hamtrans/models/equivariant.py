"""Building blocks shared by the equivariant models (Hamiltonian, overlap, potential)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict

import torch
from e3nn import o3

from hamtrans.errors import ConfigError

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
            raise ConfigError(f"the second operand must have multiplicity 1 per irrep, got {irreps_sh}")
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
        self.weight_sizes = [self.irreps_in[i1].mul for i1, *_ in self.paths]  # per path, in weight order
        self.weight_numel = sum(self.weight_sizes)
        self._register_load_state_dict_pre_hook(_drop_e3nn_module_state)

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x (Z, irreps_in.dim)``, ``y (Z, irreps_sh.dim)``, ``weight (Z, weight_numel)`` → ``(Z, irreps_out.dim)``."""
        n = x.shape[0]
        xs = [part.reshape(n, mul, ir.dim)
              for part, (mul, ir) in zip(torch.split(x, [m.dim for m in self.irreps_in], dim=1), self.irreps_in)]
        ys = torch.split(y, [m.dim for m in self.irreps_sh], dim=1)
        ws = torch.split(weight, self.weight_sizes, dim=1)
        blocks = []
        for (i1, i2, name, dim_out), w in zip(self.paths, ws):
            coupled = torch.einsum("zj,ijk->zik", ys[i2], getattr(self, name))
            blocks.append(torch.einsum("zui,zik->zuk", xs[i1], coupled) * (w * dim_out**0.5)[:, :, None])
        return torch.cat([b.flatten(1) for b in blocks], dim=1) if blocks else x.new_zeros((n, 0))


class ProductThenLinear(torch.nn.Module):
    """``linear(product(x, Y, w))`` without the product's output: one batched matrix product per output irrep.

    A channel-wise product followed by an equivariant linear map is, per output irrep
    ``o`` and sample ``z``::

        out_o[z, v, k] = Σ_p Σ_i B_p[z, v, i] A_p[z, i, k]
        B_p[z, v, i] = c_p Σ_u W_p[u, v] w_p[z, u] x_p[z, u, i]     (channels mixed first)
        A_p[z, i, k] = Σ_j Y[z, j] C_p[i, j, k]                      (Y contracted with Clebsch–Gordan)

    summed over the product paths ``p`` that the linear map sends to ``o``. All ``A_p``
    of one output come from a single matrix product of ``Y`` with a stacked
    Clebsch–Gordan matrix, and the sum over paths and their input components is one
    ``bmm`` with inner size ``Σ_p (2 l_p + 1)``. The product's ``(Z, Σ_p mul·(2 l_out + 1))``
    output — 5,136 numbers per edge for the VCM Hamiltonian model — is never formed
    (it and its per-path linear maps took 75 % of the inference time). Holds only
    constants (non-persistent buffers); the linear map's weights are passed in, so the
    state of the model is that of its two modules.

    Parameters
    ----------
    product
        The :class:`ChannelwiseTensorProduct`.
    linear
        An ``o3.Linear`` without biases from ``product.irreps_out``.
    """

    def __init__(self, product: ChannelwiseTensorProduct, linear: o3.Linear) -> None:
        super().__init__()
        if any(ins.i_in == -1 for ins in linear.instructions):
            raise ConfigError("ProductThenLinear does not handle biases")
        if linear.irreps_in != product.irreps_out:
            raise ConfigError(f"the linear map reads {linear.irreps_in}, the product gives {product.irreps_out}")
        self.irreps_in, self.irreps_out = product.irreps_in, linear.irreps_out
        self._input_dims = [m.dim for m in product.irreps_in]
        self._weight_sizes = product.weight_sizes
        sh_offsets = [0, *torch.tensor([m.dim for m in product.irreps_sh]).cumsum(0).tolist()]
        linear_offsets = [0, *torch.tensor([math.prod(ins.path_shape) for ins in linear.instructions]).cumsum(0).tolist()]
        self.outputs = []  # per output irrep: (mul, dim, [(path, input irrep, linear weight slice, factor)])
        for o, (mul, ir) in enumerate(linear.irreps_out):
            terms, stacked = [], []
            for n, ins in enumerate(linear.instructions):
                if ins.i_out != o:
                    continue
                i1, i2, name, dim_out = product.paths[ins.i_in]
                cg = getattr(product, name)  # (d1, d2, d3)
                block = cg.new_zeros((product.irreps_sh.dim, cg.shape[0], dim_out))
                block[sh_offsets[i2]:sh_offsets[i2 + 1]] = cg.transpose(0, 1)
                stacked.append(block)
                terms.append((ins.i_in, i1, (linear_offsets[n], linear_offsets[n + 1]), ins.path_weight * dim_out**0.5))
            if terms:  # (sh, Σ d1, d3) -> (sh, d3 · Σ d1), columns in the order (k, i) of A's transpose
                matrix = torch.cat(stacked, dim=1).permute(0, 2, 1).reshape(product.irreps_sh.dim, -1)
                self.register_buffer(f"coupling_{o}", matrix.contiguous(), persistent=False)
            self.outputs.append((mul, ir.dim, terms))

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, linear_weight: torch.Tensor
                ) -> torch.Tensor:
        """``x (Z, irreps_in.dim)``, ``y (Z, irreps_sh.dim)``, ``weight (Z, weight_numel)``, the linear map's
        ``weight`` → ``(Z, irreps_out.dim)``."""
        n = x.shape[0]
        # inputs as (Z, 2l+1, mul): channels last, so mixing them is a plain matrix product
        xs = [part.reshape(n, mul, ir.dim).transpose(1, 2).contiguous()
              for part, (mul, ir) in zip(torch.split(x, self._input_dims, dim=1), self.irreps_in)]
        ws = torch.split(weight, self._weight_sizes, dim=1)
        flat = []
        for o, (mul, dim, terms) in enumerate(self.outputs):
            if not terms:
                flat.append(x.new_zeros((n, mul * dim)))
                continue
            mixed = torch.cat([((xs[i1] * ws[path][:, None, :]).view(-1, ws[path].shape[1])
                                @ (factor * linear_weight[a:b].view(-1, mul))).view(n, xs[i1].shape[1], mul)
                               for path, i1, (a, b), factor in terms], dim=1)  # (Z, Σ d1, mul)
            coupled = (y @ getattr(self, f"coupling_{o}")).view(n, dim, mixed.shape[1])  # (Z, d3, Σ d1)
            flat.append(torch.bmm(coupled, mixed).transpose(1, 2).reshape(n, mul * dim))
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
