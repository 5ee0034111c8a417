"""Block-sparse container: exact round trips, folding, open matrices and Bloch's theorem."""

import numpy as np
import pytest
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockLayout, BlockSparseMatrix
from hamtrans.data.graphs import build_graph
from hamtrans.errors import AmbiguousImageError, HamtransError

BASIS = OrbitalBasis.named("gfn1-xtb")


def random_blocks(atoms, cutoff, seed=0):
    graph = build_graph(atoms, cutoff, check=False)
    layout = BlockLayout(BASIS, atoms.numbers, graph)
    rng = np.random.default_rng(seed)
    m = BlockSparseMatrix(BASIS, atoms.numbers, graph, rng.normal(size=layout.onsite_ptr[-1]), rng.normal(size=layout.edge_ptr[-1]))
    return m.symmetrized()


def rattled(symbols, cell, n, seed=0):
    rng = np.random.default_rng(seed)
    return Atoms(symbols, scaled_positions=rng.random((n, 3)), cell=cell, pbc=True)


def separated_crystal():
    # four atoms on a loose grid in a cell large enough for single images at 3 Å
    return Atoms("HfOTiN", positions=[[0, 0, 0], [2.1, 0, 0.3], [0.2, 2.2, 0], [2.0, 2.0, 2.0]], cell=[8.0, 8.5, 9.0], pbc=True)


def test_gamma_round_trip_is_exact():
    m = random_blocks(separated_crystal(), 3.3)
    assert m.hermiticity_error() == 0.0
    back = BlockSparseMatrix.from_gamma(m.to_sparse(), BASIS, m.numbers, m.graph)
    np.testing.assert_array_equal(back.onsite, m.onsite)
    np.testing.assert_array_equal(back.edges, m.edges)
    dense = BlockSparseMatrix.from_gamma(m.to_sparse().toarray(), BASIS, m.numbers, m.graph)
    np.testing.assert_array_equal(dense.edges, m.edges)


def test_gamma_refuses_several_images():
    atoms = separated_crystal()
    m = random_blocks(atoms, 6.0)  # 6 Å reaches the next cell: several images of one pair
    with pytest.raises(AmbiguousImageError, match="several periodic images"):
        BlockSparseMatrix.from_gamma(m.to_sparse(), BASIS, m.numbers, m.graph)


def test_images_round_trip_many_images():
    atoms = rattled("HfO2", [[3.5, 0, 0], [0.5, 3.3, 0], [0, 0.4, 3.6]], 3)
    m = random_blocks(atoms, 7.0)  # own images and several images per pair
    images = m.image_matrices()
    assert len(images) > 20
    back = BlockSparseMatrix.from_images(images, BASIS, m.numbers, m.graph)
    np.testing.assert_array_equal(back.edges, m.edges)
    np.testing.assert_array_equal(back.onsite, m.onsite)
    folded = sum(images.values())
    np.testing.assert_allclose((m.to_sparse() - folded).toarray(), 0.0, atol=1e-13)


def test_hermiticity_detects_one_bad_entry():
    m = random_blocks(separated_crystal(), 3.3)
    edges = m.edges.copy()
    edges[5] += 1e-6
    assert m.copy_with(m.onsite, edges).hermiticity_error() == pytest.approx(1e-6, rel=1e-6)
    with pytest.raises(HamtransError, match="not hermitian"):
        m.copy_with(m.onsite, edges).check_hermitian(1e-8)


def test_wrong_data_length_is_rejected():
    m = random_blocks(separated_crystal(), 3.3)
    with pytest.raises(HamtransError, match="need"):
        BlockSparseMatrix(BASIS, m.numbers, m.graph, m.onsite[:-1], m.edges)
    with pytest.raises(HamtransError, match="orbitals"):
        BlockSparseMatrix.from_gamma(np.zeros((5, 5)), BASIS, m.numbers, m.graph)


