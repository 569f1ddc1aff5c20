"""V-Rex8 replaying ReSV: monotonicity in cores, bandwidth and clock; bytes per tier; DRE overlap; KVMU."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.engine.simulate import simulate

KEYS = ["phase", "frame", "question", "step"]


def _scaled(hw, cores=None, bw=1.0, clock=1.0, link=1.0):
    off = hw.offload
    return dataclasses.replace(
        hw, cores=cores or hw.cores, clock_mhz=hw.clock_mhz * clock,
        dram=dataclasses.replace(hw.dram, bandwidth_gbps=hw.dram.bandwidth_gbps * bw),
        offload=dataclasses.replace(off, link=dataclasses.replace(off.link, efficiency=off.link.efficiency * link)))


def test_more_cores_never_slower(tiny_resv_trace, vrex8_hw):
    prev = None
    for cores in (1, 2, 3, 4, 6, 8, 16):
        ends = simulate(tiny_resv_trace, _scaled(vrex8_hw, cores=cores)).ops.groupby(KEYS)["end_s"].max()
        if prev is not None:
            assert (ends <= prev + 1e-12).all()
        prev = ends


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 12), st.floats(0.25, 4.0), st.floats(0.25, 4.0), st.floats(0.1, 1.0),
       st.integers(0, 4), st.floats(1.0, 3.0), st.floats(1.0, 3.0), st.floats(1.0, 3.0))
def test_more_of_anything_never_slower(tiny_resv_trace, vrex8_hw, cores, bw, clock, link, more_cores, more_bw,
                                       more_clock, more_link):
    base = simulate(tiny_resv_trace, _scaled(vrex8_hw, cores, bw, clock, link))
    better = simulate(tiny_resv_trace, _scaled(vrex8_hw, cores + more_cores, bw * more_bw,
                                                           clock * more_clock, min(1.0, link * more_link)))
    assert better.total_s <= base.total_s * (1 + 1e-12)


def test_bytes_conserved_per_tier(tiny_resv_trace, vrex8_hw):
    ev = tiny_resv_trace.events
    hw = dataclasses.replace(vrex8_hw, sram=dataclasses.replace(vrex8_hw.sram, activation_kb=1 << 20))  # no spills
    ops = simulate(tiny_resv_trace, hw).ops
    host = ev["kv_tier"] == "offload"
    assert host.any() and ops["offload_bytes"].sum() == ev.loc[host, ["bytes_kv_read", "bytes_kv_write"]].sum().sum()
    dram_in_trace = (ev["bytes_weight_read"].sum() + ev["bytes_hc_read"].sum() + ev["bytes_hc_write"].sum()
                     + ev.loc[ev["kv_tier"] == "dram", ["bytes_kv_read", "bytes_kv_write"]].sum().sum())
    assert ops["dram_bytes"].sum() + ops["kv_sram_bytes"].sum() == pytest.approx(dram_in_trace, rel=1e-12)


def test_dre_units_overlap_the_dpe(tiny_resv_trace, vrex8_hw):
    ops = simulate(tiny_resv_trace, vrex8_hw).ops
    dre = ops[ops["unit"].isin(["hcu", "wtu"]) & (ops["compute_s"] > 0)]
    pe = ops[(ops["unit"] == "dpe") & (ops["compute_s"] > 0)]
    assert len(dre) and len(pe)
    starts, ends = pe["compute_start_s"].to_numpy(), pe["compute_end_s"].to_numpy()
    overlapping = sum(((starts < e) & (ends > s)).any() for s, e in zip(dre["compute_start_s"], dre["compute_end_s"]))
    assert overlapping > 0


def test_prefetch_issues_fetches_during_the_previous_layer(tiny_resv_trace, vrex8_hw):
    on = simulate(tiny_resv_trace, vrex8_hw).ops
    off_hw = dataclasses.replace(vrex8_hw, dre=dataclasses.replace(vrex8_hw.dre, prefetch=False))
    off = simulate(tiny_resv_trace, off_hw).ops
    ev = tiny_resv_trace.events
    fetch = ((ev["op"] == "kv_fetch") & (ev["layer"] == 1)).to_numpy()
    assert fetch.any()
    # a layer-1 fetch starts before layer 0's attention output projection has finished
    for df, early in ((on, True), (off, False)):
        o_proj0 = df[(df["op"] == "o_proj") & (df["layer"] == 0)].groupby(KEYS)["compute_end_s"].max()
        f1 = df[fetch].groupby(KEYS)["start_s"].min()
        both = o_proj0.index.intersection(f1.index)
        assert ((f1[both] < o_proj0[both]).any()) == early
    assert on["end_s"].max() <= off["end_s"].max() * (1 + 1e-9)


def test_cluster_layout_needs_fewer_offload_requests(tiny_resv_trace, vrex8_hw):
    ev = tiny_resv_trace.events
    fetch = (ev["op"] == "kv_fetch").to_numpy()
    assert ev.loc[fetch, "kv_runs"].sum() < ev.loc[fetch, "kv_token_runs"].sum()
    no_kvmu = dataclasses.replace(vrex8_hw, dre=dataclasses.replace(vrex8_hw.dre, kvmu=False))
    t_on = simulate(tiny_resv_trace, vrex8_hw).ops.loc[fetch, "link_read_s"].sum()
    t_off = simulate(tiny_resv_trace, no_kvmu).ops.loc[fetch, "link_read_s"].sum()
    assert t_on <= t_off


def test_deterministic(tiny_resv_trace, vrex8_hw):
    a = simulate(tiny_resv_trace, vrex8_hw).ops
    b = simulate(tiny_resv_trace, vrex8_hw).ops
    assert a.equals(b)
    assert np.isfinite(a[["start_s", "end_s"]].to_numpy()).all()
