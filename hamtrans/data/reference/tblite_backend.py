"""GFN1-xTB reference data from tblite: H, S, energy, forces, stress, Mulliken charges.

tblite returns Γ-point matrices of the whole cell in Hartree (Bohr in). The
self-consistent Kohn–Sham-like matrix is rebuilt as ``F = S C diag(ε) Cᵀ S``
(tblite's own "hamiltonian-matrix" is only the core ``H0``). Matrices are
converted to internal orbital order (:mod:`hamtrans.data.orbital_order`), split
into real-space blocks on the neighbour graph (after
:func:`~hamtrans.data.reference.images.check_unique_images`), and returned in eV.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from ase import Atoms
from ase.units import Bohr, Hartree, kB

from hamtrans.config import is_finite_number
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.electrons import fermi_level
from hamtrans.data.graphs import Cutoff, build_graph, check_cutoff, check_structure, cutoff_to_json
from hamtrans.data.orbital_order import convert_matrix
from hamtrans.data.reference._blas import bind_fast_blas
from hamtrans.data.reference.images import check_unique_images
from hamtrans.errors import HamtransError, StructureError

#: Default graph cutoff (Å) for reference blocks.
DEFAULT_CUTOFF = 5.0
#: Distance (Å) beyond which GFN1-xTB blocks are treated as zero when splitting Γ matrices:
#: with Hf present, other images stay above 1e-4 in S and ~1 meV in F out to ~12 Å (measured).
DEFAULT_IMAGE_RANGE = 12.0


def check_image_range(image_range: float) -> float:
    """``image_range`` as a float; raise :class:`HamtransError` unless it is a positive finite length (Å)."""
    if not is_finite_number(image_range) or not image_range > 0:
        raise HamtransError(f"image_range must be a positive length in Å (the distance beyond which blocks vanish, "
                            f"{DEFAULT_IMAGE_RANGE:g} Å for GFN1-xTB with Hf), not {image_range!r}")
    return float(image_range)


@dataclass
class ReferenceResult:
    """One structure's reference data, eV / Å units.

    Attributes
    ----------
    atoms
        The structure (a copy).
    hamiltonian, overlap
        Real-space blocks in internal orbital order (eV; S dimensionless), or
        ``None`` when blocks were not requested.
    energy
        Total energy, eV.
    forces
        ``(n_atoms, 3)``, eV/Å.
    stress
        Voigt ``(xx, yy, zz, yz, xz, xy)``, eV/Å³ (ASE sign), ``None`` if not periodic.
    fermi_level
        Chemical potential of the occupations, eV.
    charges
        ``(n_atoms,)`` Mulliken partial charges of the self-consistent solution, e
        (positive = fewer electrons than the neutral atom; whole GFN1 basis).
    source
        Code, version and method, e.g. ``'tblite 0.8.0 GFN1-xTB'``.
    wall_time
        Wall-clock seconds of the calculation (all SCF attempts), or ``None``.
    """

    atoms: Atoms
    hamiltonian: BlockSparseMatrix | None
    overlap: BlockSparseMatrix | None
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    fermi_level: float
    charges: np.ndarray | None
    source: str
    wall_time: float | None = None


class TBLiteReference:
    """GFN1-xTB reference generator (tblite).

    Parameters
    ----------
    cutoff
        Graph cutoff for H/S blocks (Å, single or per element pair).
    image_range
        Distance (Å) beyond which blocks are treated as zero when splitting Γ
        matrices of periodic cells; see :mod:`hamtrans.data.reference.images`.
    electronic_temperature
        Fermi smearing, K.
    max_iterations
        SCF iteration limit.
    mixer_damping, mixer_memory
        Broyden damping and history length of the first SCF attempt (``None``: tblite's
        0.4 and ``max_iterations``); without either, the attempts are :data:`SCF_MIXING`
        in order. An attempt that does not converge is retried with the next mixing of
        :data:`SCF_MIXING`. Mixings usually reach the same solution (to 3e-8 Eh), not
        always: see :data:`SCF_MIXING`.
    accuracy
        tblite accuracy parameter (lower is tighter).
    basis
        ``"gfn1-xtb"`` (tblite's whole basis) or the transport sub-basis
        ``"gfn1-xtb-compact"``: H and S restricted to its orbitals, and the Fermi
        level recomputed for the restricted Γ matrices with the same electron count.
    """

    method = "GFN1-xTB"
    orbital_source = "tblite"
    #: (damping, memory) of the SCF attempts, in order (memory ``None``: tblite's default,
    #: ``max_iterations``). SCF cycles measured at 300 K, 300 cycles at most, on five
    #: TiN | HfO2 | TiN wires (``build_vcm_device``, 8.48 Å cross-section, 4.24 Å
    #: electrodes, 5 Å oxide, no Ti, 6 Å vacuum; 85–90 atoms) and on the 6-atom HfO2TiNH
    #: cluster of the tests, as given and with one atom moved by ±2 mÅ (7 geometries)::
    #:
    #:     structure                0.2 / 30   0.1 / 20                0.4 / 300 (tblite default)
    #:     wire, random, 0                79         58                        133
    #:     wire, random, 1               104         58                        138
    #:     wire, random, 2                91        108                        134
    #:     wire, filament, 0              86         68                        not converged
    #:     wire, filament, 1              89         62                        129, a state 0.44 eV higher
    #:     cluster (7 geometries)      27–28     99–215, one not converged,    29–30
    #:                                           one at −53.55 Eh, not −15.35
    #:
    #: 0.2 / 30 converged on every structure, to the state the other mixings agreed on
    #: (to 3e-8 Eh); 0.1 / 20 is faster on wires but reached a wrong state on the cluster.
    #: 0.2 / 20 (81–132 cycles) and 0.1 / 10 (82–107), run on the random wires, were never
    #: fastest.
    SCF_MIXING = ((0.2, 30), (0.1, 20), (0.4, None))

    def __init__(
        self,
        cutoff: Cutoff = DEFAULT_CUTOFF,
        image_range: float = DEFAULT_IMAGE_RANGE,
        electronic_temperature: float = 300.0,
        max_iterations: int = 300,
        mixer_damping: float | None = None,
        mixer_memory: int | None = None,
        accuracy: float = 1.0,
        basis: str = "gfn1-xtb",
    ) -> None:
        self.cutoff = check_cutoff(cutoff)
        self.image_range = check_image_range(image_range)
        if not is_finite_number(electronic_temperature) or not electronic_temperature > 0:
            raise HamtransError(f"electronic_temperature must be a positive temperature in K (Fermi smearing), not "
                                f"{electronic_temperature!r}: give e.g. 300, or 3000 for metals and interfaces")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) or max_iterations < 1:
            raise HamtransError(f"max_iterations must be a positive integer (SCF steps), not {max_iterations!r}")
        if mixer_damping is not None and not (is_finite_number(mixer_damping) and 0 < mixer_damping <= 1):
            raise HamtransError(f"mixer_damping must be in (0, 1] (0.2 for interfaces) or None, not {mixer_damping!r}")
        if mixer_memory is not None and (isinstance(mixer_memory, bool) or not isinstance(mixer_memory, (int, np.integer))
                                         or mixer_memory < 1):
            raise HamtransError(f"mixer_memory must be a positive integer or None, not {mixer_memory!r}")
        if not is_finite_number(accuracy) or not accuracy > 0:
            raise HamtransError(f"accuracy must be a positive number (tblite's accuracy, 1.0 by default), not {accuracy!r}")
        self.electronic_temperature = float(electronic_temperature)
        self.max_iterations = int(max_iterations)
        self.mixer_damping = mixer_damping
        self.mixer_memory = mixer_memory
        self.accuracy = float(accuracy)
        self.full_basis = OrbitalBasis.named("gfn1-xtb")
        self.basis = OrbitalBasis.named(basis)
        for z in self.basis.elements:
            self.basis.orbitals_within(self.full_basis, z)  # a basis that is no GFN1 sub-basis fails here

    #: Keys of :meth:`describe` that a resumed data set may change (the SCF path only).
    resumable_settings = ("max_iterations",)

    def describe(self) -> dict:
        """Settings stored with datasets."""
        return {
            "method": self.method,
            "cutoff": cutoff_to_json(self.cutoff),
            "image_range": self.image_range,
            "electronic_temperature": self.electronic_temperature,
            "max_iterations": self.max_iterations,
            "accuracy": self.accuracy,
            "basis": self.basis.name,
        }

    def _check_supported(self, atoms: Atoms) -> None:
        pbc = np.asarray(atoms.pbc, dtype=bool)
        if pbc.any() and not pbc.all():
            raise StructureError(
                f"tblite handles fully periodic or fully open structures, not pbc={pbc.tolist()} (it would "
                "silently run 3D periodic): make a slab or wire periodic with vacuum along the open directions"
            )
        for z in np.unique(atoms.numbers):
            self.basis.shells_of(int(z))  # unknown elements fail here with a clear message

    def _kept_orbitals(self, numbers: np.ndarray) -> np.ndarray:
        """Indices of :attr:`basis`' orbitals in a whole-structure matrix of :attr:`full_basis`."""
        offsets = self.full_basis.orbital_offsets(numbers)
        return np.concatenate([offsets[a] + self.basis.orbitals_within(self.full_basis, int(z))
                               for a, z in enumerate(numbers)])

    def _calculator(self, atoms: Atoms, damping: float | None, memory: int | None):
        bind_fast_blas()
        from tblite.interface import Calculator

        pbc = np.asarray(atoms.pbc, dtype=bool)
        kwargs = {}
        if pbc.all():
            kwargs = {"lattice": np.asarray(atoms.cell) / Bohr, "periodic": np.array([True, True, True])}
        calc = Calculator(self.method, atoms.numbers, atoms.get_positions() / Bohr, **kwargs)
        calc.set("verbosity", 0)
        calc.set("save-integrals", 1)
        calc.set("max-iter", self.max_iterations)
        calc.set("accuracy", self.accuracy)
        calc.set("temperature", self.electronic_temperature * kB / Hartree)
        if damping is not None:
            calc.set("mixer-damping", damping)
        if memory is not None:
            calc.set("mixer-memory", memory)
        return calc

    def _singlepoint(self, atoms: Atoms):
        """Run the SCF with each mixing of the attempts in turn until one converges; raise with every attempt listed."""
        from tblite.exceptions import TBLiteRuntimeError

        attempts = list(self.SCF_MIXING)
        if self.mixer_damping is not None or self.mixer_memory is not None:
            given = (self.mixer_damping, self.mixer_memory)
            attempts = [given, *(mixing for mixing in attempts if mixing != given)]
        errors = []
        for damping, memory in attempts:
            calc = self._calculator(atoms, damping, memory)
            try:
                with _quiet_stdout():
                    return calc.singlepoint()
            except TBLiteRuntimeError as exc:
                errors.append(f"damping={damping or 0.4}, memory={memory or self.max_iterations}: {exc}")
        raise HamtransError(
            f"tblite GFN1-xTB did not converge for {atoms.get_chemical_formula()} ({len(atoms)} atoms) after "
            f"{len(attempts)} attempts ({'; '.join(errors)}). For metals and interfaces raise "
            "electronic_temperature (e.g. 3000 K) or max_iterations, and check the geometry for close contacts."
        )

    def compute(self, atoms: Atoms, blocks: bool = True) -> ReferenceResult:
        """Run GFN1-xTB on one structure.

        Parameters
        ----------
        atoms
            Fully periodic or non-periodic structure.
        blocks
            Also split H and S into real-space blocks (needs an unambiguous cell).
        """
        check_structure(atoms)
        self._check_supported(atoms)
        if blocks:
            check_unique_images(atoms, self.cutoff, self.image_range)
        start = time.perf_counter()
        res = self._singlepoint(atoms)
        energy = float(res.get("energy")) * Hartree
        forces = -np.asarray(res.get("gradient")) * Hartree / Bohr
        stress = None
        if np.all(atoms.pbc):
            stress = (np.asarray(res.get("virial")) * Hartree / atoms.get_volume()).flat[[0, 4, 8, 5, 2, 1]]
        eps = np.asarray(res.get("orbital-energies"))
        occ = np.asarray(res.get("orbital-occupations"))
        mu = fermi_level(eps, float(occ.sum()), self.electronic_temperature * kB / Hartree) * Hartree
        hamiltonian = overlap = None
        if blocks:
            s_mat = np.asarray(res.get("overlap-matrix"))
            coeff = np.asarray(res.get("orbital-coefficients"))
            sc = s_mat @ coeff
            f_mat = (sc * eps) @ sc.T * Hartree
            graph = build_graph(atoms, self.cutoff, check=False)
            f_int = convert_matrix(0.5 * (f_mat + f_mat.T), self.full_basis, atoms.numbers, self.orbital_source)
            s_int = convert_matrix(0.5 * (s_mat + s_mat.T), self.full_basis, atoms.numbers, self.orbital_source)
            hamiltonian = BlockSparseMatrix.from_gamma(f_int, self.full_basis, atoms.numbers, graph)
            overlap = BlockSparseMatrix.from_gamma(s_int, self.full_basis, atoms.numbers, graph)
            if self.basis != self.full_basis:
                hamiltonian, overlap = hamiltonian.restricted(self.basis), overlap.restricted(self.basis)
                keep = self._kept_orbitals(atoms.numbers)
                levels = scipy.linalg.eigh(f_int[np.ix_(keep, keep)], s_int[np.ix_(keep, keep)], eigvals_only=True)
                mu = fermi_level(levels, float(occ.sum()), self.electronic_temperature * kB)  # same electrons
        import tblite

        return ReferenceResult(
            atoms=atoms.copy(),
            hamiltonian=hamiltonian,
            overlap=overlap,
            energy=energy,
            forces=forces,
            stress=stress,
            fermi_level=mu,
            charges=np.asarray(res.get("charges"), dtype=np.float64),
            source=f"tblite {getattr(tblite, '__version__', '?')} {self.method}",
            wall_time=time.perf_counter() - start,
        )


@contextlib.contextmanager
def _quiet_stdout():
    """Silence tblite's Fortran writes to file descriptor 1."""
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
