"""Trace files: Apache Parquet with a versioned schema (documented in traces/README.md).

The events table is the file's row data; the trace metadata (JSON) and the per-phase KV-cache
occupancy table (JSON records) sit in the Parquet key-value metadata under ``vrex.meta`` and
``vrex.kv_tokens``. Readers check the schema version and the columns, and turn any damage
(truncation, wrong format, wrong version) into a one-line :class:`TraceError`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.config.hardware import PRECISION_BITS
from simulator.config.schema import build, spec
from simulator.config.workload import KV_POLICIES, PrecisionConfig, Question
from simulator.errors import ConfigError, TraceError
from simulator.tracer.events import (
    ARROW_SCHEMA,
    COLUMN_NAMES,
    COLUMNS,
    KINDS,
    NUMPY_DTYPES,
    PHASES,
    SCHEMA_VERSION,
    TIERS,
)


@dataclass
class Trace:
    """Events (one row per kernel, see events.py) and metadata of one traced stream."""

    events: pd.DataFrame
    meta: dict = field(default_factory=dict)  # the tracer's dict, or a validated TraceMeta when read from a file
    kv_tokens: pd.DataFrame | None = None  # per phase end: tokens held in a layer's cache
    recall: pd.DataFrame | None = None  # real mode with probes: attention-mass recall per step

    @property
    def record(self) -> "TraceMetaRecord":
        """The metadata as its typed, validated record (what the engines read)."""
        return meta_record(self.meta)


KV_COLUMNS = ["phase", "frame", "question", "step", "kv_slots", "tokens_seen", "kv_slots_all_layers",
              "offload_slots_all_layers"]  # the per-phase KV table (``Trace.kv_tokens``)


@dataclass
class TraceChunk:
    """A run of a stream's frames (with the questions asked after them): their events and KV-table rows, in
    stream order (``StreamTracer.chunks``); the trace is the chunks' concatenation."""

    events: pd.DataFrame
    kv_tokens: pd.DataFrame


META_KEY = b"vrex.meta"
KV_KEY = b"vrex.kv_tokens"
KV_PHASES = PHASES + ("kv_prefill",)  # the KV table also records a pre-computed cache (kv_prefill_tokens)
READ_VERSIONS = (2, 3, SCHEMA_VERSION)  # 2: `precision` and `kv_bits_stored` optional; 2-3: the offload tier
# was named "host" (renamed on read, see _offload_from_host)
MAX_FRAMES = 86400 * 120  # a day of video at the schema's highest frame rate
MAX_META_BYTES = 64 << 20  # the metadata of a day-long trace is a few MB (policy statistics per layer and head


# ---------------------------------------------------------------- metadata: a typed, validated record
@dataclass(frozen=True, kw_only=True)
class PrecisionBits:
    weight: int = spec("bits per weight element", choices=(4, 8, 16))
    activation: int = spec("bits per activation element", choices=(4, 8, 16))
    kv: int = spec("bits per KV element", choices=(4, 8, 16))


@dataclass(frozen=True, kw_only=True)
class KvTransfer:
    """How a KV policy's software moves KV over PCIe on a GPU (``kv_transfer``; the policy's ``transfer()``)."""

    host_buffers: str = spec("host memory of the copies: pinned (DMA directly) or pageable (a host staging copy "
                             "in series)", choices=("pinned", "pageable"))
    copies: str = spec("copy calls per KV transfer: 'transfer' (gathered first, copies_each per transfer) or "
                       "'run' (copies_each per contiguous run)", choices=("transfer", "run"))
    copies_each: int = spec("copy calls per transfer or run (K and V apart: 2)", ge=1, le=64)


@dataclass(frozen=True, kw_only=True)
class HwContract:
    """The policy's hyperparameters that a hardware unit is built for (``hw_contract``; the policy's
    ``hardware_contract()``): the engine checks them against the platform's units. Absent: none to check."""

    hash_bits: int | None = spec("hash-code width the clustering used (the HCU's dre.hash_bits)", ge=1, le=64,
                                 default=None)
    wtu_buckets: int | None = spec("score buckets the selection's early exit walked (the WTU's dre.wtu_buckets)",
                                   ge=1, le=65536, default=None)


