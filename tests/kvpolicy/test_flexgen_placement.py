"""FlexGen's KV placement (``cache_gpu_percent``): whole sequences on the GPU as its mixed cache rounds them; 100%
is attention over the GPU cache (policy ``full``), 0% the paper's all-offloaded FlexGen."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.hardware import load_hardware
from simulator.config.workload import KvPolicyConfig, load_workload
from simulator.engine.simulate import simulate
from simulator.errors import ConfigError
from simulator.kvpolicy import make_policy
from simulator.kvpolicy.flexgen import gpu_sequences
from simulator.stream import trace_workload


@pytest.fixture(scope="module")
def wl8(root):
    """VideoLLM-online-8B, two frames and a short answer after a pre-computed cache."""
    wl = load_workload(root / "workloads" / "coin-videollm-online-8b.yaml")
    return wl.with_stream(duration_s=1.0, questions=(wl.stream.questions[0].__class__(
        at_s=0.9, prompt_tokens=8, answer_tokens=2),))


@pytest.fixture(scope="module")
def orin(root):
    return load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml")


def _run(wl, hw, name, params, kv, batch):
    tr = trace_workload(wl.replace(kv_policy=KvPolicyConfig(name=name, params=params), kv_prefill_tokens=kv,
                                   batch=batch), mode="meta")
    return tr, simulate(tr, hw)


def _phase_latency(res) -> np.ndarray:
    return res.ops.groupby(["phase", "frame", "question", "step"], sort=True)["end_s"].max().to_numpy()


@pytest.mark.parametrize("batch", [1, 2])
def test_all_kv_on_the_gpu_is_policy_full(wl8, orin, batch):
    """Where the cache fits, FlexGen with every sequence's KV on the GPU runs as policy full: the same ops at the
    same times (FlexGen's smart_copy of a GPU-resident cache is the tensor itself)."""
    _, full = _run(wl8, orin, "full", {}, 10_000, batch)
    _, fg = _run(wl8, orin, "flexgen", {"cache_gpu_percent": 100}, 10_000, batch)
    assert full.ok and fg.ok and full.capacity["overflow_frame"] is None  # the cache fits
    assert fg.total_s == pytest.approx(full.total_s, rel=1e-12)
    np.testing.assert_allclose(_phase_latency(fg), _phase_latency(full), rtol=1e-12)
    assert (fg.ops["offload_bytes"] == 0).all()


def test_no_kv_on_the_gpu_is_todays_flexgen(wl8, orin):
    """0% (and a share below one sequence of the batch, which FlexGen's rounding makes 0) is the paper's FlexGen:
    the policy's default, every token in the offload tier."""
    tr0, default = _run(wl8, orin, "flexgen", {}, 10_000, 4)
    for params in ({"cache_gpu_percent": 0}, {"cache_gpu_percent": 20}):
        tr, res = _run(wl8, orin, "flexgen", params, 10_000, 4)
        assert res.total_s == pytest.approx(default.total_s, rel=1e-12)
        assert tr.events["bytes_kv_read"].sum() == tr0.events["bytes_kv_read"].sum()
    assert (tr0.events.loc[tr0.events["kind"] == "kv_read", "kv_tier"] == "offload").any()


def test_a_mixed_placement_lies_between(wl8, orin):
    """Half the batch's sequences on the GPU: half the offloaded bytes, a frame faster than all offloaded and
    slower than all on the GPU; device memory holds half the cache."""
    lat, off = {}, {}
    for p in (0, 50, 100):
        tr, res = _run(wl8, orin, "flexgen", {"cache_gpu_percent": p}, 20_000, 2)
        pf = res.ops[res.ops["phase"] == "frame_prefill"]
        lat[p] = pf.groupby("frame")["end_s"].max().diff().dropna().mean() if pf["frame"].nunique() > 1 else \
            pf["end_s"].max() - pf["start_s"].min()
        off[p] = tr.events.loc[(tr.events["phase"] == "frame_prefill") & (tr.events["kv_tier"] == "offload"),
                               "bytes_kv_read"].sum()
        if p == 50:
            kv = tr.kv_tokens
            held, offloaded = kv["kv_slots_all_layers"].iloc[-1], kv["offload_slots_all_layers"].iloc[-1]
            assert held == pytest.approx(offloaded, rel=0.01)
    assert off[50] == pytest.approx(off[0] / 2, rel=0.01) and off[100] == 0
    assert lat[100] < lat[50] < lat[0]


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 64), p=st.floats(0, 100), q=st.floats(0, 100))
def test_gpu_sequences_whole_and_monotone(batch, p, q):
    """Whole sequences, never more than the batch, 100% is all of them, and more percent never fewer."""
    lo, hi = sorted((p, q))
    assert 0 <= gpu_sequences(batch, lo) <= gpu_sequences(batch, hi) <= batch
    assert gpu_sequences(batch, 100) == batch and gpu_sequences(batch, 0) == 0
    assert gpu_sequences(batch, lo) <= batch * lo / 100 + 1e-6


def test_placement_out_of_range_is_a_one_line_error():
    with pytest.raises(ConfigError, match="cache_gpu_percent"):
        make_policy(KvPolicyConfig(name="flexgen", params={"cache_gpu_percent": 120}), source="wl.yaml")


def test_resv_software_launches_per_head(root, wl8, orin):
    """ReSV in software launches its per-layer kernels once per KV head (resv_launches: per_kv_head): slower than
    batched launches by (heads - 1) launches per such kernel, and nothing else changes."""
    tr = trace_workload(wl8.replace(kv_policy=KvPolicyConfig(name="resv"), kv_prefill_tokens=5_000), mode="meta")
    from simulator.engine.platforms.gpu import RESV_LAYER_OPS, GpuPlatform

    per_head = GpuPlatform(orin).for_trace(tr.meta).op_costs(tr.events)
    batched = GpuPlatform(dataclasses.replace(orin, resv_launches="per_layer")).for_trace(tr.meta).op_costs(tr.events)
    sel = np.isin(tr.events["op"].to_numpy(), RESV_LAYER_OPS)
    assert sel.any()
    extra = (per_head["dur_s"] - batched["dur_s"]).to_numpy()
    assert (extra[sel] > 0).all() and np.allclose(extra[~sel], 0.0)
    assert extra[sel].min() >= (tr.meta["kv_heads"] - 1) * orin.stack.kernel_launch_us * 1e-6 * (1 - 1e-9)


def test_mixed_placement_templated_equals_traced(wl8):
    """The mixed cache plans its phases (meta_plan): templated tracing gives the fully traced events."""
    import pandas as pd

    wl = wl8.replace(kv_policy=KvPolicyConfig(name="flexgen", params={"cache_gpu_percent": 75}),
                     kv_prefill_tokens=3_000, batch=4)
    a, b = trace_workload(wl, mode="meta"), trace_workload(wl, mode="meta", templated=False)
    pd.testing.assert_frame_equal(a.events.reset_index(drop=True), b.events.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.kv_tokens.reset_index(drop=True), b.kv_tokens.reset_index(drop=True))
