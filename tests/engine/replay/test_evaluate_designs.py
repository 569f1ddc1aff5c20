"""The batched study path (``simulate.evaluate_designs``: many designs on one trace, aggregates only) gives the
same figures as one-by-one ``simulate``, exactly: run totals, per-phase sums, stream metrics, utilisation,
status and notes; on an accelerator with and without prefetch (one and two layers ahead), with KV evicted
from a small DRAM, on a GPU, with a point that cannot run, and with the SimPy reference engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from simulator.config.hardware import load_hardware
from simulator.config.workload import KvPolicyConfig
from simulator.engine.memory.kv_memory import kv_bytes_held
from simulator.engine.result import phase_sums
from simulator.engine.simulate import evaluate_designs, simulate
from simulator.results.metrics import stream_metrics
from simulator.stream import trace_workload

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def resv_trace(tiny_workload):
    wl = tiny_workload.with_stream(duration_s=3.0).replace(
        kv_policy=KvPolicyConfig(name="resv", params={"recent_window": 32}))
    return trace_workload(wl, mode="meta")


def _designs(trace):
    vrex8 = load_hardware(ROOT / "hwconfigs" / "vrex8-edge.yaml")
    held = kv_bytes_held(trace.kv_tokens, trace.meta)
    weights = trace.meta["weight_bytes_llm"] + trace.meta["weight_bytes_vision"]
    small = dataclasses.replace(vrex8, dram=dataclasses.replace(vrex8.dram, capacity_gib=(weights + held.max() / 2)
                                                                / 2**30))  # the KV overflows it mid-stream
    too_small = dataclasses.replace(vrex8, dram=dataclasses.replace(vrex8.dram, capacity_gib=weights / 2 / 2**30))
    return [vrex8, dataclasses.replace(vrex8, cores=4, clock_mhz=600.0),
            dataclasses.replace(vrex8, dre=dataclasses.replace(vrex8.dre, prefetch=False)), small, too_small,
            load_hardware(ROOT / "hwconfigs" / "vrex-edge.yaml"),
            load_hardware(ROOT / "hwconfigs" / "orin-agx-64gb.yaml"),
            dataclasses.replace(vrex8, dre=dataclasses.replace(vrex8.dre, prefetch_layers=2))]


def _assert_same(batched, one, fps):
    assert (batched.status, batched.notes, batched.capacity) == (one.status, one.notes, one.capacity)
    if not one.ok:
        return
    assert batched.ops.empty and batched.n_ops == len(one.ops)
    assert batched.total_s == one.total_s
    pd.testing.assert_frame_equal(batched.phases, phase_sums(one.ops), check_exact=True)
    assert stream_metrics(batched, fps)[0] == stream_metrics(one, fps)[0]
    assert batched.utilisation == one.utilisation


def test_batched_equals_one_by_one(resv_trace):
    designs = _designs(resv_trace)
    results = evaluate_designs(resv_trace, designs)
    assert len(results) == len(designs)
    assert [r.status == "ok" for r in results] == [True, True, True, True, False, True, True, True]
    assert results[3].notes  # the small DRAM evicted KV (the case is exercised)
    for hw, res in zip(designs, results):
        _assert_same(res, simulate(resv_trace, hw), resv_trace.meta["fps"])


def test_batched_simpy_equals_compiled(tiny_workload):
    """The SimPy reference engine gives the batched path the same times as the compiled kernel."""
    tr = trace_workload(tiny_workload.with_stream(duration_s=1.0).replace(
        kv_policy=KvPolicyConfig(name="resv", params={"recent_window": 32})), mode="meta")
    hw = [load_hardware(ROOT / "hwconfigs" / "vrex8-edge.yaml")]
    a, = evaluate_designs(tr, hw, engine="simpy")
    b, = evaluate_designs(tr, hw)
    assert a.total_s == b.total_s
    pd.testing.assert_frame_equal(a.phases, b.phases, check_exact=True)
    _assert_same(a, simulate(tr, hw[0], engine="simpy"), tr.meta["fps"])


def test_unknown_engine(resv_trace):
    with pytest.raises(ValueError, match="unknown replay engine"):
        evaluate_designs(resv_trace, [], engine="nope")
