"""The main job on embedded defaults (``make demo`` / ``hamtrans demo``).

A resistive-switching I–V of a TiN | HfO2 | TiN valence-change-memory nanowire from
the SHIPPED Hamiltonian model, with no training, no DFT code and no GPU:

1. the pristine device: 8.48 Å TiN cross-section, 16.96 Å TiN electrode segments
   (their lead principal layers lie beyond the model's reach of the oxide, so every
   snapshot has the same leads), 10 Å HfO2, 12 Å vacuum;
2. kinetic Monte Carlo of oxygen vacancies under a voltage ramp 0 → +V → 0 → −V → 0
   (:class:`hamtrans.kmc.SwitchingSweep`): Poisson field of the charged defects, the
   left electrode as oxygen reservoir, local Joule heating from the current of each
   point; every point's structure goes through the shipped model ``vcm-gfn1-8``
   (8 Å blocks, ``gfn1-xtb-compact`` transport basis) and the NEGF engine (leads
   continuing the cell, Fermi level from their bands, an energy lattice shared by all
   currents with the lead surfaces kept across snapshots);
3. reads at ±``read_voltage`` on both sides of SET and RESET (on a twice finer energy
   lattice), and a check of the LRS read current against a lattice twice finer again;
4. ``demo_out/``: ``device.extxyz``, ``trajectory.h5``, ``iv.dat``, ``iv.png``,
   ``conductance.png``, ``summary.json`` (the reads and their ratio, the check,
   the filament metrics, the timings).

``atoms=`` scales the device up through its cross-section, ``step``/``max_voltage``
change the sweep (``read_voltage`` must stay a point of it), and ``backend="cupy"``
runs the NEGF on a GPU.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

from ase.io import write

from hamtrans.atomic_files import atomic_write
from hamtrans.data.structures import A_TIN, DeviceSpec, build_vcm_device
from hamtrans.kmc.iv_config import DEFAULT_DEVICE, parse_iv_config
from hamtrans.kmc.switching import SwitchingSweep
from hamtrans.kmc.trajectory import read_frames

#: The demo device: 10 Å of oxide between electrode segments whose end principal layers (8.48 Å) are more
#: than the model's 8 Å reach away from any oxygen site.
DEMO_DEVICE = replace(DEFAULT_DEVICE, electrode_length=16.96, oxide_length=10.0)
#: The shipped model and the transport sub-basis the demo uses.
DEMO_MODEL = "vcm-gfn1-8"
DEMO_BASIS = "gfn1-xtb-compact"
#: Broadening (eV) of the Sancho–Rubio leads: 8× cheaper than the eigenmode solve on 320-orbital TiN layers.
DEMO_ETA = 1e-5
#: Spacing (eV) of the energy lattice of every current, a finer one at the reads and half of that for the
#: convergence check. The sweep's voltages are multiples of 0.2 V, so V/2 is a multiple of every spacing and
#: all currents share lead energies.
LATTICE_SPACING = 0.025
READ_SPACING = 0.0125
#: Ramp rate (V/s) and SET compliance current (A) of the sweep, as in a quasi-static I–V measurement.
RAMP_RATE = 1000.0
COMPLIANCE = 1e-5
#: Largest relative difference accepted between the read current and the denser lattice.
CONVERGENCE_TOLERANCE = 0.10


def demo_config(out: Path, atoms: int | None = None, max_voltage: float = 1.0, step: float = 0.2,
                read_voltage: float = 0.2, backend: str = "numpy", device: DeviceSpec = DEMO_DEVICE) -> dict:
    """The ``hamtrans iv`` configuration of the demo sweep (a YAML-able mapping)."""
    if atoms is not None:
        base = len(build_vcm_device(device))
        cells = max(2, round(2 * math.sqrt(atoms / base)))  # atoms grow with the cross-section area
        device = replace(device, cross_section=(cells * A_TIN, cells * A_TIN))
    spec = {k: getattr(device, k) for k in ("cross_section", "electrode_length", "oxide_length", "ti_length",
                                            "vacuum", "seed")}
    spec["cross_section"] = list(spec["cross_section"])
    return {
        "device": spec,
        "kmc": {"vacancy_fraction": 0.05, "seed": 1, "max_events": 2000},
        "electrostatics": {"charges": True},
        "heating": {"model": "local", "tolerance": 25.0, "max_iterations": 2},
        "sweep": {"max_voltage": max_voltage, "min_voltage": -max_voltage, "step": step, "rate": RAMP_RATE,
                  "read_voltage": read_voltage, "compliance": COMPLIANCE},
        "transport": {"hamiltonian": DEMO_MODEL, "basis": DEMO_BASIS, "leads": "periodic", "lattice": True,
                      "resolution": LATTICE_SPACING, "read_resolution": READ_SPACING, "eta": DEMO_ETA,
                      "lead_method": "sancho-rubio",
                      "backend": backend},
        "output": {"directory": str(out)},
    }


def run_demo(out: Path, atoms: int | None = None, max_voltage: float = 1.0, step: float = 0.2,
             read_voltage: float = 0.2, backend: str = "numpy", check: bool = True,
             device: DeviceSpec = DEMO_DEVICE) -> dict:
    """Run the demo and return its summary (also written to ``out/summary.json``).

    Parameters
    ----------
    out
        Output folder (created; an interrupted sweep resumes from its trajectory).
    atoms
        Approximate atom count of the device (default: the ~300-atom wire).
    max_voltage, step, read_voltage
        Sweep amplitude, spacing and read voltage (V).
    backend
        ``"numpy"`` or ``"cupy"`` for the NEGF sweeps.
    check
        Recompute the LRS read current on a twice denser energy lattice.
    device
        The device (``atoms`` scales its cross-section).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = parse_iv_config(demo_config(out, atoms, max_voltage, step, read_voltage, backend, device))
    timings = {}
    start = time.perf_counter()
    pristine = build_vcm_device(config.device)
    write(out / "device.extxyz", pristine, format="extxyz")
    print(f"device: {pristine.get_chemical_formula()}, {len(pristine)} atoms, "
          f"cell {pristine.cell.lengths().round(2)} Å; model {DEMO_MODEL} ({DEMO_BASIS} basis)", flush=True)
    sweep = SwitchingSweep(config, progress=True)
    sweep.run()
    frames = read_frames(out / "trajectory.h5")
    timings["kmc_transport_sweep_s"] = time.perf_counter() - start
    swept = json.loads((out / "summary.json").read_text())  # the sweep's own summary: points, reads, events
    found = swept["reads"]
    summary = {
        "device": {"atoms": len(pristine), "composition": pristine.get_chemical_formula(),
                   "cell_angstrom": pristine.cell.lengths().round(4).tolist(), "oxygen_sites": sweep.lattice.n_sites},
        "model": DEMO_MODEL, "basis": DEMO_BASIS,
        "sweep": swept.pop("points"),
        **swept,
        "read_ratio": found["set"]["ratio"] if found else None,
        "lead_cache": {"hits": sweep.lead_cache.hits, "misses": sweep.lead_cache.misses},
    }
    if check and found:
        start = time.perf_counter()
        summary["convergence"] = _check_read(sweep, frames[found["set"]["points"][1]], read_voltage)
        timings["convergence_check_s"] = time.perf_counter() - start
    summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    atomic_write(out / "summary.json", lambda path: path.write_text(json.dumps(summary, indent=2) + "\n"))
    _print_summary(out, summary)
    return summary


