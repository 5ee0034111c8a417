"""MPI over energies gives the serial result; the cupy backend (when a GPU is present) too."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hamtrans.negf import Device, cupy_available, current, green_function, transmission
from tests.negf_systems import random_chain_device

ROOT = Path(__file__).resolve().parents[1]


def mpiexec() -> str | None:
    candidate = Path(sys.executable).parent / "mpiexec"
    return str(candidate) if candidate.exists() else None


@pytest.mark.skipif(mpiexec() is None, reason="no mpiexec next to the interpreter (mpich wheel)")
def test_mpi_over_energies_equals_serial(tmp_path):
    out = tmp_path / "mpi.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-m", "tests.negf_mpi_worker", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    parallel = np.load(out)
    assert int(parallel["ranks"]) == 3
    device = Device.from_matrices(*random_chain_device(seed=21))
    energies = np.linspace(-1.5, 2.5, 23)
    np.testing.assert_allclose(parallel["transmission"], transmission(device, energies), rtol=0, atol=1e-13)
    np.testing.assert_allclose(parallel["dos"], green_function(device, energies).dos, rtol=0, atol=1e-13)
    assert float(parallel["current"]) == pytest.approx(current(device, 0.4, fermi_level=0.2).current, rel=1e-12)


@pytest.mark.skipif(mpiexec() is None, reason="no mpiexec next to the interpreter (mpich wheel)")
def test_mpi_failure_on_one_rank_stops_all_ranks_and_idle_ranks_work(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [mpiexec(), "-n", "2", sys.executable, "-m", "tests.negf_mpi_worker", str(tmp_path / "x.npz"),
               "fail-on-one-rank"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # no hang
    assert run.returncode != 0 and "E = 0" in run.stderr
    command = [mpiexec(), "-n", "3", sys.executable, "-m", "tests.negf_mpi_worker", str(tmp_path / "y.npz"),
               "more-ranks-than-energies"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    serial = transmission(Device.from_matrices(*random_chain_device(seed=2)), [0.1, 0.5])
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["transmission"], serial, atol=1e-13)


@pytest.mark.skipif(not cupy_available(), reason="cupy with a CUDA device not available")
def test_cupy_backend_matches_numpy():
    device = Device.from_matrices(*random_chain_device(seed=22, complex_hopping=True))
    energies = np.linspace(-1.5, 2.5, 11)
    for method, eta in (("eigenmode", 0.0), ("sancho-rubio", 1e-6)):
        cpu = transmission(device, energies, lead_method=method, eta=eta)
        gpu = transmission(device, energies, lead_method=method, eta=eta, backend="cupy")
        np.testing.assert_allclose(gpu, cpu, atol=1e-9)
    cpu, gpu = green_function(device, energies), green_function(device, energies, backend="cupy")
    np.testing.assert_allclose(gpu.dos, cpu.dos, atol=1e-9)
    np.testing.assert_allclose(gpu.transmission, cpu.transmission, atol=1e-9)
