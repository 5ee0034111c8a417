"""CP2K reference driver (`hamtrans reference --code cp2k`): input, output parsing, retries, resume,
the per-image import in the structure's own frame, and one real CP2K run.

Fixtures (real CP2K 2023.1 output, tests/fixtures/cp2k/README.md): `dimer_scf/` (TiN dimer in a box,
Γ, converged and MAX_SCF 5 runs) and `chain_images/` (periodic Ti-N chain with one O, k-points,
REAL_SPACE, the three images a 3 Å graph needs). Without cp2k.psmp the driver runs on these files
through a fake runner; only `test_end_to_end_real_cp2k` needs the binary.
"""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from ase import Atoms
from ase.io import read, write
from ase.units import Bohr, Hartree

from hamtrans.cli import main
from hamtrans.config import ConfigError
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import Dataset
from hamtrans.data.formats.cp2k import matrices_to_record, origin_shift, wrap_like_cp2k, wrap_shifts
from hamtrans.data.reference import Cp2kReference, Cp2kSettings, load_settings
from hamtrans.data.reference.cp2k_input import write_input
from hamtrans.data.reference.cp2k_output import read_output
from hamtrans.errors import AmbiguousImageError, Cp2kError, FileFormatError, LeadError, StructureError

FIX = Path(__file__).parent / "fixtures" / "cp2k"
DIMER, CHAIN = FIX / "dimer_scf", FIX / "chain_images"
SZV = OrbitalBasis.named("szv-molopt-sr-gth")
#: Settings of the fixture runs (low cutoff: seconds, not accuracy).
DIMER_SETTINGS = {"cutoff": 150, "rel_cutoff": 30, "eps_scf": 1e-6}
CHAIN_SETTINGS = {**DIMER_SETTINGS, "kpoints": [2, 1, 1], "forces": False}
HAVE_CP2K = shutil.which("cp2k.psmp") is not None


def dimer() -> Atoms:
    return read(DIMER / "dimer.extxyz")


class FakeCp2k:
    """Stands in for `Cp2kReference.run_cp2k`: copies a fixture run into the attempt directory."""

    def __init__(self, runs):
        self.runs = list(runs)  # per call: (folder, out-file name) of the fixture
        self.calls = []

    def __call__(self, directory):
        self.calls.append(directory)
        folder, out = self.runs[min(len(self.calls), len(self.runs)) - 1]
        shutil.copy(folder / out, directory / "ref.out")
        if out == "ref.out":
            for path in folder.glob("ref-*.csr*"):
                target = directory / path.name.removesuffix(".gz")
                target.write_bytes(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())


@pytest.fixture
def fake(monkeypatch):
    def install(*runs):
        runner = FakeCp2k(runs)
        monkeypatch.setattr(Cp2kReference, "run_cp2k", runner)
        monkeypatch.setattr("hamtrans.data.reference.cp2k_backend.find_executable", lambda name: "/usr/bin/cp2k.psmp")
        return runner

    return install


# -- input ---------------------------------------------------------------------------------
def test_default_input_has_the_converging_settings():
    wire = Atoms("TiNHfO2", positions=[[0, 0, 0], [2.1, 0, 0], [4.5, 0, 0], [6.0, 1.0, 0], [6.0, -1.0, 0]],
                 cell=[9.0, 8.0, 8.0], pbc=True)
    text = write_input(wire, "ref", Cp2kSettings(), n_orbitals=32)
    for keyword in ("RUN_TYPE ENERGY_FORCE", "&XC_FUNCTIONAL PBE", "BASIS_SET SZV-MOLOPT-SR-GTH", "CUTOFF 280",
                    "REL_CUTOFF 40", "EPS_DEFAULT 1.000E-10", "EPS_SCF 1.000E-05", "METHOD BROYDEN_MIXING",
                    "ALPHA 0.05", "BETA 1\n", "NBROYDEN 12", "METHOD FERMI_DIRAC", "ELECTRONIC_TEMPERATURE [K] 1000",
                    "ALGORITHM STANDARD", "ADDED_MOS 10", "PERIODIC XYZ", "&FORCES ON"):
        assert keyword in text, keyword
    for symbol, q in (("Ti", 12), ("Hf", 12), ("O", 6), ("N", 5)):
        assert f"&KIND {symbol}\n      BASIS_SET SZV-MOLOPT-SR-GTH\n      POTENTIAL GTH-PBE-q{q}" in text
    for key in ("KS_CSR_WRITE", "S_CSR_WRITE"):
        assert f"&{key}\n        BINARY T\n      &END {key}" in text  # Γ: no REAL_SPACE
    assert "POISSON" not in text and "KPOINTS" not in text
    assert "Hf 4.5000000000 0.0000000000 0.0000000000" in text


