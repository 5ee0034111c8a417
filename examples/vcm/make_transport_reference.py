"""GFN1-xTB reference for the transport validation (ML current vs reference current).

The four unseen test devices of ``make_reference.py`` (same seeds: two formed, two
broken filaments) rebuilt with 12.72 Å electrode segments, so the TiN across the
cell boundary is 25.44 Å long and the leads that continue it periodically
(``validate_transport.py``) are three TiN principal layers (8.48 Å) long. 8 Å blocks in the
whole GFN1 basis (transport restricts them to ``gfn1-xtb-compact``). One HDF5 file
per structure in ``--out``; existing files are skipped.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/make_transport_reference.py   # ~33 min on 1 core
"""

from __future__ import annotations

import argparse
from pathlib import Path

from make_reference import COMMON, DEVICES, IMAGE_RANGE, write_reference

from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device

ELECTRODE_LENGTH = 12.72
TEST_DEVICES = ("formed_1", "formed_2", "broken_1", "broken_2")


def structures(vacuum: float) -> dict:
    """Name -> test device."""
    common = {**COMMON, "electrode_length": ELECTRODE_LENGTH}
    out = {}
    for name in TEST_DEVICES:
        vacancies, seed = DEVICES[name]
        out[name] = build_vcm_device(DeviceSpec(vacancies=vacancies, seed=seed, vacuum=vacuum, **common))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "data8_transport"))
    parser.add_argument("--vacuum", type=float, default=12.0, help="vacuum in y and z, Å")
    parser.add_argument("--devices", nargs="+", default=list(TEST_DEVICES), choices=TEST_DEVICES)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = TBLiteReference(cutoff=8.0, image_range=IMAGE_RANGE, electronic_temperature=300.0)
    devices = structures(args.vacuum)
    for name in args.devices:
        atoms = devices[name]
        write_reference(reference, name, out / f"{name}.h5", lambda atoms=atoms: atoms)


if __name__ == "__main__":
    main()
