"""One transport route: TransportSettings + structure_current serve the calculator, the I–V section and the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
from ase.io import write

from hamtrans.calculators import (
    HamiltonianCalculator,
    TransportCalculator,
    TransportSettings,
    structure_current,
    structure_transmission,
    transport_setup,
)
from hamtrans.config import as_dict
from hamtrans.data.structures import A_TIN, DeviceSpec, build_vcm_device, bulk_tin
from hamtrans.errors import LeadError
from hamtrans.kmc.iv_config import parse_iv_config
from hamtrans.models import HamiltonianPredictor, save_model
from tests.toy_electronic import unit_overlap_models


@pytest.fixture(scope="module")
def toy():
    return HamiltonianCalculator(model=HamiltonianPredictor(*unit_overlap_models()))


def cell_device(electrode_length: float):
    """A TiN | HfO2 | TiN cell (4.24 Å cross-section, periodic): the toy's 4.5 Å blocks need 8.48 Å layers."""
    return build_vcm_device(DeviceSpec(cross_section=(A_TIN, A_TIN), electrode_length=electrode_length,
                                       oxide_length=5.0, ti_length=0.0, vacancies="none", seed=0))


def test_auto_leads_pick_own_cells_where_they_repeat_and_periodic_ones_where_not(toy):
    wire = bulk_tin((8, 1, 1))
    assert transport_setup(wire, toy, TransportSettings()).leads == "own"
    device = cell_device(12.72)
    with pytest.raises(LeadError):
        transport_setup(device, toy, TransportSettings(leads="own"))
    auto = transport_setup(device, toy, TransportSettings())
    assert auto.leads == "periodic"  # the builder's structure: its TiN period is the lead cell
    periodic = transport_setup(device, toy, TransportSettings(leads="periodic", lead_cell=A_TIN))
    assert auto.fermi_level == pytest.approx(periodic.fermi_level, abs=1e-9)  # the leads' band Fermi level


def test_lead_errors_name_the_fix(toy):
    device = cell_device(12.72)
    plain = device.copy()
    plain.info.clear()  # not a builder structure: no known electrode period
    with pytest.raises(LeadError, match="give lead_cell="):
        transport_setup(plain, toy, TransportSettings())
    short = cell_device(8.48)  # the oxide reaches into the last 8.48 Å principal layer
    with pytest.raises(LeadError, match=r"first and last 8\.48 Å from the outermost atom planes must be electrode only.*electrode_length ≥ 12\.72 Å"):
        transport_setup(short, toy, TransportSettings(leads="periodic"))


def test_the_calculator_is_the_function_with_a_cache(toy):
    device = cell_device(12.72)
    settings = TransportSettings(leads="periodic", points=11)
    direct = structure_current(device, toy, settings, bias=0.3)
    calc = TransportCalculator(toy, settings, bias=0.3, energies=[-0.2, 0.0, 0.2])
    assert calc.get_property("current", device) == pytest.approx(direct.current, rel=1e-12)
    shifted = calc.fermi_level + np.array([-0.2, 0.0, 0.2])
    energies, t = structure_transmission(device, toy, settings, shifted, bias=0.3)
    calc.energies = shifted
    np.testing.assert_allclose(calc.get_property("transmission", device), t, rtol=1e-12)
    keywords = TransportCalculator(toy, bias=0.3, leads="periodic", points=11)
    assert keywords.settings == settings  # keywords and a settings object say the same


def test_the_iv_section_is_the_settings(toy):
    section = parse_iv_config({"transport": {"leads": "periodic", "lattice": True, "resolution": 0.01,
                                             "eta": 1e-5, "lead_method": "sancho-rubio"}}).transport
    assert isinstance(section, TransportSettings)
    assert section.current_grid() == {"grid": "lattice", "resolution": 0.01}
    assert section.current_grid(resolution=0.005) == {"grid": "lattice", "resolution": 0.005}
    again = parse_iv_config({"transport": as_dict(section)}).transport  # a written config reads back the same
    assert again == section