def test_molecule_and_kpoint_inputs():
    text = write_input(dimer(), "x", load_settings({"forces": False}), n_orbitals=14)
    assert "PERIODIC NONE\n      POISSON_SOLVER MT" in text and "&CELL" in text and "PERIODIC NONE\n    &END CELL" in text
    assert "RUN_TYPE ENERGY\n" in text and "&FORCES" not in text
    assert "ADDED_MOS 5" in text  # capped at the empty orbitals: 14 - ceil(17 / 2)
    chain = read(CHAIN / "chain.extxyz")
    text = write_input(chain, "x", load_settings(CHAIN_SETTINGS), n_orbitals=56)
    assert "SCHEME MONKHORST-PACK 2 1 1" in text and text.count("REAL_SPACE T") == 2
    with pytest.raises(StructureError, match="k-points need a periodic"):
        write_input(dimer(), "x", load_settings({"kpoints": [2, 1, 1]}), 14)
    with pytest.raises(StructureError, match="needs a cell"):
        write_input(Atoms("N2", positions=[[0, 0, 0], [1.1, 0, 0]]), "x", Cp2kSettings(), 8)


def test_yaml_overrides_and_bad_keys(tmp_path):
    path = tmp_path / "cp2k.yaml"
    path.write_text("cutoff: 350\ntemperature: 2000\nmixing_alpha: 1e-2\nkpoints: [4, 1, 1]\n"
                    "fallback_mixing: [[0.01, 0.5, 20]]\npotentials: {O: GTH-PBE-q6}\nranks: 2\n")
    settings = load_settings(path)
    assert (settings.cutoff, settings.temperature, settings.mixing_alpha, settings.kpoints) == (350.0, 2000.0, 0.01, (4, 1, 1))
    assert settings.mixings() == [(0.01, 1.0, 12), (0.01, 0.5, 20)] and settings.ranks == 2
    assert settings.rel_cutoff == 40.0 and settings.potential("Ti") == "GTH-PBE-q12"  # defaults kept
    path.write_text("cuttoff: 350\n")
    with pytest.raises(ConfigError, match="unknown key 'cuttoff'.*did you mean 'cutoff'"):
        load_settings(path)
    for bad, message in (({"kpoints": [2, 1]}, "three positive integers"), ({"max_scf": "many"}, "integer"),
                         ({"basis_set": "6-31G"}, "no shipped orbital table"), ({"temperature": -5}, "positive"),
                         ({"fallback_mixing": [[0.1, 1.0]]}, r"\[alpha, beta, nbroyden\]")):
        with pytest.raises(ConfigError, match=message):
            load_settings(bad)
    with pytest.raises(StructureError, match="no pseudopotential for Si"):
        Cp2kSettings().potential("Si")


# -- output parsing (real .out files) -----------------------------------------------------
def test_converged_output():
    out = read_output(DIMER / "ref.out", 2)
    assert out.finished and out.converged and out.scf_steps == 41 and out.residual < 1e-6
    assert out.version == "CP2K version 2023.1"
    assert out.energy == pytest.approx(-67.836840789993886 * Hartree, abs=1e-9)  # ENERGY| line, Ha -> eV
    assert out.fermi_level == pytest.approx(-0.04009114446220 * Hartree, abs=1e-9)
    np.testing.assert_allclose(out.forces[0], np.array([0.11839105, 0.00072936, 0.00438140]) * Hartree / Bohr)
    assert out.charges == pytest.approx([0.368513, -0.368513])


