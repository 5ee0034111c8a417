"""Data files for the LAMMPS examples: rattled HfO2 and a small TiN | HfO2 | TiN VCM nanowire.

Writes into the current directory:

``hfo2.data``        cubic HfO2 supercell, every atom displaced (σ = 0.3 Å): NVT at high
                     temperature amorphises it (types: 1 Hf, 2 O)
``vcm.data``         VCM nanowire along x, periodic through its TiN electrodes, with random
                     oxygen vacancies (types: 1 Hf, 2 O, 3 Ti, 4 N)
``vcm_groups.lmp``   ``group`` commands: ``electrodes`` (kept fixed: the NEGF leads must
                     repeat) and ``mobile`` (oxide)

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/lammps/make_structures.py [--small]
(``--small``: the sizes of the shortened test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hamtrans.data.structures import REGIONS, DeviceSpec, build_vcm_device, bulk_hfo2
from hamtrans.lammps_plugin.tools import write_data

DEVICE = DeviceSpec(cross_section=(8.48, 8.48), electrode_length=12.72, oxide_length=5.0, ti_length=0.0,
                    vacuum=12.0, vacancies="random", vacancy_fraction=0.15, seed=3)
SMALL_DEVICE = DeviceSpec(cross_section=(4.24, 4.24), electrode_length=16.96, oxide_length=5.0, ti_length=0.0,
                          vacuum=9.0, vacancies="none", seed=3)


def write_groups(path: Path, region: np.ndarray) -> None:
    """``group`` commands by atom ID (IDs follow the atom order of the data file)."""
    electrode = np.isin(region, [REGIONS["left_electrode"], REGIONS["right_electrode"]])
    ids = np.arange(1, len(region) + 1)
    lines = [f"group electrodes id {' '.join(map(str, ids[electrode]))}",
             f"group mobile id {' '.join(map(str, ids[~electrode]))}"]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="smaller structures (shortened test)")
    args = parser.parse_args()

    hfo2 = bulk_hfo2((1, 1, 1) if args.small else (2, 2, 2), rattle=0.3, seed=1)
    write_data("hfo2.data", hfo2, ["Hf", "O"])
    device = build_vcm_device(SMALL_DEVICE if args.small else DEVICE)
    write_data("vcm.data", device, ["Hf", "O", "Ti", "N"])
    write_groups(Path("vcm_groups.lmp"), device.arrays["region"])
    print(f"hfo2.data: {len(hfo2)} atoms; vcm.data: {device.get_chemical_formula()}, {len(device)} atoms, "
          f"cell {device.cell.lengths().round(2)} Å")


if __name__ == "__main__":
    main()