@dataclass(frozen=True, kw_only=True)
class PolicyCell:
    """One row of a policy's per-(layer, KV head) statistics (the tidy table ``policy_cells``)."""

    stat: str = spec("statistic, e.g. frame_selected, frame_available")
    layer: int = spec("LLM layer", ge=0, le=4096)
    head: int = spec("KV head", ge=0, le=4096)
    value: float = spec("count (tokens)", ge=0)


@dataclass(frozen=True, kw_only=True)
class TraceMetaRecord:
    """The trace metadata's keys, types and ranges (``vrex.meta``; traces/README.md)."""

    schema_version: int = spec("trace schema version", choices=READ_VERSIONS)
    workload: str = spec("workload name")
    model: str = spec("model name")
    mode: str = spec("tracing mode", choices=("meta", "real"))
    kv_policy: str = spec("KV-cache policy", choices=KV_POLICIES)
    kv_policy_params: dict[str, Any] = spec("policy hyperparameters", default_factory=dict)
    fps: float = spec("frames per second", gt=0, le=120)
    frames: int = spec("frames traced", ge=0, le=MAX_FRAMES, why="a day of video at 120 frames/s")
    questions: list[Question] = spec("questions (at_s, prompt_tokens, answer_tokens)", default_factory=tuple)
    tokens_per_frame: int = spec("visual tokens per frame", ge=0, le=65536)
    llm_layers: int = spec("LLM layers", ge=1, le=1024)
    vision_layers: int = spec("vision encoder layers", ge=0, le=1024)
    kv_heads: int = spec("KV heads", ge=1, le=1024)
    head_dim: int = spec("head dimension", ge=1, le=4096)
    batch: int = spec("streams served at once", ge=1, le=1024)
    precision_bits: PrecisionBits = spec("bits per element by tensor class")
    precision: PrecisionConfig | None = spec("precision names (required from schema version 3)", default=None)
    kv_bits_stored: float | None = spec("KV bits a quantising policy stores (required from version 3)", ge=1,
                                        le=16, default=None, why="bits per stored KV element: 4-bit quantisation "
                                        "with its scales stores ~4.25, plain BF16 16")
    kv_prefill_tokens: int = spec("pre-computed cache tokens", ge=0, le=1 << 22, default=0)
    weight_bytes_llm: int = spec("LLM weight bytes", ge=0, le=1 << 50, default=0, why="1 PiB")
    weight_bytes_vision: int = spec("vision weight bytes", ge=0, le=1 << 50, default=0, why="1 PiB")
    trace_wall_s: float = spec("tracing wall time", unit="s", ge=0, default=0.0)
    policy_stats: dict[str, float] = spec("policy counters of the whole cache (all layers and heads)",
                                          default_factory=dict)
    policy_cells: list[PolicyCell] = spec("policy counters per (statistic, layer, KV head): a tidy table",
                                          default_factory=list)
    kv_transfer: KvTransfer | None = spec("the policy's PCIe copy pattern on a GPU; none (traces before it, or "
                                          "policies without one): the platform's offload config", default=None)
    hw_contract: HwContract = spec("the policy's hyperparameters a hardware unit is built for (checked against "
                                   "the platform when simulated)", default_factory=HwContract)
    attention_recall_mean: float | None = spec("real mode: mean attention recall", ge=0, le=1.000001, default=None)

    def validate(self, source: str, prefix: str) -> None:
        if self.schema_version >= 3:
            for name in ("precision", "kv_bits_stored"):
                if getattr(self, name) is None:
                    raise ConfigError(source, f"{prefix}.{name}", f"missing; required by trace schema version "
                                                                  f"{self.schema_version}")
        if self.precision is not None:
            for cls, bits in (("weights", "weight"), ("activations", "activation"), ("kv", "kv")):
                name = getattr(self.precision, cls)
                if PRECISION_BITS[name] != getattr(self.precision_bits, bits):
                    raise ConfigError(source, f"{prefix}.precision_bits.{bits}",
                                      f"{getattr(self.precision_bits, bits)} disagrees with precision.{cls} "
                                      f"'{name}' ({PRECISION_BITS[name]} bits)")