def test_not_converged_and_truncated_output(tmp_path):
    out = read_output(DIMER / "not_converged.out", 2)
    assert out.finished and not out.converged and out.scf_steps == 5 and out.residual > 0.1
    assert out.energy is not None and out.forces.shape == (2, 3)  # CP2K prints results of unconverged runs too
    lines = (DIMER / "ref.out").read_text().splitlines()
    cut = next(k for k, line in enumerate(lines) if "SCF run converged" in line)
    (tmp_path / "cut.out").write_text("\n".join(lines[:cut - 3]))
    cut_out = read_output(tmp_path / "cut.out", 2)
    assert not cut_out.finished and not cut_out.converged and cut_out.scf_steps == 39 and cut_out.energy is None
    with pytest.raises(FileFormatError, match="cannot read CP2K output"):
        read_output(tmp_path / "missing.out", 2)


# -- driver without CP2K -------------------------------------------------------------------
def test_missing_binary_names_apt_get(tmp_path, capsys):
    generator = Cp2kReference({"executable": "cp2k-not-installed.psmp"}, cutoff=4.0)
    with pytest.raises(Cp2kError, match="apt-get install cp2k"):
        generator.compute(dimer(), tmp_path / "w")
    (tmp_path / "s.yaml").write_text("executable: cp2k-not-installed.psmp\n")
    assert main(["reference", str(DIMER / "dimer.extxyz"), "-o", str(tmp_path / "x.h5"), "--code", "cp2k",
                 "--cp2k-settings", str(tmp_path / "s.yaml")]) == 2
    assert "apt-get install cp2k" in capsys.readouterr().err


