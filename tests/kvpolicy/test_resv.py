"""ReSV as published: hash bits (LSH), Hamming clustering, WiCSum, no merging, Th_r = 1 is full attention,
and the meta profile of the 8B model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.workload import KvPolicyConfig, load_workload
from simulator.kvpolicy import make_policy
from simulator.kvpolicy.base import CacheSpec, contiguous_runs
from simulator.kvpolicy.resv_store import layer_shares, wicsum_select
from simulator.models.kv_cache import KVCache
from simulator.stream import trace_workload
from simulator.tracer.trace_file import policy_cells

D = 16


def _store(**params):
    pol = make_policy(KvPolicyConfig(name="resv", params=params))
    spec = CacheSpec(1, 1, D, "cpu", torch.float32, 0, 4, True, 1)
    store = pol.make_cache(spec)
    store.begin_phase({"phase": "frame_prefill"})
    return store


@pytest.mark.parametrize("angle", [0.1, 0.5, 1.0, 2.0, 3.0])
def test_hash_bits_follow_the_lsh_relation(angle):
    """Random-hyperplane hashing: the share of differing bits estimates angle / pi."""
    planes = 4096
    store = _store(hash_bits=1, hamming_threshold=1)  # the store's own hyperplane generator, with many more planes
    gen = torch.Generator().manual_seed(1)
    p = torch.randn(D, planes, generator=gen)
    a = torch.zeros(D)
    a[0] = 1.0
    b = torch.zeros(D)
    b[0], b[1] = math.cos(angle), math.sin(angle)
    differ = ((a @ p > 0) != (b @ p > 0)).double().mean().item()
    expect = angle / math.pi
    sigma = math.sqrt(expect * (1 - expect) / planes)
    assert abs(differ - expect) < 4 * sigma + 1e-9
    assert store.planes.shape == (D, 1)


def _frame_keys(static: np.ndarray, moving_seed: int) -> torch.Tensor:
    """4 tokens: 3 static background tokens (same keys every frame) + 1 moving object (new key each frame)."""
    rng = np.random.default_rng(moving_seed)
    moving = rng.standard_normal((1, D))
    return torch.as_tensor(np.concatenate([static, moving]), dtype=torch.float32)[None, None]


def test_static_region_one_cluster_moving_object_not():
    store = _store()
    rng = np.random.default_rng(0)
    static = rng.standard_normal((3, D))  # three distinct background patches
    for f in range(6):
        store.begin_phase({"phase": "frame_prefill"})
        k = _frame_keys(static, 100 + f)
        store.append(k, k.clone())
    head = store.heads[0]
    cluster_of = {p: c for c, members in enumerate(head.members) for p in members}
    for patch in range(3):  # each background patch stays in one cluster across all frames
        assert len({cluster_of[f * 4 + patch] for f in range(6)}) == 1
    moving = {cluster_of[f * 4 + 3] for f in range(6)}
    assert len(moving) == 6  # the moving object opens a new cluster every frame
    assert len({cluster_of[p] for p in range(3)}) == 3  # distinct patches are not merged


def test_member_kv_unchanged_no_merging():
    store = _store()
    rng = np.random.default_rng(1)
    static = rng.standard_normal((3, D))
    ks, vs = [], []
    for f in range(4):
        store.begin_phase({"phase": "frame_prefill"})
        k = _frame_keys(static, 7 + f)
        v = torch.randn_like(k)
        ks.append(k)
        vs.append(v)
        store.append(k, v)
    assert torch.equal(store.k[:, :, : store.used], torch.cat(ks, dim=2))
    assert torch.equal(store.v[:, :, : store.used], torch.cat(vs, dim=2))
    # cluster keys are the mean of their members' keys
    head = store.heads[0]
    for c, members in enumerate(head.members):
        assert torch.allclose(store.hc_keys[0, 0, c], store.k[0, 0, members].mean(dim=0), atol=1e-6)


def _brute_force(scores, counts, thr, softmax=True):
    """Smallest prefix of the score order (checked over every subset) whose weighted sum exceeds the threshold."""
    w = np.exp(scores - scores.max()) if softmax else scores
    total = (w * counts).sum()
    for size in range(1, len(scores) + 1):
        for sub in itertools.combinations(range(len(scores)), size):
            rest = [j for j in range(len(scores)) if j not in sub]
            if rest and min(scores[list(sub)]) < max(scores[rest]):
                continue  # not a top-by-score set
            if (w[list(sub)] * counts[list(sub)]).sum() > thr * total:
                return size
    return len(scores)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False), min_size=1, max_size=7, unique=True),
       st.lists(st.integers(1, 40), min_size=7, max_size=7), st.floats(0.05, 0.95))
def test_wicsum_picks_the_fewest_clusters(scores, counts, thr):
    scores = np.asarray(scores)
    counts = np.asarray(counts[: len(scores)], dtype=np.float64)
    sel, processed = wicsum_select(scores, counts, thr)
    assert len(sel) == _brute_force(scores, counts, thr)
    assert len(sel) <= processed <= len(scores)  # the WTU walks at least the selected clusters' buckets
    assert set(np.argsort(-scores)[: len(sel)]) == set(sel.tolist())


def test_wicsum_threshold_one_selects_everything():
    scores = np.array([3.0, 1.0, -2.0, 0.5])
    sel, processed = wicsum_select(scores, np.array([1, 5, 2, 9.0]), 1.0)
    assert list(sel) == [0, 1, 2, 3] and processed == 4


def test_threshold_one_equals_full_attention(tiny_workload):
    """With Th_r = 1 every cluster is selected: ReSV's attention output equals full attention's."""
    wl = tiny_workload.with_stream(duration_s=3.0)
    resv = trace_workload(wl.replace(kv_policy=KvPolicyConfig(name="resv", params={"wicsum_threshold": 1.0,
                                                                                     "recent_window": 32})),
                          mode="real", seed=3, measure_recall=True)
    assert np.allclose(resv.recall["recall"], 1.0)
    assert (resv.recall["attended"] == resv.recall["tokens"]).all()
    # and directly: the same keys, values and queries through both stores give the same output
    store = _store(wicsum_threshold=1.0)
    ref = KVCache(1, 1, D, device="cpu", dtype=torch.float32)
    rng = np.random.default_rng(2)
    static = rng.standard_normal((3, D))
    for f in range(5):
        for c in (store, ref):
            c.begin_phase({"phase": "frame_prefill"})
        k = _frame_keys(static, f)
        v = torch.randn_like(k)
        store.append(k, v)
        ref.append(k, v)
    q = torch.randn(1, 1, 2, 3, D)
    q_pos = np.arange(20, 23)
    k_q, v_q = torch.randn(1, 1, 3, D), torch.randn(1, 1, 3, D)
    for c in (store, ref):
        c.begin_phase({"phase": "question_prefill"})
        c.append(k_q, v_q)  # the phase's own tokens first, as the decoder layer does
    assert torch.allclose(store.attend(q, q_pos), ref.attend(q, q_pos), atol=1e-5)


def test_layer_shares_profile():
    s = layer_shares(32, 0.327, 0.042, 0.44)
    assert s[0] == pytest.approx(0.042) and s[-1] == pytest.approx(0.44)
    assert s.mean() == pytest.approx(0.327, abs=1e-6)
    assert (np.diff(s) >= 0).all()


def test_contiguous_runs():
    assert contiguous_runs(np.array([5, 1, 2, 3, 9, 10])) == 3
    assert contiguous_runs(np.array([], dtype=np.int64)) == 0


def test_8b_meta_trace_follows_the_paper_profile(root):
    wl = load_workload(root / "workloads" / "coin-videollm-online-8b-resv.yaml").with_stream(
        duration_s=10.0, questions=())
    tr = trace_workload(wl, mode="meta")
    st = tr.meta["policy_stats"]
    pol = make_policy(wl.kv_policy)
    groups = pol.meta_trace_groups(32)
    profile = layer_shares(32, pol.meta_frame_share, pol.meta_layer_min, pol.meta_layer_max)
    cells = policy_cells(tr.meta).pivot_table(index="layer", columns="stat", values="value", aggfunc="sum")
    assert set(policy_cells(tr.meta)["head"]) == set(range(8))
    per_layer = (cells["frame_selected"] / cells["frame_available"]).reindex(range(32)).to_numpy()
    for g in groups:  # each traced group reads its group's mean share of the profile (rounding aside)
        assert per_layer[g] == pytest.approx(np.full(len(g), profile[g].mean()), abs=0.02)
    assert per_layer.mean() == pytest.approx(0.327, abs=0.02)
    assert per_layer.max() - per_layer.min() > 0.2  # a spread over layers, not one number
    assert st["hc_table_bytes"] > 0 and st["hc_table_bytes"] < 0.05 * st["kv_bytes"]
