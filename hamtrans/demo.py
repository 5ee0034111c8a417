"""The main job on embedded defaults (``make demo`` / ``hamtrans demo``).

A resistive-switching I–V of a TiN | HfO2 | TiN valence-change-memory nanowire from
the SHIPPED Hamiltonian model, with no training, no DFT code and no GPU:

1. build the pristine device (8.48 Å TiN cross-section, 12.72 Å TiN electrode
   segments, 5 Å HfO2, 12 Å vacuum; 219 atoms);
2. kinetic Monte Carlo of oxygen vacancies under a short SET/RESET sweep
   (0 → +V → 0 → −V → 0), each point's structure going through the shipped model
   ``vcm-gfn1-8`` (8 Å blocks, restricted to the ``gfn1-xtb-compact`` transport basis)
   and the NEGF engine (leads continuing the cell across its boundary, Fermi level from
   their bands): :class:`hamtrans.kmc.SwitchingSweep`;
3. on the sweep's starting structure (random vacancies): current at ``+max_voltage/2``
   and T(E) from the model against the GFN1-xTB reference (tblite) of the same
   structure; the reference SCF runs on the second core while the sweep runs;
4. ``demo_out/``: ``device.extxyz``, ``snapshot.extxyz``, ``trajectory.h5``, ``iv.dat``,
   ``iv.png``, ``conductance.png``, ``transmission.dat``, ``transmission.png``,
   ``summary.json``.

About 7 minutes on 2 cores: the reference SCF (~5 min) overlaps the sweep (~35 s per
biased point). ``atoms=`` scales the sweep's device up through its cross-section
(the comparison stays on the default-size device), more voltage points come from
``step``, and ``backend="cupy"`` runs the NEGF on a GPU.
"""

from __future__ import annotations

import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase.io import write

from hamtrans.atomic_files import atomic_write
from hamtrans.calculators import HamiltonianCalculator, TransportCalculator
from hamtrans.data.structures import A_TIN, DeviceSpec, build_vcm_device
from hamtrans.kmc.engine import KMCState
from hamtrans.kmc.iv_config import DEFAULT_DEVICE, parse_iv_config
from hamtrans.kmc.lattice import OxideLattice
from hamtrans.kmc.switching import SwitchingSweep
from hamtrans.negf import SweepOptions

#: The demo device: electrode segments long enough that the cell's end principal layers
#: (8.48 Å) hold TiN only, so the leads can continue the cell across its boundary.
DEMO_DEVICE = replace(DEFAULT_DEVICE, electrode_length=12.72, oxide_length=5.0)
#: The shipped model and the transport sub-basis the demo uses.
DEMO_MODEL = "vcm-gfn1-8"
DEMO_BASIS = "gfn1-xtb-compact"
#: Broadening (eV) of the Sancho–Rubio leads: 8× cheaper than the eigenmode solve on 320-orbital TiN layers.
DEMO_ETA = 1e-5
#: Uniform energies per current (over μ_R − 10 kT … μ_L + 10 kT) and per T(E) plot.
CURRENT_POINTS = 17
SPECTRUM_POINTS = 21


def demo_config(out: Path, atoms: int | None = None, max_voltage: float = 1.0, step: float = 0.5,
                backend: str = "numpy", device: DeviceSpec = DEMO_DEVICE) -> dict:
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
        "kmc": {"vacancy_fraction": 0.15, "seed": 1, "hold_time": 1e-3, "max_events": 200,
                "barriers": {"temperature": 600.0}},
        "sweep": {"max_voltage": max_voltage, "min_voltage": -max_voltage, "step": step},
        "transport": {"hamiltonian": DEMO_MODEL, "basis": DEMO_BASIS, "leads": "periodic",
                      "points": CURRENT_POINTS, "eta": DEMO_ETA, "lead_method": "sancho-rubio", "backend": backend},
        "output": {"directory": str(out)},
    }


def run_demo(out: Path, atoms: int | None = None, max_voltage: float = 1.0, step: float = 0.5,
             backend: str = "numpy", compare: bool = True, device: DeviceSpec = DEMO_DEVICE) -> dict:
    """Run the demo and return its summary (also written to ``out/summary.json``).

    Parameters
    ----------
    out
        Output folder (created; an interrupted sweep resumes from its trajectory).
    atoms
        Approximate atom count of the sweep's device (default: the ~150-atom wire).
    max_voltage, step
        Sweep amplitude and spacing (V).
    backend
        ``"numpy"`` or ``"cupy"`` for the NEGF sweeps.
    compare
        Also compute the reference (tblite) on the starting snapshot and compare.
    device
        The device (its cross-section is the comparison's; ``atoms`` scales the sweep's).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = parse_iv_config(demo_config(out, atoms, max_voltage, step, backend, device))
    timings = {}
    start = time.perf_counter()
    pristine = build_vcm_device(config.device)
    write(out / "device.extxyz", pristine, format="extxyz")
    print(f"device: {pristine.get_chemical_formula()}, {len(pristine)} atoms, "
          f"cell {pristine.cell.lengths().round(2)} Å; model {DEMO_MODEL} ({DEMO_BASIS} basis)", flush=True)

    sweep = SwitchingSweep(config, _hamiltonian(), progress=True)
    snapshot = _comparison_snapshot(config, device)
    with ThreadPoolExecutor(max_workers=1) as pool:  # tblite releases the GIL: the SCF uses the second core
        reference = pool.submit(_reference_blocks, snapshot) if compare else None
        frames = sweep.run()
        timings["kmc_transport_sweep_s"] = time.perf_counter() - start
        if compare:
            start = time.perf_counter()
            comparison = _compare(out, snapshot, reference, max_voltage / 2,
                                  SweepOptions(eta=DEMO_ETA, lead_method="sancho-rubio", backend=backend))
            timings["reference_comparison_s"] = time.perf_counter() - start

    summary = {
        "device": {"atoms": len(pristine), "composition": pristine.get_chemical_formula(),
                   "cell_angstrom": pristine.cell.lengths().round(4).tolist()},
        "model": DEMO_MODEL, "basis": DEMO_BASIS,
        "sweep": [{"voltage_V": f["voltage"], "time_s": f["time"], "current_A": f["current"],
                   "vacancies": int(np.count_nonzero(~f["occupied"]))} for f in frames],
    }
    if compare:
        summary["comparison"] = comparison
    summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    atomic_write(out / "summary.json", lambda path: path.write_text(json.dumps(summary, indent=2) + "\n"))
    _print_summary(out, summary)
    return summary


def _hamiltonian() -> HamiltonianCalculator:
    return HamiltonianCalculator(model=DEMO_MODEL, basis=DEMO_BASIS)


def _comparison_snapshot(config, device: DeviceSpec):
    """The sweep's starting structure on the unscaled device (same vacancy share and seed)."""
    lattice = OxideLattice.from_device(build_vcm_device(replace(config.device, cross_section=device.cross_section)))
    return lattice.structure(KMCState.initial(lattice, config.kmc.vacancy_fraction, config.kmc.seed).occupied)


