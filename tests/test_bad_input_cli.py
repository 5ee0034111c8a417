"""Bad input at the command line and in the data layer: every case is a one-line HamtransError that names the
input, the value and the fix, never a traceback, silently wrong data or lost data.

Sections follow the reliability report: (1) outputs that are inputs, (2) ``reference --resume`` with other
inputs, (3) imported CP2K matrices, (4) reference settings refused up front, (5) malformed files and values,
(6) a killed or unwritable ``reference`` run.
"""

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from ase import Atoms
from ase.io import read, write
from ase.units import Hartree

from hamtrans.cli import main
from hamtrans.config import ConfigError, section
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats import Dataset, DatasetWriter, Record, read_cp2k, read_structure
from hamtrans.data.formats.cp2k import check_matrices, positive_definite
from hamtrans.data.formats.dataset import structure_digest
from hamtrans.data.graphs import build_graph
from hamtrans.data.reference import Cp2kReference, TBLiteReference
from hamtrans.data.structures import DeviceSpec, build_vcm_device, bulk_hfo2
from hamtrans.errors import FileFormatError, HamtransError, MatrixError, OutputError, RecordIndexError
from hamtrans.kmc.iv_config import parse_iv_config
from tests.record_checks import assert_same_records
from tests.structures import molecule

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "cp2k"
CLUSTER = FIX / "cluster_a_szv"
SZV = OrbitalBasis.named("szv-molopt-sr-gth")


