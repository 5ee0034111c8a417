"""Hamiltonian/overlap model: equivariance, hermiticity, strict locality, augmented partitioning."""

import numpy as np
import pytest
import torch
from ase import Atoms

from hamtrans.data.graphs import build_graph
from hamtrans.data.structures import build_vcm_device
from hamtrans.errors import UnknownElementError
from hamtrans.models.hamiltonian import HamiltonianModel, OverlapModel
from hamtrans.models.inputs import prepare_inputs
from hamtrans.models.partitioning import slice_structure
from tests.equivariance import assert_matrices_equivariant
from tests.model_teacher import BASIS, config, predict, randomise
from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("model_class, edge_stage", [(HamiltonianModel, {}), (OverlapModel, {}),
                                                     (HamiltonianModel, {"edge_convolution": "so2"}),
                                                     (HamiltonianModel, {"edge_convolution": "so2", "mmax": 2})])
def test_o3_equivariance_with_parity(model_class, edge_stage, dtype, tolerance):
    """Rotations, the inversion, a mirror and a rotoinversion (with a translation): H(R x) = D H Dᵀ."""
    torch.manual_seed(1)
    model = model_class(config(dtype=dtype, **edge_stage))
    randomise(model)
    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    assert np.abs(predict(model, atoms).onsite).max() > 0.1  # the check is not vacuous
    assert_matrices_equivariant(lambda structure: [predict(model, structure)], atoms, BASIS, tolerance)


def test_o3_equivariance_of_a_periodic_structure():
    """A sheared periodic cell moved with its atoms: the Bloch-folded H keeps D H Dᵀ, images included."""
    torch.manual_seed(6)
    model = HamiltonianModel(config(dtype="float64"))
    randomise(model)
    atoms = build_vcm_device(cross_section=(4.24, 4.24), electrode_length=4.24, oxide_length=3.0, ti_length=0.0,
                             vacancies="random", seed=3, vacuum=0.0)
    atoms.set_cell(atoms.cell.array + [[0.0, 0.2, 0.0], [0.0, 0.0, 0.3], [0.0, 0.0, 0.0]], scale_atoms=True)
    assert atoms.pbc.all()
    assert_matrices_equivariant(lambda structure: [predict(model, structure, 4.5)], atoms, BASIS, 1e-11)


def test_hermitian_by_construction_and_translation_invariant():
    torch.manual_seed(2)
    model = HamiltonianModel(config(dtype="float64"))
    atoms = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=5.0, ti_length=0.0,
                             vacancies="random", seed=1)
    h = predict(model, atoms, 4.5)
    assert h.hermiticity_error() == 0.0
    moved = atoms.copy()
    moved.positions += [0.3, -1.1, 2.0]
    np.testing.assert_allclose(predict(model, moved, 4.5).edges, h.edges, atol=1e-12)


def test_edge_chunk_changes_speed_not_results():
    torch.manual_seed(5)
    model = HamiltonianModel(config(dtype="float64"))
    randomise(model)
    atoms = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=5.0, ti_length=0.0,
                             vacancies="random", seed=2)
    whole = predict(model, atoms, 4.5)
    assert whole.graph.n_edges > 1000
    model.edge_chunk = 97  # many chunks, the last one partial
    chunked = predict(model, atoms, 4.5)
    np.testing.assert_allclose(chunked.edges, whole.edges, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked.onsite, whole.onsite, rtol=0, atol=1e-12)
    assert "edge_chunk" not in model.config.to_dict()  # a machine setting, not stored in model files


def test_strict_locality():
    torch.manual_seed(3)
    model = HamiltonianModel(config(dtype="float64", block_cutoff=4.0, mp_cutoff=3.0))
    positions = [[0, 0, 0], [1.9, 0, 0], [3.8, 0.2, 0], [5.9, 0.0, 0.3], [12.0, 0, 0]]
    atoms = Atoms("HfOTiNO", positions=positions)
    # block (0, 1) sees atoms within mp_cutoff (3 Å) of atom 0 or 1: atom 2 (at 1.9 Å from 1) but not atom 3 (4 Å)
    base = predict(model, atoms, 4.0)
    far = atoms.copy()
    far.positions[3] += [0.0, 0.4, 0.0]  # still > 3 Å from atoms 0 and 1
    near = atoms.copy()
    near.positions[2] += [0.0, 0.3, 0.0]
    edge = int(np.flatnonzero((base.graph.edge_index[0] == 0) & (base.graph.edge_index[1] == 1))[0])
    block = lambda m: m.edge_block(edge)
    assert np.array_equal(block(predict(model, far, 4.0)), block(base))  # exactly, not approximately
    assert np.abs(block(predict(model, near, 4.0)) - block(base)).max() > 1e-8
    # onsite blocks also gather their edges: atom 3 (5.9 Å < 4 + 3 Å) matters, atom 4 (12 Å) does not
    assert np.abs(predict(model, far, 4.0).onsite_block(0) - base.onsite_block(0)).max() > 1e-12
    farther = atoms.copy()
    farther.positions[4] += [0.0, 0.5, 0.5]
    assert np.array_equal(predict(model, farther, 4.0).onsite_block(0), base.onsite_block(0))


