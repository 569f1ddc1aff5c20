"""Trace files: Apache Parquet with a versioned schema (documented in traces/README.md).

The events table is the file's row data; the trace metadata (JSON) and the per-phase KV-cache
occupancy table (JSON records) sit in the Parquet key-value metadata under ``vrex.meta`` and
``vrex.kv_tokens``. Readers check the schema version and the columns, and turn any damage
(truncation, wrong format, wrong version) into a one-line :class:`TraceError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.errors import TraceError
from simulator.tracer.events import ARROW_SCHEMA, COLUMN_NAMES, KINDS, NUMPY_DTYPES, PHASES, SCHEMA_VERSION, TIERS


@dataclass
class Trace:
    """Events (one row per kernel, see events.py) and metadata of one traced stream."""

    events: pd.DataFrame
    meta: dict = field(default_factory=dict)
    kv_tokens: pd.DataFrame | None = None  # per phase end: tokens held in a layer's cache
    recall: pd.DataFrame | None = None  # real mode with probes: attention-mass recall per step


META_KEY = b"vrex.meta"
KV_KEY = b"vrex.kv_tokens"


def write_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(trace.events[COLUMN_NAMES], schema=ARROW_SCHEMA, preserve_index=False)
    kv = trace.kv_tokens.to_dict(orient="list") if trace.kv_tokens is not None else {}
    meta = dict(table.schema.metadata or {})
    meta.pop(b"pandas", None)
    meta[META_KEY] = json.dumps(trace.meta).encode()
    meta[KV_KEY] = json.dumps(kv).encode()
    table = table.replace_schema_metadata(meta)
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def read_trace(path: str | Path) -> Trace:
    """Read and check a trace file; raises TraceError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: trace file not found")
    try:
        pf = pq.ParquetFile(path)
        md = pf.schema_arrow.metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise TraceError(f"{path}: not a readable Parquet trace (truncated or corrupt): {str(exc).splitlines()[0]}")
    if META_KEY not in md:
        raise TraceError(f"{path}: Parquet file has no 'vrex.meta' metadata; not a vrex trace")
    try:
        meta = json.loads(md[META_KEY])
        kv = json.loads(md.get(KV_KEY, b"{}"))
    except json.JSONDecodeError:
        raise TraceError(f"{path}: trace metadata is not valid JSON (corrupt file)")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise TraceError(f"{path}: trace schema version {version!r} is not supported; this vrex reads version "
                         f"{SCHEMA_VERSION} (re-run 'vrex trace' to regenerate)")
    missing = [c for c in COLUMN_NAMES if c not in pf.schema_arrow.names]
    if missing:
        raise TraceError(f"{path}: trace lacks columns {', '.join(missing)} required by schema {SCHEMA_VERSION}")
    try:
        table = pf.read(columns=COLUMN_NAMES)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TraceError(f"{path}: trace data is truncated or corrupt: {str(exc).splitlines()[0]}")
    events = table.to_pandas().astype(NUMPY_DTYPES)
    validate_events(events, path)
    return Trace(events=events, meta=meta, kv_tokens=pd.DataFrame(kv) if kv else None)


# index columns that may be -1 ("none"); every other numeric column is a count, a size or bytes (>= 0)
_MAY_BE_MINUS_ONE = ("frame", "question", "step", "layer", "head_group")
_POSITIVE = ("weight_bits", "act_bits", "kv_bits")


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
    b, m, n, k = (ev[c].to_numpy(np.int64) for c in ("batch", "m", "n", "k"))
    fm = ev["flops_matmul"].to_numpy(np.int64)
    _first_bad(path, "flops_matmul", fm != 2 * b * m * n * k, fm, "differs from 2 x batch x m x n x k")
    t = ev["t_arrival_s"].to_numpy()
    _first_bad(path, "t_arrival_s", np.r_[False, np.diff(t) < 0], t, "is earlier than the row before (phases "
               "must be in stream order)")
    f = ev["frame"].to_numpy()
    _first_bad(path, "frame", np.r_[False, np.diff(f) < 0], f, "is smaller than the row before (frames must be "
               "in stream order)")
