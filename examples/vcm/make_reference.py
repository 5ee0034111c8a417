"""GFN1-xTB reference data for the VCM Hamiltonian experiment (paper protocol at this machine's scale).

Six TiN | HfO2 | TiN nanowire devices (8.48 Å TiN cross-section, 9 Å vacuum, 10 Å
oxide): two with uniformly random vacancies (training/validation), two with a formed
filament and two with a broken one (unseen test devices). One HDF5 file per device
in ``--out`` (default ``examples/vcm/data``); existing files are skipped, so an
interrupted run continues where it stopped.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/make_reference.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device

COMMON = dict(cross_section=(8.48, 8.48), electrode_length=8.48, oxide_length=10.0, ti_length=0.0, vacuum=12.0,
              filament_radius=2.6)
DEVICES = {
    "random_1": DeviceSpec(vacancies="random", seed=1, **COMMON),
    "random_2": DeviceSpec(vacancies="random", seed=2, **COMMON),
    "formed_1": DeviceSpec(vacancies="filament", seed=3, **COMMON),
    "formed_2": DeviceSpec(vacancies="filament", seed=4, **COMMON),
    "broken_1": DeviceSpec(vacancies="broken", seed=5, **COMMON),
    "broken_2": DeviceSpec(vacancies="broken", seed=6, **COMMON),
}
CUTOFF = 8.0
IMAGE_RANGE = 12.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "data"))
    parser.add_argument("--devices", nargs="*", default=list(DEVICES))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = TBLiteReference(cutoff=CUTOFF, image_range=IMAGE_RANGE)
    for name in args.devices:
        path = out / f"{name}.h5"
        if path.exists():
            print(f"{name}: {path} exists, skipped")
            continue
        atoms = build_vcm_device(DEVICES[name])
        start = time.perf_counter()
        result = reference.compute(atoms)
        with DatasetWriter(path, reference.basis, reference.describe()) as writer:
            writer.append(Record.from_reference(result, name=name))
        print(f"{name}: {len(atoms)} atoms, {result.hamiltonian.n_orbitals} orbitals, "
              f"{time.perf_counter() - start:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
