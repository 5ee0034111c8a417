import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import primitive_neighbor_list

from hamtrans.data.graphs import build_graph, check_structure
from hamtrans.errors import HamtransError, StructureError


def triclinic_cell():
    cell = np.array([[3.1, 0.0, 0.0], [0.9, 2.8, 0.0], [0.4, -0.6, 3.3]])
    frac = np.random.default_rng(3).random((3, 3))
    return Atoms("HfO2", scaled_positions=frac, cell=cell, pbc=True)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_edges_match_ase_reference(pbc):
    atoms = triclinic_cell()
    atoms.pbc = pbc
    cutoff = 6.0  # far beyond the cell: many images per pair and own images
    graph = build_graph(atoms, cutoff, check=False)
    i, j, s = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell, atoms.positions, cutoff, self_interaction=False)
    ours = {(a, b, *map(int, sh)) for a, b, sh in zip(*graph.edge_index, graph.shifts)}
    theirs = {(a, b, *map(int, sh)) for a, b, sh in zip(i, j, s)}
    assert ours == theirs
    if any(pbc):
        assert np.any((graph.edge_index[0] == graph.edge_index[1])), "own periodic images must be edges"
    vectors = atoms.positions[graph.edge_index[1]] + graph.shifts @ atoms.cell.array - atoms.positions[graph.edge_index[0]]
    np.testing.assert_allclose(graph.vectors, vectors, atol=1e-12)
    assert graph.distances.max() <= cutoff


def test_edges_sorted_and_reversible():
    graph = build_graph(triclinic_cell(), 5.0, check=False)
    keys = list(zip(*graph.edge_index, *graph.shifts.T))
    assert keys == sorted(keys)
    reverse = graph.reverse_edges()
    np.testing.assert_allclose(graph.vectors[reverse], -graph.vectors, atol=1e-12)


def test_per_pair_cutoff():
    atoms = triclinic_cell()
    cut = {("Hf", "O"): 4.0, ("O", "O"): 2.5, ("Hf", "Hf"): 5.0}
    graph = build_graph(atoms, cut, check=False)
    z = atoms.numbers[graph.edge_index]
    limit = np.where((z[0] == 8) & (z[1] == 8), 2.5, np.where((z[0] == 72) & (z[1] == 72), 5.0, 4.0))
    assert np.all(graph.distances <= limit)
    full = build_graph(atoms, 5.0, check=False)
    z = atoms.numbers[full.edge_index]
    lim = np.where((z[0] == 8) & (z[1] == 8), 2.5, np.where((z[0] == 72) & (z[1] == 72), 5.0, 4.0))
    assert graph.n_edges == int(np.sum(full.distances <= lim))
    with pytest.raises(HamtransError, match="no radius for O-O"):
        build_graph(atoms, {("Hf", "O"): 4.0, ("Hf", "Hf"): 5.0}, check=False)


def test_bad_structures_are_named():
    with pytest.raises(StructureError, match="non-finite"):
        check_structure(Atoms("H2", positions=[[0, 0, 0], [np.nan, 0, 0]]))
    with pytest.raises(StructureError, match=r"atoms 0 \(O\) and 1 \(O\) overlap"):
        check_structure(Atoms("O2", positions=[[0, 0, 0], [0.1, 0, 0]]))
    with pytest.raises(StructureError, match="overlap"):  # overlap with a periodic image
        check_structure(Atoms("O", positions=[[0, 0, 0]], cell=[0.3, 5, 5], pbc=True))
    with pytest.raises(StructureError, match="linearly dependent"):
        check_structure(Atoms("O", positions=[[0, 0, 0]], cell=[[1, 0, 0], [2, 0, 0], [0, 0, 3]], pbc=True))
    with pytest.raises(HamtransError, match="positive"):
        build_graph(Atoms("O"), -1.0)
