"""The NEGF side of ``fix hamtrans/transport``: one :class:`TransportBridge` on every MPI rank.

Every N steps the C++ fix gathers the atoms of its group on every rank and calls
:meth:`TransportBridge.evaluate` there, which rebuilds the structure
(:func:`snapshot`) and computes the Landauer current with
:class:`~hamtrans.calculators.TransportCalculator` (H and S from the Hamiltonian
model). On several ranks that is one collective call: the ranks split the
model's prediction into slabs along the transport axis
(:mod:`hamtrans.models.distributed`) and the energies of the NEGF sweep. Rank 0
appends one line to the output file, flushed at once.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from ase import Atoms
from ase.data import atomic_numbers

from hamtrans.atomic_files import check_output_file
from hamtrans.calculators import HamiltonianCalculator, TransportCalculator, TransportSettings
from hamtrans.lammps_plugin.pair_bridge import species_of_types
from hamtrans.negf import SweepOptions, cupy_available

HEADER = ("# hamtrans/transport: Landauer current and transmission summary\n"
          "# axis {axis}  bias {bias} V  temperature {temperature} K  Fermi level {fermi}  model {model}\n"
          "# step time(ps) current(A) T(E_F) T_mean T_max converged\n")


def snapshot(table: memoryview, elements: list[str], h: tuple[float, ...], boxlo: tuple[float, float, float],
             pbc: tuple[int, int, int]) -> Atoms:
    """The structure of a LAMMPS box, atoms in ID order, origin at ``boxlo``, wrapped into the cell.

    Parameters
    ----------
    table
        ``(N, 5)`` doubles: atom ID, type, x, y, z (Å), in any order.
    elements
        Element of each atom type (type 1 first).
    h
        LAMMPS shape matrix ``(xx, yy, zz, yz, xz, xy)`` (Å).
    boxlo, pbc
        Box origin (Å) and periodicity flags.
    """
    rows = np.frombuffer(table, np.float64).reshape(-1, 5)
    rows = rows[np.argsort(rows[:, 0])]
    xx, yy, zz, yz, xz, xy = h
    numbers = [atomic_numbers[elements[int(t) - 1]] for t in rows[:, 1]]
    atoms = Atoms(numbers=numbers, positions=rows[:, 2:] - np.asarray(boxlo),
                  cell=[[xx, 0.0, 0.0], [xy, yy, 0.0], [xz, yz, zz]], pbc=[bool(p) for p in pbc])
    atoms.wrap()
    return atoms


class TransportBridge:
    """Hamiltonian model, NEGF settings and output file of one ``fix hamtrans/transport``.

    Parameters
    ----------
    model
        Hamiltonian model file or shipped name (e.g. ``"vcm-gfn1"``).
    axis
        ``"x"``, ``"y"`` or ``"z"``.
    bias, temperature, fermi
        V, K, eV (see :class:`~hamtrans.calculators.TransportCalculator`); ``fermi`` NaN: from the
        leads' bands (``leads="periodic"``).
    tolerance
        Relative tolerance of the adaptive current integral.
    eta
        Imaginary energy η (eV) of the NEGF sweep (:class:`~hamtrans.negf.SweepOptions`).
    energies
        ``(Emin, Emax, n)`` of the reported T(E) grid (eV), or ``None``: E_F ± 1 eV, 21 points.
    path
        Output file (overwritten), or ``None`` for none.
    options
        ``basis`` (sub-basis name or ``None``), ``leads`` (``"own"`` or ``"periodic"``),
        ``lead_cell`` (Å, periodic leads), ``points`` (uniform current grid; 0: adaptive),
        ``lead_method``.
    communicator
        Fortran handle of the LAMMPS world communicator (``MPI_Comm_c2f``) when it has
        more than one rank, else ``None``.

    Raises
    ------
    OutputError
        ``path`` is a folder, or its folder is missing or not writable.
    ParameterError, FileFormatError
        A setting :class:`~hamtrans.calculators.TransportCalculator` refuses, or a model
        file that is missing or no Hamiltonian model.
    """

    def __init__(self, model: str, axis: str, bias: float, temperature: float, fermi: float, tolerance: float,
                 eta: float, energies: tuple[float, float, int] | None, path: str | None,
                 options: dict | None = None, communicator: int | None = None) -> None:
        torch.set_num_threads(1)
        comm = None
        if communicator is not None:
            from mpi4py import MPI

            comm = MPI.Comm.f2py(communicator)
        writes = comm is None or comm.Get_rank() == 0
        if path is not None and writes:
            check_output_file(path, [("model file", model)], "file")
        options = options or {}
        fermi_level = None if math.isnan(fermi) else fermi
        grid = None if energies is None else np.linspace(energies[0], energies[1], int(energies[2]))
        self.relative_grid = np.linspace(-1.0, 1.0, 21) if grid is None else None
        lead_cell = options.get("lead_cell")
        if lead_cell is not None and math.isnan(lead_cell):  # the fix passes NaN when 'cell' is not given
            lead_cell = None
        settings = TransportSettings(axis=axis, leads=options.get("leads", "own"), lead_cell=lead_cell,
                                     fermi_level=fermi_level, temperature=temperature, tolerance=tolerance,
                                     points=options.get("points") or None, eta=eta,
                                     lead_method=options.get("lead_method", "eigenmode"),
                                     backend="cupy" if cupy_available() else "numpy")  # the GPU when there is one
        hamiltonian = HamiltonianCalculator(model=model, basis=options.get("basis"), comm=comm,
                                            partition_axis="xyz".index(axis))
        self.calculator = TransportCalculator(hamiltonian, settings, bias=bias, energies=grid,
                                              sweep=SweepOptions(comm=comm))
        fermi = f"{fermi} eV" if fermi_level is not None else "from the leads' bands"
        self.species = tuple(int(z) for z in self.calculator.hamiltonian.predictor.config.species)
        self.file = None
        self.reports = path is not None  # the T(E) summary is a collective call on every rank
        if path is not None and writes:
            self.file = open(path, "w")
            self.file.write(HEADER.format(axis=axis, bias=bias, temperature=temperature, fermi=fermi, model=model))
            self.file.flush()

    def evaluate(self, step: int, time: float, table: memoryview, elements: list[str], h: tuple[float, ...],
                 boxlo: tuple[float, float, float], pbc: tuple[int, int, int]) -> float:
        """Current (A) of the gathered structure; appends ``step time current`` and the T(E) summary.

        Raises
        ------
        UnknownElementError
            An element of ``elements`` is no element symbol or not one of the model's.
        """
        species_of_types(elements, self.species)
        atoms = snapshot(table, elements, h, boxlo, pbc)
        current = float(self.calculator.get_property("current", atoms))
        if self.relative_grid is not None:  # around this snapshot's Fermi level (periodic leads: from their bands)
            self.calculator.energies = self.calculator.fermi_level + self.relative_grid
        if self.reports:
            t = self.calculator.get_property("transmission", atoms)
        if self.file is not None:
            energies = self.calculator.results["energies"]
            converged = int(self.calculator.results["current_result"].converged)
            fermi = self.calculator.fermi_level
            self.file.write(f"{step} {time:.10g} {current:.12e} {np.interp(fermi, energies, t):.10g} "
                            f"{t.mean():.10g} {t.max():.10g} {converged}\n")
            self.file.flush()
        return current
