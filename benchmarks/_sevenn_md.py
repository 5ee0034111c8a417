"""SevenNet side of potential_md.py; runs under /work/sevenn-venv/bin/python (torch 2.13 CPU + sevenn).

Builds an UNTRAINED SevenNet (NequIP-type) model with the given hyperparameters via SevenNet's own
``sevenn.model_build.build_E3_equivariant_model(config)``, wraps it in SevenNet's own ASE calculator
(``sevenn.calculator.SevenNetCalculator(model_instance)``) and times ASE velocity-Verlet MD (1 fs).

stdout: one JSON line per structure, e.g.
  {"code": "sevenn", "version": "0.13.0", "atoms": 960, "steps": 5, "seconds": ..., "atom_steps_per_s": ...,
   "mean_neighbours": ..., "params": ...}
stderr: everything else (hyperparameters, parameter count, per-repeat timings, warnings).

Hyperparameters mapped to SevenNet config keys:
  --layers -> num_convolution_layer, --channels -> channel, --lmax -> lmax, --cutoff -> cutoff,
  --radial -> radial_basis.bessel_basis_num, --radial-hidden -> weight_nn_hidden_neurons [h, h],
  --parity -> is_parity (default False: SO(3)-only irreps 0e+1e+2e, same sizes as natural-parity 0e+1o+2e;
  is_parity=True would add the odd/even partner of every l and roughly double the tensor products),
  self_connection_type 'nequip' (species-dependent tensor-product self-connection, as in NequIP),
  cutoff_function poly_cut (p=6), conv_denominator = mean neighbour count of the first structure.

Default structures: rattled (0.1 Å) fluorite HfO2, a = 5.1 Å, near-cubic repeats closest to each --sizes value
(100 -> 96, 1000 -> 960, 3000 -> 3000 atoms; ~44 neighbours within 5 Å). Pass --structure to use exactly the
same frames as the other code.

Note: with ~10^5 edges most time is glibc mmap/munmap of large tensors (high sys time); running under e.g.
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296:glibc.malloc.top_pad=268435456
was ~1.5x faster at 1000-3000 atoms. Give both codes the same environment.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def fluorite_hfo2_supercell(target_atoms: int, a: float = 5.1, rattle: float = 0.1, seed: int = 0):
    """Rattled fluorite HfO2 (12 atoms / cubic cell, a = 5.1 Å) with near-cubic repeats closest to ``target_atoms``."""
    from ase.build import bulk

    unit = bulk("HfO2", "fluorite", a=a, cubic=True)  # 4 Hf + 8 O
    k = target_atoms / len(unit)
    top = int(np.ceil(k ** (1 / 3))) + 4
    best = None
    for n1 in range(1, top + 1):
        for n2 in range(n1, top + 1):
            for n3 in range(n2, 2 * n1 + 1):  # aspect ratio <= 2
                score = (abs(n1 * n2 * n3 - k), n3 / n1)
                if best is None or score < best[0]:
                    best = (score, (n1, n2, n3))
    atoms = unit.repeat(best[1])
    atoms.rattle(stdev=rattle, seed=seed)
    atoms.pbc = True
    return atoms


def build_sevenn_model(species, layers, channels, lmax, cutoff, radial, radial_hidden, parity, denominator):
    import sevenn._keys as KEY
    import sevenn.util as util
    from sevenn._const import DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG
    from sevenn.model_build import build_E3_equivariant_model

    config = dict(DEFAULT_E3_EQUIVARIANT_MODEL_CONFIG)
    config.update(util.chemical_species_preprocess(list(species)))  # type map, number of species
    config.update(
        {
            KEY.CUTOFF: float(cutoff),
            KEY.NODE_FEATURE_MULTIPLICITY: int(channels),
            KEY.LMAX: int(lmax),
            KEY.NUM_CONVOLUTION: int(layers),
            KEY.IS_PARITY: bool(parity),
            KEY.RADIAL_BASIS: {KEY.RADIAL_BASIS_NAME: "bessel", KEY.BESSEL_BASIS_NUM: int(radial)},
            KEY.CUTOFF_FUNCTION: {KEY.CUTOFF_FUNCTION_NAME: "poly_cut", KEY.POLY_CUT_P: 6},
            KEY.CONVOLUTION_WEIGHT_NN_HIDDEN_NEURONS: [int(radial_hidden), int(radial_hidden)],
            KEY.SELF_CONNECTION_TYPE: "nequip",
            KEY.INTERACTION_TYPE: "nequip",
            # training would set these from the data set statistics; untrained -> fixed numbers
            KEY.CONV_DENOMINATOR: float(denominator),
            KEY.SHIFT: 0.0,
            KEY.SCALE: 1.0,
            KEY.TRAIN_SHIFT_SCALE: False,
            KEY.TRAIN_DENOMINTAOR: False,
        }
    )
    model = build_E3_equivariant_model(config)
    model = model.to(torch.float32)
    model.eval()
    return model, config


def mean_neighbours(atoms, cutoff: float) -> float:
    from matscipy.neighbours import neighbour_list

    i = neighbour_list("i", atoms, cutoff)
    return len(i) / len(atoms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--lmax", type=int, default=2)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--radial", type=int, default=8, help="Bessel radial basis functions")
    parser.add_argument("--radial-hidden", type=int, default=64, help="width of the two hidden radial-MLP layers")
    parser.add_argument("--parity", action="store_true", help="SevenNet is_parity=True (O(3), ~2x larger TPs)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--structure", nargs="+", default=None,
                        help="extxyz file(s); every frame of every file is one benchmark system (--sizes ignored)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="timed blocks of --steps; the fastest is reported")
    parser.add_argument("--temperature", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)
    torch.set_default_dtype(torch.float32)
    warnings.simplefilter("ignore")

    import ase
    import ase.io
    import sevenn
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from sevenn.calculator import SevenNetCalculator

    if args.structure:
        systems = [frame for path in args.structure for frame in ase.io.read(path, index=":")]
    else:
        systems = [fluorite_hfo2_supercell(n, seed=args.seed) for n in args.sizes]
    species = sorted({s for atoms in systems for s in atoms.get_chemical_symbols()})

    # untrained model: the convolution denominator is the mean neighbour count (as SevenNet's
    # 'avg_num_neigh' would be after training on these structures)
    denominator = mean_neighbours(systems[0], args.cutoff)
    model, config = build_sevenn_model(species, args.layers, args.channels, args.lmax, args.cutoff, args.radial,
                                       args.radial_hidden, args.parity, denominator)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_params_all = sum(p.numel() for p in model.parameters())
    hyper = {
        "num_convolution_layer": args.layers, "channel": args.channels, "lmax": args.lmax, "cutoff": args.cutoff,
        "bessel_basis_num": args.radial, "weight_nn_hidden_neurons": [args.radial_hidden] * 2,
        "is_parity": bool(args.parity), "self_connection_type": "nequip", "cutoff_function": "poly_cut(p=6)",
        "conv_denominator": denominator, "species": species, "dtype": "float32",
    }
    log(f"sevenn {sevenn.__version__}, torch {torch.__version__}, ase {ase.__version__}, "
        f"threads {torch.get_num_threads()}")
    log("hyperparameters:", json.dumps(hyper))
    log(f"trainable parameters: {n_params} (all incl. fixed shift/scale/denominator: {n_params_all})")
    log("gate-input irreps per layer:", [str(m.irreps_out) for name, m in model._modules.items()
                                         if name.endswith("_self_interaction_2")])

    calc = SevenNetCalculator(model, file_type="model_instance", device="cpu")

    for atoms in systems:
        atoms = atoms.copy()
        n = len(atoms)
        atoms.calc = calc
        MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature, rng=np.random.default_rng(args.seed))
        dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
        t0 = time.perf_counter()
        dyn.run(args.warmup)
        t_warm = time.perf_counter() - t0
        nbrs = calc.results["num_edges"] / n
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            dyn.run(args.steps)
            times.append(time.perf_counter() - t0)
        t = min(times)
        log(f"{n} atoms: warm-up {args.warmup} steps {t_warm:.3f} s; timed {args.steps} steps x {args.repeats}: "
            + ", ".join(f"{x:.3f}" for x in times) + f" s; {t / args.steps:.4f} s/step; "
            f"E = {atoms.get_potential_energy():.4f} eV, max|F| = {np.abs(atoms.get_forces()).max():.3f} eV/A")
        print(json.dumps({
            "code": "sevenn", "version": sevenn.__version__, "atoms": n, "steps": args.steps, "seconds": t,
            "atom_steps_per_s": n * args.steps / t, "mean_neighbours": nbrs, "params": n_params,
            "seconds_all": times, "hyperparameters": hyper,
        }), flush=True)


if __name__ == "__main__":
    main()
