"""YAML configuration files: sections as frozen dataclasses with checked keys.

Shared by ``hamtrans train``/``finetune`` (:mod:`hamtrans.models.train_config`) and
``hamtrans iv`` (:mod:`hamtrans.kmc.iv_config`). A misspelt key is an error that
names the key, its section and the closest valid key.
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


def section(cls, given: dict | None, where: str):
    """The dataclass ``cls`` built from the mapping ``given`` (lists become tuples); defaults fill the rest."""
    if given is not None and not isinstance(given, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values")
    given = dict(given or {})
    check_keys(given, cls, where)
    for f in fields(cls):
        if f.name in given and isinstance(given[f.name], list):
            given[f.name] = tuple(given[f.name])
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
