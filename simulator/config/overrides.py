"""``--set PATH=VALUE`` overrides: a config value changed by its dotted path before the config is built, so
the change is checked by the same schema as the file (``--set hw.cores=-3`` is the same one-line error as
``cores: -3`` in the YAML).

A path starts with the role of the config it changes (``hw``, ``baseline``, ``workload``,
``baseline_workload``); the rest is the key path inside that file, list items by index
(``workload.stream.questions.0.at_s``). The value is read as YAML (``16``, ``0.5``, ``true``, ``[1, 2]``,
``{name: flexgen}``).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from simulator.config.hardware import AcceleratorConfig, GpuConfig, build_hardware
from simulator.config.schema import load_yaml, parse_yaml
from simulator.config.workload import WorkloadConfig, build_workload
from simulator.errors import ConfigError

# role -> config class its paths are checked against (the hardware roles: either kind, checked on build)
ROLE_CLASSES = {"hw": AcceleratorConfig, "baseline": GpuConfig, "workload": WorkloadConfig,
                "baseline_workload": WorkloadConfig}


@dataclasses.dataclass(frozen=True)
class Override:
    """One ``--set``: the role, the key path inside that role's config and the value (parsed YAML)."""

    role: str
    keys: tuple[str, ...]
    value: Any
    text: str  # as given, for error messages


def parse_overrides(items, roles=tuple(ROLE_CLASSES), source: str = "--set") -> list[Override]:
    """Parse ``PATH=VALUE`` strings; a malformed one or an unknown role is a one-line ConfigError."""
    out = []
    for item in items:
        path, sep, text = str(item).partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(source, str(item), "must be PATH=VALUE, e.g. workload.kv_prefill_tokens=40000")
        role, *keys = path.split(".")
        if role not in roles or not keys or not all(keys):
            raise ConfigError(source, path, f"a path starts with one of: {', '.join(roles)}, then the key inside "
                                            "that config (e.g. hw.cores)")
        out.append(Override(role, tuple(keys), parse_yaml(text, f"{source} {path}"), f"{path}={text}"))
    return out


def set_path(data: dict, keys, value: Any, source: str = "--set", path: str = "") -> None:
    """Set ``value`` at ``keys`` in parsed YAML ``data`` in place (missing mappings are created; list items by
    index)."""
    d: Any = data
    for i, k in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(d, list):
            if not k.isdigit() or int(k) >= len(d):
                raise ConfigError(source, path or ".".join(keys), f"'{k}' is no index of a {len(d)}-item list")
            if last:
                d[int(k)] = value
            else:
                d = d[int(k)]
            continue
        if not isinstance(d, dict):
            raise ConfigError(source, path or ".".join(keys), f"'{'.'.join(keys[:i])}' is a value, not a section")
        if last:
            d[k] = value
        else:
            d = d.setdefault(k, {})


def apply(data: Any, overrides: list[Override], role: str) -> tuple[Any, str]:
    """(a copy of ``data`` with ``role``'s overrides applied, a suffix for the error source naming them)."""
    mine = [o for o in overrides if o.role == role]
    if not mine:
        return data, ""
    data = copy.deepcopy(data)
    for o in mine:
        set_path(data, o.keys, o.value, "--set", o.text)
    return data, " (with --set " + ", --set ".join(o.text for o in mine) + ")"


def load_hardware_with(path: Path, overrides: list[Override], role: str):
    data, note = apply(load_yaml(path), overrides, role)
    return build_hardware(data, f"{path}{note}")


def load_workload_with(path: Path, overrides: list[Override], role: str = "workload", base: Any = None):
    """A workload from ``path`` (or from the parsed ``base`` data, read as if from ``path``) with ``role``'s
    overrides applied and checked."""
    data, note = apply(load_yaml(path) if base is None else base, overrides, role)
    return build_workload(data, path, source=f"{path}{note}")


def check_path(path: str, roles: dict, source: str, where: str) -> None:
    """Raise ConfigError unless ``path`` names a config field of one of ``roles`` (dict-typed fields take any
    key: they are checked when the config is built)."""
    parts = path.split(".")
    if parts[0] not in roles or len(parts) < 2:
        raise ConfigError(source, where, f"path '{path}' must start with one of: {', '.join(roles)}")
    tp: Any = roles[parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        origin = typing.get_origin(tp)
        if origin is dict:
            return  # e.g. workload.kv_policy.params.<name>: checked when the point's config is built
        if origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(source, where, f"path '{path}': '{'.'.join(parts[:i])}' has no sub-keys")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        if part not in names:
            allowed = ", ".join(f.name for f in dataclasses.fields(tp) if f.init and f.name != "model_config")
            raise ConfigError(source, where, f"unknown path '{path}': '{part}' is not a key of "
                                             f"{'.'.join(parts[:i])}; allowed: {allowed}")
        tp = hints[part]
    if dataclasses.is_dataclass(tp):
        raise ConfigError(source, where, f"path '{path}' names a section, not a value")