def test_open_matrix_and_lead_coupling():
    """Γ = H(S_x=0) + H(S_x=1) + H(S_x=-1) when only nearest cells couple; open drops the wrap."""
    chain = Atoms("TiN" * 3, positions=[[k * 2.1, 0, 0] for k in range(6)], cell=[12.6, 9.0, 9.0], pbc=True)
    m = random_blocks(chain, 3.0)
    h00, h01, h10 = (m.to_sparse(axis=0, shift=s) for s in (0, 1, -1))
    np.testing.assert_allclose((h00 + h01 + h10 - m.to_sparse()).toarray(), 0.0, atol=1e-13)
    np.testing.assert_allclose((h01 - h10.T).toarray(), 0.0, atol=1e-13)
    off = m.layout.offsets
    first, last = slice(off[0], off[1]), slice(off[5], off[6])
    assert np.abs(h00.toarray()[first, last]).max() == 0.0  # open: no wrap-around
    assert np.abs(h01.toarray()[last, first]).max() > 0.0  # last atom couples to the next cell's first


def test_bloch_theorem_supercell_vs_primitive():
    """Γ eigenvalues of a 2x1x1 supercell = primitive-cell H(k) at k = 0 and π.

    Catches a dropped or mislabelled periodic image: blocks depend on the edge
    vector only (a distance-dependent s-orbital model), with several images per pair.
    """
    basis = OrbitalBasis("s-model", {"H": (0,)})
    prim = Atoms("H2", positions=[[0, 0, 0], [1.3, 0.4, 0.2]], cell=[2.5, 7.0, 7.0], pbc=True)

    def model(atoms):
        graph = build_graph(atoms, 4.0, check=False)
        layout = BlockLayout(basis, atoms.numbers, graph)
        edges = -np.exp(-graph.distances) * (1 + 0.3 * graph.vectors[:, 0] ** 2)  # direction-dependent, hermitian
        return BlockSparseMatrix(basis, atoms.numbers, graph, np.full(layout.onsite_ptr[-1], 0.5), edges)

    small, big = model(prim), model(prim.repeat((2, 1, 1)))
    eig_big = np.linalg.eigvalsh(big.to_sparse().toarray())
    eig_k = []
    for k in (0.0, np.pi):
        hk = np.zeros((2, 2), complex)
        for (i, j), s, value in zip(small.graph.edge_index.T, small.graph.shifts, small.edges):
            hk[i, j] += value * np.exp(1j * k * s[0])
        hk += np.diag(small.onsite)
        eig_k += list(np.linalg.eigvalsh(hk))
    np.testing.assert_allclose(eig_big, np.sort(eig_k), atol=1e-12)


def test_restricted_blocks_are_the_submatrix_of_the_kept_orbitals():
    m = random_blocks(separated_crystal(), 3.3, seed=4)
    compact = OrbitalBasis.named("gfn1-xtb-compact")
    small = m.restricted(compact)
    keep = np.concatenate([BASIS.orbital_offsets(m.numbers)[a] + compact.orbitals_within(BASIS, int(z))
                           for a, z in enumerate(m.numbers)])
    assert small.basis == compact and small.n_orbitals == len(keep) == 6 + 4 + 6 + 4
    for axis, shift in ((None, 0), (0, 0), (0, 1)):
        full = m.to_sparse(axis=axis, shift=shift).toarray()
        np.testing.assert_array_equal(small.to_sparse(axis=axis, shift=shift).toarray(), full[np.ix_(keep, keep)])
    assert small.hermiticity_error() == 0.0
    assert m.restricted(BASIS) is m


def test_restriction_needs_a_sub_basis():
    gfn1 = OrbitalBasis.named("gfn1-xtb")
    # Ti/Hf keep d then s: the metal p shell (positions 6-8 of the d, s, p block) goes
    np.testing.assert_array_equal(OrbitalBasis.named("gfn1-xtb-compact").orbitals_within(gfn1, "Ti"), np.arange(6))
    with pytest.raises(HamtransError, match="not a sub-basis of 'gfn1-xtb' for element Ti"):
        OrbitalBasis.named("szv-molopt-sr-gth").orbitals_within(gfn1, "Ti")
