"""Hamiltonian inference: time and peak memory vs size, scaling exponent, and the reference generator.

Each size runs in a fresh process (peak RSS is per process): build a VCM device of
about N atoms, build its block graph, predict H and S. The reference generator
(GFN1-xTB, tblite) is timed in the same run on the sizes it can do in minutes
(``--reference-atoms``, default the ~150-atom demo wire). Prints a table, the
fitted exponent t ∝ N^α, and writes JSON with ``--json``.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hamiltonian_inference.py [--model runs/vcm/best.pt]
(without ``--model`` an untrained model of the default size is timed: the cost does not depend on weights).
The peer in the same run: the edge-feature stage (most of the time) through the fused
:class:`~hamtrans.models.equivariant.ProductThenLinear` against e3nn's composition
``Linear(TensorProduct(...))`` on the same 1,365-atom device, with their largest difference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = r"""
import json, resource, sys, time
import torch
from hamtrans.data.structures import build_vcm_device
from hamtrans.models import HamiltonianModel, HamiltonianModelConfig, load_model
from hamtrans.models.model_file import HamiltonianPredictor
from hamtrans.models.hamiltonian import OverlapModel
torch.set_num_threads(int(sys.argv[3]))
cross, length, model_path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[4]
atoms = build_vcm_device(cross_section=(cross, cross), electrode_length=8.48, oxide_length=length, ti_length=0.0,
                         vacancies="random", seed=1)
if model_path:
    predictor = load_model(model_path)
else:
    config = HamiltonianModelConfig(basis="gfn1-xtb", species=(7, 8, 22, 72))
    predictor = HamiltonianPredictor(HamiltonianModel(config).eval(), OverlapModel(config).eval())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
h, s = predictor.predict(atoms)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"atoms": len(atoms), "orbitals": h.n_orbitals, "edges": h.graph.n_edges, "seconds": seconds,
                  "peak_MiB": peak, "baseline_MiB": before}))
"""

REFERENCE = r"""
import json, sys, time
import torch
from hamtrans.data.structures import build_vcm_device
from hamtrans.data.reference import TBLiteReference
from hamtrans.models import HamiltonianModel, HamiltonianModelConfig, load_model
from hamtrans.models.model_file import HamiltonianPredictor
from hamtrans.models.hamiltonian import OverlapModel
torch.set_num_threads(int(sys.argv[2]))
atoms = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=8.48, oxide_length=float(sys.argv[1]),
                         ti_length=0.0, vacuum=9.0, vacancies="filament", seed=0)
start = time.perf_counter()
TBLiteReference(cutoff=4.5, image_range=12.0).compute(atoms)
reference = time.perf_counter() - start
if sys.argv[3]:
    predictor = load_model(sys.argv[3])
else:
    config = HamiltonianModelConfig(basis="gfn1-xtb", species=(7, 8, 22, 72))
    predictor = HamiltonianPredictor(HamiltonianModel(config).eval(), OverlapModel(config).eval())
start = time.perf_counter()
predictor.predict(atoms)
print(json.dumps({"atoms": len(atoms), "seconds": reference, "model_seconds": time.perf_counter() - start}))
"""

EDGE_PEER = r"""
import json, sys, time
import torch
from hamtrans.data.graphs import build_graph
from hamtrans.data.structures import build_vcm_device
from hamtrans.models import HamiltonianModel, HamiltonianModelConfig, load_model
from hamtrans.models.inputs import prepare_inputs
torch.set_num_threads(int(sys.argv[1]))
model = (load_model(sys.argv[2]).hamiltonian if sys.argv[2]
         else HamiltonianModel(HamiltonianModelConfig(basis="gfn1-xtb", species=(7, 8, 22, 72))).eval())
atoms = build_vcm_device(cross_section=(16.96, 16.96), electrode_length=8.48, oxide_length=30.0, ti_length=0.0,
                         vacancies="random", seed=1)
graph = build_graph(atoms, model.config.block_cutoff)
inputs = prepare_inputs(atoms, graph, model.basis, list(model.species), model.config.mp_cutoff, model.config.torch_dtype)

def unfused(source, target, chunk=20000):
    # e3nn's composition: the linear map on the product's flat (E, Σ mul·(2l+1)) output, big chunks
    parts = []
    for start in range(0, graph.n_edges, chunk):
        part = slice(start, start + chunk)
        receivers, senders, _, distance, sh = model._edge_geometry(inputs, inputs.block_edge_index[:, part],
                                                                   inputs.block_shifts[part])
        weights = model.edge_radial(model.block_radial(distance))
        parts.append(model.edge_linear(model.edge_tp(source[receivers] + target[senders], sh, weights)))
    return torch.cat(parts)

with torch.no_grad():
    h = model.node_features(inputs)
    timings = {}
    source, target = model.edge_source(h), model.edge_target(h)
    fused = lambda: torch.cat([model.edge_features(inputs, source, target, slice(start, start + model.edge_chunk))[0]
                               for start in range(0, graph.n_edges, model.edge_chunk)])
    for name, stage in (("fused", fused), ("unfused", lambda: unfused(source, target))):
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            result = stage()
            best = min(best, time.perf_counter() - start)
        timings[name] = (best, result)
print(json.dumps({"atoms": len(atoms), "edges": graph.n_edges, "fused_seconds": timings["fused"][0],
                  "unfused_seconds": timings["unfused"][0],
                  "max_difference": float((timings["fused"][1] - timings["unfused"][1]).abs().max())}))
"""

# (cross-section Å, oxide length Å) giving roughly 500, 1,000, 2,000 and 5,000 atoms
SIZES = [(12.72, 20.0), (16.96, 30.0), (21.2, 50.0), (25.44, 70.0)]


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="model file; default: an untrained default-size model")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is 2 cores)")
    parser.add_argument("--reference-oxide", type=float, nargs="*", default=[5.0],
                        help="oxide lengths (Å) of the demo-wire devices timed with GFN1-xTB in this run")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    print(f"{'atoms':>7} {'orbitals':>9} {'edges':>9} {'time s':>8} {'peak MiB':>9}")
    for cross, length in SIZES:
        row = run(WORKER, str(cross), str(length), str(args.threads), args.model)
        rows.append(row)
        print(f"{row['atoms']:7d} {row['orbitals']:9d} {row['edges']:9d} {row['seconds']:8.2f} {row['peak_MiB']:9.0f}")
    atoms = np.array([r["atoms"] for r in rows], float)
    seconds = np.array([r["seconds"] for r in rows])
    exponent = float(np.polyfit(np.log(atoms), np.log(seconds), 1)[0])
    print(f"scaling exponent α (t ∝ N^α): {exponent:.2f}")
    references = []
    for oxide in args.reference_oxide:
        ref = run(REFERENCE, str(oxide), str(args.threads), args.model)
        references.append(ref)
        print(f"GFN1-xTB reference, {ref['atoms']} atoms: {ref['seconds']:.0f} s; model on the same structure: "
              f"{ref['model_seconds']:.2f} s ({ref['seconds'] / ref['model_seconds']:.0f}×)")
    peer = run(EDGE_PEER, str(args.threads), args.model)
    print(f"edge features, {peer['atoms']} atoms ({peer['edges']} edges): fused product+linear "
          f"{peer['fused_seconds']:.2f} s, e3nn composition {peer['unfused_seconds']:.2f} s "
          f"({peer['unfused_seconds'] / peer['fused_seconds']:.1f}×), max difference {peer['max_difference']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": rows, "exponent": exponent, "reference": references,
                                               "edge_features": peer}, indent=2))


if __name__ == "__main__":
    main()
