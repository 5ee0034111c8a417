"""PBE (CP2K) reference data of VCM nanowires: the DFT counterpart of ``make_reference.py``.

TiN | HfO2 | TiN nanowires of the GFN1 protocol (8.48 Å TiN cross-section, 10 Å oxide, the
same vacancy seeds) with 6 Å of vacuum (8.1 Å between the surfaces of neighbouring images:
the transverse images fall outside the 8 Å blocks). ``formed_1/2`` and ``broken_1/2`` are the
unseen test devices (formed and broken filaments) and ``pristine_1`` the oxide without
vacancies, all with 12.72 Å electrodes, so that leads continuing the cell
(``electrode="periodic"``, 8 Å blocks) see TiN only (234–246 atoms);
``random_*``, ``formed_3+`` and ``broken_3+`` are training devices with the GFN1 protocol's
8.48 Å electrodes (170–180 atoms: a local model learns from their slabs, and each costs
three quarters of a test device).

CP2K 2023.1, PBE, SZV-MOLOPT-SR-GTH, Γ, 1000 K Fermi–Dirac, Broyden α 0.05 (the defaults of
``hamtrans.data.reference.cp2k_input``), one MPI rank per process. One HDF5 file per device
in ``--out``; an existing file is skipped, so a killed run loses at most the device in
flight and the next run continues. Run two processes with disjoint ``--devices`` lists to
use two cores. Each device's time is printed and stored in its record (``wall_time``).

Measured (docs/cp2k.md): 71–84 SCF steps, 57–60 min per test device on one core of a loaded
machine. Transport of the results: ``validate_transport.py --data examples/vcm/data_pbe --basis
full --model none``.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/make_pbe_reference.py --devices formed_1 broken_1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from make_reference import COMMON, DEVICES

from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.reference import Cp2kReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device

TEST_ELECTRODE_LENGTH = 12.72
VACUUM = 6.0
BLOCK_CUTOFF = 8.0
#: Devices of this protocol beyond the GFN1 set: a pristine oxide (no vacancies) as the reference
#: of what the oxide alone transmits.
PBE_DEVICES = {"pristine_1": ("none", 1)}
TEST_DEVICES = ("formed_1", "formed_2", "broken_1", "broken_2", "pristine_1")
TRAINING_DEVICES = ("random_1", "random_2", "formed_3", "broken_3", "formed_4", "broken_4")


def device(name: str) -> "ase.Atoms":  # noqa: F821
    """The named device of the PBE protocol, periodic along x only (a wire)."""
    vacancies, seed = {**DEVICES, **PBE_DEVICES}[name]
    electrode = TEST_ELECTRODE_LENGTH if name in TEST_DEVICES else COMMON["electrode_length"]
    spec = DeviceSpec(vacancies=vacancies, seed=seed, vacuum=VACUUM, **{**COMMON, "electrode_length": electrode})
    atoms = build_vcm_device(spec)
    atoms.pbc = (True, False, False)
    return atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "data_pbe"))
    parser.add_argument("--devices", nargs="+", default=[*TEST_DEVICES, *TRAINING_DEVICES], choices=sorted({**DEVICES, **PBE_DEVICES}))
    parser.add_argument("--cp2k-settings", default=None, help="YAML overrides of the CP2K settings (docs/cp2k.md)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = Cp2kReference(args.cp2k_settings, cutoff=BLOCK_CUTOFF)
    for name in args.devices:
        path = out / f"{name}.h5"
        if path.exists():
            print(f"{name}: {path} exists, skipped", flush=True)
            continue
        atoms = device(name)
        start = time.perf_counter()
        result = reference.compute(atoms, workdir=out / "cp2k" / name)
        with DatasetWriter(path, reference.basis, reference.describe()) as writer:  # complete or absent
            writer.append(Record.from_reference(result, name=name))
        print(f"{name}: {len(atoms)} atoms, {result.hamiltonian.n_orbitals} orbitals, E_F {result.fermi_level:.3f} eV, "
              f"{time.perf_counter() - start:.0f} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
