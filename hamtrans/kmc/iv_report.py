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

COLUMNS = ("point", "time_s", "voltage_V", "current_A", "conductance_S", "vacancies", "ions", "reservoir",
           "temperature_K", "gap_A", *EVENTS)


def conductance(frames: list[dict]) -> np.ndarray:
    """``G = I / V`` (S) of every frame, V across the device (below the source's under compliance); NaN at 0 V."""
    voltage = np.array([f.get("device_voltage_V", f["voltage"]) for f in frames])
    current = np.array([f["current"] for f in frames])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(voltage != 0.0, current / np.where(voltage != 0.0, voltage, 1.0), np.nan)


def iv_table(frames: list[dict]) -> np.ndarray:
    """``(n_frames, len(COLUMNS))`` rows: point, time, V, I, G, vacancies, ions, reservoir, T, gap, events per kind."""
    g = conductance(frames)
    rows = [[k, f["time"], f["voltage"], f["current"], g[k], int((~f["occupied"]).sum()), int(f["ions"].sum()),
             f.get("reservoir", 0), f.get("temperature_K", np.nan), f.get("gap", np.nan), *f["events"]]
            for k, f in enumerate(frames)]
    return np.array(rows, dtype=float).reshape(len(frames), len(COLUMNS))


def write_iv_table(path: Path, frames: list[dict]) -> None:
    """Whitespace table with a ``#`` header naming the columns (``numpy.loadtxt`` reads it)."""
    fmt = ["%d", "%.10e", "%+.4f", "%.10e", "%.10e", "%d", "%d", "%d", "%.1f", "%.2f"] + ["%d"] * len(EVENTS)
    atomic_write(path, lambda p: np.savetxt(p, iv_table(frames), fmt=fmt, header="  ".join(COLUMNS)))


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(5.5, 3.8), dpi=120)


def branches(frames: list[dict]) -> np.ndarray:
    """``(n_frames,)`` 0 on the SET branch (0 → +max → 0), 1 on the RESET branch (0 → −max → 0)."""
    voltage = np.array([f["voltage"] for f in frames])
    negative = np.flatnonzero(voltage < 0)
    branch = np.zeros(len(frames), dtype=int)
    if len(negative):
        branch[negative[0] - 1:] = 1  # the 0 V point before the first negative one starts RESET
    return branch


def reads(frames: list[dict], read_voltage: float | None) -> dict | None:
    """Read currents (A) at ``±read_voltage`` on each side of the SET and the RESET and their ratios.

    SET: ``+V_read`` rising (HRS) and falling (LRS); RESET: ``−V_read`` falling (LRS) and
    rising back to 0 (HRS). ``None`` when the sweep has no such points.
    """
    if read_voltage is None:
        return None
    voltage = np.array([f["voltage"] for f in frames])
    current = np.array([f["current"] for f in frames])
    found = {}
    for sign, name in ((1, "set"), (-1, "reset")):
        at = np.flatnonzero(np.isclose(voltage, sign * read_voltage))
        if len(at) < 2:
            return None
        before, after = float(current[at[0]]), float(current[at[-1]])
        lrs, hrs = (after, before) if name == "set" else (before, after)
        found[name] = {"lrs_A": lrs, "hrs_A": hrs, "ratio": abs(lrs / hrs) if hrs else None,
                       "points": [int(at[0]), int(at[-1])]}
    return {"read_voltage_V": read_voltage, **found}


def plot_iv(path: Path, frames: list[dict], read_voltage: float | None = None) -> None:
    """|I| (log) against V: SET and RESET branches, arrows along the sweep, the read points marked."""
    plt, fig, ax = _figure()
    v = np.array([f["voltage"] for f in frames])
    i = np.abs([f["current"] for f in frames])
    branch = branches(frames)
    shown = i > 0
    for b, (label, colour) in enumerate((("SET branch (0 → +V → 0)", "tab:red"),
                                         ("RESET branch (0 → −V → 0)", "tab:blue"))):
        sel = (branch == b) & shown
        ax.semilogy(v[sel], i[sel], "-o", ms=3, lw=1.0, color=colour, label=label)
        for k in np.flatnonzero(branch[:-1] == b):
            if shown[k] and shown[k + 1] and branch[k + 1] == b:
                ax.annotate("", xy=(v[k + 1], i[k + 1]), xytext=(v[k], i[k]),
                            arrowprops=dict(arrowstyle="->", color=colour, lw=0.6))
    found = reads(frames, read_voltage)
    if found:
        for name, marker in (("set", "s"), ("reset", "D")):
            for k, state in zip(found[name]["points"], ("HRS", "LRS") if name == "set" else ("LRS", "HRS")):
                if shown[k]:
                    ax.plot(v[k], i[k], marker, ms=8, mfc="none", color="k")
                    ax.annotate(f"{state} read", (v[k], i[k]), textcoords="offset points", xytext=(6, -10),
                                fontsize=7)
    ax.set_xlabel("voltage (V)")
    ax.set_ylabel("|current| (A)")
    ax.set_title("I–V sweep (KMC + NEGF)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def plot_conductance(path: Path, frames: list[dict]) -> None:
    """G = I/V (log) against simulated time, with the filament gap and the vacancy count beside it."""
    plt, fig, ax = _figure()
    t = np.array([f["time"] for f in frames])
    g = np.abs(conductance(frames))
    shown = np.isfinite(g) & (g > 0)
    ax.semilogy(t[shown], g[shown], "o-", ms=3, lw=1.0, color="tab:red", label="G = I/V")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("conductance (S)")
    twin = ax.twinx()
    twin.plot(t, [f.get("gap", np.nan) for f in frames], color="k", lw=1.0, label="filament gap (Å)")
    twin.plot(t, [(~f["occupied"]).sum() for f in frames], color="0.5", lw=0.8, ls="--", label="vacancies")
    twin.set_ylabel("gap (Å) / vacancies")
    fig.legend(fontsize=7, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def write_summary(path: Path, frames: list[dict], config: dict, seconds: float | None,
                  read_voltage: float | None = None) -> None:
    """Configuration, per-point V/I/G, filament and heating data, event counts, reads and run time as JSON."""
    g = conductance(frames)
    last = frames[-1] if frames else None
    keys = ("reservoir", "temperature_K", "power_W", "iterations", "residual_K", "left_cluster", "right_cluster",
            "spanning", "gap")
    summary = {
        "config": config,
        "points": [{"voltage_V": f["voltage"], "time_s": f["time"], "current_A": f["current"],
                    "conductance_S": None if np.isnan(g[k]) else float(g[k]),
                    "vacancies": int((~f["occupied"]).sum()), **{key: f[key] for key in keys if key in f}}
                   for k, f in enumerate(frames)],
        "reads": reads(frames, read_voltage) if frames else None,
        "events": dict(zip(EVENTS, np.asarray(last["events"]).tolist())) if last else {},
        "simulated_time_s": last["time"] if last else 0.0,
        "wall_seconds_this_run": seconds,
    }
    atomic_write(path, lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))