def fake_binaries(tmp_path, monkeypatch, cp2k_body):
    """A `cp2k.psmp` shell script and an `mpirun` beside it, first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in (("cp2k.psmp", cp2k_body), ("mpirun", "exit 0")):
        (bindir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")
    return bindir


def test_command_line_and_failing_binary(tmp_path, monkeypatch):
    bindir = fake_binaries(tmp_path, monkeypatch, "echo 'ABORT: basis set not found' >&2\nexit 3")
    one = Cp2kReference(DIMER_SETTINGS).command(tmp_path)
    assert one == [str(bindir / "cp2k.psmp"), "-i", "ref.inp", "-o", "ref.out"]
    two = Cp2kReference({**DIMER_SETTINGS, "ranks": 2}).command(tmp_path)
    assert two[:3] == [str(bindir / "mpirun"), "-n", "2"] and two[3:] == one  # the MPI beside CP2K
    with pytest.raises(Cp2kError, match="MPI launcher 'no-such-mpirun' not found"):
        Cp2kReference({"ranks": 2, "mpi_launcher": "no-such-mpirun"}).command(tmp_path)
    with pytest.raises(Cp2kError, match="exited with code 3(.|\n)*basis set not found"):
        Cp2kReference(DIMER_SETTINGS, cutoff=4.0).compute(dimer(), tmp_path / "w")


def test_checks_before_running(tmp_path, fake):
    runner = fake((DIMER, "ref.out"))
    tin = Atoms("TiN", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[4.24, 4.24, 4.24], pbc=True)
    with pytest.raises(AmbiguousImageError):  # a Γ run of a small cell cannot be split into blocks
        Cp2kReference(DIMER_SETTINGS, cutoff=4.0).compute(tin, tmp_path / "w")
    with pytest.raises(StructureError, match="k-points need a periodic"):
        Cp2kReference({"kpoints": [2, 2, 2]}, cutoff=4.0).compute(dimer(), tmp_path / "w")
    assert not runner.calls


def test_import_of_a_converged_run(tmp_path, fake):
    runner = fake((DIMER, "ref.out"))
    result = Cp2kReference(DIMER_SETTINGS, cutoff=4.0).compute(dimer(), tmp_path / "w")
    assert len(runner.calls) == 1
    # the writer reproduces the fixture's input exactly
    assert (tmp_path / "w" / "attempt1" / "ref.inp").read_text() == (DIMER / "ref.inp").read_text()
    assert not list((tmp_path / "w" / "attempt1").glob("*.csr"))  # matrices deleted after import
    h, s = result.hamiltonian.to_sparse().toarray(), result.overlap.to_sparse().toarray()
    assert result.hamiltonian.hermiticity_error() < 1e-12 and np.all(scipy.linalg.eigvalsh(s) > 0)
    levels = scipy.linalg.eigh(h, s, eigvals_only=True)  # eV
    assert levels.min() < result.fermi_level < levels.max()
    assert result.fermi_level == pytest.approx(-0.04009114446220 * Hartree)
    assert result.forces.shape == (2, 3) and result.stress is None and result.charges.sum() == pytest.approx(0, abs=1e-6)
    assert result.source == "CP2K 2023.1 PBE SZV-MOLOPT-SR-GTH" and result.wall_time >= 0


def test_unconverged_scf_is_retried_then_an_error(tmp_path, fake):
    runner = fake((DIMER, "not_converged.out"), (DIMER, "ref.out"))
    result = Cp2kReference(DIMER_SETTINGS, cutoff=4.0).compute(dimer(), tmp_path / "w")
    assert [p.name for p in runner.calls] == ["attempt1", "attempt2"] and result.hamiltonian is not None
    assert "ALPHA 0.02\n        BETA 1\n        NBROYDEN 16" in (tmp_path / "w" / "attempt2" / "ref.inp").read_text()
    runner = fake((DIMER, "not_converged.out"))
    with pytest.raises(Cp2kError) as error:
        Cp2kReference(DIMER_SETTINGS, cutoff=4.0).compute(dimer(), tmp_path / "w2")
    message = str(error.value)
    assert "in 3 attempts" in message and message.count("not converged after 5 steps") == 3
    assert "alpha=0.05, beta=1, nbroyden=12" in message and "alpha=0.01, beta=0.5, nbroyden=20" in message


def test_cli_resume_per_structure(tmp_path, fake, capsys):
    first, second = tmp_path / "a.extxyz", tmp_path / "b.extxyz"
    write(first, dimer())
    write(second, dimer())
    out, settings = tmp_path / "ref.h5", tmp_path / "cp2k.yaml"
    settings.write_text("cutoff: 150\nrel_cutoff: 30\neps_scf: 1e-6\nfallback_mixing: []\n")
    args = ["reference", str(first), str(second), "-o", str(out), "--code", "cp2k", "--cp2k-settings", str(settings),
            "--cutoff", "4.0"]
    runner = fake((DIMER, "ref.out"), (DIMER, "not_converged.out"))  # the second structure does not converge
    assert main(args) == 2
    assert "did not converge" in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "ref.h5.partial").exists()
    assert (tmp_path / "ref.h5.cp2k" / "000001_b_0" / "attempt1" / "ref.out").exists()
    runner = fake((DIMER, "ref.out"))
    settings.write_text("cutoff: 150\nrel_cutoff: 30\neps_scf: 1e-6\nmax_scf: 300\nranks: 1\n")  # SCF path may change
    assert main(args + ["--resume"]) == 0  # only the structure that failed runs again
    assert [p.parent.name for p in runner.calls] == ["000001_b_0"]
    with Dataset(out) as data:
        assert len(data) == 2 and [r.name for r in data] == ["a:0", "b:0"]
        record = data[1]
        assert record.wall_time >= 0 and record.source.startswith("CP2K 2023.1") and record.forces.shape == (2, 3)
        assert data.settings["cp2k"]["cutoff"] == 150.0 and data.settings["method"] == "CP2K PBE SZV-MOLOPT-SR-GTH"
        assert data.settings["cp2k_scf"]["max_scf"] == 150 and "ranks" not in data.settings["cp2k"]


def test_cli_resume_refuses_other_inputs(tmp_path, fake, capsys):
    first, other = tmp_path / "a.extxyz", tmp_path / "c.extxyz"
    write(first, dimer())
    moved = dimer()
    moved.positions[1, 0] += 0.1
    write(other, moved)
    out = tmp_path / "ref.h5"
    base = ["-o", str(out), "--code", "cp2k", "--cutoff", "4.0"]
    fake((DIMER, "ref.out"), (DIMER, "not_converged.out"))
    assert main(["reference", str(first), str(first), *base]) == 2
    capsys.readouterr()
    assert main(["reference", str(other), str(first), *base, "--resume"]) == 2
    assert "resume with the same structure files" in capsys.readouterr().err
    write(first, moved)  # same name, other atoms
    assert main(["reference", str(first), str(first), *base, "--resume"]) == 2
    assert "with other atoms" in capsys.readouterr().err
    write(first, dimer())
    assert main(["reference", str(first), str(first), *base, "--resume", "--cutoff", "3.5"]) == 2
    assert "other settings (cutoff differ)" in capsys.readouterr().err
    assert main(["reference", str(first), *base, "--temperature", "500"]) == 2
    assert "--temperature set tblite options" in capsys.readouterr().err


# -- per-image import in the builder's frame (issue 17 bug) --------------------------------
def chain_record(tmp_path, fake):
    fake((CHAIN, "ref.out"))
    chain = read(CHAIN / "chain.extxyz")
    generator = Cp2kReference(CHAIN_SETTINGS, cutoff=3.0)
    return chain, generator, generator.compute(chain, tmp_path / "chain")


def periodic_device(record):
    """NEGF device with leads continuing the cell (`periodic_electrodes`), as `hamtrans transport` builds it."""
    from hamtrans.negf import Device, periodic_electrodes

    h, s, atoms = record.hamiltonian, record.overlap, record.atoms
    left, right = periodic_electrodes(h, s, atoms, axis=0, lead_cell=4.24)
    atom_of = np.repeat(np.arange(len(atoms)), SZV.orbital_counts(atoms.numbers))
    return Device.from_matrices(h.to_sparse(axis=0, shift=0), s.to_sparse(axis=0, shift=0), atoms.positions[atom_of],
                                0, lead_cell=4.24, orbital_atoms=atom_of, electrodes=(left, right),
                                electrode_tolerance=1.0)  # 8 atoms: the end cells sit next to the O


@pytest.mark.filterwarnings("ignore::hamtrans.negf.leads.LeadWarning")  # a bare chain: flat, uncoupled d bands
def test_per_image_import_keeps_the_builder_frame(tmp_path, fake):
    """Ti N Ti N Ti O Ti N along x, built from x = 0 (electrode cells at both ends). CP2K ran it translated
    off its wrap boundary; the record keeps the builder's positions and periodic leads work."""
    from hamtrans.negf.transport import transmission

    chain, generator, result = chain_record(tmp_path, fake)
    written = (tmp_path / "chain" / "attempt1" / "ref.inp").read_text()
    assert written == (CHAIN / "ref.inp").read_text()  # same origin shift (1.06 Å) as the fixture run
    np.testing.assert_array_equal(result.atoms.positions, chain.positions)
    h, s = result.hamiltonian, result.overlap
    assert h.hermiticity_error() < 1e-12 and s.hermiticity_error() < 1e-12
    device = periodic_device(result)
    assert max(device.electrode_mismatch) < 0.3  # eV
    t = transmission(device, np.array([-2.5, -0.5, 0.3, 1.2, 2.5]) + result.fermi_level)
    assert np.all(np.isfinite(t)) and np.all(t >= -1e-8) and t.max() > 0.5 and t.max() < 2.01  # 2 channels


