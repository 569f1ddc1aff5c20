"""KV policies on real tensors: budgets, full selects everything, ReSV at threshold 1.0 equals full."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.workload import KvPolicyConfig
from simulator.kvpolicy import make_policy
from simulator.kvpolicy.base import CacheSpec
from simulator.tracer.stream import StreamTracer, trace_workload

POLICIES = {
    "full": {},
    "sliding_window": {"window": 40, "sink_tokens": 4},
    "rekv": {"window": 40, "sink_tokens": 4, "top_k_frames": 2},
    "resv": {"temporal_threshold": 0.9995, "spatial_threshold": 0.997, "attention_share": 0.9},
}


@pytest.fixture(scope="module")
def runs(tiny_workload):
    wl = tiny_workload.with_stream(duration_s=4.0)
    out = {}
    for name, params in POLICIES.items():
        t = StreamTracer(wl.replace(kv_policy=KvPolicyConfig(name=name, params=params)), mode="real",
                         measure_recall=True)
        out[name] = (t, t.run())
    return out


@pytest.mark.parametrize("name", list(POLICIES))
def test_device_memory_within_budget(runs, name, tiny_workload):
    tracer, tr = runs[name]
    pol = tracer.policy
    spec = CacheSpec(1, 2, 16, "cpu", None, 0, tiny_workload.model_config.tokens_per_frame, True)
    budget = pol.device_budget_slots(spec, 0)
    seen = tr.kv_tokens["tokens_seen"].to_numpy()
    slots = tr.kv_tokens["kv_slots"].to_numpy()
    assert (slots <= seen).all()  # never more than the tokens it was given
    if budget is not None:
        assert slots.max() <= budget
        assert slots.max() < seen.max()  # and the budget really bound it


def test_full_selects_everything(runs):
    _, tr = runs["full"]
    r = tr.recall
    assert (r["attended"] == r["tokens"]).all()
    assert np.allclose(r["recall"], 1.0)


def test_offload_keeps_every_token_on_host(runs):
    tracer, tr = runs["rekv"]
    assert tr.kv_tokens["host_slots_all_layers"].iloc[-1] == tr.kv_tokens["tokens_seen"].iloc[-1] * len(tracer.caches)
    ev = tr.events
    assert ev.loc[ev["kv_tier"] == "host", "bytes_kv_read"].sum() > 0
    assert (ev.loc[(ev["kv_tier"] == "host") & (ev["phase"] == "frame_prefill"), "bytes_kv_read"] == 0).all()


def test_resv_threshold_one_equals_full(tiny_workload):
    wl = tiny_workload.with_stream(duration_s=3.0)
    full = trace_workload(wl, mode="real")
    p = KvPolicyConfig(name="resv", params={"temporal_threshold": 1.0, "spatial_threshold": 1.0})
    resv = trace_workload(wl.replace(kv_policy=p), mode="real")
    assert (resv.kv_tokens["kv_slots"].to_numpy() == full.kv_tokens["kv_slots"].to_numpy()).all()
    assert resv.meta["policy_stats"]["frame_clusters_created"] == resv.meta["policy_stats"]["frame_tokens"]


def test_resv_merges_and_selects(runs):
    _, tr = runs["resv"]
    st = tr.meta["policy_stats"]
    assert st["frame_clusters_created"] < st["frame_tokens"]
    ev = tr.events
    score = ev[ev["kind"] == "retrieval_score"]
    assert (score["selected"] <= score["candidates"]).all()
    assert ((score["bits_needed_mean"] >= 1) & (score["bits_needed_mean"] <= score["score_bits"])).all()
    hist = np.array([st[f"dre_bits_hist_{b}"] for b in range(1, 9)])
    assert hist.sum() == score["candidates"].sum()  # every scored candidate is in the distribution
    assert np.isclose((hist * np.arange(1, 9)).sum() / hist.sum(),
                      (score["bits_needed_mean"] * score["candidates"]).sum() / score["candidates"].sum(), rtol=1e-4)
    # KV reads of the attention go through the selective fetch, never the whole cache
    assert ev.loc[(ev["kind"] == "kv_read") & (ev["phase"] != "vision"), "bytes_kv_read"].sum() > 0


def test_resv_selected_mass_covers_share(runs):
    tracer, tr = runs["resv"]
    store = tracer.caches[0]
    import torch

    torch.manual_seed(0)
    for share in (0.5, 0.9, 0.99):
        pol = make_policy(KvPolicyConfig(name="resv", params={"attention_share": share}))
        object.__setattr__(store, "pol", pol)
        c = store.used
        keys_h = store.k[:, 0, :c]
        for _ in range(5):
            qm = torch.randn(1, store.head_dim)
            scores = torch.matmul(qm.unsqueeze(1), keys_h.transpose(-1, -2)).squeeze(1) / store.head_dim ** 0.5
            logn = torch.log(torch.as_tensor(store.counts[:c], dtype=torch.float32))
            sel, _ = store._select(qm, keys_h, scores, logn, np.zeros(0, dtype=np.int64))
            assert store.attention_mass_covered(qm, keys_h, sel) >= share - 1e-9
