"""README code that a user copies must run verbatim: the self-contained Python blocks are executed."""

import os
from pathlib import Path

import numpy as np
import pytest

from tests.markdown_blocks import python_blocks

README = Path(__file__).resolve().parents[1] / "README.md"
#: Headings whose Python block needs nothing defined before it.
SELF_CONTAINED = ("Hamiltonian model", "Quantum transport", "ML-Hamiltonian transport of VCM devices")
#: Headings whose Python block uses ``atoms`` of "Ten lines of Python" (as its first line says).
AFTER_TEN_LINES = ("Interatomic potential", "ASE calculators")
#: "Ten lines of Python" and "ASE calculators" each run GFN1-xTB on a 234-atom wire: 26 and 28 min
#: measured with two other jobs on the two cores, beyond the CI budget. They always run with one change,
#: the wire's cross-section (4.24 Å, 56 atoms), and verbatim on their own wire on request.
LONG = pytest.mark.skipif(not os.environ.get("HAMTRANS_README_LONG"),
                          reason="GFN1-xTB twice on a 234-atom wire (~50 min under load): set HAMTRANS_README_LONG=1")
#: The small wire: 4.24 Å of TiN across, with the vacuum every periodic width needs for the reference's
#: unambiguous images (block cutoff + image range = 16.5 Å).
SMALL_WIRE = {"cross_section": (4.24, 4.24), "vacuum": 12.5}


def test_the_readme_names_the_blocks_this_test_runs():
    blocks = python_blocks(README.read_text())
    assert set(blocks) == set(SELF_CONTAINED) | set(AFTER_TEN_LINES) | {"Ten lines of Python"}
    assert all('"Ten lines of Python"' in blocks[heading].splitlines()[0] for heading in AFTER_TEN_LINES)


def run_ten_lines(folder: Path, small: bool) -> dict:
    """The namespace "Ten lines of Python" leaves, run in ``folder``: a filament wire and its GFN1-xTB
    dataset ``vcm.h5``. ``small``: the wire's cross-section and vacuum are replaced by :data:`SMALL_WIRE`,
    the only change."""
    import hamtrans.data.structures as structures

    build = structures.build_vcm_device
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        if small:
            patch.setattr(structures, "build_vcm_device",
                          lambda *args, **options: build(*args, **{**options, **SMALL_WIRE}))
        exec(compile(python_blocks(README.read_text())["Ten lines of Python"], "README.md (Ten lines of Python)",
                     "exec"), namespace)
    namespace["folder"], namespace["small"] = folder, small
    return namespace


@pytest.fixture(scope="module", params=[pytest.param("small", id="small"), pytest.param("full", marks=LONG)])
def ten_lines(request, tmp_path_factory) -> dict:
    """"Ten lines of Python" on its own 234-atom wire (``full``, on request) or on a 56-atom one (``small``)."""
    return run_ten_lines(tmp_path_factory.mktemp("ten_lines"), small=request.param == "small")


def test_ten_lines_of_python_write_a_gfn1_dataset(ten_lines):
    from hamtrans.data.formats import Dataset

    with Dataset(ten_lines["folder"] / "vcm.h5") as data:
        record = data[0]
    assert len(record.atoms) == len(ten_lines["atoms"]) and record.hamiltonian.n_orbitals > 4 * len(record.atoms)
    h = ten_lines["h_device"]
    assert abs(h - h.T).max() < 1e-10  # hermitian, eV


def test_the_ten_lines_dataset_goes_through_hamtrans_transport(ten_lines):
    """Its record in the transport sub-basis, leads continuing the cell, E_F from their bands: a filament's current."""
    import json

    from hamtrans.cli import main

    if not ten_lines["small"]:
        pytest.skip("the 234-atom wire's transport is the ASE block's")
    out = ten_lines["folder"] / "transport"
    assert main(["transport", str(ten_lines["folder"] / "vcm.h5"), "--basis", "gfn1-xtb-compact", "--leads", "periodic",
                 "--lead-cell", "4.24", "--bias", "0.2", "--points", "11", "--lead-method", "sancho-rubio",
                 "--eta", "1e-5", "--out", str(out)]) == 0
    result = json.loads((out / "current.json").read_text())
    assert 1e-9 < result["current_A"] < 1e-3 and result["integration_converged"]


@pytest.mark.parametrize("heading", AFTER_TEN_LINES)
def test_readme_python_block_runs_after_ten_lines(heading, ten_lines):
    namespace = {"atoms": ten_lines["atoms"].copy()}
    exec(compile(python_blocks(README.read_text())[heading], f"README.md ({heading})", "exec"), namespace)
    if heading == "Interatomic potential":
        assert np.isfinite(namespace["atoms"].get_forces()).all()
    else:  # the model against GFN1 in the same blocks, then a filament's current at 1 V
        h_ml, h_ref = namespace["h_ml"].tocsr(), namespace["h_ref"].tocsr()
        assert h_ml.shape == h_ref.shape and h_ml.nnz == h_ref.nnz  # the same basis and blocks
        error = abs(h_ml - h_ref).data
        assert 0 < error.mean() < 0.2, (error.mean(), error.max())  # eV, raw (no energy-zero alignment)
        assert 1e-8 < namespace["current"] < 1e-3 and namespace["t"].min() > -1e-6


@pytest.mark.parametrize("heading", [pytest.param(h, marks=pytest.mark.slow) if h.startswith("ML-") else h
                                     for h in SELF_CONTAINED])  # the ML-Hamiltonian transport block takes ~2 min
def test_readme_python_block_runs_verbatim(heading, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_blocks(README.read_text())[heading], f"README.md ({heading})", "exec"), namespace)
    if heading == "Hamiltonian model":
        assert 0 <= float(np.asarray(namespace["t"])[0]) < 10
    elif heading == "Quantum transport":
        assert namespace["i"].current > 0 and np.all(namespace["t"] >= 0)
    else:  # a formed filament at 0.2 V: µA-scale, and the leads came from the cell's periodic continuation
        assert 1e-7 < namespace["result"].current < 1e-3
