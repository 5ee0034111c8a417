"""PBE (CP2K) reference data of VCM films: laterally periodic TiN | HfO2 | TiN cells with k-points.

The wires of ``make_pbe_reference.py`` have polar oxide facets that put E_F inside the
oxide's O 2p band, so no vacancy pattern gives ON/OFF contrast there (docs/cp2k.md). A film
has no facets: the cell is periodic in y and z (no vacuum), 8.48 × 4.24 Å, with the wires'
10 Å oxide, 12.72 Å electrodes (periodic leads with 8 Å blocks see TiN only) and the same
vacancy seeds (``film_mq_*``: the oxide melt-quenched first, hamtrans.data.melt_quench). A
filament of radius 2.0 Å in this cell is a vacancy wall along z (8 of the 24 O of the
pristine oxide), one per 8.48 Å in y; ``broken`` cuts a 3 Å gap into it (6 of 24).
``film_mq20_*`` / ``film_mq30_*``: 20 / 30 Å of melt-quenched oxide, the broken filament with
an 8 / 20 Å gap next to the left electrode.

CP2K 2023.1, PBE, SZV-MOLOPT-SR-GTH, Monkhorst–Pack 1 × 2 × 4 with the per-image import
(``REAL_SPACE T``), energies only (no forces), one MPI rank per process. One HDF5 file
per device in ``--out``; an existing file is skipped, so a killed run loses at most the
device in flight. Transport of the results needs the transverse k-sum:
``validate_transport.py --data examples/vcm/data_pbe_films --basis full --model none --kpoints 1 2 4``.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/make_pbe_films.py --devices film_pristine_1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.reference import Cp2kReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device

CROSS_SECTION = (8.48, 4.24)
KPOINTS = (1, 2, 4)
BLOCK_CUTOFF = 8.0
FILAMENT_RADIUS = 2.0
#: name -> (vacancy pattern, seed, oxide length in Å, filament gap length in Å)
FILMS = {"film_pristine_1": ("none", 1, 10.0, 3.0), "film_formed_1": ("filament", 3, 10.0, 3.0),
         "film_broken_1": ("broken", 5, 10.0, 3.0), "film_formed_2": ("filament", 4, 10.0, 3.0),
         "film_broken_2": ("broken", 6, 10.0, 3.0), "film_random_1": ("random", 1, 10.0, 3.0),
         "film_random_2": ("random", 2, 10.0, 3.0),
         # melt-quenched oxide (amorphisation="melt-quench"): one quench (seed 1), three vacancy patterns cut from it
         "film_mq_pristine_1": ("none", 1, 10.0, 3.0), "film_mq_formed_1": ("filament", 1, 10.0, 3.0),
         "film_mq_broken_1": ("broken", 1, 10.0, 3.0),
         # a 20 Å melt-quenched oxide (48 O) with an 8 Å gap in the broken filament
         "film_mq20_pristine_1": ("none", 1, 20.0, 8.0), "film_mq20_formed_1": ("filament", 1, 20.0, 8.0),
         "film_mq20_broken_1": ("broken", 1, 20.0, 8.0),
         # a second vacancy-free 20 Å oxide (quench seed 3): training data for the clean oxide's Hf
         "film_mq20_pristine_3": ("none", 3, 20.0, 8.0),
         # a 30 Å melt-quenched oxide with a 20 Å gap next to the left electrode
         "film_mq30_formed_1": ("filament", 1, 30.0, 20.0), "film_mq30_broken_1": ("broken", 1, 30.0, 20.0),
         "film_mq30_formed_2": ("filament", 2, 30.0, 20.0), "film_mq30_broken_2": ("broken", 2, 30.0, 20.0)}
#: Unseen test films (the paper's Table I: formed and broken filaments, plus the oxide without vacancies).
TEST_FILMS = ("film_formed_1", "film_broken_1", "film_pristine_1")


def film(name: str) -> "ase.Atoms":  # noqa: F821
    """The named film: periodic in x, y and z (transport along x)."""
    vacancies, seed, oxide_length, gap_length = FILMS[name]
    amorphisation = "melt-quench" if name.startswith("film_mq") else "rattle"
    return build_vcm_device(DeviceSpec(cross_section=CROSS_SECTION, electrode_length=12.72, oxide_length=oxide_length,
                                       ti_length=0.0, filament_radius=FILAMENT_RADIUS, vacancies=vacancies, seed=seed,
                                       gap_length=gap_length, vacuum=0.0, amorphisation=amorphisation))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "data_pbe_films"))
    parser.add_argument("--devices", nargs="+", default=list(FILMS), choices=list(FILMS))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = Cp2kReference({"kpoints": list(KPOINTS), "forces": False}, cutoff=BLOCK_CUTOFF)
    for name in args.devices:
        path = out / f"{name}.h5"
        if path.exists():
            print(f"{name}: {path} exists, skipped", flush=True)
            continue
        atoms = film(name)
        start = time.perf_counter()
        result = reference.compute(atoms, workdir=out / "cp2k" / name)
        with DatasetWriter(path, reference.basis, reference.describe()) as writer:  # complete or absent
            writer.append(Record.from_reference(result, name=name))
        print(f"{name}: {len(atoms)} atoms, {result.hamiltonian.n_orbitals} orbitals, E_F {result.fermi_level:.3f} eV, "
              f"{time.perf_counter() - start:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
