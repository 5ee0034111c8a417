"""Outputs of ``hamtrans transport``: T(E) table, current JSON, T(E) plot, bond currents and DOS.

Files are written to a temporary name and renamed, so an interrupted run never
leaves a half-written result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hamtrans.atomic_files import atomic_write
from hamtrans.negf.kpoints import KPointCurrent
from hamtrans.negf.transport import CurrentResult


def write_transmission_table(path: Path, energies: np.ndarray, transmission: np.ndarray, fermi_level: float,
                             resolved: np.ndarray | None = None, kpoints=None) -> None:
    """Text table ``E (eV)  E−E_F (eV)  T``, then ``T(E, k)`` per transverse k-point when ``resolved`` is given.

    ``resolved`` is ``(n_k, n_E)``; the header names each k-point (reciprocal coordinates) and its weight.
    """
    columns = [energies, energies - fermi_level, transmission]
    header = "E_eV  E_minus_EF_eV  transmission"
    if resolved is not None:
        columns += list(resolved)
        header += "".join(f"  T_k({k[0]:g},{k[1]:g},{k[2]:g};w={w:g})" for k, w in zip(kpoints.kpoints, kpoints.weights))
    table = np.column_stack(columns)
    atomic_write(path, lambda p: np.savetxt(p, table, header=header, fmt="%.10e"))


def write_current_json(path: Path, result: CurrentResult | KPointCurrent | None, settings: dict) -> None:
    """Current (A), chemical potentials, integration grid size and the run settings.

    A k-averaged :class:`~hamtrans.negf.kpoints.KPointCurrent` adds the current of each
    k-point (``current_per_kpoint_A``); its grid size counts the energies of all of them.
    """
    summary = dict(settings)
    if result is not None:
        resolved = result.resolved if isinstance(result, KPointCurrent) else [result]
        first = resolved[0]
        summary.update(current_A=result.current, bias_V=first.bias, mu_left_eV=first.mu_left,
                       mu_right_eV=first.mu_right, temperature_K=first.temperature,
                       integration_points=int(sum(r.energies.size for r in resolved)),
                       integration_error_A=result.error, integration_converged=result.converged)
        if isinstance(result, KPointCurrent):
            summary["current_per_kpoint_A"] = [r.current for r in resolved]
    atomic_write(path, lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"))


def plot_transmission(path: Path, energies: np.ndarray, transmission: np.ndarray, fermi_level: float,
                      window: tuple[float, float] | None, title: str = "", resolved: np.ndarray | None = None) -> None:
    """Log-scale T(E − E_F) with the bias window shaded (as in the paper's Fig. 4).

    ``resolved`` ``(n_k, n_E)``: the transmission at each transverse k-point, drawn thin
    behind the k-average ``transmission``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    floor = max(transmission[transmission > 0].min(initial=1e-12) * 0.5, 1e-16) if np.any(transmission > 0) else 1e-16
    for k, curve in enumerate([] if resolved is None else resolved):
        ax.semilogy(energies - fermi_level, np.clip(curve, floor, None), lw=0.6, color="tab:gray", alpha=0.6,
                    label="each k-point" if k == 0 else None)
    ax.semilogy(energies - fermi_level, np.clip(transmission, floor, None), lw=1.2, color="tab:blue",
                label=None if resolved is None else "k-average")
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


def write_bond_currents_table(path: Path, result) -> None:
    """Text table ``a b I_A error_A`` of :class:`~hamtrans.negf.bond_currents.BondCurrents` (a → b, atoms from 0)."""
    table = np.column_stack([result.atoms, result.current, result.error])
    header = (f"atom_a  atom_b  current_A (a -> b)  error_A; bias {result.bias:g} V, {result.temperature:g} K, "
              f"{result.energies.size} energies")
    atomic_write(path, lambda p: np.savetxt(p, table, header=header, fmt=["%d", "%d", "%.6e", "%.2e"]))


def plot_bond_currents(path: Path, result, symbols, title: str = "", fraction: float = 0.01) -> None:
    """The current paths: bonds above ``fraction`` of the largest |I| drawn over the atoms.

    Projected on the plane of the transport axis and the transverse direction of widest
    extent; line width and colour scale with |I| (largest = 1), the direction of the electron
    flow is marked by an arrow head at each bond's midpoint.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    positions = result.positions
    transverse = [a for a in range(3) if a != result.axis]
    spans = [np.ptp(positions[:, a]) for a in transverse]
    shown = (result.axis, transverse[int(np.argmax(spans))])
    magnitude = np.abs(result.current)
    scale = magnitude.max() if magnitude.size and magnitude.max() > 0 else 1.0
    keep = magnitude >= fraction * scale
    start = positions[result.atoms[keep, 0]][:, shown]
    end = positions[result.atoms[keep, 1]][:, shown]
    flowing = np.where((result.current[keep] >= 0)[:, None], end - start, start - end)
    relative = magnitude[keep] / scale
    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=120)
    colours = {s: c for s, c in zip(sorted(set(symbols)), plt.cm.tab10.colors)}
    for symbol, colour in colours.items():
        mask = np.asarray(symbols) == symbol
        ax.scatter(positions[mask, shown[0]], positions[mask, shown[1]], s=10, color=colour, alpha=0.35,
                   label=symbol, zorder=1)
    order = np.argsort(relative)
    lines = LineCollection(np.stack([start, end], 1)[order], linewidths=0.5 + 3.5 * relative[order],
                           cmap="inferno_r", zorder=2)
    lines.set_array(relative[order])
    lines.set_clim(0.0, 1.0)
    ax.add_collection(lines)
    middle = 0.5 * (start + end)
    ax.quiver(middle[:, 0], middle[:, 1], flowing[:, 0], flowing[:, 1], relative, cmap="inferno_r", clim=(0, 1),
              angles="xy", scale_units="xy", scale=4.0, width=0.003, zorder=3)
    fig.colorbar(lines, ax=ax, label=f"|I| / {scale:.2e} A")
    axes = "xyz"
    ax.set_xlabel(f"{axes[shown[0]]} (Å)")
    ax.set_ylabel(f"{axes[shown[1]]} (Å)")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right", markerscale=1.5)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)


def write_dos_table(path: Path, result, fermi_level: float) -> None:
    """Text table ``E (eV)  E−E_F (eV)  DOS`` then one ADOS column per atom (1/eV) of an
    :class:`~hamtrans.negf.density_of_states.AtomDOS`; the header names each atom's axis coordinate."""
    table = np.column_stack([result.energies, result.energies - fermi_level, result.total, result.atom_dos])
    coordinate = result.positions[:, result.axis]
    header = ("E_eV  E_minus_EF_eV  dos_per_eV  then dos_per_eV of atom 0, 1, ...; atom positions along the "
              "transport axis (Å): " + " ".join(f"{x:.3f}" for x in coordinate))
    atomic_write(path, lambda p: np.savetxt(p, table, header=header, fmt="%.6e"))


def plot_dos(path: Path, result, symbols, fermi_level: float, title: str = "", width: float = 1.0) -> None:
    """DOS per element against E − E_F, and the ADOS map along the transport axis.

    The map sums the ADOS in slices of ``width`` Å along the axis (log colour scale; slices
    without atoms left blank): a band diagram of the device, an oxide's gap is a dark band
    around E_F.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    shifted = result.energies - fermi_level
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.0, 6.4), dpi=120, gridspec_kw={"height_ratios": [1, 1.4]})
    top.plot(shifted, result.total, color="k", lw=1.2, label="total")
    symbols = np.asarray(symbols)
    for symbol, colour in zip(sorted(set(symbols)), plt.cm.tab10.colors):
        top.plot(shifted, result.atom_dos[:, symbols == symbol].sum(1), lw=0.9, color=colour, label=symbol)
    top.axvline(0.0, color="k", lw=0.8, ls="--")
    top.set_xlabel("$E - E_F$ (eV)")
    top.set_ylabel("DOS (1/eV)")
    top.set_title(title, fontsize=9)
    top.legend(fontsize=7, loc="upper left")
    centres, sliced = result.along_axis(width)
    positive = sliced[sliced > 0]
    floor = max(positive.max() * 1e-5, positive.min()) if positive.size else 1e-12
    atoms_in_slice, _ = np.histogram(result.positions[:, result.axis], np.append(centres - width / 2, centres[-1] + width / 2))
    shown = np.ma.masked_where(np.broadcast_to(atoms_in_slice == 0, sliced.shape), np.clip(sliced, floor, None))
    image = bottom.pcolormesh(centres, shifted, shown, shading="nearest",
                              norm=LogNorm(vmin=floor, vmax=max(floor * 10, sliced.max())), cmap="magma")
    bottom.axhline(0.0, color="w", lw=0.8, ls="--")
    fig.colorbar(image, ax=bottom, label=f"DOS per {width:g} Å slice (1/eV)")
    bottom.set_xlabel(f"{'xyz'[result.axis]} (Å)")
    bottom.set_ylabel("$E - E_F$ (eV)")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)
