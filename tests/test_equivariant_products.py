"""The channel-wise tensor product and the fused product-then-linear equal e3nn's modules (values and gradients)."""

import pytest
import torch
from e3nn import o3
from e3nn.util.test import assert_equivariant

from hamtrans.models.equivariant import ChannelwiseTensorProduct, ProductThenLinear, default_dtype

IRREPS = o3.Irreps("4x0e+3x1o+2x2e+2x1e+1x3o")
SH = o3.Irreps.spherical_harmonics(3)
ALLOWED = {(0, 1), (1, -1), (2, 1), (3, -1), (1, 1)}


@pytest.fixture(scope="module")
def modules():
    with default_dtype(torch.float64):
        product = ChannelwiseTensorProduct(IRREPS, SH, ALLOWED)
        instructions = [(i1, i2, k, "uvu", True) for k, (i1, i2, *_) in enumerate(product.paths)]
        reference = o3.TensorProduct(IRREPS, SH, product.irreps_out, instructions, shared_weights=False,
                                     internal_weights=False)
        # 4e has no path from the product: the fused module must give it zeros like e3nn's linear
        linear = o3.Linear(product.irreps_out, o3.Irreps("5x0e+3x1o+2x2e+1x3o+2x1e+2x4e"))
    return product, reference, linear


def inputs(product, n):
    generator = torch.Generator().manual_seed(n)
    x = torch.randn(n, IRREPS.dim, generator=generator, dtype=torch.float64, requires_grad=True)
    y = o3.spherical_harmonics(SH, torch.randn(n, 3, generator=generator, dtype=torch.float64), True)
    w = torch.randn(n, product.weight_numel, generator=generator, dtype=torch.float64, requires_grad=True)
    return x, y.requires_grad_(), w


def test_tensor_product_equals_e3nn(modules):
    product, reference, _ = modules
    assert product.weight_numel == reference.weight_numel and product.irreps_out == reference.irreps_out
    x, y, w = inputs(product, 50)
    ours, theirs = product(x, y, w), reference(x, y, w)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    seed = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (x, y, w), seed), torch.autograd.grad(theirs, (x, y, w), seed)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_tensor_product_is_equivariant_with_parity(modules):
    """e3nn's own check: random rotations, the inversion and their products on every input and output."""
    product, _, _ = modules
    x, y, w = (t.detach() for t in inputs(product, 20))
    with default_dtype(torch.float64):  # e3nn builds its Wigner D generators in the default dtype
        errors = assert_equivariant(product, args_in=[x, y, w], irreps_in=[IRREPS, SH, None],
                                    irreps_out=[product.irreps_out], tolerance=1e-12)
    assert len(errors) == 2  # with and without parity: both transformations were checked


def test_product_then_linear_equals_the_linear_of_the_product(modules):
    product, _, linear = modules
    with default_dtype(torch.float64):
        fused = ProductThenLinear(product, linear)
    x, y, w = inputs(product, 30)
    ours, theirs = fused(x, y, w, linear.weight), linear(product(x, y, w))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    seed = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (x, y, w, linear.weight), seed),
                    torch.autograd.grad(theirs, (x, y, w, linear.weight), seed)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    empty = inputs(product, 0)  # a rank without edges
    assert product(*empty).shape == (0, product.irreps_out.dim)
    assert fused(*empty, linear.weight).shape == (0, linear.irreps_out.dim)
    assert not fused.state_dict()  # constants only: model files hold the two modules' weights


def test_product_then_linear_refuses_a_linear_it_cannot_fuse(modules):
    product, _, _ = modules
    with default_dtype(torch.float64):
        with pytest.raises(ValueError, match="reads"):
            ProductThenLinear(product, o3.Linear("3x0e", "3x0e"))
        with pytest.raises(ValueError, match="biases"):
            ProductThenLinear(product, o3.Linear(product.irreps_out, "2x0e", biases=True))


def test_state_of_the_e3nn_module_is_accepted_and_dropped(modules):
    product, reference, _ = modules
    product.load_state_dict(reference.state_dict())  # what files written with e3nn's module hold
    assert {"weight", "output_mask"} <= set(reference.state_dict()) and not product.state_dict()
