"""SO(2) edge convolution: O(3) equivariance (inversion included) and the full tensor product it reproduces."""

import pytest
import torch
from e3nn import o3

from hamtrans.models.equivariant import ProductThenLinear, channelwise_tensor_product, default_dtype
from hamtrans.models.so2 import EdgeFrame, SO2Convolution
from tests.equivariance import o3_elements

IRREPS_IN = o3.Irreps("4x0e+4x1o+4x2e+3x3o")
IRREPS_OUT = o3.Irreps("3x0e+3x1o+3x1e+3x2o+3x2e+2x3o+2x3e")


def edge_map(conv: SO2Convolution, x: torch.Tensor, vectors: torch.Tensor, radial: torch.Tensor) -> torch.Tensor:
    return conv(x, EdgeFrame(vectors), radial)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-13), (torch.float32, 1e-5)])
def test_edge_frame_is_the_wigner_matrix_of_the_edge_rotation(dtype, tolerance):
    """``EdgeFrame.wigner(l)`` is e3nn's ``wigner_D`` of the edge's angles: ``D(R) Y(ŷ) = Y(r̂)``."""
    torch.manual_seed(2)
    vectors = torch.cat([torch.randn(6, 3, dtype=dtype), torch.tensor([[0.0, 2.0, 0.0], [0.0, -1.0, 0.0]], dtype=dtype)])
    frame = EdgeFrame(vectors.to(dtype))
    alpha, beta = o3.xyz_to_angles(vectors.double())
    y_axis = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    for l in range(5):
        with default_dtype(torch.float64):
            wigner = o3.wigner_D(l, alpha, beta, torch.zeros_like(alpha))
            sh_axis = o3.spherical_harmonics(l, y_axis, normalize=True, normalization="component")
            sh_edges = o3.spherical_harmonics(l, vectors.double(), normalize=True, normalization="component")
        torch.testing.assert_close(frame.wigner(l).double(), wigner, atol=tolerance, rtol=0)
        torch.testing.assert_close(frame.wigner(l).double() @ sh_axis, sh_edges, atol=10 * tolerance, rtol=0)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("mmax", [None, 1])
def test_o3_equivariance_with_parity(dtype, tolerance, mmax):
    """y(D_in(Q) x, Q r) = D_out(Q) y(x, r) for rotations, the inversion, a mirror and a rotoinversion."""
    torch.manual_seed(0)
    with default_dtype(dtype):  # built in its precision, as the models are
        conv = SO2Convolution(IRREPS_IN, IRREPS_OUT, mmax=mmax)
    x = torch.randn(20, IRREPS_IN.dim, dtype=dtype)
    vectors = torch.randn(20, 3, dtype=dtype)
    vectors[0] = torch.tensor([0.0, 1.3, 0.0])  # along the frame's own axis, both signs
    vectors[1] = torch.tensor([0.0, -0.7, 0.0])
    radial = torch.randn(20, conv.weight_numel, dtype=dtype)
    y = edge_map(conv, x, vectors, radial)
    assert y.abs().max() > 0.1
    for name, matrix in o3_elements(seed=3):
        q = torch.as_tensor(matrix, dtype=torch.float64)
        with default_dtype(torch.float64):  # the transformation exact: the check measures the map's own error
            d_in, d_out = IRREPS_IN.D_from_matrix(q), IRREPS_OUT.D_from_matrix(q)
        moved = edge_map(conv, (x.double() @ d_in.T).to(dtype), (vectors.double() @ q.T).to(dtype), radial)
        assert (moved.double() - y.double() @ d_out.T).abs().max() < tolerance * y.abs().max(), name
    with default_dtype(torch.float64):
        d_in = IRREPS_IN.D_from_matrix(-torch.eye(3, dtype=torch.float64))
    inverted = edge_map(conv, (x.double() @ d_in.T).to(dtype), -vectors, radial)
    assert (inverted - y).abs().max() > 0.1  # odd outputs change sign: the parity check is not vacuous


def test_reproduces_a_full_tensor_product_followed_by_a_linear_map():
    """With every l_f of Y (up to 2·lmax) and all |m|, the SO(2) maps hold the tensor product exactly.

    The reference ``linear(x ⊗ Y(r̂), w)`` with fixed path weights is a linear map of x; read in the
    frame of an edge along ŷ, it gives the SO(2) weights, which must then reproduce it on edges of
    every other direction (the frame rotations) and leave nothing outside the |m| structure.
    """
    torch.manual_seed(1)
    dtype = torch.float64
    lmax = max(ir.l for _, ir in IRREPS_IN + IRREPS_OUT)
    irreps_sh = o3.Irreps.spherical_harmonics(2 * lmax)
    allowed = {(ir.l, ir.p) for _, ir in IRREPS_OUT}
    with default_dtype(dtype):
        product, middle = channelwise_tensor_product(IRREPS_IN, irreps_sh, allowed)
        linear = o3.Linear(middle, IRREPS_OUT)
        reference = ProductThenLinear(product, linear)
        conv = SO2Convolution(IRREPS_IN, IRREPS_OUT)
    path_weights = torch.randn(1, product.weight_numel, dtype=dtype)

    def tensor_product(x, vectors):
        sh = o3.spherical_harmonics(irreps_sh, vectors, normalize=True, normalization="component")
        return reference(x, sh, path_weights.expand(len(x), -1), linear.weight)

    # the reference in the edge frame: apply it to every basis vector of the input
    basis = torch.eye(IRREPS_IN.dim, dtype=dtype)
    frame_map = tensor_product(basis, torch.tensor([[0.0, 1.0, 0.0]], dtype=dtype).expand(len(basis), -1))  # (in, out)
    covered = torch.zeros_like(frame_map, dtype=torch.bool)
    offsets_in, offsets_out = conv._offsets_in, conv._offsets_out
    with torch.no_grad():
        for m, paths in enumerate(conv._paths):
            signs = (m, -m) if m else (0,)
            for i, o, name in paths:
                pattern = getattr(conv, f"pattern_{name}")
                (mul_i, ir_i), (mul_o, ir_o) = IRREPS_IN[i], IRREPS_OUT[o]
                rows = [[offsets_in[i][0] + u * ir_i.dim + ir_i.l + s for s in signs] for u in range(mul_i)]
                cols = [[offsets_out[o][0] + v * ir_o.dim + ir_o.l + t for t in signs] for v in range(mul_o)]
                rows, cols = torch.tensor(rows), torch.tensor(cols)
                block = frame_map[rows[:, :, None, None], cols[None, None, :, :]]  # (u, s, v, t)
                # project onto this path's pattern S[t, s] (patterns of one path and m are orthogonal)
                coefficient = torch.einsum("usvt,ts->uv", block, pattern.to(dtype)) / (pattern ** 2).sum()
                conv.weights[name].copy_(coefficient * (conv._fan_in[m][o] ** 0.5))
                covered[rows[:, :, None, None], cols[None, None, :, :]] = True
    assert frame_map[~covered].abs().max() < 1e-12  # nothing couples outside equal |m|
    x = torch.randn(30, IRREPS_IN.dim, dtype=dtype)
    vectors = torch.randn(30, 3, dtype=dtype)
    expected = tensor_product(x, vectors)
    got = edge_map(conv, x, vectors, torch.ones(30, conv.weight_numel, dtype=dtype))
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(got, expected, atol=1e-11, rtol=0)