def test_per_image_import_equals_the_cp2k_frame(tmp_path, fake):
    """Blocks imported in the builder's frame equal those imported in CP2K's own (shifted) frame."""
    chain, generator, result = chain_record(tmp_path, fake)
    shifted = chain.copy()
    shifted.positions += origin_shift(chain)
    files = tmp_path / "chain" / "attempt1"
    shutil.copytree(CHAIN, files, dirs_exist_ok=True)
    from hamtrans.data.formats import read_cp2k

    write(files / "shifted.extxyz", shifted)
    reference = read_cp2k(files / "shifted.extxyz", sorted(files.glob("ref-KS_*.csr.gz")),
                          sorted(files.glob("ref-S_*.csr.gz")), SZV, 3.0, out_file=files / "ref.out")
    for name in ("hamiltonian", "overlap"):
        ours, theirs = getattr(result, name), getattr(reference, name)
        np.testing.assert_array_equal(ours.onsite, theirs.onsite)
        np.testing.assert_allclose(ours.to_sparse().toarray(), theirs.to_sparse().toarray(), atol=1e-14)  # Γ
        assert sorted(np.round(ours.graph.distances, 6)) == sorted(np.round(theirs.graph.distances, 6))
    # the frames differ: the builder's cell starts with the electrode, CP2K's wrapped one does not
    assert np.abs(result.atoms.positions - wrap_like_cp2k(shifted).positions).max() > 1.0


