"""Outputs of ``hamtrans transport``: T(E) table, current JSON and a T(E) plot.

Files are written to a temporary name and renamed, so an interrupted run never
leaves a half-written result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hamtrans.atomic_files import atomic_write
from hamtrans.negf.transport import CurrentResult


def write_transmission_table(path: Path, energies: np.ndarray, transmission: np.ndarray, fermi_level: float) -> None:
    """Text table ``E (eV)  E−E_F (eV)  T``."""
    table = np.column_stack([energies, energies - fermi_level, transmission])
    header = "E_eV  E_minus_EF_eV  transmission"
    atomic_write(path, lambda p: np.savetxt(p, table, header=header, fmt="%.10e"))


def write_current_json(path: Path, result: CurrentResult | None, settings: dict) -> None:
    """Current (A), chemical potentials, integration grid size and the run settings."""
    summary = dict(settings)
    if result is not None:
        summary.update(current_A=result.current, bias_V=result.bias, mu_left_eV=result.mu_left,
                       mu_right_eV=result.mu_right, temperature_K=result.temperature,
                       integration_points=int(result.energies.size), integration_error_A=result.error,
                       integration_converged=result.converged)
    atomic_write(path, lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))


def plot_transmission(path: Path, energies: np.ndarray, transmission: np.ndarray, fermi_level: float,
                      window: tuple[float, float] | None, title: str = "") -> None:
    """Log-scale T(E − E_F) with the bias window shaded (as in the paper's Fig. 4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    floor = max(transmission[transmission > 0].min(initial=1e-12) * 0.5, 1e-16) if np.any(transmission > 0) else 1e-16
    ax.semilogy(energies - fermi_level, np.clip(transmission, floor, None), lw=1.2, color="tab:blue")
    ax.axvline(0.0, color="k", lw=0.8, ls="--", label="$E_F$")
    if window is not None and window[0] != window[1]:
        ax.axvspan(min(window) - fermi_level, max(window) - fermi_level, color="tab:orange", alpha=0.25,
                   label="bias window")
    ax.set_xlabel("$E - E_F$ (eV)")
    ax.set_ylabel("transmission $T(E)$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)
