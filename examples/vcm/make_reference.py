"""GFN1-xTB reference data for the VCM Hamiltonian experiment (paper protocol at this machine's scale).

TiN | HfO2 | TiN nanowire devices (8.48 Å TiN cross-section, 10 Å oxide): eight with
uniformly random vacancies (training/validation: ``random_1``, ``random_2`` for
``train8.yaml``/``train.yaml``, all eight for ``finetune8.yaml``), two with a formed
filament and two with a broken one (``formed_1/2``, ``broken_1/2``: the unseen test
devices), and sixteen more filament devices with other seeds (``formed_3`` … ``formed_6``,
``broken_3`` … ``broken_6``: training devices of ``finetune8_filaments.yaml``; ``formed_7`` …
``formed_10``, ``broken_7`` … ``broken_10``: added in ``finetune8_filaments_mae.yaml``). Blocks are kept to ``--cutoff`` Å; the wire's
vacuum must make every periodic width exceed cutoff + 12 Å (the GFN1 image range).
One HDF5 file per device in ``--out``; existing files are skipped, so an interrupted
run continues where it stopped.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/make_reference.py            # 8 Å blocks, data8/, ~90 min
     ... make_reference.py --cutoff 4.5 --vacuum 9 --out examples/vcm/data \
         --devices random_1 random_2 formed_1 formed_2 broken_1 broken_2            # the 4.5 Å set, 20 min
Two processes with disjoint ``--devices`` lists use both cores (each device 2.5–5 min).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device

COMMON = dict(cross_section=(8.48, 8.48), electrode_length=8.48, oxide_length=10.0, ti_length=0.0,
              filament_radius=2.6)
DEVICES = {"random_1": ("random", 1), "random_2": ("random", 2), "formed_1": ("filament", 3),
           "formed_2": ("filament", 4), "broken_1": ("broken", 5), "broken_2": ("broken", 6),
           **{f"random_{k}": ("random", k + 4) for k in range(3, 9)},
           # filament training devices of finetune8_filaments.yaml (seeds other than the test devices')
           "formed_3": ("filament", 13), "formed_4": ("filament", 14), "broken_3": ("broken", 15),
           "broken_4": ("broken", 16), "formed_5": ("filament", 17), "formed_6": ("filament", 18),
           "broken_5": ("broken", 19), "broken_6": ("broken", 20),
           # and of finetune8_filaments_mae.yaml
           **{f"formed_{k}": ("filament", 14 + 2 * k) for k in range(7, 11)},
           **{f"broken_{k}": ("broken", 15 + 2 * k) for k in range(7, 11)}}
IMAGE_RANGE = 12.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "data8"))
    parser.add_argument("--cutoff", type=float, default=8.0, help="block cutoff, Å")
    parser.add_argument("--vacuum", type=float, default=12.0, help="vacuum in y and z, Å")
    parser.add_argument("--devices", nargs="*", default=list(DEVICES))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = TBLiteReference(cutoff=args.cutoff, image_range=IMAGE_RANGE)
    for name in args.devices:
        vacancies, seed = DEVICES[name]
        write_reference(reference, name, out / f"{name}.h5",
                        lambda: build_vcm_device(DeviceSpec(vacancies=vacancies, seed=seed, vacuum=args.vacuum,
                                                            **COMMON)))


def write_reference(reference: TBLiteReference, name: str, path: Path, build) -> None:
    """Compute ``build()``'s reference into a one-record dataset ``path``; an existing file is skipped."""
    if path.exists():
        print(f"{name}: {path} exists, skipped")
        return
    atoms = build()
    start = time.perf_counter()
    result = reference.compute(atoms)
    with DatasetWriter(path, reference.basis, reference.describe()) as writer:
        writer.append(Record.from_reference(result, name=name))
    print(f"{name}: {len(atoms)} atoms, {result.hamiltonian.n_orbitals} orbitals, "
          f"{time.perf_counter() - start:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