def test_slabs_stitch_to_the_whole_structure_and_own_every_block_once():
    torch.manual_seed(4)
    cfg = config(species=(7, 8, 22, 72), block_cutoff=4.5, mp_cutoff=3.5)
    model = HamiltonianModel(cfg)
    randomise(model, 5)
    atoms = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=5.0, ti_length=0.0,
                             vacancies="random", seed=2)
    graph = build_graph(atoms, 4.5)
    full = prepare_inputs(atoms, graph, BASIS, list(cfg.species), cfg.mp_cutoff)
    with torch.no_grad():
        onsite, edges = model(full)
    slabs = slice_structure(atoms, graph, axis=0, width=1.0, halo=cfg.block_cutoff + cfg.receptive_field)
    assert len(slabs) > 5
    owned_onsite, owned_edges = np.zeros(onsite.numel(), int), np.zeros(edges.numel(), int)
    worst = 0.0
    for slab in slabs:
        inputs = prepare_inputs(slab.atoms, slab.graph, BASIS, list(cfg.species), cfg.mp_cutoff)
        with torch.no_grad():
            slab_onsite, slab_edges = model(inputs)
        slab_on, full_on, slab_ed, full_ed = slab.label_indices(BASIS, atoms.numbers, graph)
        owned_onsite[full_on] += 1
        owned_edges[full_ed] += 1
        worst = max(worst, (slab_onsite[slab_on] - onsite[full_on]).abs().max().item(),
                    (slab_edges[slab_ed] - edges[full_ed]).abs().max().item())
    assert worst <= 1e-5 and onsite.abs().max() > 0.1
    assert owned_onsite.min() == owned_onsite.max() == 1
    assert owned_edges.min() == owned_edges.max() == 1
    # a halo thinner than the receptive field breaks the stitching: the test can fail
    thin = slice_structure(atoms, graph, axis=0, width=1.0, halo=cfg.block_cutoff)
    errors = []
    for slab in thin:
        inputs = prepare_inputs(slab.atoms, slab.graph, BASIS, list(cfg.species), cfg.mp_cutoff)
        with torch.no_grad():
            slab_edges = model(inputs)[1]
        _, _, slab_ed, full_ed = slab.label_indices(BASIS, atoms.numbers, graph)
        errors.append((slab_edges[slab_ed] - edges[full_ed]).abs().max().item())
    assert max(errors) > 1e-5  # 100× the float32 stitching error


def test_bad_model_input():
    with pytest.raises(ValueError, match="lmax"):
        HamiltonianModel(config(lmax=3))
    model = HamiltonianModel(config(species=(8, 72)))
    atoms = Atoms("HfOTi", positions=[[0, 0, 0], [2, 0, 0], [0, 2, 0]])
    with pytest.raises(UnknownElementError, match="Ti"):
        predict(model, atoms)


def _cluster_with_probe(distance: float, anchor: int = 0) -> Atoms:
    """The test cluster plus an O atom at ``distance`` Å from atom ``anchor``, away from the others."""
    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    outward = atoms.positions[anchor] - atoms.positions.mean(axis=0)
    outward /= np.linalg.norm(outward)
    atoms += Atoms("O", positions=[atoms.positions[anchor] + distance * outward])
    return atoms


def _crossing_jump(model, cutoff: float, step: float, anchor: int = 0) -> float:
    """Largest change (eV) of any H entry except the probe–anchor block when the probe moves cutoff − step → + step."""
    inside, outside = (predict(model, _cluster_with_probe(cutoff + sign * step, anchor), model.config.block_cutoff)
                       for sign in (-1, 1))
    probe = len(inside.numbers) - 1
    a, b = inside.to_sparse().toarray(), outside.to_sparse().toarray()
    if cutoff == model.config.block_cutoff:  # that pair's own block is truncated there by the format
        offsets = np.concatenate([[0], np.cumsum(BASIS.orbital_counts(inside.numbers))])
        p, q = slice(offsets[probe], offsets[probe + 1]), slice(offsets[anchor], offsets[anchor + 1])
        a[p, q] = b[p, q] = a[q, p] = b[q, p] = 0.0
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("which", ["mp_cutoff", "block_cutoff"])
def test_hamiltonian_is_continuous_when_an_atom_crosses_a_cutoff(which):
    """Every block changes by → 0 with the step as a neighbour crosses the message-passing or the block cutoff."""
    torch.manual_seed(7)
    smooth = HamiltonianModel(config(dtype="float64", block_cutoff=4.5))
    randomise(smooth)
    cutoff = getattr(smooth.config, which)
    nearest = min(np.linalg.norm(_cluster_with_probe(cutoff)[:-1].positions - _cluster_with_probe(cutoff)[-1].position,
                                 axis=1)[1:])
    assert abs(nearest - smooth.config.mp_cutoff) > 0.05 and abs(nearest - 4.5) > 0.05  # only one crossing
    # the entries move with the probe (∝ step); a jump would stay as the step shrinks
    jumps = [_crossing_jump(smooth, cutoff, step) for step in (1e-2, 1e-4, 1e-6)]
    assert jumps[0] > 1e-5 and jumps[1] < 0.02 * jumps[0] and jumps[2] < 0.02 * jumps[1], jumps
    # negative control: the same weights without smooth cutoffs (files older than the option) jump
    legacy = HamiltonianModel(config(dtype="float64", block_cutoff=4.5, smooth_cutoffs=False))
    legacy.load_state_dict(smooth.state_dict())
    assert _crossing_jump(legacy, cutoff, 1e-6) > 1e-4
