"""The per-trace plan (engine/replay/plan.py): computed once per events table, reused across hardware points, and
giving the same results as a fresh computation."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pandas as pd
import pytest

import simulator.engine.replay.plan as plan_mod
from simulator.config.workload import KvPolicyConfig
from simulator.engine.ops import OpArrays
from simulator.engine.replay.plan import _distinct_rows, trace_plan
from simulator.engine.simulate import simulate
from simulator.stream import trace_workload
from simulator.tracer.trace_file import Trace


@pytest.fixture(scope="module")
def resv_trace(tiny_workload):
    wl = tiny_workload.with_stream(duration_s=3.0).replace(
        kv_policy=KvPolicyConfig(name="resv", params={"recent_window": 32}))
    return trace_workload(wl, mode="meta")


def test_plan_is_kept_per_events_table_and_dropped_with_it(resv_trace):
    ev = resv_trace.events
    assert trace_plan(ev) is trace_plan(ev)
    copy = ev.copy()
    p = trace_plan(copy)
    assert p is not trace_plan(ev)
    key = id(copy)
    assert key in plan_mod._PLANS
    del copy, p
    gc.collect()
    assert key not in plan_mod._PLANS


def test_distinct_rows_rebuild_every_row(resv_trace):
    ev = resv_trace.events
    p = trace_plan(ev)
    assert len(p.unique) < len(ev) and len(p.inverse) == len(ev)
    full = OpArrays.from_events(ev)
    for c in OpArrays.INT_COLS + OpArrays.FLOAT_COLS:
        assert np.array_equal(p.unique[c][p.inverse], full[c]), c
    assert np.array_equal(p.unique.kind[p.inverse], full.kind)
    assert np.array_equal(p.unique.tier[p.inverse], full.tier)
    assert np.array_equal(p.unique.head_group[p.inverse], full.head_group)


def test_distinct_rows_survive_hash_collisions(monkeypatch):
    """Rows whose hashes collide are told apart by the exact check (here every row hashes alike)."""
    rng = np.random.default_rng(1)
    cols = [rng.integers(0, 3, 500), rng.integers(0, 2, 500)]
    monkeypatch.setattr(plan_mod, "_HASH_MULT", np.uint64(0))
    first, inv = _distinct_rows(cols)
    for c in cols:
        assert np.array_equal(c[first][inv], c)
    assert len(first) == len({(int(a), int(b)) for a, b in zip(*cols)})


def _same(a, b) -> None:
    assert a.ops.columns.tolist() == b.ops.columns.tolist()
    pd.testing.assert_frame_equal(a.ops, b.ops, check_exact=True)
    assert a.total_s == b.total_s and a.notes == b.notes and a.utilisation == b.utilisation


def test_a_reused_plan_gives_the_results_of_a_fresh_one(resv_trace, vrex8_hw, orin_hw):
    """A sweep over hardware on one trace (the plan reused) gives the results each point gets alone (a fresh
    copy of the events, so a fresh plan)."""
    # the program without prefetch first: the prefetching one is then built from its dependencies
    variants = [dataclasses.replace(vrex8_hw, dre=dataclasses.replace(vrex8_hw.dre, prefetch=False)), vrex8_hw,
                dataclasses.replace(vrex8_hw, cores=2), orin_hw]
    tr = Trace(events=resv_trace.events.copy(), meta=resv_trace.meta, kv_tokens=resv_trace.kv_tokens)
    swept = [simulate(tr, hw) for hw in variants]
    assert trace_plan(tr.events).schedule(True).reordered and not trace_plan(tr.events).schedule(False).reordered
    for hw, got in zip(variants, swept):
        fresh = Trace(events=resv_trace.events.copy(), meta=resv_trace.meta, kv_tokens=resv_trace.kv_tokens)
        _same(simulate(fresh, hw), got)
