"""The LAMMPS examples (examples/lammps), shortened: tiny structures, few steps, test models."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hamtrans.lammps_plugin.tools import read_dump, run_lammps, single_thread_environment
from hamtrans.models.model_file import save_model, save_potential
from tests.potential_teacher import random_potential
from tests.toy_electronic import unit_overlap_models

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "lammps"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lammps_examples")
    subprocess.run([sys.executable, str(EXAMPLES / "make_structures.py"), "--small"], cwd=folder, check=True,
                   capture_output=True, env=single_thread_environment())
    save_potential(folder / "potential.pt", random_potential(n_layers=2, cutoff=3.5, seed=6))
    save_model(folder / "hamiltonian.pt", *unit_overlap_models())
    return folder


def test_hfo2_nvt_on_two_ranks(folder):
    output = run_lammps(EXAMPLES / "in.hfo2_nvt", folder, ranks=2, variables={"potential": "potential.pt",
                                                                               "steps": 20})
    thermo = [line.split() for line in output.splitlines() if line.split()[:1] == ["20"]]
    assert len(thermo) == 1 and float(thermo[0][1]) > 0  # step 20: temperature
    frame = read_dump(folder / "hfo2_nvt.dump")
    assert len(frame["id"]) == 12 and np.all(np.isfinite(frame["c_peratom"]))


def test_vcm_transport_driven_from_python(folder):
    command = [sys.executable, str(EXAMPLES / "run_python.py"), str(EXAMPLES / "in.vcm_transport"),
               "-var", "potential", "potential.pt", "-var", "hamiltonian", "hamiltonian.pt",
               "-var", "steps", "2", "-var", "every", "2"]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=single_thread_environment())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "final potential energy" in result.stdout
    lines = np.loadtxt(folder / "current.dat", ndmin=2)
    assert lines[:, 0].tolist() == [0, 2] and np.all(np.isfinite(lines[:, 2])) and np.all(lines[:, 6] == 1)