def test_cli_transport_of_a_structure_with_a_model(toy, tmp_path):
    device = cell_device(12.72)
    write(tmp_path / "device.extxyz", device, format="extxyz")
    save_model(tmp_path / "toy.pt", *unit_overlap_models())
    run = subprocess.run([sys.executable, "-m", "hamtrans.cli", "transport", str(tmp_path / "device.extxyz"),
                          "--model", str(tmp_path / "toy.pt"), "--bias", "0.3", "--points", "5", "--tolerance", "0.05",
                          "--resolution", "0.1",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    written = json.loads((tmp_path / "out" / "current.json").read_text())
    expected = structure_current(device, toy, TransportSettings(tolerance=0.05, resolution=0.1), bias=0.3)
    assert written["leads"] == "periodic"
    assert written["current_A"] == pytest.approx(expected.current, rel=1e-6)
    refused = subprocess.run([sys.executable, "-m", "hamtrans.cli", "transport", str(tmp_path / "device.extxyz"),
                              "--leads", "auto"], capture_output=True, text=True)
    assert refused.returncode != 0 and "--leads auto needs --model" in refused.stderr


def test_results_are_written_with_the_structure_or_refused(toy, tmp_path):
    from ase.io import read

    from hamtrans.data.formats.results_io import read_matrices, write_results
    from hamtrans.errors import OutputError

    wire = bulk_tin((6, 1, 1))
    wire.calc = TransportCalculator(toy, bias=0.2, fermi_level=0.0, points=5, energies=[-0.1, 0.0, 0.1])
    wire.calc.get_property("current", wire)
    wire.calc.get_property("transmission", wire)
    files = write_results(tmp_path / "wire.extxyz", wire)
    assert files == [tmp_path / "wire.extxyz"]
    back = read(tmp_path / "wire.extxyz")
    assert back.info["current"] == pytest.approx(wire.calc.results["current"], rel=1e-12)
    np.testing.assert_allclose(back.info["transmission"], wire.calc.results["transmission"], rtol=1e-12)
    np.testing.assert_allclose(back.info["transmission_energies"], [-0.1, 0.0, 0.1])
    np.testing.assert_allclose(back.info["current_energies"], wire.calc.results["current_result"].energies)

    toy.get_property("hamiltonian", wire)
    wire.calc = toy
    files = write_results(tmp_path / "wire_h.extxyz", wire)
    matrices = read_matrices(files[1])
    assert abs(matrices["hamiltonian"] - toy.results["hamiltonian"]).max() == 0.0
    assert abs(matrices["overlap"] - toy.results["overlap"]).max() == 0.0

    toy.results["odd"] = {"not": "storable"}
    with pytest.raises(OutputError, match="result 'odd' \\(dict\\) has no place"):
        write_results(tmp_path / "odd.extxyz", wire)
    del toy.results["odd"]


def test_cli_transport_with_a_model_and_kpoints_equals_the_transverse_supercell(toy, tmp_path):
    """n_y·n_z · T per cell averaged over the mesh = T at Γ of the (1, n_y, n_z) supercell, both predicted."""
    device = cell_device(12.72)  # 4.24 Å cross-section: the toy's 4.5 Å blocks couple transverse images
    write(tmp_path / "device.extxyz", device, format="extxyz")
    write(tmp_path / "supercell.extxyz", device.repeat((1, 2, 1)), format="extxyz")
    save_model(tmp_path / "toy.pt", *unit_overlap_models())
    command = [sys.executable, "-m", "hamtrans.cli", "transport", "--model", str(tmp_path / "toy.pt"),
               "--points", "6", "--emin", "-1.0", "--emax", "1.0", "--fermi", "0.0"]
    for name, extra in (("cell", ["--kpoints", "1", "2", "1"]), ("supercell", [])):
        run = subprocess.run(command + [str(tmp_path / f"{'device' if name == 'cell' else name}.extxyz"), *extra,
                                        "--out", str(tmp_path / name)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    cell, supercell = (np.loadtxt(tmp_path / name / "transmission.dat") for name in ("cell", "supercell"))
    assert cell.shape == (6, 5)  # E, E − E_F, T and T at each of the two k-points
    assert np.abs(cell[:, 3] - cell[:, 4]).max() > 1e-3  # the transverse phases act
    np.testing.assert_allclose(2 * cell[:, 2], supercell[:, 2], rtol=1e-7, atol=1e-9)
    written = json.loads((tmp_path / "cell" / "current.json").read_text())
    assert written["leads"] == "periodic" and written["kpoint_mesh"] == [1, 2, 1]
    # the one-point mesh is the Γ route (structure_current): the same lead-band E_F and current
    runs = {}
    for name, extra in (("gamma_mesh", ["--kpoints", "1", "1", "1"]), ("gamma", [])):
        run = subprocess.run([sys.executable, "-m", "hamtrans.cli", "transport", "--model", str(tmp_path / "toy.pt"),
                              str(tmp_path / "device.extxyz"), "--points", "3", "--bias", "0.2", "--tolerance", "0.05",
                              "--resolution", "0.1", *extra, "--out", str(tmp_path / name)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        runs[name] = json.loads((tmp_path / name / "current.json").read_text())
    assert runs["gamma_mesh"]["fermi_level_eV"] == pytest.approx(runs["gamma"]["fermi_level_eV"], abs=1e-9)
    assert runs["gamma_mesh"]["current_A"] == pytest.approx(runs["gamma"]["current_A"], rel=1e-6)
