"""A small schema layer: typed, frozen dataclasses built from YAML with strict validation.

Every config class is a dataclass whose fields carry their constraints in ``metadata``
(made with :func:`spec`). :func:`build` turns a parsed YAML mapping into an instance and
raises :class:`ConfigError` naming the file, the dotted key and what is allowed for:
unknown keys, missing keys, wrong types and values outside their range.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from simulator.errors import ConfigError

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def spec(
    doc: str = "",
    *,
    default: Any = _MISSING,
    default_factory: Any = _MISSING,
    unit: str = "",
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple | None = None,
    why: str = "",
) -> Any:
    """Declare a config field with its documentation, unit and allowed range.

    ``why`` says why the upper bound is where it is (the memory or time a larger value would need, the
    largest model or chip that makes sense); it is part of the error message for a value above it.
    """
    meta = {"doc": doc, "unit": unit, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices, "why": why}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if default is not _MISSING:
        return dataclasses.field(default=default, metadata=meta)
    return dataclasses.field(metadata=meta)


# A config is a few kilobytes; the largest shipped one is under 10 KiB.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_NODES = 100_000  # nodes after alias expansion: a config has a few hundred
MAX_YAML_DEPTH = 64


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (with their line) and alias bombs (before expansion)."""

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (first at line {first})", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root) -> None:
    """Count the nodes the document expands to (aliases counted at every use) without expanding it."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node, depth: int) -> int:
        nid = id(node)
        if nid in sizes:
            return sizes[nid]
        if nid in active:
            raise yaml.composer.ComposerError(None, None, "recursive alias (a node that contains itself)",
                                              node.start_mark)
        if depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels "
                                              "(a config needs fewer than 10)", node.start_mark)
        active.add(nid)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(size(c, depth + 1) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        active.discard(nid)
        sizes[nid] = n
        if n > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {MAX_YAML_NODES:,} nodes through aliases (an alias bomb? a "
                "config has a few hundred)", node.start_mark)
        return n

    size(root, 0)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text strictly: duplicate keys, alias bombs and deep nesting are one-line ConfigErrors."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(source, "", f"malformed YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(source, "", f"malformed YAML: nested too deeply (more than {MAX_YAML_DEPTH} levels)") \
            from None


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; any I/O or syntax problem becomes a one-line ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "", "file not found" if not p.exists() else "not a regular file")
    try:
        size = p.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(str(p), "", f"file is {size:,} bytes; a config is at most {MAX_YAML_BYTES:,} "
                                          "(configs are a few KiB)")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(str(p), "", "not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(str(p), "", f"cannot read: {exc.strerror or exc}") from None
    data = parse_yaml(text, str(p))
    if data is None:
        raise ConfigError(str(p), "", "file is empty; expected a mapping of keys")
    return data


def _show(value: Any) -> str:
    """A value as shown in an error: its repr, shortened (a 300-digit integer or a long list is not read)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    return str(tp)


def _range_text(meta: dict) -> str:
    parts = []
    if meta.get("gt") is not None:
        parts.append(f"> {meta['gt']}")
    if meta.get("ge") is not None:
        parts.append(f">= {meta['ge']}")
    if meta.get("lt") is not None:
        parts.append(f"< {meta['lt']}")
    if meta.get("le") is not None:
        parts.append(f"<= {meta['le']}")
    return " and ".join(parts)


