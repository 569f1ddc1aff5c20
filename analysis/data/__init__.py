"""Measurement data of the calibrations and validations, read from analysis/data/*.yaml (each point with its source).

:func:`load_data` reads one file; :func:`records` turns a list of its entries into dataclass records, with a
one-line error naming the file, the entry and the key for an unknown or missing key or a source that is not
listed under ``sources``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

from simulator.config.schema import load_yaml
from simulator.errors import ConfigError
from simulator.pipeline import resolve

T = TypeVar("T")
UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def load_data(name: str) -> tuple[dict, str]:
    """The mapping in ``analysis/data/<name>`` and its path (for errors)."""
    path = resolve(f"analysis/data/{name}")
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "expected a mapping of keys")
    return data, str(path)


def size_bytes(value: Any, source: str, key: str) -> float:
    """A size: a number of bytes, or ``"<n> KiB|MiB|GiB"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    parts = str(value).split()
    if len(parts) == 2 and parts[1] in UNITS:
        try:
            return float(parts[0]) * UNITS[parts[1]]
        except ValueError:
            pass
    raise ConfigError(source, key, f"got {value!r}; must be bytes or '<n> {'|'.join(UNITS)}'")


def records(data: dict, key: str, cls: type[T], source: str,
            convert: Callable[[dict, str], dict] | None = None) -> list[T]:
    """``data[key]`` (a list of mappings) as ``cls`` records; ``convert(entry, where)`` may rewrite an entry
    first (units, published forms). Every ``source`` must be a key of ``data['sources']``."""
    rows = data.get(key)
    if not isinstance(rows, list):
        raise ConfigError(source, key, "missing or not a list of entries")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    sources = data.get("sources", {})
    out = []
    for i, row in enumerate(rows):
        where = f"{key}[{i}]"
        if not isinstance(row, dict):
            raise ConfigError(source, where, "must be a mapping")
        row = convert(dict(row), where) if convert else dict(row)
        unknown = sorted(set(row) - names)
        if unknown:
            raise ConfigError(source, f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(names))}")
        missing = sorted(required - set(row))
        if missing:
            raise ConfigError(source, f"{where}.{missing[0]}", "missing")
        if "source" in row and row["source"] not in sources:
            raise ConfigError(source, f"{where}.source", f"{row['source']!r} is not listed under 'sources'")
        out.append(cls(**row))
    return out
