"""Which predicted blocks make a model's transmission differ from the reference's: onsite, edges by length, by pair.

Each variant takes the reference H of one film and replaces one part of it by the model's
(after the model's energy zero is aligned, ``H_pred + c S_ref``), then computes the
k-averaged T at the variant's own lead-band E_F and 0.1 eV above it (reference S
throughout, 6 transverse k-points, Sancho–Rubio leads). A part whose swap moves T as far
as the whole model does is where the model's transport error lives. Also prints the
aligned errors of the onsite diagonal per element and orbital, and of the edges per
length range and, for 3–4 Å, per element pair.

Needs the film's dataset (``make_pbe_films.py``); ~25 s per variant on one core for a
20 Å film.

Run: OMP_NUM_THREADS=1 .venv/bin/python examples/vcm/transport_attribution.py film_mq20_broken_1
(``--variants model``: the reference and the whole model only, a quick screen of a model.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols
from validate_transport import ETA, film_devices  # this folder's lead and Fermi-level set-up

from hamtrans.data.formats import Dataset
from hamtrans.models import load_model
from hamtrans.models.evaluation import energy_zero_shift
from hamtrans.negf import SweepOptions
from hamtrans.negf.kpoints import kpoint_transmission

HERE = Path(__file__).parent
LENGTH_BINS = (0.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.1)  # Å
OXIDE = (8, 72)  # O, Hf


def transmission_near_fermi(h, s, atoms, mesh) -> tuple[float, np.ndarray]:
    """Lead-band E_F (eV) and the k-averaged T at E_F and E_F + 0.1 eV."""
    devices, kpoints, fermi = film_devices(h, s, atoms, 300.0, mesh)
    options = SweepOptions(lead_method="sancho-rubio", eta=ETA)
    return fermi, kpoint_transmission(devices, kpoints, fermi + np.array([0.0, 0.1]), options).transmission


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("film", help="dataset name in --data, e.g. film_mq20_broken_1")
    parser.add_argument("--data", default=str(HERE / "data_pbe_films"))
    parser.add_argument("--model", default="vcm-pbe-szv")
    parser.add_argument("--kpoints", type=int, nargs=3, default=(1, 2, 4))
    parser.add_argument("--variants", choices=("all", "model"), default="all",
                        help="'model': only the reference and the whole model (a quick screen of a model)")
    args = parser.parse_args()
    with Dataset(Path(args.data) / f"{args.film}.h5") as dataset:
        record = dataset[0]
    atoms, h_ref, s_ref = record.atoms, record.hamiltonian, record.overlap
    h_ml = load_model(args.model).predict(atoms)[0].restricted(h_ref.basis)
    c = energy_zero_shift(h_ml, h_ref, s_ref)
    onsite = h_ml.onsite + c * s_ref.onsite
    edges = h_ml.edges + c * s_ref.edges
    print(f"{args.film}: energy zero {1e3 * c:.1f} meV; aligned MAE onsite {1e3 * np.abs(onsite - h_ref.onsite).mean():.1f}"
          f" meV, edges {1e3 * np.abs(edges - h_ref.edges).mean():.2f} meV")

    rows, cols = h_ref.layout.onsite_indices()
    diagonal = rows == cols
    orbital, error = rows[diagonal], (onsite - h_ref.onsite)[diagonal]
    atom_of = h_ref.basis.orbital_atoms(atoms.numbers)
    local = orbital - h_ref.basis.orbital_offsets(atoms.numbers)[atom_of[orbital]]
    print("onsite diagonal error per orbital, mean ± std over atoms (meV), and the median |error| of the element:")
    for z in np.unique(atoms.numbers):
        mine = atoms.numbers[atom_of[orbital]] == z
        stats = [error[mine & (local == k)] for k in range(h_ref.basis.n_orbitals(int(z)))]
        print(f"  {chemical_symbols[z]:2s} " + " ".join(f"{1e3 * e.mean():+.0f}±{1e3 * e.std():.0f}" for e in stats)
              + f"   median {1e3 * np.median(np.abs(error[mine])):.0f}")

    graph = h_ref.graph
    entry_edge = np.repeat(np.arange(graph.n_edges), np.diff(h_ref.layout.edge_ptr))
    length = np.linalg.norm(graph.vectors, axis=1)[entry_edge]
    zi, zj = (atoms.numbers[index][entry_edge] for index in graph.edge_index)
    touches_oxide = np.isin(zi, OXIDE) | np.isin(zj, OXIDE)
    edge_error = edges - h_ref.edges
    print("edge error per length (meV): MAE, mean |H_ref|")
    for low, high in zip(LENGTH_BINS[:-1], LENGTH_BINS[1:]):
        chosen = (length >= low) & (length < high)
        print(f"  {low:.0f}-{high:.0f} Å  {chosen.sum():7d} entries  {1e3 * np.abs(edge_error[chosen]).mean():6.2f}"
              f"  {1e3 * np.abs(h_ref.edges[chosen]).mean():6.1f}")
    band = (length > 3.0) & (length <= 4.0)
    pair = np.minimum(zi, zj) * 1000 + np.maximum(zi, zj)
    names = {key: f"{chemical_symbols[key // 1000]}-{chemical_symbols[key % 1000]}" for key in np.unique(pair[band])}
    print("3-4 Å edges per pair (meV): MAE, mean |H_ref|")
    for key, label in names.items():
        chosen = band & (pair == key)
        print(f"  {label:6s} {chosen.sum():6d} entries  {1e3 * np.abs(edge_error[chosen]).mean():6.2f}"
              f"  {1e3 * np.abs(h_ref.edges[chosen]).mean():6.1f}")

    variants = {"reference": (h_ref.onsite, h_ref.edges), "model (aligned)": (onsite, edges)}
    if args.variants == "all":
        variants.update({"model onsite, reference edges": (onsite, h_ref.edges),
                         "reference onsite, model edges": (h_ref.onsite, edges)})
        for limit in (3.0, 4.0, 5.0):
            variants[f"model onsite, model edges ≤ {limit:.0f} Å"] = (onsite, np.where(length <= limit, edges,
                                                                                       h_ref.edges))
        variants["model, reference edges touching the oxide"] = (onsite, np.where(touches_oxide, h_ref.edges, edges))
        for key, label in names.items():
            if 72 in (key // 1000, key % 1000) or key == 8008:
                use = (length <= 3.0) | (band & (pair == key))
                variants[f"model ≤ 3 Å, + model 3-4 Å {label}"] = (onsite, np.where(use, edges, h_ref.edges))
    print(f"{'variant':44s} {'E_F (eV)':>8s} {'T(E_F)':>9s} {'T(+0.1)':>9s}")
    for label, (variant_onsite, variant_edges) in variants.items():
        fermi, t = transmission_near_fermi(h_ref.copy_with(variant_onsite, variant_edges), s_ref, atoms,
                                           tuple(args.kpoints))
        print(f"{label:44s} {fermi:8.3f} {t[0]:9.2e} {t[1]:9.2e}", flush=True)


if __name__ == "__main__":
    main()
