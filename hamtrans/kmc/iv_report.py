"""Outputs of ``hamtrans iv``: the I–V table, the hysteresis and conductance plots, the summary JSON.

Every file is written to a temporary name and renamed, so an interrupted sweep
leaves the previous complete version, never a half-written one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hamtrans.atomic_files import atomic_write
from hamtrans.kmc.engine import EVENTS

COLUMNS = ("point", "time_s", "voltage_V", "current_A", "conductance_S", "vacancies", "ions", *EVENTS)


def conductance(frames: list[dict]) -> np.ndarray:
    """``G = I / V`` (S) of every frame; NaN at 0 V."""
    voltage = np.array([f["voltage"] for f in frames])
    current = np.array([f["current"] for f in frames])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(voltage != 0.0, current / np.where(voltage != 0.0, voltage, 1.0), np.nan)


def iv_table(frames: list[dict]) -> np.ndarray:
    """``(n_frames, len(COLUMNS))`` rows: point, time, voltage, current, G, vacancies, ions, events per kind."""
    g = conductance(frames)
    rows = [[k, f["time"], f["voltage"], f["current"], g[k], int((~f["occupied"]).sum()), int(f["ions"].sum()),
             *f["events"]] for k, f in enumerate(frames)]
    return np.array(rows, dtype=float).reshape(len(frames), len(COLUMNS))


def write_iv_table(path: Path, frames: list[dict]) -> None:
    """Whitespace table with a ``#`` header naming the columns (``numpy.loadtxt`` reads it)."""
    fmt = ["%d", "%.10e", "%+.4f", "%.10e", "%.10e", "%d", "%d"] + ["%d"] * len(EVENTS)
    atomic_write(path, lambda p: np.savetxt(p, iv_table(frames), fmt=fmt, header="  ".join(COLUMNS)))


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(5.5, 3.8), dpi=120)


def plot_iv(path: Path, frames: list[dict]) -> None:
    """|I| (log) against V along the sweep order, arrows showing the direction (SET/RESET hysteresis)."""
    plt, fig, ax = _figure()
    v = np.array([f["voltage"] for f in frames])
    i = np.abs([f["current"] for f in frames])
    shown = i > 0
    ax.semilogy(v[shown], i[shown], "-o", ms=3, lw=1.0, color="tab:blue")
    for k in range(len(v) - 1):
        if shown[k] and shown[k + 1]:
            ax.annotate("", xy=(v[k + 1], i[k + 1]), xytext=(v[k], i[k]),
                        arrowprops=dict(arrowstyle="->", color="tab:blue", lw=0.6))
    ax.set_xlabel("voltage (V)")
    ax.set_ylabel("|current| (A)")
    ax.set_title("I–V sweep 0 → +V → 0 → −V → 0 (KMC + NEGF)", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def plot_conductance(path: Path, frames: list[dict]) -> None:
    """G = I/V (log) and the vacancy count against simulated time."""
    plt, fig, ax = _figure()
    t = np.array([f["time"] for f in frames])
    g = np.abs(conductance(frames))
    shown = np.isfinite(g) & (g > 0)
    ax.semilogy(t[shown], g[shown], "o-", ms=3, lw=1.0, color="tab:red", label="G = I/V")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("conductance (S)")
    twin = ax.twinx()
    twin.plot(t, [(~f["occupied"]).sum() for f in frames], color="0.4", lw=0.8, ls="--", label="vacancies")
    twin.set_ylabel("vacancies")
    fig.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def write_summary(path: Path, frames: list[dict], config: dict, seconds: float | None) -> None:
    """Configuration, per-point V/I/G, event counts and run time as JSON."""
    g = conductance(frames)
    last = frames[-1] if frames else None
    summary = {
        "config": config,
        "points": [{"voltage_V": f["voltage"], "time_s": f["time"], "current_A": f["current"],
                    "conductance_S": None if np.isnan(g[k]) else float(g[k]),
                    "vacancies": int((~f["occupied"]).sum())} for k, f in enumerate(frames)],
        "events": dict(zip(EVENTS, np.asarray(last["events"]).tolist())) if last else {},
        "simulated_time_s": last["time"] if last else 0.0,
        "wall_seconds_this_run": seconds,
    }
    atomic_write(path, lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
