"""Hamiltonian inference over ranks (augmented partitioning): the ranks' blocks together are the
single-process H and S, with an open or a periodic transport axis and with ranks that own nothing."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import write

from hamtrans.data.formats import Dataset
from hamtrans.data.structures import build_vcm_device
from hamtrans.errors import HamtransError, StructureError
from hamtrans.models.distributed import assemble, not_distributable, predict_owned_blocks, rank_slabs
from hamtrans.models.hamiltonian import HamiltonianModel, OverlapModel
from hamtrans.models.model_file import HamiltonianPredictor, save_model
from hamtrans.models.partitioning import AxisFrame
from tests.model_teacher import config, randomise
from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS


class OneRankOf:
    """The rank/size half of an mpi4py communicator: runs one rank's share in this process."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def Get_rank(self) -> int:  # noqa: N802 (mpi4py's names)
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.size

    def allgather(self, value) -> list:
        """Every rank's value: here each simulated rank reports what this one does."""
        return [value] * self.size


def random_predictor(dtype: str = "float64", **changes) -> HamiltonianPredictor:
    torch.manual_seed(11)
    cfg = config(dtype=dtype, species=(1, 7, 8, 22, 72), block_cutoff=4.5, mp_cutoff=3.5, **changes)
    hamiltonian, overlap = HamiltonianModel(cfg), OverlapModel(cfg)
    randomise(hamiltonian, 3)
    randomise(overlap, 4)
    return HamiltonianPredictor(hamiltonian.eval(), overlap.eval())


def device(periodic: bool) -> Atoms:
    atoms = build_vcm_device(cross_section=(8.48, 8.48), electrode_length=4.24, oxide_length=5.0, ti_length=0.0,
                             vacancies="random", seed=2)
    if not periodic:
        atoms.pbc = [False, True, True]
    return atoms


def over_ranks(predictor, atoms, n_ranks, **options):
    parts = [predict_owned_blocks(predictor, atoms, OneRankOf(rank, n_ranks), **options) for rank in range(n_ranks)]
    return parts, assemble(parts, atoms, predictor.basis)


def assert_same_matrices(distributed, single, tolerance):
    for mine, theirs in zip(distributed, single):
        np.testing.assert_array_equal(mine.graph.edge_index, theirs.graph.edge_index)
        np.testing.assert_array_equal(mine.graph.shifts, theirs.graph.shifts)
        assert np.abs(mine.onsite - theirs.onsite).max() <= tolerance
        assert np.abs(mine.edges - theirs.edges).max() <= tolerance


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("n_ranks", [1, 2, 4])
def test_blocks_of_all_ranks_are_the_single_process_matrices(periodic, n_ranks):
    predictor = random_predictor()
    atoms = device(periodic)
    single = predictor.predict(atoms)
    assert np.abs(single[0].edges).max() > 0.01 and single[0].graph.n_edges > 1000  # not vacuous
    parts, distributed = over_ranks(predictor, atoms, n_ranks)
    assert sorted(np.concatenate([p.atoms for p in parts]).tolist()) == list(range(len(atoms)))
    assert all(len(p.atoms) > 0 for p in parts)
    assert_same_matrices(distributed, single, 1e-10)
    if n_ranks > 1:  # each rank predicted only its share of the edges
        assert max(p.edge_index.shape[1] for p in parts) < 0.75 * single[0].graph.n_edges


def test_a_rank_with_no_atoms_owns_nothing_and_the_others_still_give_the_whole_matrix():
    predictor = random_predictor()
    atoms = Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)  # three 1 Å slabs along x hold atoms
    _, runs = rank_slabs(AxisFrame.of(atoms, 0), 4)
    assert sum(len(run) == 0 for run in runs) == 1
    parts, distributed = over_ranks(predictor, atoms, 4)
    assert sorted(len(p.atoms) for p in parts)[0] == 0
    assert_same_matrices(distributed, predictor.predict(atoms), 1e-10)


def test_the_float32_shipped_precision_agrees_to_round_off_and_stays_exactly_hermitian():
    """An edge and its reverse predicted on two ranks differ by float32 round-off: the assembly symmetrises."""
    predictor = random_predictor("float32")
    atoms = device(periodic=True)
    distributed = over_ranks(predictor, atoms, 3)[1]
    assert_same_matrices(distributed, predictor.predict(atoms), 2e-5)
    assert distributed[0].hermiticity_error() == 0.0 and distributed[1].hermiticity_error() == 0.0


def test_a_halo_thinner_than_the_receptive_field_changes_the_blocks():
    """The check can fail: without the message-passing environment the boundary blocks differ."""
    predictor = random_predictor()
    atoms = device(periodic=False)
    cfg = predictor.config
    _, thin = over_ranks(predictor, atoms, 2, halo=cfg.block_cutoff)
    assert np.abs(thin[0].edges - predictor.predict(atoms)[0].edges).max() > 1e-4


def test_a_model_with_electrostatics_is_refused():
    predictor = random_predictor(electrostatics=True)
    assert "electrostatics" in not_distributable(predictor, device(periodic=False), 0)
    with pytest.raises(HamtransError, match="electrostatics"):
        predict_owned_blocks(predictor, device(periodic=False), OneRankOf(0, 2))