class TraceMeta(dict):
    """Validated trace metadata: a read-only mapping (as the engines read it) backed by a typed record.

    ``TraceMeta.parse(raw, source)`` checks every key the engines read (type, range, cross-field) and raises a
    one-line error naming the file and the key; ``.record`` is the typed :class:`TraceMetaRecord`. Keys beyond
    the record (added by newer tracers) are kept as they are but never read by the engines.
    """

    record: TraceMetaRecord

    @classmethod
    def parse(cls, raw: Any, source: str) -> "TraceMeta":
        if not isinstance(raw, dict):
            raise ConfigError(source, "vrex.meta", f"got {type(raw).__name__}; must be a JSON object")
        known = {f.name for f in dataclasses.fields(TraceMetaRecord)}
        rec = build(TraceMetaRecord, {k: v for k, v in raw.items() if k in known}, source=source,
                    prefix="vrex.meta")
        out = cls(raw)
        out.record = rec
        return out

    @classmethod
    def _rebuild(cls, items: dict, record: TraceMetaRecord) -> "TraceMeta":
        out = cls(items)
        out.record = record
        return out

    def __reduce__(self):  # pickle and copy rebuild it whole (item assignment is refused)
        return (TraceMeta._rebuild, (dict(self), self.record))

    def _readonly(self, *_a, **_k):
        raise TypeError("TraceMeta is read-only; copy it with dict(meta) to change it")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore[assignment]


MetaLike = Union["TraceMetaRecord", Mapping[str, Any]]  # trace metadata as a record, a TraceMeta or a dict


def meta_record(meta: Any, source: str = "<trace metadata>") -> TraceMetaRecord:
    """Trace metadata as its typed record, however it is held: the record itself, a validated TraceMeta (read
    from a file), or a tracer's dict (validated here, as a file's would be)."""
    if isinstance(meta, TraceMetaRecord):
        return meta
    if isinstance(meta, TraceMeta):
        return meta.record
    return TraceMeta.parse(dict(meta) if isinstance(meta, dict) else meta, source).record


