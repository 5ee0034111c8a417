"""``hamtrans evaluate``: errors of a trained model against reference H and S.

Reported per structure and in total: onsite ("node"), edge and total MAE in meV
and mEh; breakdowns per element (onsite), element pair (edges) and shell pair
``(l1, l2)``; the generalised-eigenvalue error of (H, S) (as arXiv 2501.19110)
for structures up to ``max_eigen_orbitals``; a parity plot and a violin plot of
node/edge errors with 5th/95th percentiles (the paper's Fig. 4 style).

The eigenvalues need a positive-definite S. Blocks truncated at a cutoff can make the
whole basis' Γ-folded S indefinite (GFN1-xTB with 8 Å blocks: its diffuse metal p shell);
the eigenvalues are then taken in the largest shipped sub-basis of the model's basis in
which the reference S is positive definite (``gfn1-xtb-compact`` for GFN1), or in the one
``eigen_basis`` names, and ``eigen_basis`` in the output says which. Besides the error of
all eigenvalues, the eigenvalues within ``eigen_window`` eV of the reference's Fermi level
are scored after the energy zero (each predicted eigenvalue + c): their relative error
``|Δε| / |ε_ref|`` (mean and max, %) and the largest ``|Δε|`` in meV.

Onsite levels: each atom's level error is the mean error of the diagonal of its onsite
block after the energy zero; ``onsite_level_by_element`` gives their mean and spread (std over
the atoms of each element, all structures), which places the resonances of T(E).

Every structure is also scored after removing the best constant energy shift,
``H_pred + c S_ref`` (:func:`energy_zero_shift`): H and H + cS have the same
eigenvectors and eigenvalues moved by c, so every observable referenced to a
Fermi level (transport, DOS relative to E_F) ignores c. The potential zero of a
periodic or Γ-only reference calculation is set by the whole cell's electrostatics
(measured: 0.24–0.47 eV between VCM devices with and without a formed filament,
even in their TiN electrodes), which a strictly local model cannot see. Raw and
aligned MAE are both reported; ``energy_zero_shift_meV`` says how large c was.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.linalg
from ase.data import chemical_symbols
from ase.units import Hartree

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import Dataset
from hamtrans.errors import HamtransError
from hamtrans.models.model_file import load_model

MEV = 1e3
MEH = 1e3 / Hartree


def _orbital_l(basis, numbers) -> np.ndarray:
    """Angular momentum of every orbital, ``(N_orb,)``."""
    return np.concatenate([np.full(2 * l + 1, l) for _, l, _ in basis.shell_table(numbers)])


def eigen_bases(basis: OrbitalBasis, numbers: np.ndarray) -> list[OrbitalBasis]:
    """``basis`` and every shipped proper sub-basis of it for the elements ``numbers``, largest first."""
    found = []
    for name in OrbitalBasis.available():
        candidate = OrbitalBasis.named(name)
        if name == basis.name:
            continue
        try:
            for z in np.unique(numbers):
                candidate.orbitals_within(basis, int(z))
        except HamtransError:  # not a sub-basis (or an element it lacks)
            continue
        found.append(candidate)
    return [basis] + sorted(found, key=lambda b: -int(b.orbital_counts(numbers).sum()))


def _positive_definite(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


def eigen_errors(h_pred, s_pred, h_ref, s_ref, fermi_level: float | None, window: float = 2.0,
                 basis_name: str | None = None) -> dict:
    """Generalised-eigenvalue errors of ``(H_pred, S_pred)`` against ``(H_ref, S_ref)`` (Γ-folded).

    Parameters
    ----------
    h_pred, s_pred, h_ref, s_ref
        ``BlockSparseMatrix`` on the same graph and basis (eV for H).
    fermi_level
        The reference's E_F (eV), the centre of the window (``None``: no window scores).
    window
        Half width (eV) of the window around E_F.
    basis_name
        Score in this sub-basis; ``None``: the first of :func:`eigen_bases` in which the
        reference S is positive definite.

    Returns
    -------
    dict
        ``eigen_basis``, ``eigen_mae_meV`` and ``eigen_relative_percent`` (all eigenvalues, raw),
        ``eigen_window_*`` (count, mean and max relative error in %, max |Δε| in meV, after the
        energy zero); or ``eigen_error`` saying why there are none.
    """
    numbers = h_ref.numbers
    candidates = [OrbitalBasis.named(basis_name)] if basis_name else eigen_bases(h_ref.basis, numbers)
    for basis in candidates:
        restrict = (lambda m: m) if basis.name == h_ref.basis.name else (lambda m: m.restricted(basis))
        hr, sr = restrict(h_ref), restrict(s_ref)
        s_dense = sr.to_sparse().toarray()
        if not _positive_definite(s_dense):
            continue
        hp = restrict(h_pred)
        s_pred_dense = restrict(s_pred).to_sparse().toarray()
        if not _positive_definite(s_pred_dense):
            return {"eigen_basis": basis.name, "eigen_error": f"predicted S is not positive definite in {basis.name}"}
        reference = scipy.linalg.eigh(hr.to_sparse().toarray(), s_dense, eigvals_only=True)
        predicted = scipy.linalg.eigh(hp.to_sparse().toarray(), s_pred_dense, eigvals_only=True)
        difference = predicted - reference
        result = {"eigen_basis": basis.name, "eigen_mae_meV": float(np.abs(difference).mean() * MEV),
                  "eigen_relative_percent": float(np.linalg.norm(difference) / np.linalg.norm(reference) * 100)}
        if fermi_level is not None:
            inside = np.abs(reference - fermi_level) <= window
            aligned = np.abs(difference[inside] + energy_zero_shift(hp, hr, sr))
            relative = aligned / np.abs(reference[inside]) * 100
            result.update({"eigen_window_eV": window, "eigen_window_count": int(inside.sum()),
                           "eigen_window_mean_percent": float(relative.mean()) if inside.any() else None,
                           "eigen_window_max_percent": float(relative.max()) if inside.any() else None,
                           "eigen_window_max_meV": float(aligned.max() * MEV) if inside.any() else None})
        return result
    tried = ", ".join(b.name for b in candidates)
    return {"eigen_error": f"the reference S is not positive definite in {tried}"}


def energy_zero_shift(h_pred, h_ref, s_ref) -> float:
    """Constant ``c`` (eV) minimising ``‖H_pred + c S_ref − H_ref‖`` over all stored blocks (least squares).

    Parameters
    ----------
    h_pred, h_ref, s_ref
        ``BlockSparseMatrix`` of the same layout: predicted H, reference H (eV) and reference S.

    Returns
    -------
    float
        ``⟨H_ref − H_pred, S_ref⟩ / ⟨S_ref, S_ref⟩`` in eV, over onsite and edge entries.
    """
    difference = np.concatenate([h_ref.onsite - h_pred.onsite, h_ref.edges - h_pred.edges])
    overlap = np.concatenate([s_ref.onsite, s_ref.edges])
    return float(difference @ overlap / (overlap @ overlap))


def level_errors(h_pred, h_ref, s_ref, shift: float) -> np.ndarray:
    """``(N,)`` eV: each atom's mean diagonal onsite error of ``H_pred + shift·S_ref`` against ``H_ref``."""
    counts = h_ref.layout.counts
    start = h_ref.layout.onsite_ptr[:-1]
    atom = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    diagonal = start[atom] + within * (counts[atom] + 1)
    error = h_pred.onsite[diagonal] + shift * s_ref.onsite[diagonal] - h_ref.onsite[diagonal]
    return np.bincount(atom, weights=error, minlength=len(counts)) / counts