def test_periodic_cell_vectors_tilted_against_the_cut_are_refused_not_cut_wrongly():
    """Images through a tilted cell vector would cross slabs: refused, by name, before any work."""
    atoms = device(periodic=False)
    atoms.cell[1] = atoms.cell[1] + [2.5, 0.0, 0.0]  # y repeats with a shift along the open axis x
    reason = not_distributable(random_predictor(), atoms, 0)
    assert "cell vector 1" in reason and "orthogonal" in reason
    with pytest.raises(StructureError, match="cell vector 1"):
        AxisFrame.of(atoms, 0)


def test_an_atom_a_hair_below_the_cell_boundary_belongs_to_the_first_slab():
    atoms = device(periodic=True)
    atoms.positions[0, 0] = -1e-17  # wraps to exactly the cell length in floating point
    frame = AxisFrame.of(atoms, 0)
    assert 0 <= frame.coordinate[0] < frame.length and frame.unwrap[0] == 0
    predictor = random_predictor()
    assert_same_matrices(over_ranks(predictor, atoms, 3)[1], predictor.predict(atoms), 1e-10)


def test_parts_of_another_structure_are_refused():
    predictor = random_predictor()
    atoms = device(periodic=False)
    parts = [predict_owned_blocks(predictor, atoms, OneRankOf(0, 2))]  # rank 1's share is missing
    with pytest.raises(HamtransError, match="same structure"):
        assemble(parts, atoms, predictor.basis)


def mpiexec() -> str | None:
    candidate = Path(sys.executable).parent / "mpiexec"
    return str(candidate) if candidate.exists() else None


@pytest.mark.skipif(mpiexec() is None, reason="no mpiexec next to the interpreter (mpich wheel)")
@pytest.mark.parametrize("n_ranks, structure", [(2, "device"), (4, "cluster")])
def test_hamtrans_predict_under_mpiexec_writes_the_single_process_matrices(tmp_path, n_ranks, structure):
    predictor = random_predictor("float32")
    model = save_model(tmp_path / "model.pt", predictor.hamiltonian, predictor.overlap)
    atoms = device(periodic=True) if structure == "device" else Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)
    write(tmp_path / "structure.extxyz", atoms)
    hamtrans = [sys.executable, "-m", "hamtrans.cli", "predict", str(model), str(tmp_path / "structure.extxyz")]
    serial = subprocess.run(hamtrans + ["-o", str(tmp_path / "serial.h5")], capture_output=True, text=True)
    assert serial.returncode == 0, serial.stderr
    parallel = subprocess.run([mpiexec(), "-n", str(n_ranks)] + hamtrans + ["-o", str(tmp_path / "ranks.h5")],
                              capture_output=True, text=True, timeout=600)
    assert parallel.returncode == 0, parallel.stderr
    assert f"{n_ranks} ranks" in parallel.stdout and parallel.stdout.count("atoms,") == 1  # rank 0 reports
    with Dataset(tmp_path / "serial.h5") as one, Dataset(tmp_path / "ranks.h5") as many:
        a, b = one[0], many[0]
        assert_same_matrices([b.hamiltonian, b.overlap], [a.hamiltonian, a.overlap], 2e-5)


CALCULATOR_ON_EVERY_RANK = """
import sys
import numpy as np
from ase.io import read
from hamtrans.calculators import HamiltonianCalculator
from hamtrans.negf.sweep import world_communicator
comm = world_communicator()
atoms = read(sys.argv[2])
ranks = HamiltonianCalculator(model=sys.argv[1], comm=comm)
h = ranks.get_property("hamiltonian", atoms)
single = HamiltonianCalculator(model=sys.argv[1]).get_property("hamiltonian", atoms)
difference = abs(h - single).max()
assert h.nnz == single.nnz and difference < 2e-5, difference
print(f"rank {comm.Get_rank()} of {comm.Get_size()}: max |dH| {difference:.1e}")
"""


@pytest.mark.skipif(mpiexec() is None, reason="no mpiexec next to the interpreter (mpich wheel)")
def test_the_calculator_under_mpiexec_gives_every_rank_the_whole_matrix(tmp_path):
    predictor = random_predictor("float32")
    model = save_model(tmp_path / "model.pt", predictor.hamiltonian, predictor.overlap)
    write(tmp_path / "structure.extxyz", device(periodic=False))
    run = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-c", CALCULATOR_ON_EVERY_RANK, str(model),
                          str(tmp_path / "structure.extxyz")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "rank 0 of 2" in run.stdout and "rank 1 of 2" in run.stdout


class PeerFails(OneRankOf):
    """Rank 0 of two whose peer reports a failure in the status exchange."""

    def allgather(self, value) -> list:
        return [value, "RuntimeError: CUDA out of memory"]


def test_a_failure_on_another_rank_is_raised_here_too():
    with pytest.raises(HamtransError, match="rank 1 failed .*CUDA out of memory"):
        predict_owned_blocks(random_predictor(), device(periodic=False), PeerFails(0, 2))
