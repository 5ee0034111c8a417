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
each device and prints the table.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/validate_transport.py   # vcm-gfn1-8 at 1 V, ~57 min (0.2 V: ~21)
     (two processes with disjoint ``--devices`` lists use both cores)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hamtrans.atomic_files import atomic_write
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.electrons import valence_electrons
from hamtrans.data.formats import Dataset
from hamtrans.data.structures import A_TIN
from hamtrans.models import load_model
from hamtrans.negf import SweepOptions
from hamtrans.negf.kpoints import (kpoint_band_fermi_level, kpoint_current, kpoint_devices, kpoint_transmission,
                                   transverse_kpoints)

HERE = Path(__file__).parent
TEST_DEVICES = ("formed_1", "formed_2", "broken_1", "broken_2")
#: Broadening (eV) for the Sancho–Rubio leads: 8× faster than the eigenmode solve on these
#: 320-orbital TiN principal layers, which also fails at a few energies of this wire.
ETA = 1e-5


def transport(h, s, atoms, bias, temperature, tolerance, resolution, mesh=(1, 1, 1)):
    """Current (adaptive energy grid), T(E_F) and lead diagnostics of one device with periodic-continuation leads.

    ``mesh``: transverse k-points of a film (``(1, 1, 1)``: Γ, a wire); the current and T(E_F)
    are then per transverse cell and the Fermi level comes from the lead bands over the mesh.
    """
    kpoints = transverse_kpoints(mesh)
    devices = kpoint_devices(h, s, atoms, kpoints, lead_cell=A_TIN)
    left = devices[0]
    n_electrons = valence_electrons(h.basis.name, atoms.numbers[np.unique(left.orbital_atoms[:left.block_sizes[0]])])
    fermi = kpoint_band_fermi_level(devices, kpoints, n_electrons, temperature)
    options = SweepOptions(lead_method="sancho-rubio", eta=ETA)
    result = kpoint_current(devices, kpoints, bias, temperature, fermi, tolerance=tolerance, resolution=resolution,
                            options=options)
    t_fermi = float(kpoint_transmission(devices, kpoints, [fermi], options).transmission[0])
    return {"current_A": result.current, "transmission_at_fermi": t_fermi, "fermi_level_eV": fermi,
            "end_mismatch_eV": [max(d.electrode_mismatch[side] for d in devices) for side in (0, 1)],
            "kpoint_mesh": list(mesh), "current_per_kpoint_A": [r.current for r in result.resolved],
            "energy_points": int(sum(r.energies.size for r in result.resolved)),
            "integration_error_A": result.error, "converged": result.converged}


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

    rows = {}
    for name in args.devices:
        with Dataset(data / f"{name}.h5") as dataset:
            record = dataset[0]
        basis = record.hamiltonian.basis if args.basis == "full" else OrbitalBasis.named(args.basis)
        h_ref, s_ref = record.hamiltonian.restricted(basis), record.overlap.restricted(basis)
        row = {"atoms": len(record.atoms), "orbitals": h_ref.n_orbitals, "dataset_fermi_level_eV": record.fermi_level}
        matrices = {"reference": (h_ref, s_ref)}
        if model is not None:
            h_ml, s_ml = (m.restricted(basis) for m in model.predict(record.atoms))
            row.update({"node_mae_meV": 1e3 * float(np.abs(h_ml.onsite - h_ref.onsite).mean()),
                        "edge_mae_meV": 1e3 * float(np.abs(h_ml.edges - h_ref.edges).mean()),
                        "overlap_mae": float(np.abs(s_ml.edges - s_ref.edges).mean())})
            matrices["model"] = (h_ml, s_ml)
        for label, (h, s) in matrices.items():
            start = time.perf_counter()
            row[label] = transport(h, s, record.atoms, args.bias, args.temperature, args.tolerance,
                                   args.resolution, tuple(args.kpoints))
            row[label]["seconds"] = time.perf_counter() - start
            print(f"{name} {label}: I = {row[label]['current_A']:.3e} A, T(E_F) = "
                  f"{row[label]['transmission_at_fermi']:.3e} ({row[label]['energy_points']} energies, "
                  f"{row[label]['seconds']:.0f} s)", flush=True)
        if model is not None:
            row["log10_ratio"] = float(np.log10(abs(row["model"]["current_A"]) / abs(row["reference"]["current_A"])))
        rows[name] = row
        summary = {"bias_V": args.bias, "temperature_K": args.temperature, "basis": args.basis, "model": args.model,
                   "kpoint_mesh": list(args.kpoints),
                   "current_tolerance": args.tolerance, "current_resolution_eV": args.resolution, "devices": rows}
        atomic_write(out / "table.json", lambda path: path.write_text(json.dumps(summary, indent=2) + "\n"))
    print(f"\n{'device':10s} {'node MAE':>9s} {'edge MAE':>9s} {'I_ref (A)':>10s} {'I_pred (A)':>10s} {'log10':>6s}")
    for name, row in rows.items():
        if model is None:
            print(f"{name:10s} {'':9s} {'':9s} {row['reference']['current_A']:10.3e}")
            continue
        print(f"{name:10s} {row['node_mae_meV']:9.1f} {row['edge_mae_meV']:9.2f} {row['reference']['current_A']:10.3e} "
              f"{row['model']['current_A']:10.3e} {row['log10_ratio']:+6.2f}")
    print(f"-> {out / 'table.json'}")


if __name__ == "__main__":
    main()
