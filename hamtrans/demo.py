"""The main job on embedded defaults (``make demo`` / ``hamtrans demo``).

Builds a small TiN | HfO2 | Ti | TiN device with a conductive vacancy filament,
computes its GFN1-xTB reference H and S (tblite, no DFT code needed), splits them
into real-space blocks, writes the HDF5 dataset and prints a summary. Later
issues extend it to train -> predict -> transport.

Outputs in the chosen folder: ``device.extxyz``, ``vcm_reference.h5``, ``summary.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from ase.io import write

from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device

#: Demo device: periodic widths must reach cutoff + image_range for an exact Γ split.
DEMO_DEVICE = DeviceSpec(
    cross_section=(16.96, 16.96), electrode_length=4.24, oxide_length=6.0, ti_length=3.0,
    vacancies="filament", filament_radius=2.6, seed=0,
)
DEMO_CUTOFF = 4.5
DEMO_IMAGE_RANGE = 12.0


def run_demo(out: Path, spec: DeviceSpec = DEMO_DEVICE, cutoff: float = DEMO_CUTOFF,
             image_range: float = DEMO_IMAGE_RANGE) -> dict:
    """Run the demo and return its summary (also written to ``out/summary.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    atoms = build_vcm_device(spec)
    write(out / "device.extxyz", atoms, format="extxyz")
    timings["build_device_s"] = time.perf_counter() - start
    print(f"device: {atoms.get_chemical_formula()}, {len(atoms)} atoms, cell {atoms.cell.lengths().round(2)} Å")

    start = time.perf_counter()
    reference = TBLiteReference(cutoff=cutoff, image_range=image_range, mixer_damping=0.2)
    print(f"reference: GFN1-xTB (tblite) on {len(atoms)} atoms ...", flush=True)
    result = reference.compute(atoms)
    timings["reference_s"] = time.perf_counter() - start

    start = time.perf_counter()
    dataset = out / "vcm_reference.h5"
    with DatasetWriter(dataset, reference.basis, reference.describe()) as writer:
        writer.append(Record.from_reference(result, name="demo-device"))
    timings["write_dataset_s"] = time.perf_counter() - start

    h, s = result.hamiltonian, result.overlap
    device_h = h.to_sparse(axis=0, shift=0)  # open along the transport axis
    summary = {
        "atoms": len(atoms),
        "composition": atoms.get_chemical_formula(),
        "cell_angstrom": atoms.cell.lengths().round(4).tolist(),
        "basis": h.basis.name,
        "orbitals": h.n_orbitals,
        "onsite_blocks": len(atoms),
        "edge_blocks": h.graph.n_edges,
        "cutoff_angstrom": cutoff,
        "image_range_angstrom": image_range,
        "nonzero_H_entries": int(np.count_nonzero(np.abs(h.to_sparse().data) > 0)),
        "open_device_H_nonzeros": int(device_h.nnz),
        "hermiticity_error_eV": h.hermiticity_error(),
        "overlap_hermiticity_error": s.hermiticity_error(),
        "energy_eV": result.energy,
        "fermi_level_eV": result.fermi_level,
        "dataset": str(dataset),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "summary.json")
    width = max(len(k) for k in summary)
    print("\nhamtrans demo summary")
    for key, value in summary.items():
        print(f"  {key:<{width}}  {value}")
    print(f"\noutputs in {out.resolve()}/ (device.extxyz, vcm_reference.h5, summary.json)")
    return summary