def fails(argv: list, capsys, *fragments: str) -> str:
    """Run ``hamtrans argv``: exit code 2, one line on stderr with every fragment, no traceback."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.fixture
def mol(tmp_path) -> Path:
    path = tmp_path / "mol.xyz"
    write(path, molecule())
    return path


# -- 1: an output that is an input --------------------------------------------------------------------------
def test_predict_refuses_to_overwrite_its_input_structure(tmp_path, mol, capsys):
    before = mol.read_bytes()
    fails(["predict", "vcm-gfn1", mol, "-o", mol], capsys, f"-o {mol}", "is the structure file",
          "choose another output path")
    os.link(mol, tmp_path / "hard.xyz")
    (tmp_path / "soft.xyz").symlink_to(mol)
    for alias in ("hard.xyz", "soft.xyz"):  # the same file under another name
        fails(["predict", "vcm-gfn1", mol, "-o", tmp_path / alias], capsys, "is the structure file")
    folder = tmp_path / "csr"
    folder.mkdir()
    shutil.copy(mol, folder / "structure.xyz")
    fails(["predict", "vcm-gfn1", folder / "structure.xyz", "-o", folder, "--format", "csr"], capsys,
          "structure.xyz is the structure file")
    assert mol.read_bytes() == before and not (tmp_path / "mol.xyz.partial").exists()


def test_every_command_refuses_an_output_that_is_an_input(tmp_path, mol, capsys):
    ks, s = next(CLUSTER.glob("*KS*")), next(CLUSTER.glob("*-S_*"))
    structure = tmp_path / "clusterA.xyz"
    shutil.copy(CLUSTER / "clusterA.xyz", structure)
    ks_copy = tmp_path / ks.name
    shutil.copy(ks, ks_copy)
    eth = tmp_path / "eth"
    eth.mkdir()
    for name in ("structure.xyz", "H.csr", "S.csr"):
        (eth / name).write_text("x\n")
    config = tmp_path / "iv.yaml"
    config.write_text("output: {directory: out}\n")
    dataset = tmp_path / "ref.h5"
    assert main(["reference", str(mol), "-o", str(dataset)]) == 0
    capsys.readouterr()
    cases = [
        (["reference", mol, "-o", mol], "is the structure file"),
        (["import-cp2k", "--structure", structure, "--ks", ks_copy, "--s", s, "-o", ks_copy], "is the KS file"),
        (["import-cp2k", "--structure", structure, "--ks", ks_copy, "--s", s, "-o", structure], "is the structure file"),
        (["import-eth", eth, "-o", eth / "H.csr"], f"H.csr is the input file {eth / 'H.csr'}"),
        (["transport", dataset, "--out", dataset], "is a file, not a folder"),
        (["evaluate", "vcm-gfn1", dataset, "--out", dataset], "is a file, not a folder"),
        (["iv", config, "--out", config], "is a file, not a folder"),
    ]
    snapshot = {p: p.read_bytes() for p in (mol, ks_copy, structure, eth / "H.csr", dataset, config)}
    for argv, fragment in cases:
        fails(argv, capsys, fragment)
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(config, runs / "summary.json")  # a configuration named like a file the sweep writes
    fails(["iv", runs / "summary.json", "--out", runs], capsys, "summary.json is the configuration file")


# -- 2: reference --resume with other inputs ----------------------------------------------------------------
def test_tblite_resume_with_other_inputs_is_refused_and_keeps_the_partial(tmp_path, capsys):
    good, bad = tmp_path / "a.xyz", tmp_path / "b.xyz"
    write(good, molecule())
    write(bad, Atoms("AuO", positions=[[0, 0, 0], [2.0, 0, 0]]))  # no GFN1 shells for Au: the run stops there
    out = tmp_path / "ref.h5"
    assert main(["reference", str(good), str(bad), "-o", str(out)]) == 2
    capsys.readouterr()
    write(bad, molecule(0.2))
    moved = tmp_path / "moved" / "a.xyz"
    moved.parent.mkdir()
    write(moved, molecule(0.05))  # same name 'a:0', other atoms
    other = tmp_path / "c.xyz"
    write(other, molecule())
    fails(["reference", moved, bad, "-o", out, "--resume"], capsys, "structure 0 is 'a:0'", "with other atoms",
          "resume with the same structure files in the same order")
    fails(["reference", other, bad, "-o", out, "--resume"], capsys, "structure 0 is 'a:0' but this run's input 0 "
          "is 'c:0'")
    fails(["reference", good, bad, "-o", out, "--resume", "--cutoff", "4"], capsys, "other settings (cutoff differ)")
    fails(["reference", good, bad, "-o", out, "--resume", "--no-blocks"], capsys,
          "structure 0 was stored with H and S blocks but this run skips them", "resume without --no-blocks")
    fails(["reference", good, bad, "-o", out], capsys, f"{out}.partial holds the structures of an interrupted run: "
          "add --resume to continue it, or delete it")  # a forgotten --resume does not start over
    assert main(["reference", str(good), str(bad), "-o", str(out), "--resume"]) == 0  # the refusals kept it
    assert "resuming: 1 of 2" in capsys.readouterr().out
    with Dataset(out) as data:
        assert [r.name for r in data] == ["a:0", "b:0"]


def test_cp2k_resume_with_other_inputs_is_refused_before_cp2k_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("hamtrans.data.reference.cp2k_backend.find_executable", lambda name: "/usr/bin/cp2k.psmp")

    def no_run(*args, **kwargs):
        raise AssertionError("CP2K must not run for a refused resume")

    monkeypatch.setattr(Cp2kReference, "compute", no_run)
    dimer_dir = FIX / "dimer_scf"
    atoms = read(dimer_dir / "dimer.extxyz")
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("cutoff: 150\nrel_cutoff: 30\neps_scf: 1e-6\n")
    record = read_cp2k(dimer_dir / "dimer.extxyz", dimer_dir / "ref-KS_SPIN_1-1_0.csr",
                       dimer_dir / "ref-S_SPIN_1-1_0.csr", SZV, 4.0)
    record.name, record.input_digest = "a:0", structure_digest(atoms)
    out = tmp_path / "pbe.h5"
    writer = DatasetWriter(out, SZV, Cp2kReference(settings, cutoff=4.0).describe())
    writer.append(record)  # an interrupted run: the writer is never closed
    first, second = tmp_path / "a.extxyz", tmp_path / "b.extxyz"
    moved = atoms.copy()
    moved.positions[1, 0] += 0.1
    write(first, moved)
    write(second, atoms)
    args = ["reference", first, second, "-o", out, "--code", "cp2k", "--cp2k-settings", settings, "--cutoff", "4.0",
            "--resume"]
    fails(args, capsys, "structure 0 is 'a:0'", "with other atoms")
    write(first, atoms)
    settings.write_text("cutoff: 200\nrel_cutoff: 30\neps_scf: 1e-6\n")
    fails(args, capsys, "other settings (cp2k differ)")
    # the generic check behind both codes
    resumed = DatasetWriter(out, SZV, resume=True)
    assert resumed.check_resume(["a:0", "b:0"], [structure_digest(atoms), "x"]) == 1
    with pytest.raises(FileFormatError, match="holds 1 structures but this run has only 0 inputs"):
        resumed.check_resume([], [])


# -- 3: imported CP2K matrices ------------------------------------------------------------------------------
def write_full(path: Path, matrix: np.ndarray) -> None:
    """A full ASCII triplet file like CP2K's (1-based, every entry)."""
    rows, cols = np.nonzero(np.ones_like(matrix, dtype=bool))
    np.savetxt(path, np.column_stack([rows + 1, cols + 1, matrix[rows, cols]]), fmt="%d %d %.16e")


