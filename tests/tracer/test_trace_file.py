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


def _corrupt(tmp_path, trace, col, value, row=3):
    ev = trace.events.copy()
    ev.loc[row, col] = value
    from simulator.tracer.trace_file import Trace

    return write_trace(Trace(events=ev, meta=trace.meta, kv_tokens=trace.kv_tokens), tmp_path / "bad.parquet")


@pytest.mark.parametrize("col, value, needle", [
    ("flops_matmul", -5, "below 0"),
    ("bytes_kv_read", -1, "below 0"),
    ("t_arrival_s", float("nan"), "not a finite number"),
    ("kind", "warp", "is not one of"),
    ("kv_tier", "tape", "is not one of"),
    ("phase", "lunch", "is not one of"),
    ("kv_bits", 0, "below 1"),
])
def test_corrupt_values_one_line(tmp_path, tiny_trace, col, value, needle):
    p = _corrupt(tmp_path, tiny_trace, col, value)
    with pytest.raises(TraceError) as ei:
        read_trace(p)
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and f"column '{col}'" in msg and "row 3" in msg and needle in msg


def test_flops_inconsistent_with_shape(tmp_path, tiny_trace):
    row = int(tiny_trace.events.index[tiny_trace.events["m"] > 0][0])
    p = _corrupt(tmp_path, tiny_trace, "flops_matmul", int(tiny_trace.events.loc[row, "flops_matmul"]) + 2, row)
    with pytest.raises(TraceError, match=f"column 'flops_matmul', row {row}: .* differs from 2 x batch"):
        read_trace(p)


def test_phases_out_of_order(tmp_path, tiny_trace):
    ev = tiny_trace.events
    last = len(ev) - 1
    assert ev["t_arrival_s"].iloc[last - 1] > 0
    p = _corrupt(tmp_path, tiny_trace, "t_arrival_s", 0.0, last)
    with pytest.raises(TraceError, match=f"column 't_arrival_s', row {last}: .*stream order"):
        read_trace(p)


def test_old_per_layer_keys_become_the_tidy_table():
    """Traces written before the tidy table kept per-(layer, head) counters as 'stat/L<l>/H<h>' keys."""
    from simulator.tracer.trace_file import _cells_from_keys, policy_cells

    raw = {"policy_stats": {"frame_selected": 5.0, "frame_selected/L3/H1": 2.0, "frame_available/L3/H1": 4.0}}
    up = _cells_from_keys(raw)
    assert up["policy_stats"] == {"frame_selected": 5.0}
    t = policy_cells(up)
    assert sorted(t.itertuples(index=False, name=None)) == [("frame_available", 3, 1, 4.0),
                                                            ("frame_selected", 3, 1, 2.0)]
    assert _cells_from_keys({"policy_stats": {"a": 1.0}}) == {"policy_stats": {"a": 1.0}}


def test_a_precomputed_cache_round_trips(root, tmp_path):
    """A trace with a pre-computed KV cache (its KV table starts with a kv_prefill row) reads back."""
    from simulator.config.workload import load_workload
    from simulator.stream import trace_workload
    from simulator.tracer.trace_file import read_trace, write_trace

    wl = load_workload(root / "workloads" / "tiny.yaml").replace(kv_prefill_tokens=64)
    tr = trace_workload(wl.with_stream(duration_s=1.0, questions=()), mode="meta")
    assert tr.kv_tokens["phase"].iloc[0] == "kv_prefill"
    back = read_trace(write_trace(tr, tmp_path / "t.parquet"))
    assert back.kv_tokens.equals(tr.kv_tokens) and len(back.events) == len(tr.events)
