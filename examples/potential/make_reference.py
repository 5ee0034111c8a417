"""GFN1-xTB energy/force/stress reference set for an interatomic potential of Hf, O, Ti, N.

What: fully periodic cells of 48-96 atoms (every side >= 8.48 Å), labelled with
GFN1-xTB (tblite, Γ point, electronic temperature 300 K, no H/S blocks):

* ``equilibrium`` / ``strain_iso`` / ``strain_aniso`` / ``rattle``: bulk monoclinic
  HfO2 (experimental P2_1/c structure), cubic fluorite HfO2 (the phase the VCM
  device oxide is cut from), rock-salt TiN and hcp Ti; isotropic strains of
  ±1.5/±3 %, random Voigt strains within ±3 %, Gaussian rattles σ = 0.03-0.15 Å;
* ``hot``: rattles σ = 0.10-0.20 Å on top of random ±3 % strains, standing in for
  hot-MD snapshots (a decorrelated GFN1 MD snapshot would cost tens of SCFs).
  All rattles are redrawn where a pair comes closer than 80 % of the shortest
  bond (plain Gaussian tails gave 1.35 Å Hf–O contacts and 80 eV/Å forces);
* ``vacancy``: 1-2 O removed from m-/c-HfO2, 1-2 N from TiN, rattled 0.05-0.15 Å;
* ``interface``: small TiN | HfO2 | TiN supercells from
  :func:`~hamtrans.data.structures.build_vcm_device` (seeded, varied oxide
  disorder, gap and vacancies), rattled. HfO2 | Ti interfaces are left out: their
  GFN1 SCF runs away.

Why: training data (energies, forces, stresses) for a potential that relaxes and
runs MD on the VCM devices whose Hamiltonians hamtrans predicts; same method and
electronic temperature as the Hamiltonian references in ``examples/vcm``.

Everything is seeded (``SEED``). Each category is split 80/20 into
``data/train.h5`` / ``data/test.h5`` (chosen by seed, stratified by category and
material, every category in both). Structures are written as they finish
(``DatasetWriter``, ``resume=True``): rerunning after an interrupt continues where
it stopped. A structure whose SCF does not converge is skipped and logged as
failed in ``data/log.jsonl``; ``data/summary.json`` gives counts, timings and
label statistics.

Run (16 minutes wall time on one core here: 200 structures, 4.7 s of SCF each on
average, 12 s for the interfaces; one interface did not converge and is skipped)::

    mkdir -p examples/potential/data && OMP_NUM_THREADS=1 nohup .venv/bin/python \\
        examples/potential/make_reference.py > examples/potential/data/run.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms
from ase.spacegroup import crystal
from ase.units import GPa
from tqdm import tqdm

from hamtrans.data.formats import Dataset, DatasetWriter, Record
from hamtrans.data.graphs import neighbour_pairs
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import build_vcm_device, bulk_hfo2, bulk_ti, bulk_tin
from hamtrans.errors import HamtransError

SEED = 20240611
ELECTRONIC_TEMPERATURE = 300.0  # K; all bulk metals and TiN | HfO2 interfaces converge with it
TEST_FRACTION = 0.2

#: Structures per material and category (``vacancy`` only for materials in VACANCY_ELEMENT).
COUNTS = {"equilibrium": 1, "strain_iso": 4, "strain_aniso": 8, "rattle": 10, "hot": 12, "vacancy": 12}
N_INTERFACES = 24
ISO_STRAINS = (-0.03, -0.015, 0.015, 0.03)
MIN_BOND_FRACTION = 0.8  # rattles never compress a pair below 80 % of the unrattled shortest bond
MAX_REDRAWS = 100
VACANCY_ELEMENT = {"m-HfO2": "O", "c-HfO2": "O", "TiN": "N"}


def monoclinic_hfo2() -> Atoms:
    """m-HfO2 (P2_1/c, 12 atoms), experimental structure of Hann, Suitch & Pentecost (1985)."""
    return crystal(
        ["Hf", "O", "O"],
        basis=[(0.2759, 0.0412, 0.2078), (0.0730, 0.3332, 0.3452), (0.4479, 0.7576, 0.4790)],
        spacegroup=14, cellpar=[5.1170, 5.1754, 5.2915, 90.0, 99.216, 90.0],
    )


#: Bulk supercells, all sides >= 8.48 Å.
MATERIALS: dict[str, Callable[[], Atoms]] = {
    "m-HfO2": lambda: monoclinic_hfo2().repeat((2, 2, 2)),  # 96 atoms
    "c-HfO2": lambda: bulk_hfo2((2, 2, 2)),  # 96 atoms
    "TiN": lambda: bulk_tin((2, 2, 2)),  # 64 atoms
    "Ti": lambda: bulk_ti((2, 3, 2)),  # 48 atoms
}


@dataclass
class Item:
    """One structure to label."""

    name: str
    category: str
    material: str
    atoms: Atoms


def strained(atoms: Atoms, voigt: np.ndarray) -> Atoms:
    """Copy of ``atoms`` with the cell deformed by the symmetric strain ``voigt`` (xx yy zz yz xz xy)."""
    xx, yy, zz, yz, xz, xy = voigt
    eps = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    return out


def rattled(atoms: Atoms, sigma: float, rng: np.random.Generator) -> Atoms:
    """Gaussian displacements (σ per component), truncated at short distances.

    Atoms closer than MIN_BOND_FRACTION of the unrattled shortest bond get new
    displacements until no such pair is left. Plain independent Gaussians at
    σ = 0.2 Å compress some Hf–O and Ti–N bonds to ~1.35 Å (forces ~80 eV/Å),
    far beyond thermal motion.
    """
    limit = MIN_BOND_FRACTION * float(neighbour_pairs(atoms, 4.0)[3].min())
    displacement = np.zeros_like(atoms.positions)
    redraw = np.arange(len(atoms))
    out = atoms.copy()
    for _ in range(MAX_REDRAWS):
        displacement[redraw] = rng.normal(scale=sigma, size=(len(redraw), 3))
        out.positions = atoms.positions + displacement
        i, j, _, _ = neighbour_pairs(out, limit)
        redraw = np.union1d(i, j)
        if redraw.size == 0:
            return out
    raise HamtransError(f"no rattle of σ = {sigma:.2f} Å keeps every pair above {limit:.2f} Å")


def random_strain(rng: np.random.Generator, limit: float = 0.03) -> np.ndarray:
    """Voigt strain with every component uniform in ±limit (shear included)."""
    return rng.uniform(-limit, limit, size=6)


def bulk_items(material: str, rng: np.random.Generator) -> list[Item]:
    """Equilibrium, strained, rattled, hot and vacancy cells of one bulk material."""
    base = MATERIALS[material]()
    structures: dict[str, list[Atoms]] = {
        "equilibrium": [base.copy()],
        "strain_iso": [strained(base, np.array([s, s, s, 0, 0, 0])) for s in ISO_STRAINS],
        "strain_aniso": [strained(base, random_strain(rng)) for _ in range(COUNTS["strain_aniso"])],
        "rattle": [rattled(base, rng.uniform(0.03, 0.15), rng) for _ in range(COUNTS["rattle"])],
        "hot": [rattled(strained(base, random_strain(rng)), rng.uniform(0.10, 0.20), rng)
                for _ in range(COUNTS["hot"])],
    }
    if material in VACANCY_ELEMENT:
        sites = np.flatnonzero(base.symbols == VACANCY_ELEMENT[material])
        structures["vacancy"] = []
        for k in range(COUNTS["vacancy"]):
            atoms = base.copy()
            del atoms[rng.choice(sites, size=1 + k % 2, replace=False).tolist()]
            structures["vacancy"].append(rattled(atoms, rng.uniform(0.05, 0.15), rng))
    return [Item(f"{category}/{material}/{k:03d}", category, material, atoms)
            for category, frames in structures.items() for k, atoms in enumerate(frames)]


def interface_items(rng: np.random.Generator) -> list[Item]:
    """TiN | HfO2 | TiN cells (8.48 Å cross-section, ~5 Å oxide, 88-91 atoms), every third without vacancies."""
    items = []
    for k in range(N_INTERFACES):
        atoms = build_vcm_device(
            cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=5.0, ti_length=0.0,
            interface_gap=rng.uniform(2.3, 2.7), oxide_rattle=rng.uniform(0.10, 0.35),
            vacancies="none" if k % 3 == 0 else "random", vacancy_fraction=0.05 * (1 + k % 3),
            seed=int(rng.integers(2**31)),
        )
        atoms = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)  # drop builder metadata
        items.append(Item(f"interface/TiN-HfO2/{k:03d}", "interface", "TiN-HfO2",
                          rattled(atoms, rng.uniform(0.03, 0.10), rng)))
    return items


def build_items() -> list[Item]:
    """All structures in a fixed order, drawn from one seeded generator."""
    rng = np.random.default_rng(SEED)
    items = [item for material in MATERIALS for item in bulk_items(material, rng)]
    return items + interface_items(rng)


def split(items: list[Item]) -> dict[str, str]:
    """Name -> 'train' or 'test': ~TEST_FRACTION of every (category, material), at least one test per category."""
    rng = np.random.default_rng(SEED + 1)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in items:
        groups[item.category, item.material].append(item.name)
    assignment = {item.name: "train" for item in items}
    for names in groups.values():
        for name in rng.permutation(names)[: int(round(TEST_FRACTION * len(names)))]:
            assignment[name] = "test"
    for category in sorted({item.category for item in items}):
        names = [item.name for item in items if item.category == category]
        if all(assignment[name] == "train" for name in names):
            assignment[str(rng.choice(names))] = "test"
    return assignment


def stored_names(path: Path) -> set[str]:
    """Names already in a dataset file (missing file: none)."""
    if not path.exists():
        return set()
    with Dataset(path) as dataset:
        return {record.name for record in dataset}


def read_log(path: Path) -> dict[str, dict]:
    """Last log entry per structure name."""
    if not path.exists():
        return {}
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {entry["name"]: entry for entry in entries}


def generate(items: list[Item], assignment: dict[str, str], out: Path, reference: TBLiteReference) -> None:
    """Label the items not yet stored (or failed), appending to ``<split>.h5.partial`` as they finish."""
    settings = {**reference.describe(), "blocks": False, "seed": SEED, "script": "examples/potential/make_reference.py"}
    log_path = out / "log.jsonl"
    failed = {name for name, entry in read_log(log_path).items() if entry["status"] == "failed"}
    paths = {part: out / f"{part}.h5" for part in ("train", "test")}
    done = failed | set().union(*(stored_names(path.with_name(path.name + ".partial")) for path in paths.values()))
    todo = [item for item in items if item.name not in done]
    print(f"{len(items)} structures, {len(items) - len(todo)} already done, {len(todo)} to run", flush=True)
    # on an exception the writers keep their .partial files for resuming; on success they are renamed
    with ExitStack() as stack, log_path.open("a") as log:
        writers = {part: stack.enter_context(DatasetWriter(path, reference.basis, {**settings, "split": part},
                                                           resume=True))
                   for part, path in paths.items()}
        for item in tqdm(todo, unit="structure", mininterval=5.0):
            entry = {"name": item.name, "category": item.category, "material": item.material,
                     "n_atoms": len(item.atoms), "split": assignment[item.name]}
            start = time.perf_counter()
            try:
                result = reference.compute(item.atoms, blocks=False)
            except HamtransError as exc:
                entry.update(status="failed", error=str(exc))
            else:
                writers[assignment[item.name]].append(Record.from_reference(result, name=item.name))
                entry["status"] = "ok"
            entry["seconds"] = round(time.perf_counter() - start, 3)
            log.write(json.dumps(entry) + "\n")
            log.flush()


def _range(values: list[float] | np.ndarray, digits: int = 4) -> dict[str, float]:
    """Rounded min/max/mean."""
    values = np.asarray(values, dtype=float)
    return {"min": round(float(values.min()), digits), "max": round(float(values.max()), digits),
            "mean": round(float(values.mean()), digits)}


def summarise(out: Path) -> dict:
    """Counts, timings and label statistics of ``train.h5``, ``test.h5`` and the log."""
    log = read_log(out / "log.jsonl")
    rows = []
    for part in ("train", "test"):
        with Dataset(out / f"{part}.h5") as dataset:
            for record in dataset:
                category, material, _ = record.name.split("/")
                rows.append((part, category, material, record))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    forces: dict[str, list[np.ndarray]] = defaultdict(list)
    energy_per_atom: dict[str, list[float]] = defaultdict(list)
    for part, category, material, record in rows:
        counts[category][part] += 1
        counts[category]["total"] += 1
        forces[category].append(record.forces.ravel())
        energy_per_atom[material].append(record.energy / len(record.atoms))
    failures = [entry for entry in log.values() if entry["status"] == "failed"]
    for entry in failures:
        counts[entry["category"]]["failed"] += 1
    seconds = defaultdict(list)
    for entry in log.values():
        seconds[entry["category"]].append(entry["seconds"])
    all_seconds = [s for values in seconds.values() for s in values]
    n_atoms = [len(record.atoms) for *_, record in rows]
    all_forces = np.concatenate([f for values in forces.values() for f in values])
    stress = np.array([record.stress for *_, record in rows])
    return {
        "method": "GFN1-xTB (tblite), Γ point, no H/S blocks",
        "electronic_temperature_K": ELECTRONIC_TEMPERATURE,
        "seed": SEED,
        "counts": {"train": sum(r[0] == "train" for r in rows), "test": sum(r[0] == "test" for r in rows),
                   "failed": len(failures), "per_category": {k: dict(v) for k, v in counts.items()}},
        "atoms": {"min": min(n_atoms), "max": max(n_atoms), "mean": round(float(np.mean(n_atoms)), 1)},
        "time_s": {"total": round(sum(all_seconds), 1), "per_structure": _range(all_seconds, 2),
                   "per_category_mean": {k: round(float(np.mean(v)), 2) for k, v in seconds.items()}},
        "energy_per_atom_eV": {k: _range(v) for k, v in energy_per_atom.items()},
        "force_rms_eV_per_A": {"all": round(float(np.sqrt(np.mean(all_forces**2))), 4),
                               **{k: round(float(np.sqrt(np.mean(np.concatenate(v) ** 2))), 4)
                                  for k, v in forces.items()}},
        "force_max_abs_component_eV_per_A": round(float(np.abs(all_forces).max()), 3),
        "stress_GPa": {"normal": _range(stress[:, :3] / GPa, 2), "shear": _range(stress[:, 3:] / GPa, 2)},
        "failures": [{"name": e["name"], "error": e["error"]} for e in failures],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` leaves resumable partial files too
    args.out.mkdir(parents=True, exist_ok=True)
    items = build_items()
    assignment = split(items)
    if not all((args.out / f"{part}.h5").exists() for part in ("train", "test")):
        generate(items, assignment, args.out, TBLiteReference(electronic_temperature=ELECTRONIC_TEMPERATURE))
    summary = summarise(args.out)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("counts", "atoms", "time_s")}, indent=1))


if __name__ == "__main__":
    main()