@pytest.fixture
def cluster(tmp_path):
    """A copy of the real cluster A run (ASCII KS/S) and its dense matrices."""
    folder = tmp_path / "cluster"
    shutil.copytree(CLUSTER, folder)
    ks, s = next(folder.glob("*KS*")), next(folder.glob("*-S_*"))
    from hamtrans.data.formats import read_triplet_matrix

    return folder, ks, s, read_triplet_matrix(ks).toarray(), read_triplet_matrix(s).toarray()


def import_cp2k(folder, ks, s, out):
    return ["import-cp2k", "--structure", folder / "clusterA.xyz", "--ks", ks, "--s", s, "-o", out, "--cutoff", "6"]


def test_import_cp2k_refuses_nan_asymmetric_ks_and_indefinite_s(cluster, tmp_path, capsys):
    folder, ks, s, h, o = cluster
    out = tmp_path / "x.h5"
    assert main([str(a) for a in import_cp2k(folder, ks, s, out)]) == 0  # the real files pass
    capsys.readouterr()
    bad = h.copy()
    bad[3, 5] = np.nan
    write_full(ks, bad)
    fails(import_cp2k(folder, ks, s, out), capsys, f"KS file {ks}: entry (4, 6) is nan", "export it again")
    bad = h.copy()
    bad[0, 1] += 8.0 / Hartree  # max |H − Hᵀ| = 8 eV
    write_full(ks, bad)
    fails(import_cp2k(folder, ks, s, out), capsys, f"KS file {ks} is not Hermitian: max |M − Mᵀ| = 8 eV at entry",
          "(1e-06 × max |M|)")
    write_full(ks, h)
    values, vectors = np.linalg.eigh(o)
    indefinite = o - (values[0] + 1.0) * np.outer(vectors[:, 0], vectors[:, 0])  # smallest eigenvalue −1
    write_full(s, indefinite)
    fails(import_cp2k(folder, ks, s, out), capsys, f"S file {s} is not positive definite (smallest eigenvalue -1)",
          "is not an overlap matrix")
    with pytest.raises(MatrixError, match=r"not positive definite \(smallest eigenvalue -1\)"):
        read_cp2k(folder / "clusterA.xyz", ks, s, SZV, 6.0)


def test_binary_and_per_image_files_are_checked(tmp_path):
    binary = tmp_path / "bin"
    shutil.copytree(FIX / "cluster_a_szv_binary", binary)
    ks = next(binary.glob("*KS*"))
    records = np.frombuffer(ks.read_bytes(), dtype=[("head", "<i4"), ("row", "<i4"), ("col", "<i4"),
                                                     ("value", "<f8"), ("tail", "<i4")]).copy()
    records["value"][7] = np.inf
    ks.write_bytes(records.tobytes())
    with pytest.raises(MatrixError, match=r"entry \(\d+, \d+\) is inf"):
        read_cp2k(CLUSTER / "clusterA.xyz", ks, next(binary.glob("*-S_*")), SZV, 6.0)
    tin = tmp_path / "tin"
    shutil.copytree(FIX / "tin_images", tin)
    from hamtrans.data.formats import read_image_table, read_triplet_matrix
    from hamtrans.data.formats.cp2k import image_files

    table = read_image_table(tin / "TiN_kp_shift.out")
    files = image_files(sorted(tin.glob("*KS_SPIN_1_R_*")), table)
    shift = next(r for r in files if r != (0, 0, 0) and tuple(-v for v in r) in files)
    m = read_triplet_matrix(files[shift], symmetric=False).toarray()
    m[0, 1] += 0.01  # M(R) is no longer M(−R)ᵀ
    rows, cols = np.nonzero(m)
    text = "".join(f"{r + 1} {c + 1} {m[r, c]:.16e}\n" for r, c in zip(rows, cols))
    files[shift].write_bytes(gzip.compress(text.encode()))
    with pytest.raises(MatrixError, match=rf"KS file .*_R_\d+-1_0.csr.gz is not Hermitian: max \|M\({shift[0]}, "):
        read_cp2k(tin / "TiN_shift.extxyz", sorted(tin.glob("*KS_SPIN_1_R_*")), sorted(tin.glob("*-S_SPIN_1_R_*")),
                  SZV, 3.1, out_file=tin / "TiN_kp_shift.out")