def _reference_blocks(snapshot) -> HamiltonianCalculator:
    """A reference calculator that has already computed ``snapshot`` (GFN1-xTB, 8 Å blocks)."""
    reference = HamiltonianCalculator(reference="gfn1-xtb", reference_options={
        "cutoff": 8.0, "image_range": 12.0, "basis": DEMO_BASIS})
    reference.get_property("hamiltonian", snapshot)
    return reference


def _compare(out: Path, snapshot, reference, voltage: float, options: SweepOptions) -> dict:
    """Model vs reference current at ``voltage`` and T(E) on ``snapshot``."""
    write(out / "snapshot.extxyz", snapshot, format="extxyz")
    results, spectra = {}, {}
    for name in ("model", "reference"):
        # stderr: the reference SCF in the other thread silences stdout (tblite writes to fd 1)
        print(f"comparison: {name} H on the {len(snapshot)}-atom snapshot at {voltage:+.2f} V ...",
              file=sys.stderr, flush=True)
        hamiltonian = _hamiltonian() if name == "model" else reference.result()  # waits for the reference SCF
        start = time.perf_counter()
        calc = TransportCalculator(hamiltonian, axis="x", bias=voltage, electrode="periodic", lead_cell=A_TIN,
                                   points=CURRENT_POINTS, sweep=options)
        current = float(calc.get_property("current", snapshot))
        fermi = calc.fermi_level
        calc.energies = np.linspace(fermi - 1.0, fermi + 1.0, SPECTRUM_POINTS)
        transmission = calc.get_property("transmission", snapshot)
        spectra[name] = (calc.energies - fermi, transmission)
        results[name] = {"current_A": current, "fermi_level_eV": fermi,
                         "transmission_at_fermi": float(transmission[SPECTRUM_POINTS // 2]),
                         "transport_seconds": round(time.perf_counter() - start, 1)}
    results["log10_current_ratio"] = float(np.log10(abs(results["model"]["current_A"]) /
                                                    abs(results["reference"]["current_A"])))
    results["voltage_V"], results["atoms"] = voltage, len(snapshot)
    _write_spectra(out, spectra, voltage)
    return results


def _write_spectra(out: Path, spectra: dict, voltage: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energies = spectra["model"][0]
    table = np.column_stack([energies, spectra["model"][1], spectra["reference"][1]])
    header = f"E - E_F (eV)  T_model  T_reference   (bias {voltage:+.2f} V, each relative to its own E_F)"
    atomic_write(out / "transmission.dat", lambda p: np.savetxt(p, table, fmt="%.6e", header=header))
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    for name, style in (("reference", "-k"), ("model", "--r")):
        ax.semilogy(spectra[name][0], np.maximum(spectra[name][1], 1e-12), style, label=name)
    ax.set(xlabel="E − E_F (eV)", ylabel="T(E)", title=f"snapshot at {voltage:+.2f} V")
    ax.legend()
    fig.tight_layout()
    atomic_write(out / "transmission.png", lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def _print_summary(out: Path, summary: dict) -> None:
    print("\nhamtrans demo: I-V sweep")
    for point in summary["sweep"]:
        print(f"  {point['voltage_V']:+5.2f} V  t = {point['time_s']:.2e} s  I = {point['current_A']:+.3e} A  "
              f"vacancies {point['vacancies']}")
    if "comparison" in summary:
        c = summary["comparison"]
        print(f"model vs reference at {c['voltage_V']:+.2f} V ({c['atoms']} atoms): "
              f"I = {c['model']['current_A']:.3e} vs {c['reference']['current_A']:.3e} A "
              f"(log10 ratio {c['log10_current_ratio']:+.2f})")
    print(f"timings (s): {summary['timings_s']}")
    print(f"\noutputs in {out.resolve()}/ (device.extxyz, trajectory.h5, iv.dat, iv.png, conductance.png, "
          "transmission.dat, transmission.png, summary.json)")
