"""YAML configuration files: sections as frozen dataclasses with checked keys.

Shared by ``hamtrans train``/``finetune`` (:mod:`hamtrans.training.config`) and
``hamtrans iv`` (:mod:`hamtrans.kmc.iv_config`). A misspelt key is an error that
names the key, its section and the closest valid key; a value of a numeric field
that is not a number (with ``finite=True``: not a finite number) is an error that
names the key (YAML 1.1 reads ``2e-3``, with no dot, as a string: such strings are
converted), and so is a value of a ``bool`` field that is not ``true`` or ``false``.
A file that is not valid YAML is an error naming the line and column.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import yaml

from hamtrans.errors import ConfigError


def is_finite_number(value) -> bool:
    """Whether ``value`` is one finite real number (Python or numpy; a bool is not a number)."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and bool(np.isfinite(value)))


def check_keys(given: dict, cls, where: str) -> None:
    """Raise :class:`ConfigError` for a key of ``given`` that is not a field of the dataclass ``cls``."""
    valid = [f.name for f in fields(cls)]
    for key in given:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
            raise ConfigError(f"unknown key '{key}' in {where}{hint}")


def _number(value, annotation: str, key: str, finite: bool = False):
    """``value`` checked against a field annotated ``float``/``int``/``bool`` (optionally ``| None``);
    ``finite`` refuses NaN and infinite floats."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    kinds = {part.strip() for part in text.split("|")}
    if value is None and "None" in kinds:
        return value
    if kinds - {"None"} == {"bool"}:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, not {value!r}")
    if kinds - {"float", "int", "None"}:
        return value
    if "float" in kinds:
        number = None
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        if number is None:
            raise ConfigError(f"{key} must be a number, not {value!r}")
        if finite and not math.isfinite(number):
            raise ConfigError(f"{key} must be a finite number, not {value!r}")
        return number
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{key} must be an integer, not {value!r}")


def section(cls, given: dict | None, where: str, finite: bool = False):
    """The dataclass ``cls`` built from the mapping ``given`` (lists become tuples); defaults fill the rest.

    ``finite`` refuses NaN and infinite values of float fields (sections whose own checks
    name the allowed range of each value, as the training sections do, leave it ``False``).
    """
    if given is not None and not isinstance(given, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values")
    given = dict(given or {})
    check_keys(given, cls, where)
    for f in fields(cls):
        if f.name in given:
            value = given[f.name]
            given[f.name] = tuple(value) if isinstance(value, list) else _number(value, f.type, f"{where}.{f.name}",
                                                                                  finite)
    return cls(**given)


def as_dict(instance) -> dict:
    """A section as a YAML/JSON-able mapping (tuples become lists)."""
    out = {}
    for f in fields(instance):
        value = getattr(instance, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def load_raw(path: str | Path) -> dict:
    """The YAML mapping of a configuration file.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not valid YAML (the message names the line
        and column of the problem) or not a mapping.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path} ({exc}): give a readable UTF-8 YAML file") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}{f' ({context})' if context else ''}; fix "
                          "the syntax there (brackets, quotes, indentation, 'key: value')") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a YAML mapping")
    return raw
