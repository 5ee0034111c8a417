"""ML vs reference currents of the unseen formed/broken-filament devices (the paper's Table I layout).

Inputs: four test devices with 12.72 Å electrode segments (``make_transport_reference.py``'s
GFN1-xTB data, or ``make_pbe_reference.py``'s PBE data with ``--data examples/vcm/data_pbe
--basis full``) and a trained 8 Å model (``--model none``: the reference's currents only).
Both Hamiltonians are restricted to ``--basis`` (GFN1: the ``gfn1-xtb-compact`` transport
basis; ``full`` keeps the data set's basis, e.g. PBE's SZV); the leads continue each
device across its periodic cell boundary (:func:`hamtrans.negf.periodic_electrodes`,
the same for reference and model) and each Hamiltonian uses the Fermi level of its
own lead bands (charge-neutral TiN principal layer, 64 k-points along the axis; films with
``--kpoints``: over the transverse mesh too, and the currents are k-averaged per transverse
cell, :mod:`hamtrans.negf.kpoints`). Currents are integrated
adaptively (``--tolerance``, first pass every ``--resolution``). Writes ``table.json`` after
each device (with the ON/OFF ratio of each formed/broken pair) and prints the table; a rerun
into the same ``--out`` with the same settings reuses the devices' reference currents there (and
the model's, for the same ``--model``). Each device's structure is kept there as
``<name>.extxyz``, so that table and structures compare a model without the reference dataset.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/validate_transport.py   # vcm-gfn1-8 at 1 V, ~57 min (0.2 V: ~21)
     (two processes with disjoint ``--devices`` lists use both cores)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase.io import read, write
from make_pbe_films import FILMS, film  # this folder's film recipes

from hamtrans.atomic_files import atomic_write
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.electrons import valence_electrons
from hamtrans.data.formats import Dataset
from hamtrans.data.structures import A_TIN
from hamtrans.models import load_model
from hamtrans.negf import SweepOptions
from hamtrans.negf.kpoints import (
    kpoint_band_fermi_level,
    kpoint_current,
    kpoint_devices,
    kpoint_transmission,
    transverse_kpoints,
)

HERE = Path(__file__).parent
TEST_DEVICES = ("formed_1", "formed_2", "broken_1", "broken_2")
#: Broadening (eV) for the Sancho–Rubio leads: 8× faster than the eigenmode solve on these
#: 320-orbital TiN principal layers, which also fails at a few energies of this wire.
ETA = 1e-5


def film_devices(h, s, atoms, temperature, mesh=(1, 1, 1)):
    """Devices with periodic-continuation leads per transverse k-point, the mesh, and E_F (eV) of the lead bands.

    E_F makes the left lead's principal layer charge neutral over the mesh at ``temperature`` (K).
    """
    kpoints = transverse_kpoints(mesh)
    devices = kpoint_devices(h, s, atoms, kpoints, lead_cell=A_TIN)
    left = devices[0]
    n_electrons = valence_electrons(h.basis.name, atoms.numbers[np.unique(left.orbital_atoms[:left.block_sizes[0]])])
    return devices, kpoints, kpoint_band_fermi_level(devices, kpoints, n_electrons, temperature)


def transport(h, s, atoms, bias, temperature, tolerance, resolution, mesh=(1, 1, 1)):
    """Current (adaptive energy grid), T(E_F) and lead diagnostics of one device with periodic-continuation leads.

    ``mesh``: transverse k-points of a film (``(1, 1, 1)``: Γ, a wire); the current and T(E_F)
    are then per transverse cell and the Fermi level comes from the lead bands over the mesh.
    """
    devices, kpoints, fermi = film_devices(h, s, atoms, temperature, mesh)
    options = SweepOptions(lead_method="sancho-rubio", eta=ETA)
    result = kpoint_current(devices, kpoints, bias, temperature, fermi, tolerance=tolerance, resolution=resolution,
                            options=options)
    t_fermi = float(kpoint_transmission(devices, kpoints, [fermi], options).transmission[0])
    return {"current_A": result.current, "transmission_at_fermi": t_fermi, "fermi_level_eV": fermi,
            "end_mismatch_eV": [max(d.electrode_mismatch[side] for d in devices) for side in (0, 1)],
            "kpoint_mesh": list(mesh), "current_per_kpoint_A": [r.current for r in result.resolved],
            "energy_points": int(sum(r.energies.size for r in result.resolved)),
            "integration_error_A": result.error, "converged": result.converged}


def earlier_results(table: Path, settings: dict, model: str) -> dict:
    """Per-device results of an earlier run into the same table with the same settings, to be reused.

    The reference's entries are reused whatever model that run compared; the model's only for
    the same ``model``. A table written with other settings is ignored (and overwritten).
    """
    if not table.exists():
        return {}
    earlier = json.loads(table.read_text())
    if any(earlier.get(key) != value for key, value in settings.items()):
        return {}
    labels = ("reference", "model") if earlier.get("model") == model else ("reference",)
    return {name: {label: row[label] for label in labels if label in row} for name, row in earlier["devices"].items()}


def device_inputs(name: str, data: Path, out: Path, basis: str, done: dict):
    """Atoms, reference H and S in the transport basis (``None`` without the dataset) and the table row's header.

    The device's structure is kept as ``<out>/<name>.extxyz``; without the dataset the model
    runs on that structure (or on a film of ``make_pbe_films.py`` rebuilt from its recipe) and
    is compared with the reference entry of an earlier run in ``<out>/table.json`` where there
    is one (the DFT matrices are hours of CP2K; the structure and currents are kB).
    """
    structure = out / f"{name}.extxyz"
    if not (data / f"{name}.h5").exists():
        if structure.exists():
            atoms = read(structure)
        elif name in FILMS:  # rebuilt from its recipe (seeded: the structure its reference was computed on)
            atoms = film(name)
            atomic_write(structure, lambda path: write(path, atoms, format="extxyz"))
        else:
            raise SystemExit(f"{name}: neither {data / (name + '.h5')} nor its structure {structure} is there")
        return atoms, None, None, {"atoms": len(atoms)}
    with Dataset(data / f"{name}.h5") as dataset:
        record = dataset[0]
    if not structure.exists():
        atomic_write(structure, lambda path: write(path, record.atoms, format="extxyz"))
    chosen = record.hamiltonian.basis if basis == "full" else OrbitalBasis.named(basis)
    h_ref, s_ref = record.hamiltonian.restricted(chosen), record.overlap.restricted(chosen)
    row = {"atoms": len(record.atoms), "orbitals": h_ref.n_orbitals, "dataset_fermi_level_eV": record.fermi_level}
    return record.atoms, h_ref, s_ref, row


def on_off_ratios(devices: dict) -> dict:
    """``{"formed_1/broken_1": {"reference": I_on/I_off, "model": ...}}`` for each formed/broken pair in the table."""
    ratios = {}
    for name, row in devices.items():
        partner = name.replace("formed", "broken")
        if "formed" not in name or partner not in devices:
            continue
        ratios[f"{name}/{partner}"] = {
            label: abs(row[label]["current_A"] / devices[partner][label]["current_A"])
            for label in ("reference", "model") if label in row and label in devices[partner]}
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vcm-gfn1-8", help="model file or shipped name; 'none': reference only")
    parser.add_argument("--basis", default="gfn1-xtb-compact",
                        help="transport basis the matrices are restricted to; 'full': the data set's own")
    parser.add_argument("--data", default=str(HERE / "data8_transport"))
    parser.add_argument("--bias", type=float, default=1.0, help="V (the paper's Table I: 1 V)")
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--tolerance", type=float, default=1e-2,
                        help="relative error target of the adaptive (Simpson) current integral")
    parser.add_argument("--resolution", type=float, default=None,
                        help="first-pass energy spacing (eV) of the adaptive grid (default kT)")
    parser.add_argument("--kpoints", type=int, nargs=3, default=(1, 1, 1), metavar=("N1", "N2", "N3"),
                        help="Γ-centred transverse k-point mesh of films (1 along x; default Γ: wires)")
    parser.add_argument("--devices", nargs="+", default=list(TEST_DEVICES))
    parser.add_argument("--out", default="runs/transport_validation")
    args = parser.parse_args()
    model = None if args.model == "none" else load_model(args.model)
    data = Path(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    settings = {"bias_V": args.bias, "temperature_K": args.temperature, "basis": args.basis,
                "kpoint_mesh": list(args.kpoints), "current_tolerance": args.tolerance,
                "current_resolution_eV": args.resolution}
    rows, done = {}, earlier_results(out / "table.json", settings, args.model)
    for name in args.devices:
        atoms, h_ref, s_ref, row = device_inputs(name, data, out, args.basis, done)
        matrices = {} if h_ref is None else {"reference": (h_ref, s_ref)}
        if model is not None:
            basis = h_ref.basis if h_ref is not None else (
                model.basis if args.basis == "full" else OrbitalBasis.named(args.basis))
            h_ml, s_ml = (m.restricted(basis) for m in model.predict(atoms))
            if h_ref is not None:
                row.update({"node_mae_meV": 1e3 * float(np.abs(h_ml.onsite - h_ref.onsite).mean()),
                            "edge_mae_meV": 1e3 * float(np.abs(h_ml.edges - h_ref.edges).mean()),
                            "overlap_mae": float(np.abs(s_ml.edges - s_ref.edges).mean())})
            matrices["model"] = (h_ml, s_ml)
        for label in ("reference", "model"):
            if label in done.get(name, {}):
                row[label] = done[name][label]
                print(f"{name} {label}: from {out / 'table.json'}", flush=True)
                continue
            if label not in matrices:
                continue
            h, s = matrices[label]
            start = time.perf_counter()
            row[label] = transport(h, s, atoms, args.bias, args.temperature, args.tolerance,
                                   args.resolution, tuple(args.kpoints))
            row[label]["seconds"] = time.perf_counter() - start
            print(f"{name} {label}: I = {row[label]['current_A']:.3e} A, T(E_F) = "
                  f"{row[label]['transmission_at_fermi']:.3e} ({row[label]['energy_points']} energies, "
                  f"{row[label]['seconds']:.0f} s)", flush=True)
        if "model" in row and "reference" in row:
            row["log10_ratio"] = float(np.log10(abs(row["model"]["current_A"]) / abs(row["reference"]["current_A"])))
        rows[name] = row
        devices = {**done, **rows}
        summary = {**settings, "model": args.model, "devices": devices, "on_off": on_off_ratios(devices)}
        atomic_write(out / "table.json", lambda path: path.write_text(json.dumps(summary, indent=2) + "\n"))
    print(f"\n{'device':20s} {'node MAE':>9s} {'edge MAE':>9s} {'I_ref (A)':>10s} {'I_pred (A)':>10s} {'log10':>6s}")
    for name, row in rows.items():
        mae = (f"{row['node_mae_meV']:9.1f} {row['edge_mae_meV']:9.2f}" if "node_mae_meV" in row
               else f"{'-':>9s} {'-':>9s}")
        reference = f"{row['reference']['current_A']:10.3e}" if "reference" in row else f"{'-':>10s}"
        predicted = f"{row['model']['current_A']:10.3e}" if "model" in row else ""
        ratio = f" {row['log10_ratio']:+6.2f}" if "log10_ratio" in row else ""
        print(f"{name:20s} {mae} {reference} {predicted}{ratio}")
    for pair, ratios in summary["on_off"].items():
        print(f"ON/OFF {pair}: " + ", ".join(f"{label} {value:.3g}" for label, value in ratios.items()))
    print(f"-> {out / 'table.json'}")


if __name__ == "__main__":
    main()
