"""The command line as a user runs it: outputs, resume after a failure, clear errors."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from hamtrans.cli import main, parse_cutoff
from hamtrans.data.formats import Dataset
from hamtrans.data.structures import bulk_hfo2


def molecule(shift=0.0):
    return Atoms("HfO2", positions=[[0, 0, 0], [1.9, 0.2 + shift, 0], [-0.3, 1.9, 0.4]])


def test_parse_cutoff():
    assert parse_cutoff("4.5") == 4.5
    assert parse_cutoff("Hf-O=5.5,O-O=4") == {("Hf", "O"): 5.5, ("O", "O"): 4.0}


def test_build_device(tmp_path):
    out = tmp_path / "dev.extxyz"
    assert main(["build-device", "-o", str(out), "--vacancies", "broken", "--seed", "3", "--oxide-length", "8"]) == 0
    atoms = read(out)
    assert "region" in atoms.arrays and atoms.pbc.all()


def test_reference_then_info(tmp_path, capsys):
    frames = tmp_path / "mols.extxyz"
    write(frames, [molecule(), molecule(0.1)], format="extxyz")
    out = tmp_path / "ref.h5"
    assert main(["reference", str(frames), "-o", str(out), "--cutoff", "4.0"]) == 0
    with Dataset(out) as data:
        assert len(data) == 2
        record = data[1]
        assert record.hamiltonian.n_orbitals == 17 and record.forces.shape == (3, 3)
        assert data.settings["cutoff"] == 4.0
    assert main(["info", str(out)]) == 0
    assert "2 structures" in capsys.readouterr().out


def test_reference_resumes_after_failure(tmp_path, capsys):
    good, bad = tmp_path / "good.xyz", tmp_path / "bad.xyz"
    write(good, molecule())
    write(bad, Atoms("AuO", positions=[[0, 0, 0], [2.0, 0, 0]]))
    out = tmp_path / "ref.h5"
    assert main(["reference", str(good), str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no shells for element Au" in err and "Traceback" not in err
    assert not out.exists() and (tmp_path / "ref.h5.partial").exists()
    write(bad, molecule(0.2))  # the user fixes the second input and resumes
    assert main(["reference", str(good), str(bad), "-o", str(out), "--resume"]) == 0
    assert "resuming: 1 of 2" in capsys.readouterr().out
    with Dataset(out) as data:
        assert len(data) == 2
        assert not np.allclose(data[0].atoms.positions, data[1].atoms.positions)


def test_reference_small_cell(tmp_path, capsys):
    cell = tmp_path / "hfo2.cif"
    write(cell, bulk_hfo2())
    assert main(["reference", str(cell), "-o", str(tmp_path / "x.h5")]) == 2
    assert "cell too small for an unambiguous image" in capsys.readouterr().err
    assert main(["reference", str(cell), "-o", str(tmp_path / "e.h5"), "--no-blocks"]) == 0
    with Dataset(tmp_path / "e.h5") as data:
        assert data[0].hamiltonian is None and data[0].stress.shape == (6,)


def test_missing_structure_file(tmp_path, capsys):
    assert main(["reference", str(tmp_path / "nope.xyz"), "-o", str(tmp_path / "x.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_main_job(tmp_path):
    """The `make demo` job on a thinner wire and a short sweep: KMC with Poisson, heating and the electrode
    reservoir, shipped-model transport, reads, the denser-lattice check and outputs matching the summary."""
    from dataclasses import replace

    from hamtrans.demo import DEMO_DEVICE, run_demo
    from hamtrans.kmc import read_frames

    device = replace(DEMO_DEVICE, cross_section=(4.24, 8.48))  # half the atoms
    summary = run_demo(tmp_path, max_voltage=0.4, step=0.2, read_voltage=0.2, device=device)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    for name in ("device.extxyz", "trajectory.h5", "iv.dat", "iv.png", "conductance.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    voltages = [p["voltage_V"] for p in summary["sweep"]]
    assert voltages == pytest.approx([0.0, 0.2, 0.4, 0.2, 0.0, -0.2, -0.4, -0.2, 0.0])
    currents = [p["current_A"] for p in summary["sweep"]]
    assert currents[0] == 0.0 and currents[1] > 0 > currents[5]
    assert [f["current"] for f in read_frames(tmp_path / "trajectory.h5")] == currents
    reads = summary["reads"]
    assert reads["set"]["hrs_A"] == currents[1] and reads["set"]["lrs_A"] == currents[3]
    assert summary["read_ratio"] == pytest.approx(abs(currents[3] / currents[1]))
    check = summary["convergence"]
    assert check["read_A"] == currents[3] and check["dense_A"] > 0
    assert check["converged"] == (check["relative_difference"] <= check["tolerance"])
    assert summary["lead_cache"]["hits"] > summary["lead_cache"]["misses"]  # the leads are shared by the snapshots
    assert read(tmp_path / "device.extxyz").get_chemical_formula() == summary["device"]["composition"]


def test_import_cp2k_gamma_and_images(tmp_path, capsys):
    from pathlib import Path

    fix = Path(__file__).parent / "fixtures" / "cp2k"
    a = fix / "cluster_a_szv"
    out = tmp_path / "cp2k.h5"
    assert main(["import-cp2k", "--structure", str(a / "clusterA.xyz"), "--ks", str(next(a.glob("*KS*"))),
                 "--s", str(next(a.glob("*-S_*"))), "-o", str(out), "--cutoff", "6"]) == 0
    with Dataset(out) as data:
        assert data.basis.name == "szv-molopt-sr-gth" and data[0].hamiltonian.n_orbitals == 32
    tin = fix / "tin_images"
    images = ["--ks", *map(str, sorted(tin.glob("*KS_SPIN_1_R_*"))), "--s", *map(str, sorted(tin.glob("*-S_SPIN_1_R_*")))]
    args = ["import-cp2k", "--structure", str(tin / "TiN_shift.extxyz"), *images, "-o", str(tmp_path / "tin.h5"), "--cutoff", "3.1"]
    assert main(args) == 2
    assert "per-image files: give --out-file" in capsys.readouterr().err
    assert main(args + ["--out-file", str(tin / "TiN_kp_shift.out")]) == 0
    with Dataset(tmp_path / "tin.h5") as data:
        assert data[0].overlap.hermiticity_error() < 1e-12


def test_import_eth_folder(tmp_path):
    from ase.io import write as ase_write
    from ase.units import Hartree

    from hamtrans.data.basis import OrbitalBasis
    from hamtrans.data.orbital_order import orbital_transform

    folder = tmp_path / "slice0"
    folder.mkdir()
    atoms = Atoms("HfO2", positions=[[0, 0, 0], [2.0, 0.1, 0], [-0.3, 2.0, 0.2]])
    ase_write(folder / "structure.xyz", atoms, format="extxyz")
    n = int(OrbitalBasis.named("szv-molopt-sr-gth").orbital_offsets(atoms.numbers)[-1])
    m = np.random.default_rng(0).normal(size=(n, n))
    m = m + m.T
    for name, scale in (("H.csr", 1.0), ("S.csr", 0.01)):
        with open(folder / name, "w") as handle:
            for r in range(n):
                for c in range(r, n):
                    handle.write(f"{r + 1} {c + 1} {m[r, c] * scale + (r == c) * (scale != 1.0):.15e}\n")  # S = 1 + 0.01 m
    assert main(["import-eth", str(folder), "-o", str(tmp_path / "eth.h5"), "--cutoff", "4.0"]) == 0  # all pairs
    with Dataset(tmp_path / "eth.h5") as data:
        h = data[0].hamiltonian
        t = orbital_transform(h.basis, atoms.numbers, "cp2k").toarray()
        expected = t @ m @ t.T * Hartree
        np.testing.assert_allclose(h.to_sparse().toarray(), expected, atol=1e-8)


def test_version_option_prints_the_package_version(capsys):
    import hamtrans
    from hamtrans.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hamtrans {hamtrans.__version__}"


def test_build_device_help_gives_units_and_defaults_and_vacuum_makes_a_wire(tmp_path, capsys):
    from ase.io import read

    from hamtrans.cli import main

    with pytest.raises(SystemExit):
        main(["build-device", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Å of HfO2; default 10" in text and "default random" in text and "0: periodic); default 0" in text
    out = tmp_path / "wire.extxyz"
    assert main(["build-device", "-o", str(out), "--cross-section", "4.24", "4.24", "--oxide-length", "5",
                 "--electrode-length", "4.24", "--ti-length", "0", "--vacuum", "6"]) == 0
    assert read(out).cell.lengths()[1] == pytest.approx(4.24 + 6.0)


UNIT_WORDS = ("Å", "eV", " K", " V", "fraction", "relative", "dimensionless")


def test_every_option_of_every_command_has_help_with_its_unit_and_default(capsys):
    import argparse

    from hamtrans.cli import DefaultsHelpFormatter, build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, parser in commands.items():
        formatter = DefaultsHelpFormatter(name)
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            option = f"{name} {action.option_strings[-1]}"
            assert action.help, f"{option} has no help"
            if action.type is float:
                assert any(word in action.help for word in UNIT_WORDS), f"{option}: no unit in {action.help!r}"
            if action.default is not None and action.default is not False:  # 0 and 0.0 are defaults too
                assert "default" in formatter._get_help_string(action), f"{option}: default not shown"
    with pytest.raises(SystemExit):
        main(["transport", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: eigenmode)" in text and "(default: 16)" in text and "default E_F - 2" in text
    assert "(default: 0.0)" in text  # --bias and --eta