def test_wrapped_import_breaks_periodic_leads(tmp_path):
    """Negative control: the old import, in CP2K's wrapped frame, starts the cell with Ti O: no lead fits."""
    from hamtrans.data.formats.cp2k import image_files, read_image_table
    from hamtrans.data.formats.csr import read_triplet_matrix

    chain = read(CHAIN / "chain.extxyz")
    files = tmp_path / "chain"
    shutil.copytree(CHAIN, files, dirs_exist_ok=True)
    shifted = chain.copy()
    shifted.positions += origin_shift(chain)
    old = wrap_like_cp2k(shifted)  # the frame the old importer produced for CP2K's structure
    table = read_image_table(files / "ref.out")
    h = {k: read_triplet_matrix(p, 56, symmetric=False) for k, p in image_files(sorted(files.glob("ref-KS_*.gz")), table).items()}
    s = {k: read_triplet_matrix(p, 56, symmetric=False) for k, p in image_files(sorted(files.glob("ref-S_*.gz")), table).items()}
    record = matrices_to_record(old, h, s, SZV, 3.0, 12.0, gamma=False)
    first = record.atoms.positions[:, 0].argsort()[:2]
    assert record.atoms.get_chemical_symbols()[first[0]] == "Ti" and record.atoms.get_chemical_symbols()[first[1]] == "O"
    with pytest.raises(LeadError, match="end block differs from the electrode cell"):
        periodic_device(record)


def test_wrap_boundary_is_refused_and_avoided():
    chain = read(CHAIN / "chain.extxyz")  # atom 4 at fractional x = 0.5 exactly
    with pytest.raises(FileFormatError, match="atom 4 .* wrap boundary"):
        wrap_shifts(chain)
    moved = chain.copy()
    moved.positions += origin_shift(chain)
    assert np.all(np.abs(np.abs(wrap_like_cp2k(moved).get_scaled_positions(wrap=False)[:, 0]) - 0.5) > 0.05)
    assert np.all(origin_shift(moved) == 0)


# -- one real CP2K run ----------------------------------------------------------------------
@pytest.mark.skipif(not HAVE_CP2K, reason="cp2k.psmp not on PATH (apt-get install cp2k); the fixture tests above "
                                          "cover the driver on real CP2K 2023.1 output")
def test_end_to_end_real_cp2k(tmp_path, monkeypatch):
    """`hamtrans reference --code cp2k` on a TiN dimer at 150 Ry (one rank, ~5 s)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    settings = tmp_path / "cp2k.yaml"
    settings.write_text("cutoff: 150\nrel_cutoff: 30\neps_scf: 1.0e-6\n")
    out = tmp_path / "dimer.h5"
    assert main(["reference", str(DIMER / "dimer.extxyz"), "-o", str(out), "--code", "cp2k",
                 "--cp2k-settings", str(settings), "--cutoff", "4.0"]) == 0
    with Dataset(out) as data:
        record = data[0]
    fixture = read_output(DIMER / "ref.out", 2)
    assert record.energy == pytest.approx(fixture.energy, abs=1e-4)
    assert record.fermi_level == pytest.approx(fixture.fermi_level, abs=1e-4)
    np.testing.assert_allclose(record.forces, fixture.forces, atol=1e-4)
    assert record.hamiltonian.hermiticity_error() < 1e-12 and record.wall_time > 0
    assert record.source.startswith("CP2K 2023.1")


def test_wire_import_folds_open_axes(tmp_path, fake):
    """pbc along x only: CP2K's images are summed over the open axes (transverse Γ); here none couple."""
    chain, generator, full = chain_record(tmp_path, fake)
    wire = chain.copy()
    wire.pbc = (True, False, False)
    fake((CHAIN, "ref.out"))
    folded = generator.compute(wire, tmp_path / "wire")
    assert folded.atoms.pbc.tolist() == [True, False, False]
    np.testing.assert_array_equal(folded.hamiltonian.onsite, full.hamiltonian.onsite)
    np.testing.assert_allclose(folded.hamiltonian.to_sparse(axis=0, shift=1).toarray(),
                               full.hamiltonian.to_sparse(axis=0, shift=1).toarray())
