"""One frozen set of transport settings, shared by every route to a current.

:class:`TransportSettings` holds what decides a transport result apart from the structure,
its Hamiltonian and the bias: where the leads come from, the Fermi level, the contacts'
temperature, the current's energy grid and the NEGF numerics. The ASE
:class:`~hamtrans.calculators.TransportCalculator`, the I–V sweep (its YAML ``transport``
section *is* a subclass), ``fix hamtrans/transport`` and ``hamtrans transport`` all build
one and call :func:`hamtrans.calculators.structure_transport.structure_current`.

Runtime objects that do not change a result (an MPI communicator, a lead cache shared by a
trajectory, a progress bar, the batch size) stay in :class:`hamtrans.negf.SweepOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from hamtrans.config import is_finite_number
from hamtrans.data.blocks import lattice_axis
from hamtrans.errors import HamtransError, ParameterError
from hamtrans.negf import SweepOptions
from hamtrans.negf.grids import MIN_GRID_POINTS

LEAD_SOURCES = ("auto", "own", "periodic")
LEAD_METHODS = ("eigenmode", "sancho-rubio")
BACKENDS = ("numpy", "cupy", "auto")


@dataclass(frozen=True)
class TransportSettings:
    """How a structure's current and T(E) are computed (eV, Å, K).

    Attributes
    ----------
    axis
        Transport axis, ``"x"``, ``"y"``, ``"z"`` or 0–2 (stored as 0–2).
    leads
        ``"own"``: the structure's end cells repeat and become the leads (long electrode
        segments). ``"periodic"``: the leads continue the structure across its cell boundary
        (:func:`hamtrans.negf.periodic_electrodes`; needs ``lead_cell``, which defaults to
        the TiN period of a :func:`hamtrans.data.structures.build_vcm_device` structure).
        ``"auto"``: own leads where the end cells repeat, else periodic ones. A separate bulk-electrode structure is passed next to the settings
        (``electrode=``), because it is a structure, not a setting.
    lead_cell
        Electrode lattice period along the axis (Å); ``None``: detected (own leads).
    lead_tolerance
        eV allowed between repeated electrode cells.
    electrode_tolerance, align_electrodes
        Largest difference (eV) between a device end block and a bulk electrode cell, and
        whether that electrode is shifted rigidly onto the end blocks first.
    fermi_level
        eV; ``None``: the leads' band Fermi level (periodic leads or a bulk electrode), else
        the reference's, else (own leads of a model) the left lead's band Fermi level.
    temperature
        K of the contacts' Fermi functions.
    tolerance
        Relative tolerance of the adaptive current integral.
    resolution
        eV between the adaptive grid's first energies (``None``: kT at 300 K), or the
        spacing of the energy lattice.
    points
        A number (≥ 3) of uniform energies over the open bias window instead of the
        adaptive grid (a fixed cost per current).
    lattice
        Energies ``E_F + k·resolution`` over the open window: a sweep whose biases are even
        multiples of ``resolution`` shares every lead energy.
    eta
        Imaginary energy η (eV) of device and leads; Sancho–Rubio needs η > 0.
    lead_method
        ``"eigenmode"`` (exact) or ``"sancho-rubio"``.
    backend
        ``"numpy"``, ``"cupy"`` (a GPU) or ``"auto"``.

    Raises
    ------
    ParameterError
        A value of the wrong type or out of range, or settings that exclude each other
        (the message names the field and what to give).
    """

    #: how an error names a field (``TransportSettings.points``; the YAML section: ``transport.points``)
    prefix: ClassVar[str] = "TransportSettings."

    axis: int | str = "x"
    leads: str = "auto"
    lead_cell: float | None = None
    lead_tolerance: float = 1e-4
    electrode_tolerance: float = 0.25
    align_electrodes: bool = True
    fermi_level: float | None = None
    temperature: float = 300.0
    tolerance: float = 1e-2
    resolution: float | None = None
    points: int | None = None
    lattice: bool = False
    eta: float = 0.0
    lead_method: str = "eigenmode"
    backend: str = "numpy"

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ParameterError(self.prefix + problem)
        object.__setattr__(self, "axis", lattice_axis(self.axis))

    def _problem(self) -> str | None:
        """The first thing wrong with these settings, as ``"field must be ..."``, or ``None``."""
        p = self.prefix
        try:
            lattice_axis(self.axis)
        except HamtransError:
            return f"axis must be 'x', 'y', 'z' or 0-2, not {self.axis!r}"
        for name, choices in (("leads", LEAD_SOURCES), ("lead_method", LEAD_METHODS), ("backend", BACKENDS)):
            if getattr(self, name) not in choices:
                listed = ", ".join(f"'{c}'" for c in choices[:-1]) + f" or '{choices[-1]}'"
                return f"{name} must be {listed}, not {getattr(self, name)!r}"
        for name in ("align_electrodes", "lattice"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                return f"{name} must be true or false, not {getattr(self, name)!r}"
        # name, value, unit, lowest, open at the lowest, may be None
        ranges = (("lead_cell", "a positive length (Å)", 0.0, True, True),
                  ("lead_tolerance", "a positive energy (eV)", 0.0, True, False),
                  ("electrode_tolerance", "a positive energy (eV)", 0.0, True, False),
                  ("fermi_level", "a finite energy (eV)", None, False, True),
                  ("temperature", "a temperature ≥ 0 K", 0.0, False, False),
                  ("resolution", "a positive energy (eV)", 0.0, True, True),
                  ("eta", "an energy ≥ 0 eV", 0.0, False, False))
        for name, meaning, low, open_low, optional in ranges:
            value = getattr(self, name)
            if value is None and optional:
                continue
            inside = is_finite_number(value) and (low is None or (value > low if open_low else value >= low))
            if not inside:
                return f"{name} must be {meaning}{' or null' if optional else ''}, not {value!r}"
        if not (is_finite_number(self.tolerance) and 0.0 < self.tolerance < 1.0):
            return f"tolerance must be a relative tolerance in (0, 1), not {self.tolerance!r}"
        points = self.points
        if points is not None and (isinstance(points, (bool, np.bool_)) or not isinstance(points, (int, np.integer))
                                   or points < MIN_GRID_POINTS):
            return (f"points must be null (adaptive grid) or at least {MIN_GRID_POINTS} uniform energies, "
                    f"not {points!r}")
        if points is not None and self.resolution is not None:
            return f"points (uniform grid) and {p}resolution (adaptive grid) exclude each other"
        if self.lattice and (points is not None or self.resolution is None):
            return f"lattice needs {p}resolution (the lattice spacing, eV) and no {p}points"
        if self.lead_method == "sancho-rubio" and not self.eta > 0:
            return (f"eta must be > 0 with {p}lead_method 'sancho-rubio' (its decimation needs a broadening, e.g. "
                    f"1e-5 eV); use 'eigenmode' for eta = 0")
        return None

    def sweep_options(self, runtime: SweepOptions | None = None) -> SweepOptions:
        """The :class:`~hamtrans.negf.SweepOptions` of these settings: η, lead method and backend from
        here, the runtime fields (communicator, lead cache, batch size, ...) from ``runtime``."""
        return replace(runtime or SweepOptions(), eta=self.eta, lead_method=self.lead_method, backend=self.backend)

    def current_grid(self, **override) -> dict:
        """Keywords of :func:`hamtrans.negf.current` for the energy grid (``override``: e.g. a finer
        ``resolution`` for one current)."""
        settings = replace(self, **override) if override else self
        if settings.lattice:
            return {"grid": "lattice", "resolution": settings.resolution}
        if settings.points:
            return {"grid": "uniform", "points": settings.points}
        return {"tolerance": settings.tolerance, "resolution": settings.resolution}
