"""Dependencies: head-group chains fan out and join; the replay honours them and overlaps units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.replay.discrete_event import Durations, Replay
from simulator.engine.replay.schedule import (
    PHASE_KEYS,
    PREDICTION_KINDS,
    dependencies,
    dependencies_csr,
    prefetch_order,
    prefetch_order_csr,
    run_ids,
)
from simulator.stream import trace_workload


def _ev(head_groups, layers=None):
    n = len(head_groups)
    return pd.DataFrame({"phase": "frame_prefill", "frame": 0, "question": -1, "step": -1,
                         "layer": layers if layers is not None else [0] * n, "head_group": head_groups})


def test_fan_out_and_join():
    deps = dependencies(_ev([-1, -1, 0, 0, 1, 1, -1, -1]))
    assert deps == [(), (0,), (1,), (2,), (1,), (4,), (3, 5), (6,)]


def test_consecutive_layers_do_not_share_a_fan_out():
    deps = dependencies(_ev([0, 1, 0, 1], layers=[0, 0, 1, 1]))
    assert deps == [(), (), (0, 1), (0, 1)]


@settings(max_examples=40, deadline=None)
@given(hg=st.lists(st.integers(-1, 2), min_size=1, max_size=30), seed=st.integers(0, 1000),
       factor=st.floats(1.0, 6.0))
def test_replay_respects_deps_and_is_monotone(hg, seed, factor):
    rng = np.random.default_rng(seed)
    n = len(hg)
    deps = dependencies(_ev(hg))
    read, comp, write = (rng.exponential(1.0, n) * (rng.random(n) < 0.7) for _ in range(3))
    unit = rng.integers(0, 4, n)
    t = Replay(Durations.of(comp, read, write), unit, 4, deps).run()
    for i, ds in enumerate(deps):
        for d in ds:
            assert t["compute_start"][i] >= t["compute_end"][d] - 1e-12
        assert t["compute_start"][i] >= t["read_end"][i] - 1e-12
    fast = Replay(Durations.of(comp, read / factor, write / factor), unit, 4, deps).run()
    assert (fast["compute_end"] <= t["compute_end"] + 1e-9).all()


# ---- the vectorised dependencies and prefetch order equal the loops they replaced (kept here as the reference)
def reference_dependencies(ev: pd.DataFrame) -> list[tuple[int, ...]]:
    """The former loop version of ``schedule.dependencies``."""
    n = len(ev)
    hg = ev["head_group"].to_numpy()
    grp = run_ids(ev, PHASE_KEYS + ("layer",))
    deps: list[tuple[int, ...]] = [()] * n
    join: dict[int, tuple[int, ...]] = {}
    i = 0
    while i < n:
        if hg[i] < 0:
            deps[i] = join.pop(i, (i - 1,) if i > 0 else ())
            i += 1
            continue
        j = i
        while j < n and hg[j] >= 0 and grp[j] == grp[i]:
            j += 1
        root = join.pop(i, (i - 1,) if i > 0 else ())
        last: dict[int, int] = {}
        for t in range(i, j):
            h = int(hg[t])
            deps[t] = (last[h],) if h in last else root
            last[h] = t
        if j < n:
            join[j] = tuple(sorted(last.values()))
        i = j
    return deps


def reference_prefetch_order(ev: pd.DataFrame, deps: list[tuple[int, ...]]) -> tuple[np.ndarray, list]:
    """The former loop version of ``schedule.prefetch_order``."""
    n = len(ev)
    kind = ev["kind"].to_numpy()
    layer = ev["layer"].to_numpy()
    inst = run_ids(ev)
    is_llm = (ev["phase"].to_numpy() != "vision") & (layer >= 0)
    pred = np.isin(kind, PREDICTION_KINDS) & is_llm
    writes = (kind == "kv_write") & is_llm
    starts = np.flatnonzero(pred & ~np.r_[False, pred[:-1]])
    last_write = {}
    for i in np.flatnonzero(writes):
        last_write[(int(inst[i]), int(layer[i]))] = int(i)
    moved_after: dict[int, np.ndarray] = {}
    moved = np.zeros(n, dtype=bool)
    deps = list(deps)
    seen_block: set[tuple[int, int]] = set()
    for s in starts:
        key = (int(inst[s]), int(layer[s]))
        if key in seen_block:
            continue
        seen_block.add(key)
        anchor = last_write.get((key[0], key[1] - 1))
        if anchor is None:
            continue
        e = s
        while e < n and pred[e] and inst[e] == inst[s] and layer[e] == layer[s]:
            e += 1
        block = np.arange(s, e)
        inside = set(block.tolist())
        for i in block:
            outside = tuple(d for d in deps[i] if d not in inside)
            if outside:
                deps[i] = tuple(sorted({*(d for d in deps[i] if d in inside), anchor}))
        moved[block] = True
        moved_after[anchor] = block
    if not moved_after:
        return np.arange(n), deps
    order = []
    for i in range(n):
        if moved[i]:
            continue
        order.append(i)
        if i in moved_after:
            order.extend(moved_after[i].tolist())
    return np.asarray(order, dtype=np.int64), deps


def assert_schedule_matches_reference(ev: pd.DataFrame) -> None:
    ref = reference_dependencies(ev)
    assert dependencies(ev) == ref
    ref_order, ref_deps = reference_prefetch_order(ev, ref)
    order, deps = prefetch_order(ev, ref)
    assert np.array_equal(order, ref_order)
    assert deps == ref_deps
    ptr, idx = dependencies_csr(ev)
    o2, ptr2, idx2 = prefetch_order_csr(ev, ptr, idx, inst=run_ids(ev), kind=ev["kind"].to_numpy())
    assert np.array_equal(o2, ref_order) and np.all(np.diff(ptr2) >= 0) and len(idx2) == ptr2[-1]


@pytest.mark.parametrize("policy, params, duration_s", [
    ("resv", {"recent_window": 32}, 3.0), ("rekv", {}, 2.0), ("infinigen", {}, 2.0), ("full", {}, 2.0)])
def test_vectorised_schedule_equals_the_loops_on_traces(tiny_workload, policy, params, duration_s):
    from simulator.config.workload import KvPolicyConfig

    wl = tiny_workload.with_stream(duration_s=duration_s).replace(kv_policy=KvPolicyConfig(name=policy,
                                                                                             params=params))
    ev = trace_workload(wl, mode="meta").events
    assert_schedule_matches_reference(ev)
    if policy == "resv":  # ReSV's prediction blocks are moved: the prefetch path is exercised
        order, _ = reference_prefetch_order(ev, reference_dependencies(ev))
        assert not np.array_equal(order, np.arange(len(ev)))


KIND_CHOICES = ("gemm", "kv_write", "kv_write", "retrieval_score", "wicsum", "topk", "kv_read", "kv_read",
                "attn_score", "norm")
PHASES = ("frame_prefill", "vision", "decode")


@st.composite
def event_tables(draw):
    """Random event tables shaped like traces: phase instances of increasing layers, KV writes, runs of
    prediction ops and of head-group ops, so that fan-outs, joins and prediction blocks (with and without
    an anchoring KV write in the layer before) all occur."""
    rows = draw(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 3), st.integers(-1, 2),
                                   st.sampled_from(KIND_CHOICES)), max_size=80))
    inst, layer, out = 0, 0, []
    for new_inst, step, hg, kind in rows:
        if new_inst == 0:
            inst, layer = inst + 1, (-1 if step == 0 else 0)
        elif step == 3:
            layer += 1
        out.append((PHASES[inst % 3], inst // 3, -1, -1 if inst % 3 < 2 else 0, layer, hg, kind))
    ev = pd.DataFrame(out, columns=["phase", "frame", "question", "step", "layer", "head_group", "kind"])
    return ev.astype({"frame": np.int32, "question": np.int32, "step": np.int32, "layer": np.int16,
                      "head_group": np.int16})


@settings(max_examples=300, deadline=None)
@given(ev=event_tables())
def test_vectorised_schedule_equals_the_loops_on_random_tables(ev):
    assert_schedule_matches_reference(ev)


def test_deeper_prefetch_issues_each_block_after_an_earlier_layers_write(tmp_path):
    """dre.prefetch_layers: with depth d a prediction block of layer l follows layer max(l-d, 0)'s KV write
    (depth 1 is the next-layer schedule); the dependencies stay acyclic and complete."""
    import yaml

    from simulator.config.workload import load_workload
    from simulator.pipeline import ROOT

    model = yaml.safe_load((ROOT / "workloads/models/tiny.yaml").read_text())
    model["llm"]["layers"] = 4
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(model))
    wl = yaml.safe_load((ROOT / "workloads/tiny.yaml").read_text())
    wl.update(model=str(tmp_path / "m.yaml"), kv_policy={"name": "resv", "params": {"recent_window": 32}})
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(wl))
    ev = trace_workload(load_workload(tmp_path / "w.yaml"), mode="meta").events
    ptr, idx = dependencies_csr(ev)
    layer, kind = ev["layer"].to_numpy(), ev["kind"].to_numpy()
    one, _, _ = prefetch_order_csr(ev, ptr, idx)
    two, ptr2, idx2 = prefetch_order_csr(ev, ptr, idx, depth=2)
    assert sorted(two.tolist()) == list(range(len(ev)))
    pos = np.empty(len(ev), dtype=np.int64)
    pos[two] = np.arange(len(ev))
    for i in range(len(ev)):  # every dependency comes earlier in the new program
        assert all(pos[d] < pos[i] for d in idx2[ptr2[i]:ptr2[i + 1]])
    assert layer.max() == 3
    moved = [i for i in range(len(ev)) if kind[i] == "retrieval_score" and layer[i] >= 2]
    p1 = np.empty(len(ev), dtype=np.int64)
    p1[one] = np.arange(len(ev))
    assert moved and all(pos[i] <= p1[i] for i in moved) and any(pos[i] < p1[i] for i in moved)