def test_eth_folder_and_transport_csr_folder_are_checked(tmp_path, capsys):
    folder = tmp_path / "slice"
    folder.mkdir()
    atoms = read(CLUSTER / "clusterA.xyz")
    write(folder / "structure.xyz", atoms, format="extxyz")
    from hamtrans.data.formats import read_triplet_matrix

    h = read_triplet_matrix(next(CLUSTER.glob("*KS*"))).toarray()
    s = read_triplet_matrix(next(CLUSTER.glob("*-S_*"))).toarray()
    write_full(folder / "H.csr", h)
    write_full(folder / "S.csr", s - 2.0 * np.eye(len(s)))
    fails(["import-eth", folder, "-o", tmp_path / "eth.h5", "--cutoff", "6"], capsys,
          f"S file {folder / 'S.csr'} is not positive definite")
    h[2, 2] = np.nan
    write_full(folder / "H.csr", h)
    write_full(folder / "S.csr", s)
    fails(["transport", folder, "--fermi", "0", "--out", tmp_path / "t"], capsys, f"KS file {folder / 'H.csr'}: "
          "entry (3, 3) is nan")


@pytest.mark.parametrize("diagonal, corrupt, fragment", [
    (1.45, False, None),
    (1.45, True, "smallest eigenvalue -1.196"),  # one corrupt diagonal entry: an isolated negative eigenvalue
    (0.55, False, "a pivot ≤ 0 in its factorisation"),  # the whole band below zero: Lanczos gives up, LDLᵀ decides
])
def test_large_overlap_is_factorised_quickly(diagonal, corrupt, fragment):
    """6000 orbitals, above the dense limit: a sparse LDLᵀ decides, Lanczos names the smallest eigenvalue."""
    n = 6000
    values = np.full(n, diagonal)
    if corrupt:
        values[1234] = -1.0
    off = np.full(n - 1, 0.5)
    s = sp.diags([off, values, off], [-1, 0, 1], format="csr")  # a chain: eigenvalues in diagonal ± 1
    start = time.perf_counter()
    assert positive_definite(s) == (fragment is None)
    if fragment is not None:
        with pytest.raises(MatrixError, match=r"S matrix of image \(0, 0, 0\) is not positive definite") as error:
            check_matrices({(0, 0, 0): sp.eye(n, format="csr")}, {(0, 0, 0): s})
        assert fragment in str(error.value)
    assert time.perf_counter() - start < 10


# -- 4: reference settings refused up front -----------------------------------------------------------------
def test_huge_cutoff_is_fast_for_molecules_and_refused_for_crystals(tmp_path, mol, capsys):
    start = time.perf_counter()
    assert build_graph(molecule(), 1e6).n_edges == build_graph(molecule(), 10.0).n_edges == 6
    assert time.perf_counter() - start < 5  # was cubic in the cutoff
    cell = tmp_path / "hfo2.cif"
    write(cell, bulk_hfo2((2, 2, 2)))
    start = time.perf_counter()
    fails(["reference", cell, "-o", tmp_path / "x.h5", "--cutoff", "5", "--image-range", "500"], capsys,
          "image_range = 500 Å gives about", "atom pairs", "lower the image_range")
    fails(["reference", cell, "-o", tmp_path / "x.h5", "--cutoff", "100"], capsys,
          "image_range (12.0 Å) must be at least the cutoff (100.0 Å)")
    assert time.perf_counter() - start < 10


def test_negative_electronic_temperature_is_refused_up_front(tmp_path, mol, capsys):
    out = tmp_path / "t.h5"
    fails(["reference", mol, "-o", out, "--temperature", "-300"], capsys,
          "electronic_temperature must be a positive temperature in K", "not -300.0")
    assert not out.with_name("t.h5.partial").exists()
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("temperature: -300\n")
    fails(["reference", mol, "-o", out, "--code", "cp2k", "--cp2k-settings", settings], capsys,
          "temperature must be positive, not -300.0")
    fails(["reference", mol, "-o", out, "--code", "cp2k", "--temperature", "-300"], capsys,
          "--temperature set tblite options; for CP2K put them in --cp2k-settings")
    for kwargs, fragment in (({"electronic_temperature": 0.0}, "positive temperature"),
                             ({"electronic_temperature": float("nan")}, "positive temperature"),
                             ({"max_iterations": 0}, "max_iterations must be a positive integer"),
                             ({"mixer_damping": 1.5}, r"mixer_damping must be in \(0, 1\]"),
                             ({"image_range": -1.0}, "image_range must be a positive length"),
                             ({"cutoff": {("Hf", "Xx"): 5.0}}, "is not a pair of element symbols"),
                             ({"cutoff": {("Hf", "O"): float("nan")}}, r"cutoff of the pair \('Hf', 'O'\) must be")):
        with pytest.raises(HamtransError, match=fragment):
            TBLiteReference(**kwargs)
    with pytest.raises(ConfigError, match=r"fallback_mixing entry \[nan, 1.0, 16\] needs a positive alpha"):
        Cp2kReference({"fallback_mixing": [[float("nan"), 1.0, 16]]})


