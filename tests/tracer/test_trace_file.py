"""Trace files round-trip; damaged or foreign files give one-line errors."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from simulator.errors import TraceError
from simulator.tracer.trace_file import META_KEY, read_trace, write_trace


def test_round_trip(tmp_path, tiny_trace):
    p = write_trace(tiny_trace, tmp_path / "t.parquet")
    back = read_trace(p)
    assert back.events.equals(tiny_trace.events)
    assert back.meta == json.loads(json.dumps(tiny_trace.meta))
    assert back.kv_tokens.equals(tiny_trace.kv_tokens)


def test_truncated(tmp_path, tiny_trace):
    p = write_trace(tiny_trace, tmp_path / "t.parquet")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="truncated or corrupt"):
        read_trace(p)


def test_not_parquet(tmp_path):
    p = tmp_path / "x.parquet"
    p.write_text("hello")
    with pytest.raises(TraceError) as ei:
        read_trace(p)
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_wrong_version(tmp_path, tiny_trace):
    p = write_trace(tiny_trace, tmp_path / "t.parquet")
    table = pq.read_table(p)
    md = dict(table.schema.metadata)
    meta = json.loads(md[META_KEY])
    meta["schema_version"] = 99
    md[META_KEY] = json.dumps(meta).encode()
    pq.write_table(table.replace_schema_metadata(md), p)
    with pytest.raises(TraceError, match="version 99 is not supported"):
        read_trace(p)


def test_missing(tmp_path):
    with pytest.raises(TraceError, match="not found"):
        read_trace(tmp_path / "none.parquet")
