"""YAML configuration files: sections as frozen dataclasses with checked keys.

Shared by ``hamtrans train``/``finetune`` (:mod:`hamtrans.models.train_config`) and
``hamtrans iv`` (:mod:`hamtrans.kmc.iv_config`). A misspelt key is an error that
names the key, its section and the closest valid key; a value of a numeric field
that is not a number is an error that names the key (YAML 1.1 reads ``2e-3``, with
no dot, as a string: such strings are converted).
"""

from __future__ import annotations

import difflib
from dataclasses import fields
from pathlib import Path

import yaml

from hamtrans.errors import HamtransError


class ConfigError(HamtransError):
    """A configuration file is invalid."""


def check_keys(given: dict, cls, where: str) -> None:
    """Raise :class:`ConfigError` for a key of ``given`` that is not a field of the dataclass ``cls``."""
    valid = [f.name for f in fields(cls)]
    for key in given:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
            raise ConfigError(f"unknown key '{key}' in {where}{hint}")


def _number(value, annotation: str, key: str):
    """``value`` checked against a field annotated ``float``/``int`` (optionally ``| None``)."""
    kinds = {part.strip() for part in str(annotation).split("|")}
    if value is None and "None" in kinds or kinds - {"float", "int", "None"}:
        return value
    if "float" in kinds:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key} must be a number, not {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{key} must be an integer, not {value!r}")


def section(cls, given: dict | None, where: str):
    """The dataclass ``cls`` built from the mapping ``given`` (lists become tuples); defaults fill the rest."""
    if given is not None and not isinstance(given, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values")
    given = dict(given or {})
    check_keys(given, cls, where)
    for f in fields(cls):
        if f.name in given:
            value = given[f.name]
            given[f.name] = tuple(value) if isinstance(value, list) else _number(value, f.type, f"{where}.{f.name}")
    return cls(**given)


def as_dict(instance) -> dict:
    """A section as a YAML/JSON-able mapping (tuples become lists)."""
    out = {}
    for f in fields(instance):
        value = getattr(instance, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def load_raw(path: str | Path) -> dict:
    """The YAML mapping of a configuration file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a YAML mapping")
    return raw