# -- 5: malformed files and values --------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["iv", "train", "cp2k"])
def test_malformed_yaml_names_line_and_column(tmp_path, mol, capsys, command):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kmc:\n  barriers: {generation: [1, 2\n")
    argv = {"iv": ["iv", bad], "train": ["train", bad],
            "cp2k": ["reference", mol, "-o", tmp_path / "x.h5", "--code", "cp2k", "--cp2k-settings", bad]}[command]
    fails(argv, capsys, f"{bad} is not valid YAML at line 3, column 1", "fix the syntax there")


def test_missing_output_folder(tmp_path, mol, capsys):
    missing = tmp_path / "no" / "such"
    for argv in (["reference", mol, "-o", missing / "x.h5"], ["build-device", "-o", missing / "d.extxyz"],
                 ["import-cp2k", "--structure", CLUSTER / "clusterA.xyz", "--ks", next(CLUSTER.glob("*KS*")),
                  "--s", next(CLUSTER.glob("*-S_*")), "-o", missing / "x.h5"],
                 ["predict", "vcm-gfn1", mol, "-o", missing / "p.h5"]):
        fails(argv, capsys, f"folder {missing} does not exist: create it (mkdir -p {missing})")
    assert not missing.exists()


def test_record_and_frame_indices_out_of_range(tmp_path, capsys):
    frames = tmp_path / "mols.extxyz"
    write(frames, [molecule(), molecule(0.1), molecule(0.2)], format="extxyz")
    dataset = tmp_path / "ref.h5"
    assert main(["reference", str(frames), "-o", str(dataset), "--index", "0:2"]) == 0
    capsys.readouterr()
    with Dataset(dataset) as data:
        assert len(data) == 2 and data[-1].name == "mols:1"
        for index in (2, -3):
            with pytest.raises(RecordIndexError, match=rf"has 2 structures: index {index} is out of range; valid "
                                                       r"indices are 0 to 1"):
                data[index]
        with pytest.raises(IndexError):  # still an IndexError for callers that catch one
            data[5]
    fails(["transport", dataset, "--index", "5", "--fermi", "0", "--out", tmp_path / "t"], capsys,
          "has 2 structures: index 5 is out of range")
    fails(["reference", frames, "-o", tmp_path / "y.h5", "--index", "7"], capsys,
          f"structure file {frames} has 3 frames: index 7 is out of range")
    fails(["reference", frames, "-o", tmp_path / "y.h5", "--index", "abc"], capsys,
          "frame index 'abc' is neither an integer nor a slice")
    fails(["reference", frames, "-o", tmp_path / "y.h5", "--index", "5:"], capsys,
          "index '5:' selects no frame", "(3 frames)")
    with pytest.raises(RecordIndexError, match="zero step"):
        read_structure(frames, "::0")


def test_bad_axis_name(tmp_path, capsys):
    atoms = molecule()
    graph = build_graph(atoms, 4.0)
    basis = OrbitalBasis.named("gfn1-xtb")
    from hamtrans.data.blocks import BlockLayout

    layout = BlockLayout(basis, atoms.numbers, graph)
    blocks = BlockSparseMatrix(basis, atoms.numbers, graph, np.zeros(layout.onsite_ptr[-1]),
                               np.zeros(layout.edge_ptr[-1]))
    assert blocks.to_sparse(axis="x").shape == blocks.to_sparse(axis=0).shape
    for axis in (3, "w", -1, 1.5):
        with pytest.raises(HamtransError, match=r"is not a lattice direction: give 0, 1, 2 or 'x', 'y', 'z'"):
            blocks.to_sparse(axis=axis)
    with pytest.raises(SystemExit) as exit_info:
        main(["transport", str(tmp_path / "x.h5"), "--axis", "w"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "invalid choice: 'w'" in err and "Traceback" not in err


@pytest.mark.parametrize("override, fragment", [
    ({"vacancy_fraction": 1.5, "vacancies": "random"}, "vacancy_fraction must be a fraction in [0, 1], not 1.5"),
    ({"vacancy_fraction": -0.1}, "vacancy_fraction must be a fraction in [0, 1], not -0.1"),
    ({"oxide_length": 0.0}, "oxide_length must be a positive finite length (Å), not 0.0"),
    ({"oxide_length": -2.0}, "oxide_length must be a positive finite length (Å), not -2.0"),
    ({"oxide_length": float("nan")}, "oxide_length must be a positive finite length (Å), not nan"),
    ({"oxide_length": 0.5}, "oxide_length 0.5 Å holds no HfO2 unit"),
    ({"electrode_length": float("nan")}, "electrode_length must be a positive finite length"),
    ({"cross_section": (8.48, float("nan"))}, "cross_section must be two positive finite lengths"),
    ({"vacuum": -1.0}, "vacuum must be a non-negative finite length"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_device_builder_refuses_bad_geometry(override, fragment):
    with pytest.raises(HamtransError) as error:
        build_vcm_device(**override)
    assert fragment in str(error.value)


def test_device_builder_and_iv_config_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "d.extxyz"
    fails(["build-device", "-o", out, "--vacancies", "random", "--vacancy-fraction", "1.5"], capsys,
          "vacancy_fraction must be a fraction in [0, 1], not 1.5")
    fails(["build-device", "-o", out, "--oxide-length", "0"], capsys, "oxide_length must be a positive finite length")
    fails(["build-device", "-o", out, "--oxide-length", "nan"], capsys,
          "--oxide-length nan: not a finite number; give a finite value")
    assert not out.exists() and not out.with_name("d.extxyz.partial").exists()
    with pytest.raises(ConfigError, match=r"device\.oxide_length must be a positive finite length \(Å\), not -1"):
        parse_iv_config({"device": {"oxide_length": -1}})
    with pytest.raises(HamtransError, match="filament_center must be two finite fractions"):
        DeviceSpec(filament_center=(0.5,))


@pytest.mark.parametrize("argv, fragment", [
    (["transport", "{d}", "--bias", "nan", "--fermi", "0"], "--bias nan: not a finite number"),
    (["transport", "{d}", "--fermi", "inf"], "--fermi inf: not a finite number"),
    (["transport", "{d}", "--points", "0", "--fermi", "0"], "--points 0: must be at least 2 energies"),
    (["transport", "{d}", "--points", "-5", "--fermi", "0"], "--points -5: must be at least 2 energies"),
    (["transport", "{d}", "--tolerance", "0", "--fermi", "0"], "--tolerance 0.0: must be positive"),
    (["transport", "{d}", "--emin", "1", "--emax", "0", "--fermi", "0"], "--emin 1.0 must be below --emax 0.0"),
    (["reference", "{m}", "-o", "{t}/x.h5", "--cutoff", "nan"], "--cutoff nan: not a finite number"),
    (["reference", "{m}", "-o", "{t}/x.h5", "--cutoff", "Hf-O=nan"], "--cutoff nan: not a finite number"),
    (["build-device", "-o", "{t}/d.xyz", "--cross-section", "8.48", "inf"], "--cross-section 8.48 inf: not a finite"),
    (["demo", "--out", "{t}/demo", "--max-voltage", "nan"], "--max-voltage nan: not a finite number"),
])
def test_nan_options_are_refused(tmp_path, mol, capsys, argv, fragment):
    fill = {"d": tmp_path / "ref.h5", "m": mol, "t": tmp_path}
    fails([a.format(**fill) for a in argv], capsys, fragment)


@pytest.mark.parametrize("raw, fragment", [
    ({"sweep": {"max_voltage": float("nan")}}, "sweep.max_voltage must be a finite number, not nan"),
    ({"sweep": {"step": float("inf")}}, "sweep.step must be a finite number, not inf"),
    ({"kmc": {"hold_time": float("nan")}}, "kmc.hold_time must be a finite number, not nan"),
    ({"transport": {"temperature": "-inf"}}, "transport.temperature must be a finite number, not '-inf'"),
    ({"device": {"oxide_length": float("nan")}}, "device.oxide_length must be a finite number, not nan"),
    ({"kmc": {"barriers": [["generation", 1.0]]}}, "kmc.barriers must be a mapping of barrier names to energies"),
    ({"kmc": {"barriers": "generation: 1"}}, "kmc.barriers must be a mapping"),
    ({"kmc": {"barriers": 3.9}}, "kmc.barriers must be a mapping"),
    ({"kmc": {"barriers": {"generation": float("nan")}}}, "kmc.barriers.generation must be a finite number"),
    ({"transport": {"points": 0}}, "transport.points must be null (adaptive grid) or at least 3 uniform energies, "
                                   "not 0"),
    ({"transport": {"points": -3}}, "transport.points must be null (adaptive grid) or at least 3"),
    ({"transport": {"lattice": "yes", "resolution": 0.01}}, "transport.lattice must be true or false, not 'yes'"),
    ({"kmc": {"screening": 1}}, "kmc.screening must be true or false, not 1"),
    ({"electrostatics": {"charges": "no"}}, "electrostatics.charges must be true or false, not 'no'"),
])
def test_iv_config_values(raw, fragment):
    with pytest.raises(ConfigError) as error:
        parse_iv_config(raw)
    assert fragment in str(error.value)


def test_bool_and_finite_checks_of_config_sections(tmp_path, mol, capsys):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Example:
        flag: bool = False
        optional_flag: bool | None = None
        value: float = 1.0

    assert section(Example, {"flag": True, "optional_flag": None, "value": "2e-3"}, "example").value == 0.002
    with pytest.raises(ConfigError, match="example.optional_flag must be true or false, not 'yes'"):
        section(Example, {"optional_flag": "yes"}, "example")
    assert np.isnan(section(Example, {"value": float("nan")}, "example").value)  # sections with their own rules
    with pytest.raises(ConfigError, match="example.value must be a finite number, not nan"):
        section(Example, {"value": float("nan")}, "example", finite=True)
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("forces: 'yes'\n")
    fails(["reference", mol, "-o", tmp_path / "x.h5", "--code", "cp2k", "--cp2k-settings", settings], capsys,
          "forces must be true or false, not 'yes'")


# -- 6: a killed or unwritable reference run ----------------------------------------------------------------
SLOW_REFERENCE = (
    "import sys, time\n"
    "from hamtrans.data.reference.tblite_backend import TBLiteReference\n"
    "compute = TBLiteReference.compute\n"
    "def slow(self, atoms, **kwargs):\n"
    "    time.sleep(0.5)\n"
    "    return compute(self, atoms, **kwargs)\n"
    "TBLiteReference.compute = slow\n"
    "from hamtrans.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_sigkill_loses_at_most_the_structure_in_flight_and_resume_completes(tmp_path, capsys):
    frames = tmp_path / "mols.extxyz"
    write(frames, [molecule(0.05 * k) for k in range(4)], format="extxyz")
    out = tmp_path / "ref.h5"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-c", SLOW_REFERENCE, "reference", str(frames), "-o", str(out)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = tmp_path / "ref.h5.records" / "000000.h5"
    deadline = time.monotonic() + 300  # generous: a loaded machine starts Python slowly
    while not first.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no record within 300 s"
        time.sleep(0.01)
    time.sleep(0.2)  # the record is linked into the index within milliseconds; the next structure takes 0.5 s
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not out.exists()  # nothing named like the final file
    with Dataset(tmp_path / "ref.h5.partial") as partial:  # the partial index is a readable dataset
        done = len(partial)
        assert 1 <= done < 4
    assert main(["reference", str(frames), "-o", str(out), "--resume"]) == 0
    assert f"resuming: {done} of 4" in capsys.readouterr().out
    assert not (tmp_path / "ref.h5.partial").exists() and not (tmp_path / "ref.h5.records").exists()
    assert main(["reference", str(frames), "-o", str(tmp_path / "whole.h5")]) == 0
    assert_same_records(out, tmp_path / "whole.h5")


def three_records_unclosed(tmp_path: Path) -> tuple[Path, OrbitalBasis, Record]:
    """A writer of ``tmp_path/d.h5`` interrupted after three records: (path, basis, record)."""
    record = Record(molecule(), source="test", name="m", energy=1.0, forces=np.zeros((3, 3)))
    basis = OrbitalBasis.named("gfn1-xtb")
    path = tmp_path / "d.h5"
    writer = DatasetWriter(path, basis, {"cutoff": 3.0})
    for _ in range(3):
        writer.append(record)
    return path, basis, record


def test_an_index_cut_short_is_rebuilt_and_an_old_single_file_partial_resumes(tmp_path):
    path, basis, record = three_records_unclosed(tmp_path)
    index = tmp_path / "d.h5.partial"
    with h5py.File(index, "a") as handle:  # a kill after the third record file, before its link
        del handle["structures"]["000002"]
    with Dataset(index) as partial:
        assert len(partial) == 2
    resumed = DatasetWriter(path, basis, resume=True)
    assert len(resumed) == 3  # the complete record files are the records, whatever the index lists
    resumed.append(record)  # interrupted again: never closed
    index.write_bytes(index.read_bytes()[:200])  # an index cut short
    with pytest.raises(FileFormatError):
        Dataset(index)
    with DatasetWriter(path, basis, resume=True) as resumed:
        assert len(resumed) == 4  # rebuilt from the four record files
    with Dataset(path) as data:
        assert len(data) == 4 and data.settings == {"cutoff": 3.0}
    path.rename(index)  # a whole dataset written as the partial file (no record files)
    with DatasetWriter(path, basis, resume=True) as resumed:
        assert len(resumed) == 4
    with Dataset(path) as data:
        assert [r.energy for r in data] == [1.0] * 4


def test_a_missing_record_file_ends_the_records_and_resume_recomputes_from_there(tmp_path):
    path, basis, record = three_records_unclosed(tmp_path)
    (tmp_path / "d.h5.records" / "000001.h5").unlink()
    for _ in range(2):  # resuming twice gives the same state
        resumed = DatasetWriter(path, basis, resume=True)
        assert len(resumed) == 1
        with Dataset(tmp_path / "d.h5.partial") as partial:
            assert len(partial) == 1
    resumed.append(record)
    resumed.append(record)
    resumed.close()
    with Dataset(path) as data:
        assert len(data) == 3


def test_read_only_output_folder_is_a_clear_error(tmp_path, mol):
    folder = tmp_path / "readonly"
    folder.mkdir()
    argv = [sys.executable, "-m", "hamtrans.cli", "reference", str(mol), "-o", str(folder / "x.h5")]
    if os.geteuid() == 0:  # root writes through permission bits: mount the folder read-only instead
        if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
            pytest.skip("running as root without mount namespaces: cannot make a folder read-only")
        argv = ["unshare", "-m", "sh", "-c", f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"', "sh", *argv]
    else:
        folder.chmod(0o555)
    try:
        result = subprocess.run(argv, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                                text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"-o {folder / 'x.h5'}: cannot write in folder {folder}" in result.stderr
    assert "choose a writable folder" in result.stderr
    assert list(folder.iterdir()) == []


def test_unwritable_folder_during_a_run_keeps_the_records(tmp_path, monkeypatch):
    basis = OrbitalBasis.named("gfn1-xtb")
    record = Record(molecule(), source="test", name="m", energy=1.0)
    writer = DatasetWriter(tmp_path / "d.h5", basis)
    writer.append(record)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("hamtrans.data.formats.dataset.atomic_write", refuse)
    with pytest.raises(OutputError, match=r"cannot write dataset .*d.h5 \(\[Errno 13\] Permission denied\): choose a "
                                          "writable folder"):
        writer.append(record)
    with pytest.raises(OutputError):
        writer.close()
    assert not (tmp_path / "d.h5").exists()
    monkeypatch.undo()
    with DatasetWriter(tmp_path / "d.h5", basis, resume=True) as resumed:
        assert len(resumed) == 1


def test_predict_writes_a_sub_basis_and_refuses_one_that_is_not(tmp_path, mol, capsys):
    from hamtrans.data.formats import Dataset

    full, compact = tmp_path / "full.h5", tmp_path / "compact.h5"
    assert main(["predict", "vcm-gfn1", str(mol), "-o", str(full)]) == 0
    assert main(["predict", "vcm-gfn1", str(mol), "-o", str(compact), "--basis", "gfn1-xtb-compact"]) == 0
    with Dataset(full) as a, Dataset(compact) as b:
        whole, part = a[0].hamiltonian, b[0].hamiltonian
        assert b.basis.name == "gfn1-xtb-compact" and part.n_orbitals < whole.n_orbitals
        np.testing.assert_allclose(whole.restricted(b.basis).onsite, part.onsite)
    capsys.readouterr()
    fails(["predict", "vcm-gfn1", mol, "-o", tmp_path / "x.h5", "--basis", "szv-molopt-sr-gth"], capsys, "szv")
