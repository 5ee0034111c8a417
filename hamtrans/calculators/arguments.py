"""Checks of the calculators' arguments at the boundary where they enter.

Every bad value is a :class:`~hamtrans.errors.ParameterError` whose message names the
argument as ``Calculator(name=value)`` and says what to give instead.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from hamtrans.config import is_finite_number
from hamtrans.errors import ParameterError


def shown(value) -> str:
    """``repr(value)``, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(where: str, name: str, value, unit: str, low: float | None = None, high: float | None = None,
           open_low: bool = False, open_high: bool = False) -> float:
    """``value`` as a float: one finite real number (not a bool or string) within the given bounds.

    ``open_low`` / ``open_high`` exclude the bound itself.
    """
    inside = is_finite_number(value)
    if inside and low is not None:
        inside = value > low if open_low else value >= low
    if inside and high is not None:
        inside = value < high if open_high else value <= high
    if not inside:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if open_low else '≥'} {low:g}")
        if high is not None:
            bounds.append(f"{'<' if open_high else '≤'} {high:g}")
        within = f" {' and '.join(bounds)}" if bounds else ""
        raise ParameterError(f"{where}({name}={shown(value)}): give one finite number{within} ({unit})")
    return float(value)


def integer(where: str, name: str, value, low: int, meaning: str) -> int:
    """``value`` as an int: an integer (not a bool) ≥ ``low``; ``meaning`` says what it counts."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{where}({name}={shown(value)}): give an integer ≥ {low} ({meaning})")
    return int(value)


def flag(where: str, name: str, value) -> bool:
    """``value``, which must be ``True`` or ``False`` (a string such as ``"no"`` would count as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{where}({name}={shown(value)}): give True or False")
    return bool(value)


def energy_grid(where: str, value) -> np.ndarray:
    """``value`` as a non-empty 1-D float array of finite real energies (eV)."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nesting
        array = np.asarray(None)
    if array.dtype.kind == "c":
        raise ParameterError(f"{where}(energies={shown(value)}): the energies must be real (eV); give η as "
                             "SweepOptions(eta=...)")
    if array.dtype.kind not in "iuf" or array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise ParameterError(f"{where}(energies={shown(value)}): give a non-empty 1-D sequence of finite real "
                             "energies (eV)")
    return array.astype(float)


def file_or_name(where: str, name: str, value, loaded: type, shipped: str) -> None:
    """Raise unless ``value`` is a path, a shipped model name or an instance of ``loaded``."""
    if not isinstance(value, (str, os.PathLike, loaded)):
        raise ParameterError(f"{where}({name}={shown(value)}): give a model file path, a shipped model name "
                             f"({shipped}) or a loaded {loaded.__name__}")


def keyword_options(where: str, name: str, value, valid: list[str]) -> dict:
    """``value`` (``None`` or a mapping whose keys are all in ``valid``) as a dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterError(f"{where}({name}={shown(value)}): give a dict of keyword arguments ({', '.join(valid)})")
    unknown = [key for key in value if key not in valid]
    if unknown:
        raise ParameterError(f"{where}({name}=...): unknown key {unknown[0]!r}; valid keys: {', '.join(valid)}")
    return dict(value)


class CheckedCalculator(Calculator):
    """An ASE calculator whose structure argument must be an :class:`ase.Atoms` (or the last one given)."""

    def check_state(self, atoms, tol: float = 1e-15) -> list[str]:
        if not isinstance(atoms, Atoms):
            raise ParameterError(f"{type(self).__name__}: the structure must be an ase.Atoms, not "
                                 f"{type(atoms).__name__} {shown(atoms)}")
        return super().check_state(atoms, tol)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        if atoms is None and self.atoms is None:
            raise ParameterError(f"{type(self).__name__}: no structure yet: pass the atoms, e.g. "
                                 "calc.get_property(name, atoms)")
        super().calculate(atoms, properties, system_changes)
