"""Edge stage of the Hamiltonian model: SO(2) convolution against the tensor-product peers, same edges, one run.

Three implementations of the map from the node features of an edge's ends to its edge
features, on the edges of one random set (features of the shipped models: natural-parity
irreps up to ``--lmax``, ``--channels`` each, to the edge irreps both parities):

* ``ProductThenLinear`` — the model's default (``TP(x, Y(r̂))`` with Y up to lmax, fused with
  its linear map);
* e3nn's composition ``o3.Linear(o3.TensorProduct(...))`` of the same product;
* :class:`~hamtrans.models.so2.SO2Convolution` (every l_f, ``|m| ≤ mmax``), including the
  the edge frames' Wigner matrices and the rotations into and out of them.

Each is timed forward (inference) and forward + backward (training) as the median of
``--repeats`` runs; the ratios to ``ProductThenLinear`` are printed. The SO(2) map is a
superset of the product with Y ≤ lmax (every l_f, tests/test_so2.py), so this compares
cost, not equal functions.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/so2_edge.py [--edges 20000] [--lmax 4] [--channels 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from e3nn import o3

from hamtrans.models.equivariant import ProductThenLinear, channelwise_tensor_product
from hamtrans.models.so2 import EdgeFrame, SO2Convolution


def timed(function, repeats: int) -> float:
    """Median wall time (s) of ``function()`` over ``repeats`` calls after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=20000, help="edges per call (default 20000)")
    parser.add_argument("--lmax", type=int, default=4, help="highest l of features and Y (default 4)")
    parser.add_argument("--channels", type=int, default=16, help="multiplicity of every irrep (default 16)")
    parser.add_argument("--mmax", type=int, nargs="+", default=[4, 2], help="|m| limits of the SO(2) map (default 4 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (default 3)")
    args = parser.parse_args()
    torch.manual_seed(0)
    c, lmax = args.channels, args.lmax
    irreps_in = o3.Irreps([(c, (l, (-1) ** l)) for l in range(lmax + 1)])
    irreps_out = o3.Irreps([(c, (l, p)) for l in range(lmax + 1) for p in (1, -1)]).sort().irreps.simplify()
    irreps_sh = o3.Irreps.spherical_harmonics(lmax)
    allowed = {(ir.l, ir.p) for _, ir in irreps_out}
    product, middle = channelwise_tensor_product(irreps_in, irreps_sh, allowed)
    linear = o3.Linear(middle, irreps_out)
    fused = ProductThenLinear(product, linear)
    e3nn_product = o3.TensorProduct(irreps_in, irreps_sh, middle,
                                    [(i1, i2, k, "uvu", True) for k, (i1, i2, *_) in enumerate(product.paths)],
                                    shared_weights=False, internal_weights=False)
    x = torch.randn(args.edges, irreps_in.dim, requires_grad=True)
    vectors = torch.randn(args.edges, 3)
    sh = o3.spherical_harmonics(irreps_sh, vectors, normalize=True, normalization="component")
    weights = torch.randn(args.edges, product.weight_numel)
    cases = {"ProductThenLinear": lambda: fused(x, sh, weights, linear.weight),
             "e3nn Linear(TensorProduct)": lambda: linear(e3nn_product(x, sh, weights))}
    for mmax in args.mmax:
        conv = SO2Convolution(irreps_in, irreps_out, mmax=mmax)
        radial = torch.randn(args.edges, conv.weight_numel)
        cases[f"SO(2), mmax {mmax}"] = (lambda conv=conv, radial=radial:
                                        conv(x, EdgeFrame(vectors), radial))
    frame_only = timed(lambda: [EdgeFrame(vectors).wigner(l) for l in range(lmax + 1)], args.repeats)
    print(f"{args.edges} edges, {irreps_in} -> {irreps_out.dim} numbers per edge, torch threads "
          f"{torch.get_num_threads()}")
    print(f"{'edge stage':28s} {'forward s':>10s} {'ratio':>6s} {'fwd+bwd s':>10s} {'ratio':>6s}")
    base = None
    for name, function in cases.items():
        with torch.no_grad():
            forward = timed(function, args.repeats)
        both = timed(lambda: function().square().sum().backward(), args.repeats)
        base = base or (forward, both)
        print(f"{name:28s} {forward:10.3f} {forward / base[0]:6.2f} {both:10.3f} {both / base[1]:6.2f}")
    print(f"of which the edge frames (Wigner matrices, l ≤ {lmax}): {frame_only:.3f} s")


if __name__ == "__main__":
    main()