def meta_of(trace: Trace, source: str = "<trace>") -> TraceMeta:
    """The trace's metadata as a validated TraceMeta (a traced stream's dict is checked the same way)."""
    return trace.meta if isinstance(trace.meta, TraceMeta) else TraceMeta.parse(trace.meta, source)


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` to ``path`` atomically (temporary file, then rename); its metadata is validated first."""
    from simulator.safe_io import atomic_write

    path = Path(path)
    meta = meta_of(trace, str(path))
    table = pa.Table.from_pandas(trace.events[COLUMN_NAMES], schema=ARROW_SCHEMA, preserve_index=False)
    kv = trace.kv_tokens.to_dict(orient="list") if trace.kv_tokens is not None else {}
    md = dict(table.schema.metadata or {})
    md.pop(b"pandas", None)
    md[META_KEY] = json.dumps(dict(meta)).encode()
    md[KV_KEY] = json.dumps(kv).encode()
    table = table.replace_schema_metadata(md)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def read_trace(path: str | Path) -> Trace:
    """Read and check a trace file; raises TraceError (or ConfigError for a metadata key) naming the file and
    the problem. Nothing in the file is trusted: metadata keys, column types, values, program order and the
    agreement of metadata and events are all checked before anything uses them."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: trace file not found" if not path.exists() else f"{path}: not a regular file")
    try:
        pf = pq.ParquetFile(path)
        md = pf.schema_arrow.metadata or {}
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TraceError(f"{path}: not a readable Parquet trace (truncated or corrupt): {_first_line(exc)}")
    if META_KEY not in md:
        raise TraceError(f"{path}: Parquet file has no 'vrex.meta' metadata; not a vrex trace")
    if len(md[META_KEY]) + len(md.get(KV_KEY, b"")) > MAX_META_BYTES:
        raise TraceError(f"{path}: trace metadata is larger than {MAX_META_BYTES >> 20} MiB (a day-long trace "
                         "needs a few MB); corrupt or not a vrex trace")
    try:
        raw = json.loads(md[META_KEY])
        kv = json.loads(md.get(KV_KEY, b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise TraceError(f"{path}: trace metadata is not valid JSON (corrupt file)") from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version not in READ_VERSIONS or isinstance(version, bool):
        raise TraceError(f"{path}: trace schema version {version!r} is not supported; this vrex reads versions "
                         f"{', '.join(map(str, READ_VERSIONS))} (re-run 'vrex trace' to regenerate)")
    meta = TraceMeta.parse(_cells_from_keys(raw), str(path))
    missing = [c for c in COLUMN_NAMES if c not in pf.schema_arrow.names]
    if missing:
        raise TraceError(f"{path}: trace lacks columns {', '.join(missing)} required by schema {version}")
    if pf.metadata.num_rows == 0:
        raise TraceError(f"{path}: trace has no events (zero rows); re-run 'vrex trace'")
    try:
        table = pf.read(columns=COLUMN_NAMES)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise TraceError(f"{path}: trace data is truncated or corrupt: {_first_line(exc)}")
    if version < 4:
        table, kv = _offload_from_host(table, kv)
    events = _checked_events(table, path)
    validate_events(events, path)
    kv_tokens = _checked_kv(kv, path)
    check_against_meta(events, meta, kv_tokens, path)
    check_model_meta(meta, events, path)
    return Trace(events=events, meta=meta, kv_tokens=kv_tokens)


def _offload_from_host(table: pa.Table, kv: Any) -> tuple[pa.Table, Any]:
    """Traces before schema version 4 called the offload tier "host": its kv_tier value and KV-table column
    take today's names."""
    import pyarrow.compute as pc

    i = table.schema.get_field_index("kv_tier")
    if i >= 0 and pa.types.is_string(table.schema.field(i).type):
        col = table.column(i)
        table = table.set_column(i, "kv_tier", pc.if_else(pc.equal(col, "host"), "offload", col))
    if isinstance(kv, dict) and "host_slots_all_layers" in kv:
        kv = {("offload_slots_all_layers" if k == "host_slots_all_layers" else k): v for k, v in kv.items()}
    return table, kv


def _cells_from_keys(raw: dict) -> dict:
    """Traces written before ``policy_cells`` kept per-(layer, head) counters as ``policy_stats`` keys
    ``stat/L<layer>/H<head>``: they become rows of the tidy table."""
    stats = raw.get("policy_stats")
    if not isinstance(stats, dict) or not any(isinstance(k, str) and "/" in k for k in stats):
        return raw
    cells, totals = list(raw.get("policy_cells", [])), {}
    for key, val in stats.items():
        parts = key.split("/") if isinstance(key, str) else []
        if len(parts) == 3 and parts[1][:1] == "L" and parts[2][:1] == "H" and parts[1][1:].isdigit() \
                and parts[2][1:].isdigit():
            cells.append({"stat": parts[0], "layer": int(parts[1][1:]), "head": int(parts[2][1:]), "value": val})
        else:
            totals[key] = val
    return {**raw, "policy_stats": totals, "policy_cells": cells}


def policy_cells(meta) -> pd.DataFrame:
    """A trace's per-(layer, KV head) policy statistics as a table: stat, layer, head, value (empty if none)."""
    return pd.DataFrame(list(meta.get("policy_cells", [])), columns=["stat", "layer", "head", "value"])


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


_ARROW_BY_NAME = {name: tp for name, tp, _ in COLUMNS}


def _checked_events(table: pa.Table, path) -> pd.DataFrame:
    """The events as pandas with the schema's dtypes; every column's type, nulls, finiteness, integrality and
    range are checked on the file's own values before any cast."""
    cols: dict[str, Any] = {}
    for name in COLUMN_NAMES:
        want = _ARROW_BY_NAME[name]
        col = table.column(name)
        got = col.type
        if pa.types.is_dictionary(got):
            got = got.value_type
        if col.null_count:
            i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            what = "is null (missing or NaN): not a finite number" if pa.types.is_floating(got) else "is null"
            raise TraceError(f"{path}: column '{name}', row {i}: {what} ({col.null_count} bad row(s))")
        if pa.types.is_string(want):
            if not (pa.types.is_string(got) or pa.types.is_large_string(got)):
                raise TraceError(f"{path}: column '{name}' has type {got}; must be strings")
            cols[name] = col.to_pandas().astype(object).to_numpy()
            continue
        if not (pa.types.is_integer(got) or pa.types.is_floating(got)):
            raise TraceError(f"{path}: column '{name}' has type {got}; must be {want}")
        v = col.to_numpy()
        dtype = np.dtype(NUMPY_DTYPES[name])
        if v.dtype == dtype:
            cols[name] = v
            continue
        if v.dtype.kind == "f":
            _first_bad(path, name, ~np.isfinite(v), v, "is not a finite number")
            if dtype.kind in "iu":
                _first_bad(path, name, v != np.floor(v), v, f"is not an integer (column type {want})")
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            fv = v.astype(np.float64) if v.dtype.kind == "f" else v
            bad = (fv < info.min) | (fv > info.max)
            _first_bad(path, name, bad, v, f"does not fit the column's type {want}")
        cols[name] = v.astype(dtype)
    return pd.DataFrame(cols)


KV_COLUMNS = ("phase", "frame", "question", "step", "kv_slots", "tokens_seen", "kv_slots_all_layers",
              "offload_slots_all_layers")


def _checked_kv(kv: Any, path) -> pd.DataFrame | None:
    """The per-phase KV occupancy table (``vrex.kv_tokens``): its columns, types and ranges."""
    if not kv:
        return None
    where = f"{path}: vrex.kv_tokens"
    if not isinstance(kv, dict):
        raise TraceError(f"{where}: must be a JSON object of columns")
    missing = [c for c in KV_COLUMNS if c not in kv]
    if missing:
        raise TraceError(f"{where}: lacks columns {', '.join(missing)}")
    lens = {c: len(kv[c]) if isinstance(kv[c], list) else -1 for c in KV_COLUMNS}
    if min(lens.values()) < 0 or len(set(lens.values())) != 1:
        raise TraceError(f"{where}: columns must be lists of equal length (got {lens})")
    out: dict[str, Any] = {}
    for c in KV_COLUMNS:
        vals = kv[c]
        if c == "phase":
            bad = [i for i, x in enumerate(vals) if x not in KV_PHASES]
            if bad:
                raise TraceError(f"{where}: column 'phase', row {bad[0]}: {vals[bad[0]]!r} is not one of "
                                 f"{', '.join(KV_PHASES)}")
            out[c] = vals
            continue
        bad = [i for i, x in enumerate(vals) if isinstance(x, bool) or not isinstance(x, int)
               or not (-1 if c in ("frame", "question", "step") else 0) <= x < 2**62]
        if bad:
            floor = -1 if c in ("frame", "question", "step") else 0
            raise TraceError(f"{where}: column '{c}', row {bad[0]}: {vals[bad[0]]!r} is not an integer in "
                             f"[{floor}, 2^62)")
        out[c] = np.asarray(vals, dtype=np.int64)
    return pd.DataFrame(out)


def check_against_meta(ev: pd.DataFrame, meta: TraceMeta, kv: pd.DataFrame | None, path) -> None:
    """Metadata and events must describe the same stream: frames, questions and their answers, fps (the frame
    arrival times), layers."""
    rec = meta.record
    phase = ev["phase"].to_numpy()
    frame = ev["frame"].to_numpy()
    fr = np.unique(frame[phase == "frame_prefill"])
    if fr.size != rec.frames or (fr.size and (fr[0] != 0 or fr[-1] != rec.frames - 1)):
        raise ConfigError(str(path), "vrex.meta.frames", f"says {rec.frames} frames but the events prefill "
                          f"{fr.size} frame(s)" + (f" numbered {fr[0]}..{fr[-1]}" if fr.size else ""))
    _first_bad(path, "frame", frame >= rec.frames, frame, f"is not below the metadata's frames ({rec.frames})")
    t = ev["t_arrival_s"].to_numpy()
    sel = phase == "frame_prefill"
    expect = frame[sel] / rec.fps
    bad = np.abs(t[sel] - expect) > 1e-6 * np.maximum(1.0, expect)
    if bad.any():
        i = int(np.flatnonzero(sel)[np.flatnonzero(bad)[0]])
        raise ConfigError(str(path), "vrex.meta.fps", f"{rec.fps:g} disagrees with the events: frame {frame[i]} "
                          f"arrives at {t[i]:g} s (row {i}), expected {frame[i] / rec.fps:g} s")
    q = ev["question"].to_numpy()
    nq = len(rec.questions)
    _first_bad(path, "question", q >= nq, q, f"is not below the metadata's number of questions ({nq})")
    step = ev["step"].to_numpy()
    for i, qq in enumerate(rec.questions):
        mine = q == i
        if not (mine & (phase == "question_prefill")).any():
            raise ConfigError(str(path), f"vrex.meta.questions[{i}]", "is never prefilled in the events")
        steps = np.unique(step[mine & (phase == "decode")])
        if steps.size != qq.answer_tokens or (steps.size and steps[-1] != qq.answer_tokens - 1):
            raise ConfigError(str(path), f"vrex.meta.questions[{i}].answer_tokens",
                              f"says {qq.answer_tokens} but the events decode {steps.size} step(s)")
        ta = t[mine & (phase == "question_prefill")]
        if ta.size and abs(float(ta[0]) - qq.at_s) > 1e-6 * max(1.0, qq.at_s):
            raise ConfigError(str(path), f"vrex.meta.questions[{i}].at_s",
                              f"{qq.at_s:g} s disagrees with the events' arrival {float(ta[0]):g} s")
    layer = ev["layer"].to_numpy()
    vis = phase == "vision"
    _first_bad(path, "layer", vis & (layer >= rec.vision_layers), layer,
               f"is not below the metadata's vision_layers ({rec.vision_layers})")
    _first_bad(path, "layer", ~vis & (layer >= rec.llm_layers), layer,
               f"is not below the metadata's llm_layers ({rec.llm_layers})")
    if kv is not None:
        kvf = kv["frame"].to_numpy()
        _first_bad(f"{path}: vrex.kv_tokens", "frame", kvf >= max(rec.frames, 1), kvf,
                   f"is not below the metadata's frames ({rec.frames})")


BYTE_COLUMNS = ("bytes_weight_read", "bytes_act_read", "bytes_act_write", "bytes_kv_read", "bytes_kv_write",
                "bytes_hc_read", "bytes_hc_write")
# a row's bytes and FLOPs may reach at most this multiple of what the model's shapes allow (module docstring of
# check_model_meta): the traced models' largest rows reach 0.75 of the bound (tiny and VideoLLM-online-8B, every
# policy, batch 1 and 4, 0 and 10K cached tokens), so 4 leaves room without letting a corrupt row through
_SHAPE_SLACK = 4.0
_MAX_KV_CHANNELS = 1 << 17  # kv_heads x head_dim: 8 x 128 for Llama-3-8B, 128 x 128 for a 70B MHA model


def check_model_meta(meta, ev: pd.DataFrame, path) -> None:
    """The metadata fields that feed the models, checked against the events (one line naming the key):

    - ``tokens_per_frame``: every frame-prefill row processes that many tokens (and at least one);
    - KV geometry: ``kv_heads`` x ``head_dim`` at most 2^17 channels, and ``2 x kv_heads x head_dim x
      kv_bits_stored / 8`` bytes per token (per stream and layer) must be what the median KV write of a token
      stores (the median write; at least half of it: a quantising policy's scales, partial-key copies write less);
    - per row: no byte column above ``_SHAPE_SLACK`` x max(weight bytes, context tokens x batch x 16-bit K+V
      bytes per token x LLM layers), no FLOPs above ``_SHAPE_SLACK`` x context tokens x batch x max(weight
      bytes, context tokens x K+V bytes per token), the context being the pre-computed cache, every frame's
      tokens and every question's prompt and answer.

    ``meta`` is the trace's TraceMeta (or its typed record)."""
    rec = getattr(meta, "record", meta)
    src = str(path)
    phase = ev["phase"].to_numpy()
    tokens = ev["tokens"].to_numpy(np.int64)
    fp = phase == "frame_prefill"
    if fp.any():
        if rec.tokens_per_frame < 1:
            raise ConfigError(src, "vrex.meta.tokens_per_frame", f"got {rec.tokens_per_frame} but the events prefill "
                                                                 "frames; must be >= 1")
        _first_bad(path, "tokens", fp & (tokens != rec.tokens_per_frame), tokens,
                   f"(a frame-prefill row) differs from the metadata's tokens_per_frame ({rec.tokens_per_frame})")
    channels = rec.kv_heads * rec.head_dim
    if channels > _MAX_KV_CHANNELS:
        raise ConfigError(src, "vrex.meta.kv_heads", f"kv_heads x head_dim = {rec.kv_heads} x {rec.head_dim} = "
                                                     f"{channels:,} KV channels; at most {_MAX_KV_CHANNELS:,}")
    bits = rec.kv_bits_stored if rec.kv_bits_stored is not None else rec.precision_bits.kv
    per_token = 2 * channels * bits / 8  # K and V bytes of one token, one stream, one layer
    kw = (ev["kind"].to_numpy() == "kv_write") & (tokens > 0)
    if kw.any():
        written = ev["bytes_kv_write"].to_numpy(np.float64)[kw] / (tokens[kw] * rec.batch)
        # the median write: a policy's re-layout of closed clusters moves more tokens than its row counts
        most = float(np.median(written))
        if not 0.5 * per_token <= most <= per_token * (1 + 1e-9) + 1:
            raise ConfigError(src, "vrex.meta.kv_bits_stored", f"the KV geometry (2 x kv_heads {rec.kv_heads} x "
                              f"head_dim {rec.head_dim} x kv_bits_stored {bits:g} / 8 = {per_token:.6g} bytes per "
                              f"token) disagrees with the events, whose median KV write stores {most:.6g} bytes per "
                              "token")
    ctx = rec.kv_prefill_tokens + rec.frames * rec.tokens_per_frame + sum(
        q.prompt_tokens + q.answer_tokens for q in rec.questions)
    kv16 = 2 * channels * 2.0
    weights = float(rec.weight_bytes_llm + rec.weight_bytes_vision)
    max_bytes = _SHAPE_SLACK * max(weights, ctx * rec.batch * kv16 * rec.llm_layers, 1 << 20)
    for col in BYTE_COLUMNS:
        v = ev[col].to_numpy()
        _first_bad(path, col, v > max_bytes, v, f"bytes exceed what the model's shapes allow in one kernel "
                   f"({max_bytes:.3g}: weights, or the whole context's KV of every layer, x {_SHAPE_SLACK:g})")
    max_flops = _SHAPE_SLACK * max(ctx, 1) * rec.batch * max(weights, ctx * kv16, 1 << 20)
    for col in ("flops_matmul", "flops_vector"):
        v = ev[col].to_numpy()
        _first_bad(path, col, v > max_flops, v, f"FLOPs exceed what the model's shapes allow in one kernel "
                   f"({max_flops:.3g})")


# index columns that may be -1 ("none"); every other numeric column is a count, a size or bytes (>= 0)
_MAY_BE_MINUS_ONE = ("frame", "question", "step", "layer", "head_group")
_POSITIVE = ("weight_bits", "act_bits", "kv_bits")
_MAX_GEMM_FLOPS = 2**62  # int64 holds 2^63 - 1; a kernel of 4.6e18 FLOPs takes hours on any chip
_MAX_T_S = 86400.0  # a day of video (the workload schema's limit on duration_s)


def _first_bad(path, col: str, bad: np.ndarray, values, what: str) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        i = int(rows[0])
        v = values[i].item() if hasattr(values[i], "item") else values[i]
        raise TraceError(f"{path}: column '{col}', row {i}: {v!r} {what} ({rows.size} bad row(s))")


def validate_events(ev: pd.DataFrame, path) -> None:
    """Check values, not only columns: finite, non-negative counts and bytes, known kinds, tiers and phases,
    matrix FLOPs equal to 2 x batch x m x n x k, and stream time and frames in order. Raises TraceError
    naming the file, the column and the first bad row."""
    for col, allowed in (("phase", PHASES), ("kind", KINDS), ("kv_tier", TIERS)):
        v = ev[col].to_numpy()
        _first_bad(path, col, ~np.isin(v, allowed), v, f"is not one of {', '.join(allowed)}")
    for col in NUMPY_DTYPES:
        v = ev[col].to_numpy()
        if v.dtype.kind == "f":
            _first_bad(path, col, ~np.isfinite(v), v, "is not a finite number")
        floor = -1 if col in _MAY_BE_MINUS_ONE else (1 if col in _POSITIVE else 0)
        _first_bad(path, col, v < floor, v, f"is below {floor}")
        if col in _POSITIVE:
            _first_bad(path, col, v > 32, v, "is above 32 bits per element")
    b, m, n, k = (ev[c].to_numpy(np.int64) for c in ("batch", "m", "n", "k"))
    fm = ev["flops_matmul"].to_numpy(np.int64)
    # the product in floating point first: 2 x b x m x n x k of int64 columns can wrap (2^31 x 2^31 x ... = 0)
    fprod = 2.0 * b.astype(np.float64) * m * n * k
    _first_bad(path, "flops_matmul", fprod > _MAX_GEMM_FLOPS, fprod,
               "= 2 x batch x m x n x k overflows 2^62 (GEMM dimensions too large)")
    _first_bad(path, "flops_matmul", fm != 2 * b * m * n * k, fm, "differs from 2 x batch x m x n x k")
    t = ev["t_arrival_s"].to_numpy()
    _first_bad(path, "t_arrival_s", t > _MAX_T_S, t, f"is later than {_MAX_T_S:g} s (a day of video)")
    _first_bad(path, "t_arrival_s", np.r_[False, np.diff(t) < 0], t, "is earlier than the row before (phases "
               "must be in stream order)")
    f = ev["frame"].to_numpy()
    _first_bad(path, "frame", np.r_[False, np.diff(f) < 0], f, "is smaller than the row before (frames must be "
               "in stream order)")
    check_program_order(ev, path)


def check_program_order(ev: pd.DataFrame, path) -> None:
    """Rows of one phase instance (phase, frame, question, step) are contiguous and in program order: rows
    outside layers (layer -1: embedding, LM head, projector) only before or after the layers, which run in
    ascending order."""
    n = len(ev)
    if n < 2:
        return
    keys = np.stack([pd.factorize(ev["phase"])[0], ev["frame"].to_numpy(np.int64),
                     ev["question"].to_numpy(np.int64), ev["step"].to_numpy(np.int64)], axis=1)
    new = np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)]
    blk = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    uniq = np.unique(keys[starts], axis=0)
    if len(uniq) != len(starts):
        seen: set = set()
        for i in starts:
            key = tuple(keys[i])
            if key in seen:
                raise TraceError(f"{path}: row {int(i)}: phase {ev['phase'].iat[i]} (frame {key[1]}, question "
                                 f"{key[2]}, step {key[3]}) resumes after other phases ran (rows out of order)")
            seen.add(key)
    layer = ev["layer"].to_numpy(np.int64)
    pos = np.arange(n)
    inl = layer >= 0
    li = pos[inl]
    if li.size > 1:
        dec = (blk[li][1:] == blk[li][:-1]) & (layer[li][1:] < layer[li][:-1])
        if dec.any():
            i = int(li[1:][dec][0])
            raise TraceError(f"{path}: column 'layer', row {i}: {int(layer[i])} follows layer "
                             f"{int(layer[li[:-1][dec][0]])} within one {ev['phase'].iat[i]} phase (rows out of "
                             "program order)")
    if li.size:
        nb = int(blk[-1]) + 1
        first = np.full(nb, n)
        last = np.full(nb, -1)
        np.minimum.at(first, blk[li], li)
        np.maximum.at(last, blk[li], li)
        bad = ~inl & (pos > first[blk]) & (pos < last[blk])
        _first_bad(path, "layer", bad, layer, "(outside layers) lies between layers of one phase (rows out of "
                   "program order)")