def _check_range(value: Any, meta: dict, source: str, key: str, tp: Any) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(source, key, f"got {_show(value)}; allowed: {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(source, key, f"got {_show(value)}; must be a finite number")
        bad = (
            (meta.get("gt") is not None and not value > meta["gt"])
            or (meta.get("ge") is not None and not value >= meta["ge"])
            or (meta.get("lt") is not None and not value < meta["lt"])
            or (meta.get("le") is not None and not value <= meta["le"])
        )
        if bad:
            why = meta.get("why")
            over = (meta.get("lt") is not None and not value < meta["lt"]) or \
                (meta.get("le") is not None and not value <= meta["le"])
            reason = f" ({why})" if why and over else ""
            raise ConfigError(source, key, f"got {_show(value)}; must be {_describe(tp)} {_range_text(meta)}{reason}")


def _convert(value: Any, tp: Any, meta: dict, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, meta, source, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(source, key, f"got {_show(value)}; must be {_describe(tp)}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source=source, prefix=key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(source, key, f"got {_show(value)}; must be {_describe(tp)}")
        return tuple(_convert(v, item_tp, meta, source, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"got {_show(value)}; must be a mapping")
        if meta.get("choices") is not None:  # a mapping whose keys are names from a fixed list
            for k in value:
                if k not in meta["choices"]:
                    raise ConfigError(source, f"{key}.{k}", f"unknown key; allowed here: "
                                                            f"{', '.join(str(c) for c in meta['choices'])}")
            if not value:
                raise ConfigError(source, key, f"empty; give at least one of: "
                                               f"{', '.join(str(c) for c in meta['choices'])}")
        return {str(k): _convert(v, val_tp, meta, source, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(source, key, f"got {_show(value)}; must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2.0**63:
                value = int(value)
            else:
                why = f" ({meta['why']})" if meta.get("why") and isinstance(value, float) and \
                    math.isfinite(value) and value.is_integer() else ""
                raise ConfigError(source, key, f"got {_show(value)}; must be an integer {_range_text(meta)}".rstrip()
                                  + why)
        _check_range(value, meta, source, key, tp)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(source, key, f"got {_show(value)}; must be a number {_range_text(meta)}".rstrip())
        value = float(value)
        _check_range(value, meta, source, key, tp)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(source, key, f"got {_show(value)}; must be a string")
        _check_range(value, meta, source, key, tp)
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config field type {tp!r} at {key}")  # programming error


_SCALARS = (int, float, str, bool)
_building = [0]  # > 0 while build() constructs: it checks each field with the file's name and key itself


@contextlib.contextmanager
def deferred():
    """Construct configs without the per-instance checks (the caller checks the result itself, naming the flag or
    file that made it)."""
    _building[0] += 1
    try:
        yield
    finally:
        _building[0] -= 1


class Validated:
    """Base of the config dataclasses: an instance made in Python (``AcceleratorConfig(...)``,
    ``dataclasses.replace(hw, cores=-3)``) is checked as a file is: every scalar field's type and range, then the
    class's own ``validate``; errors name the class and the key."""

    def __post_init__(self) -> None:
        if _building[0]:
            return
        source = type(self).__name__
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            tp = hints[f.name]
            if f.init and f.metadata and (tp in _SCALARS or typing.get_origin(tp) in (typing.Union, types.UnionType)
                                          and all(a in _SCALARS or a is type(None) for a in typing.get_args(tp))):
                _convert(getattr(self, f.name), tp, dict(f.metadata), source, f.name)
        validate = getattr(self, "validate", None)
        if callable(validate):
            try:
                validate(source, "")
            except ConfigError as exc:  # keys of a top-level check start with the (here empty) prefix's dot
                raise ConfigError(source, exc.key.lstrip("."), str(exc).split(": ", 2)[-1]) from None


def build(cls: type[T], data: Any, *, source: str, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data`` (a YAML mapping), validating every key."""
    where = prefix or "<top level>"
    if not isinstance(data, dict):
        raise ConfigError(source, where, f"got {type(data).__name__} {data!r:.60}; must be a mapping")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(source, key, f"unknown key; allowed here: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if f.default is _MISSING and f.default_factory is _MISSING:
                raise ConfigError(source, key, f"missing; must be {_describe(hints[name])}")
            continue
        kwargs[name] = _convert(data[name], hints[name], dict(f.metadata), source, key)
    _building[0] += 1
    try:
        obj = cls(**kwargs)
    finally:
        _building[0] -= 1
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(source, prefix)
    return obj


def describe_fields(cls: type, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """Rows (key, type, unit, allowed, doc) for the README's config reference."""
    rows = []
    hints = _type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe_fields(tp, key))
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1 \
                and dataclasses.is_dataclass(args[0]):  # an optional section: its keys, marked optional
            rows.append((key, "a mapping or null", "", "", f"{f.metadata.get('doc', '')} (optional section)"))
            rows.extend(describe_fields(args[0], key))
            continue
        if typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):
            # a mapping of named sections (e.g. efficiency per software stack): its keys, then one section's keys
            names = ", ".join(str(c) for c in f.metadata.get("choices") or ()) or "any name"
            rows.append((key, "a mapping", "", names, f.metadata.get("doc", "")))
            rows.extend(describe_fields(typing.get_args(tp)[1], f"{key}.<name>"))
            continue
        meta = f.metadata
        allowed = _range_text(meta)
        if meta.get("choices"):
            allowed = ", ".join(str(c) for c in meta["choices"])
        default = ""
        if f.default is not _MISSING:
            default = f" (default {f.default})"
        rows.append((key, _describe(tp), meta.get("unit", ""), allowed, meta.get("doc", "") + default))
    return rows


def check_field(cls: type, name: str, value: Any, *, source: str, key: str | None = None) -> Any:
    """Validate ``value`` for field ``name`` of config class ``cls`` as if it were read from a file (type and
    range); returns the converted value. The CLI uses it for flags that override a config field, with
    ``source`` the flag (e.g. ``--fps``) and ``key`` the field's dotted path."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if f is None:
        raise TypeError(f"{cls.__name__} has no field {name!r}")  # programming error
    return _convert(value, _type_hints(cls)[name], dict(f.metadata), source, key or name)


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a config class, resolved once (a study builds thousands of configs)."""
    return typing.get_type_hints(cls)
