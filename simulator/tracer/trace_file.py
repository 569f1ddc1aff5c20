"""Trace files: Apache Parquet with a versioned schema (documented in traces/README.md).

The events table is the file's row data; the trace metadata (JSON) and the per-phase KV-cache
occupancy table (JSON records) sit in the Parquet key-value metadata under ``vrex.meta`` and
``vrex.kv_tokens``. Readers check the schema version and the columns, and turn any damage
(truncation, wrong format, wrong version) into a one-line :class:`TraceError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.errors import TraceError
from simulator.tracer.events import ARROW_SCHEMA, COLUMN_NAMES, NUMPY_DTYPES, SCHEMA_VERSION
from simulator.tracer.stream import Trace

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
    return Trace(events=events, meta=meta, kv_tokens=pd.DataFrame(kv) if kv else None)