def _check_read(sweep: SwitchingSweep, frame: dict, voltage: float) -> dict:
    """The LRS read current against the same snapshot on a lattice of half the read spacing."""
    from hamtrans.kmc.engine import KMCState

    state = KMCState(frame["occupied"], frame["ions"])
    structure = sweep.lattice.structure(state.occupied)
    dense = sweep.structure_current(structure, voltage, resolution=READ_SPACING / 2).current
    relative = abs(frame["current"] - dense) / abs(dense) if dense else float("inf")
    return {"voltage_V": voltage, "read_A": frame["current"], "dense_A": dense,
            "spacing_eV": [READ_SPACING, READ_SPACING / 2], "relative_difference": relative,
            "tolerance": CONVERGENCE_TOLERANCE, "converged": bool(relative <= CONVERGENCE_TOLERANCE)}


def _print_summary(out: Path, summary: dict) -> None:
    print("\nhamtrans demo: resistive-switching I-V sweep")
    for p in summary["sweep"]:
        print(f"  {p['voltage_V']:+5.2f} V  t = {p['time_s']:.2e} s  I = {p['current_A']:+.3e} A  "
              f"vacancies {p['vacancies']:2d}  reservoir {p.get('reservoir', 0):2d}  "
              f"gap {p.get('gap', float('nan')):5.1f} Å  T_max {p.get('temperature_K', float('nan')):6.0f} K")
    found = summary["reads"]
    if found:
        for name in ("set", "reset"):
            r = found[name]
            ratio = "n/a (HRS 0 A)" if r["ratio"] is None else f"{r['ratio']:.2f}"
            print(f"{name.upper()} reads at {'+' if name == 'set' else '-'}{found['read_voltage_V']:.2f} V: "
                  f"LRS {r['lrs_A']:+.3e} A, HRS {r['hrs_A']:+.3e} A, ratio {ratio}")
    if "convergence" in summary:
        c = summary["convergence"]
        print(f"read current against a twice denser energy lattice: {c['read_A']:.3e} vs {c['dense_A']:.3e} A "
              f"({100 * c['relative_difference']:.1f} %, tolerance {100 * c['tolerance']:.0f} %)")
    print(f"timings (s): {summary['timings_s']}")
    print(f"\noutputs in {out.resolve()}/ (device.extxyz, trajectory.h5, iv.dat, iv.png, conductance.png, "
          "summary.json)")