def _summary(errors: np.ndarray) -> dict:
    return {"mae_meV": float(errors.mean() * MEV), "mae_mEh": float(errors.mean() * MEH),
            "p05_meV": float(np.percentile(errors, 5) * MEV), "p95_meV": float(np.percentile(errors, 95) * MEV),
            "entries": int(errors.size)}


def evaluate_model(model_path, dataset_path, out: Path, max_eigen_orbitals: int = 5000,
                   eigen_basis: str | None = None, eigen_window: float = 2.0) -> dict:
    """Evaluate a model file on a dataset; write ``evaluation.json`` and plots to ``out``; return the summary.

    ``eigen_basis`` and ``eigen_window`` (eV) choose how the eigenvalues are scored
    (:func:`eigen_errors`); structures above ``max_eigen_orbitals`` orbitals are not.
    """
    predictor = load_model(model_path)
    out.mkdir(parents=True, exist_ok=True)
    per_structure, node_all, edge_all, pairs, aligned_all = [], [], [], [], []
    by_element, by_pair, by_shell = defaultdict(list), defaultdict(list), defaultdict(list)
    levels = defaultdict(list)
    with Dataset(dataset_path) as data:
        if len(data) == 0:
            raise HamtransError(f"dataset {dataset_path} is empty")
        for k, record in enumerate(data):
            if record.hamiltonian is None:
                raise HamtransError(f"{dataset_path}[{k}] has no reference Hamiltonian")
            longest = float(record.graph.distances.max(initial=0.0))
            if longest > predictor.config.block_cutoff + 1e-6:
                raise HamtransError(f"{dataset_path}[{k}]: reference blocks reach {longest:.2f} Å, beyond the model's "
                                    f"block_cutoff {predictor.config.block_cutoff} Å")
            h, s = predictor.predict(record.atoms, graph=record.graph)
            ref = record.hamiltonian
            node = np.abs(h.onsite - ref.onsite)
            edge = np.abs(h.edges - ref.edges)
            node_all.append(node)
            edge_all.append(edge)
            sample = np.random.default_rng(k).permutation(ref.edges.size)[:50000]
            pairs.append(np.column_stack([ref.edges[sample], h.edges[sample]]))
            numbers = record.atoms.numbers
            layout = ref.layout
            l_of = _orbital_l(ref.basis, numbers)
            atom_of = ref.basis.orbital_atoms(numbers)
            rows, cols = layout.onsite_indices()
            for value, r, c in ((node, rows, cols), (edge, *layout.edge_indices())):
                for key in np.unique(l_of[r] * 10 + l_of[c]):
                    by_shell[f"{key // 10}-{key % 10}"].append(value[l_of[r] * 10 + l_of[c] == key])
            for z in np.unique(numbers):
                by_element[chemical_symbols[z]].append(node[numbers[atom_of[rows]] == z])
            er, ec = layout.edge_indices()
            za, zb = numbers[atom_of[er]], numbers[atom_of[ec]]
            for a, b in set(zip(za.tolist(), zb.tolist())):
                by_pair[f"{chemical_symbols[a]}-{chemical_symbols[b]}"].append(edge[(za == a) & (zb == b)])
            entry = {"name": record.name or f"{k}", "atoms": len(numbers), "orbitals": ref.n_orbitals,
                     "node_mae_meV": float(node.mean() * MEV), "edge_mae_meV": float(edge.mean() * MEV),
                     "total_mae_meV": float(np.concatenate([node, edge]).mean() * MEV)}
            if record.overlap is not None:
                shift = energy_zero_shift(h, ref, record.overlap)
                aligned_node = np.abs(h.onsite + shift * record.overlap.onsite - ref.onsite)
                aligned_edge = np.abs(h.edges + shift * record.overlap.edges - ref.edges)
                aligned_all.append((aligned_node, aligned_edge))
                for z, error in zip(numbers, level_errors(h, ref, record.overlap, shift)):
                    levels[chemical_symbols[z]].append(error)
                entry.update({"energy_zero_shift_meV": shift * MEV,
                              "aligned_node_mae_meV": float(aligned_node.mean() * MEV),
                              "aligned_edge_mae_meV": float(aligned_edge.mean() * MEV),
                              "aligned_total_mae_meV": float(np.concatenate([aligned_node, aligned_edge]).mean() * MEV)})
            if s is not None and record.overlap is not None:
                entry["overlap_mae"] = float(np.abs(np.concatenate([s.onsite - record.overlap.onsite,
                                                                    s.edges - record.overlap.edges])).mean())
            if ref.n_orbitals <= max_eigen_orbitals and record.overlap is not None:
                entry.update(eigen_errors(h, s if s is not None else record.overlap, ref, record.overlap,
                                          record.fermi_level, eigen_window, eigen_basis))
            per_structure.append(entry)
    node_all, edge_all = np.concatenate(node_all), np.concatenate(edge_all)
    total = {"node": _summary(node_all), "edge": _summary(edge_all),
             "total_mae_meV": float(np.concatenate([node_all, edge_all]).mean() * MEV)}
    if len(aligned_all) == len(per_structure):  # every structure has a reference S
        aligned_node = np.concatenate([a for a, _ in aligned_all])
        aligned_edge = np.concatenate([b for _, b in aligned_all])
        total.update({"aligned_node_mae_meV": float(aligned_node.mean() * MEV),
                      "aligned_edge_mae_meV": float(aligned_edge.mean() * MEV),
                      "aligned_total_mae_meV": float(np.concatenate([aligned_node, aligned_edge]).mean() * MEV)})
    scored = [e for e in per_structure if e.get("eigen_window_count")]
    if scored:
        total.update({"eigen_window_mean_percent": float(np.average([e["eigen_window_mean_percent"] for e in scored],
                                                                    weights=[e["eigen_window_count"] for e in scored])),
                      "eigen_window_max_percent": max(e["eigen_window_max_percent"] for e in scored),
                      "eigen_window_max_meV": max(e["eigen_window_max_meV"] for e in scored)})
    summary = {
        "model": str(model_path), "dataset": str(dataset_path),
        "total": total,
        "structures": per_structure,
        "onsite_by_element": {k: _summary(np.concatenate(v)) for k, v in sorted(by_element.items())},
        "edges_by_element_pair": {k: _summary(np.concatenate(v)) for k, v in sorted(by_pair.items())},
        "by_shell_pair": {k: _summary(np.concatenate(v)) for k, v in sorted(by_shell.items())},
        "onsite_level_by_element": {k: {"mean_meV": float(np.mean(v) * MEV), "std_meV": float(np.std(v) * MEV),
                                        "atoms": len(v)} for k, v in sorted(levels.items())},
    }
    partial = out / "evaluation.json.partial"
    partial.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(partial, out / "evaluation.json")
    _plots(out, np.concatenate(pairs), node_all, edge_all)
    return summary


def _plots(out: Path, pairs: np.ndarray, node: np.ndarray, edge: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=120)
    ax.hexbin(pairs[:, 0], pairs[:, 1], gridsize=80, bins="log", mincnt=1, cmap="viridis")
    low, high = pairs.min(), pairs.max()
    ax.plot([low, high], [low, high], "k--", lw=0.7)
    ax.set_xlabel("reference H entry (eV)")
    ax.set_ylabel("predicted H entry (eV)")
    fig.tight_layout()
    fig.savefig(out / "parity.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=120)
    data = [np.log10(np.maximum(values * MEV, 1e-6)) for values in (node, edge)]
    ax.violinplot(data, showextrema=False)
    for k, values in enumerate(data, start=1):
        p5, p95 = np.percentile(values, [5, 95])
        ax.hlines([p5, p95], k - 0.2, k + 0.2, color="k", lw=1)
    ax.set_xticks([1, 2], ["node (onsite)", "edge"])
    ax.set_ylabel("log10 |error| (meV)")
    ax.set_title("5th / 95th percentiles marked", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "errors_violin.png")
    plt.close(fig)
