"""DFT reference data from CP2K (PBE, GTH pseudopotentials, MOLOPT basis): H, S, energy, forces.

One structure = one work directory holding one sub-directory per SCF attempt
(``attempt1/``, ``attempt2/``, ...), each with the ``.inp``, the ``.out`` and, until
imported, the ``BINARY`` KS/S ``.csr`` files. An attempt whose SCF did not
converge (read from the ``.out``: CP2K writes matrices either way) is retried with
the next, gentler mixing of :meth:`Cp2kSettings.mixings`; when all fail the
structure is a :class:`~hamtrans.errors.Cp2kError` listing every attempt, never a
record. Converged matrices are imported with
:func:`~hamtrans.data.formats.cp2k.matrices_to_record` (Hartree -> eV, CP2K
orbital order -> internal), keeping the structure's own frame.

Periodicity: a fully periodic structure is imported fully periodic (Γ runs need an
unambiguous cell, :func:`~hamtrans.data.reference.images.check_unique_images`); a
partly periodic one (a wire, ``pbc=(True, False, False)``) runs fully periodic in
its vacuum and is imported along its periodic axes only, the images along the open
axes folded in (transverse Γ); a non-periodic one runs with the MT Poisson solver.

A killed run loses only the structure in flight: on Linux CP2K is started with
``PR_SET_PDEATHSIG`` so it dies with the hamtrans process (``kill -9`` included)
instead of running on unattended, and an attempt directory is emptied before it is
used, so a resumed run never reads files of the killed one.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats.cp2k import (
    cp2k_image_shifts,
    image_files,
    matrices_to_record,
    origin_shift,
    read_image_table,
)
from hamtrans.data.formats.csr import read_triplet_matrix
from hamtrans.data.graphs import Cutoff, build_graph, check_cutoff, check_structure, cutoff_to_json
from hamtrans.data.reference.cp2k_input import Cp2kSettings, load_settings, write_input
from hamtrans.data.reference.cp2k_output import Cp2kOutput, read_output
from hamtrans.data.reference.images import check_unique_images
from hamtrans.data.reference.tblite_backend import (
    DEFAULT_CUTOFF,
    DEFAULT_IMAGE_RANGE,
    ReferenceResult,
    check_image_range,
)
from hamtrans.errors import Cp2kError, StructureError

#: Project name of every run (prefix of CP2K's output files).
PROJECT = "ref"
#: ``prctl`` option: the signal a process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
_INSTALL_HINT = "install CP2K 2023.1 with `apt-get install cp2k` (binary cp2k.psmp), or set 'executable' in the CP2K settings"


def find_executable(name: str) -> str:
    """Absolute path of the CP2K binary.

    Raises
    ------
    Cp2kError
        Not found on ``PATH``; the message names ``apt-get install cp2k``.
    """
    path = shutil.which(name)
    if path is None:
        raise Cp2kError(f"CP2K binary '{name}' not found on PATH: {_INSTALL_HINT}")
    return path


def find_launcher(executable: str, launcher: str | None) -> str:
    """MPI launcher for a multi-rank run: ``launcher``, else the ``mpirun`` next to the CP2K binary or on PATH.

    The launcher must belong to the MPI that CP2K was built with (Debian's
    ``cp2k.psmp`` is built with Open MPI, ``/usr/bin/mpirun``); another MPI's launcher
    starts independent one-rank copies.
    """
    if launcher is not None:
        found = shutil.which(launcher)
        if found is None:
            raise Cp2kError(f"MPI launcher '{launcher}' not found")
        return found
    beside = Path(os.path.realpath(executable)).parent / "mpirun"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    if found is None:
        raise Cp2kError("ranks > 1 needs an MPI launcher (mpirun) matching CP2K's MPI; none found: set 'mpi_launcher'")
    return found


class Cp2kReference:
    """CP2K reference generator.

    Parameters
    ----------
    settings
        :class:`~hamtrans.data.reference.cp2k_input.Cp2kSettings`, a YAML file of
        overrides or a mapping of them; ``None`` = the documented defaults.
    cutoff
        Graph cutoff of the H/S blocks (Å, single or per element pair).
    image_range
        Distance (Å) beyond which blocks are negligible when splitting Γ matrices.
    """

    orbital_source = "cp2k"

    def __init__(
        self,
        settings: Cp2kSettings | str | os.PathLike | dict | None = None,
        cutoff: Cutoff = DEFAULT_CUTOFF,
        image_range: float = DEFAULT_IMAGE_RANGE,
    ) -> None:
        self.settings = settings if isinstance(settings, Cp2kSettings) else load_settings(settings)
        self.cutoff = check_cutoff(cutoff)
        self.image_range = check_image_range(image_range)
        self.basis = OrbitalBasis.named(self.settings.orbital_basis_name)

    @property
    def method(self) -> str:
        return f"{self.settings.xc} {self.settings.basis_set}"

    #: Keys of :meth:`describe` that a resumed data set may change (the SCF path only).
    resumable_settings = ("cp2k_scf",)

    def describe(self) -> dict:
        """Settings stored with datasets: ``cp2k`` defines the result, ``cp2k_scf`` only the SCF path."""
        result, path = self.settings.describe()
        return {
            "method": f"CP2K {self.method}",
            "cutoff": cutoff_to_json(self.cutoff),
            "image_range": self.image_range,
            "cp2k": result,
            "cp2k_scf": path,
        }

    # -- checks ------------------------------------------------------------------------
    def check(self, atoms: Atoms, blocks: bool = True) -> None:
        """Raise before running CP2K if the structure cannot give a record.

        Raises
        ------
        StructureError, UnknownElementError, AmbiguousImageError
            Overlapping atoms or no cell; an element without basis or
            pseudopotential; a Γ run whose cell is too small to split into blocks.
        """
        check_structure(atoms)
        if abs(np.linalg.det(np.asarray(atoms.cell))) < 1e-6:
            raise StructureError("a CP2K run needs a cell: give molecules a box with vacuum (atoms.center(vacuum=...))")
        for symbol in set(atoms.get_chemical_symbols()):
            self.basis.shells_of(int(Atoms(symbol).numbers[0]))
            self.settings.potential(symbol)
        if self.settings.kpoints is not None and not np.any(atoms.pbc):
            raise StructureError("k-points need a periodic structure; set kpoints: null for molecules")
        if blocks and self.settings.kpoints is None:
            check_unique_images(atoms, self.cutoff, self.image_range)

    # -- running -----------------------------------------------------------------------
    def command(self, directory: Path) -> list[str]:
        """The command line of one run in ``directory`` (``ref.inp`` -> ``ref.out``)."""
        exe = find_executable(self.settings.executable)
        args = [exe, "-i", f"{PROJECT}.inp", "-o", f"{PROJECT}.out"]
        if self.settings.ranks > 1:
            args = [find_launcher(exe, self.settings.mpi_launcher), "-n", str(self.settings.ranks), *args]
        return args

    def run_cp2k(self, directory: Path) -> None:
        """Run CP2K on ``directory/ref.inp``; stdout/stderr go to ``cp2k.log``.

        Raises
        ------
        Cp2kError
            Missing binary, or CP2K exited with an error (the log's tail is quoted).
        """
        env = dict(os.environ, OMP_NUM_THREADS=str(self.settings.omp_threads),
                   OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        command = self.command(directory)
        log = directory / "cp2k.log"
        with open(log, "w") as handle:
            code = subprocess.run(command, cwd=directory, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                  preexec_fn=_die_with_parent(os.getpid())).returncode
        if code != 0:
            tail = [line for line in (log.read_text(errors="replace") + _tail(directory / f"{PROJECT}.out")).splitlines()
                    if line.strip()][-12:]
            raise Cp2kError(f"CP2K exited with code {code} in {directory} ({' '.join(command)}):\n" + "\n".join(tail))

    def cp2k_structure(self, atoms: Atoms) -> Atoms:
        """The structure CP2K is given: per-image runs are translated off the wrap boundary (:func:`origin_shift`)."""
        run = atoms.copy()
        if self.settings.kpoints is not None:
            run.positions += origin_shift(atoms)
        return run

    def _attempt(self, atoms: Atoms, directory: Path, mixing: tuple[float, float, int]) -> Cp2kOutput:
        if directory.exists():
            shutil.rmtree(directory)  # CP2K appends to an old .out: never reuse one
        directory.mkdir(parents=True)
        n_orbitals = int(self.basis.orbital_offsets(atoms.numbers)[-1])
        (directory / f"{PROJECT}.inp").write_text(write_input(atoms, PROJECT, self.settings, n_orbitals, mixing))
        self.run_cp2k(directory)
        return read_output(directory / f"{PROJECT}.out", len(atoms))

    def compute(self, atoms: Atoms, workdir: str | os.PathLike, blocks: bool = True) -> ReferenceResult:
        """Run CP2K on one structure, retrying unconverged SCFs with gentler mixing.

        Parameters
        ----------
        atoms
            Structure with a cell (Å); ``pbc`` decides the import (module docstring).
        workdir
            This structure's work directory (created; attempts are sub-directories).
        blocks
            Also import H and S blocks (else energy, forces and Fermi level only).

        Returns
        -------
        ReferenceResult
            eV / Å units; ``wall_time`` in s over all attempts; ``stress`` is ``None``,
            and so are ``forces`` with ``forces: false``.

        Raises
        ------
        Cp2kError
            CP2K missing or failing, or no attempt converged (all listed).
        """
        self.check(atoms, blocks)
        find_executable(self.settings.executable)
        workdir = Path(workdir)
        run_atoms = self.cp2k_structure(atoms)
        start = time.perf_counter()
        tried = []
        for k, mixing in enumerate(self.settings.mixings(), start=1):
            directory = workdir / f"attempt{k}"
            out = self._attempt(run_atoms, directory, mixing)
            if out.converged and out.finished:
                break
            self._clean(directory)
            state = "did not finish" if not out.finished else f"not converged after {out.scf_steps} steps"
            residual = "" if out.residual is None else f", residual {out.residual:.2e}"
            tried.append(f"alpha={mixing[0]:g}, beta={mixing[1]:g}, nbroyden={mixing[2]}: {state}{residual} ({directory})")
        else:
            raise Cp2kError(
                f"CP2K SCF did not converge for {atoms.get_chemical_formula()} ({len(atoms)} atoms) in "
                f"{len(tried)} attempts (EPS_SCF {self.settings.eps_scf:g}, MAX_SCF {self.settings.max_scf}): "
                + "; ".join(tried) + ". Raise max_scf or temperature, or add gentler fallback_mixing in the CP2K settings."
            )
        if out.energy is None or (self.settings.forces and out.forces is None):
            raise Cp2kError(f"{directory / (PROJECT + '.out')}: CP2K printed no energy or forces")
        hamiltonian = overlap = None
        if blocks:
            record = self._import(atoms, run_atoms.positions, directory)
            hamiltonian, overlap = record.hamiltonian, record.overlap
        self._clean(directory)
        return ReferenceResult(
            atoms=atoms.copy(),
            hamiltonian=hamiltonian,
            overlap=overlap,
            energy=out.energy,
            forces=out.forces,
            stress=None,
            fermi_level=out.fermi_level,
            charges=out.charges,
            source=f"{out.version.replace('CP2K version', 'CP2K').strip()} {self.method}",
            wall_time=time.perf_counter() - start,
        )

    def _clean(self, directory: Path) -> None:
        """Delete matrices and wavefunction restarts (large) unless ``keep_matrices``; ``.inp``/``.out`` stay."""
        if not self.settings.keep_matrices:
            for pattern in ("*.csr", "*.wfn*", "*RESTART.kp*"):
                for path in directory.glob(pattern):
                    path.unlink()

    # -- import ------------------------------------------------------------------------
    def _import(self, atoms: Atoms, cp2k_positions: np.ndarray, directory: Path):
        n = int(self.basis.orbital_offsets(atoms.numbers)[-1])
        if self.settings.kpoints is None:
            files = [directory / f"{PROJECT}-{key}_SPIN_1-1_0.csr" for key in ("KS", "S")]
            h, s = ({(0, 0, 0): read_triplet_matrix(path, n)} for path in files)
            return matrices_to_record(atoms, h, s, self.basis, self.cutoff, self.image_range, gamma=True,
                                      source=self.orbital_source, sources=tuple({(0, 0, 0): str(p)} for p in files))
        table = read_image_table(directory / f"{PROJECT}.out")
        pbc = np.asarray(atoms.pbc, dtype=bool)
        wanted = None
        if pbc.all():  # read only the images that graph edges use
            graph = build_graph(atoms, self.cutoff)
            images = cp2k_image_shifts(atoms, graph.edge_index, graph.shifts, cp2k_positions)
            wanted = {tuple(int(v) for v in r) for r in images}
            wanted.add((0, 0, 0))
        matrices, sources = {}, {}
        for key in ("KS", "S"):
            files = image_files(sorted(directory.glob(f"{PROJECT}-{key}_SPIN_1_R_*.csr")), table)
            images, names = {}, {}
            for shift, path in files.items():
                folded = tuple(int(v) if p else 0 for v, p in zip(shift, pbc))  # open axes: transverse Γ
                if wanted is not None and folded not in wanted:
                    continue
                m = read_triplet_matrix(path, n, symmetric=False)
                images[folded] = images[folded] + m if folded in images else m
                names[folded] = f"{names[folded]} + {path.name}" if folded in names else str(path)
            matrices[key], sources[key] = images, names
        return matrices_to_record(atoms, matrices["KS"], matrices["S"], self.basis, self.cutoff, self.image_range,
                                  gamma=False, source=self.orbital_source, cp2k_positions=cp2k_positions,
                                  sources=(sources["KS"], sources["S"]))


def _die_with_parent(parent: int):
    """``preexec_fn`` that makes the child get SIGKILL when process ``parent`` dies (Linux; ``None`` elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def safe_name(name: str) -> str:
    """A file-name-safe version of a structure name (``'dev:0'`` -> ``'dev_0'``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "structure"
