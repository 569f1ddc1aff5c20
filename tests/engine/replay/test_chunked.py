"""The chunked path (StreamTracer.chunks -> ChunkedSim) equals the whole-trace path (trace -> simulate) on short
streams: op times (the incremental timeline) to 1e-12 relative, per-phase metrics and energies, run facts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config.workload import KvPolicyConfig
from simulator.engine.memory.kv_memory import kv_bytes_held
from simulator.engine.ops import OpArrays
from simulator.engine.replay.chunks import ChunkReplay
from simulator.engine.replay.discrete_event import Durations, replay_trace
from simulator.engine.simulate import ChunkedSim, simulate, simulate_chunks
from simulator.results.metrics import chip_blocks, phase_table, stream_metrics
from simulator.stream import StreamTracer

RTOL = 1e-12
POLICIES = {"full": {}, "resv": {"recent_window": 32}, "flexgen": {}}  # flexgen: KV in the offload tier


def _wl(tiny_workload, policy: str):
    return tiny_workload.with_stream(duration_s=3.0).replace(
        kv_policy=KvPolicyConfig(name=policy, params=POLICIES[policy]))


def _chunked(wl, hw, frames: int | None, timeline=None):
    t = StreamTracer(wl)
    return simulate_chunks(t.meta_preview(), t.chunks(frames), hw, timeline=timeline)


def _no_prefetch(hw):
    return dataclasses.replace(hw, dre=dataclasses.replace(hw.dre, prefetch=False))


def _small_dram(hw, trace):
    """DRAM that holds the weights and half the stream's KV: the KV overflows it mid-stream (eviction)."""
    meta = trace.meta
    held = kv_bytes_held(trace.kv_tokens, meta)
    cap = meta["weight_bytes_llm"] + meta["weight_bytes_vision"] + held.max() / 2
    return dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, capacity_gib=cap / 2**30))


def _assert_same(whole, chunked, timeline_path=None):
    assert chunked.status == whole.status and chunked.notes == whole.notes
    if not whole.ok:
        return
    assert chunked.capacity == whole.capacity
    assert chunked.n_ops == len(whole.ops)
    assert chunked.total_s == pytest.approx(whole.total_s, rel=RTOL)
    pw, pc = phase_table(whole), phase_table(chunked)
    assert len(pw) == len(pc) > 0
    keys = ["phase", "frame", "question", "step"]
    pd.testing.assert_frame_equal(pc[keys], pw[keys])
    np.testing.assert_allclose(pc["latency_s"], pw["latency_s"], rtol=RTOL, atol=0)
    energy = [c for c in pw.columns if c.startswith("energy_")]
    np.testing.assert_array_equal(pc[energy].to_numpy(), pw[energy].to_numpy())  # the same sums of the same ops
    mw, mc = stream_metrics(whole, 4.0)[0].as_dict(), stream_metrics(chunked, 4.0)[0].as_dict()
    assert mw.keys() == mc.keys()
    for k, v in mw.items():
        if isinstance(v, float):
            assert mc[k] == pytest.approx(v, rel=RTOL, nan_ok=True), k
        else:
            assert mc[k] == v, k
    assert mc.keys() and chunked.utilisation.keys() == whole.utilisation.keys()
    for k, v in whole.utilisation.items():
        assert chunked.utilisation[k] == pytest.approx(v, rel=RTOL), k
    if whole.kind == "accelerator":
        bw, bc = chip_blocks(whole), chip_blocks(chunked)
        for k, v in bw["power_breakdown_w"].items():
            assert bc["power_breakdown_w"][k] == pytest.approx(v, rel=RTOL), k
    if timeline_path is not None:
        tl = pd.read_parquet(timeline_path)
        assert len(tl) == len(whole.ops)
        for c in ("start_s", "end_s", "compute_start_s", "compute_end_s"):
            np.testing.assert_allclose(tl[c].to_numpy(), whole.ops[c].to_numpy(), rtol=RTOL, atol=0)
        assert tl["op"].tolist() == whole.ops["op"].tolist()
        assert tl["bound"].tolist() == whole.ops["bound"].tolist()


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("platform", ["accel", "accel-no-prefetch", "gpu"])
def test_chunked_equals_whole(tiny_workload, vrex8_hw, root, policy, platform, tmp_path):
    from simulator.config.hardware import load_hardware

    hw = {"accel": vrex8_hw, "accel-no-prefetch": _no_prefetch(vrex8_hw),
          "gpu": load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml")}[platform]
    wl = _wl(tiny_workload, policy)
    whole = simulate(StreamTracer(wl).run(), hw)
    assert whole.ok
    for frames in (1, 5, None):  # one frame per chunk, uneven chunks, one chunk
        path = tmp_path / f"timeline-{frames}.parquet"
        _assert_same(whole, _chunked(wl, hw, frames, timeline=path), path)


@pytest.mark.parametrize("platform", ["accel", "gpu"])
def test_chunked_equals_whole_under_eviction(tiny_workload, vrex8_hw, root, platform, tmp_path):
    """KV beyond DRAM: evicted to the offload tier from some frame on (capacity-bound ops, the overflow note)."""
    from simulator.config.hardware import load_hardware

    hw = vrex8_hw if platform == "accel" else load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml")
    wl = _wl(tiny_workload, "full")
    tr = StreamTracer(wl).run()
    hw = _small_dram(hw, tr)
    whole = simulate(tr, hw)
    assert whole.ok and whole.capacity["overflow_frame"] is not None and (whole.ops["bound"] == "capacity").any()
    for frames in (1, 4):
        path = tmp_path / f"timeline-{frames}.parquet"
        _assert_same(whole, _chunked(wl, hw, frames, timeline=path), path)


@pytest.mark.parametrize("case", ["offload-policy", "kv-beyond-dram"])
def test_chunked_status_without_offload_tier(tiny_workload, vrex8_hw, case, tmp_path):
    """A point that cannot run gets the whole path's status (the chunks are drained to find the largest KV)."""
    wl = _wl(tiny_workload, "flexgen" if case == "offload-policy" else "full")
    tr = StreamTracer(wl).run()
    hw = dataclasses.replace(vrex8_hw, offload=None)
    if case == "kv-beyond-dram":
        hw = _small_dram(hw, tr)
    whole = simulate(tr, hw)
    assert not whole.ok and whole.status.startswith("not runnable" if case == "offload-policy" else "out of memory")
    for frames in (1, 3):
        _assert_same(whole, _chunked(wl, hw, frames, timeline=tmp_path / "ops.parquet"))
    assert not list(tmp_path.iterdir())  # no timeline (nor a partial one) for a point that cannot run


def _with_cost_columns(ev: pd.DataFrame) -> pd.DataFrame:
    """A synthetic schedule table completed for replay_trace, whose per-trace plan also reads the cost columns
    (zeros here) and the KV tier."""
    full = ev.assign(**{c: 0 for c in OpArrays.INT_COLS + OpArrays.FLOAT_COLS if c not in ev})
    return full if "kv_tier" in full else full.assign(kv_tier="device")


def _feed_in_cuts(r: ChunkReplay, ev: pd.DataFrame, d: Durations, units: np.ndarray, cuts) -> dict:
    """Feed ``ev`` to ``r`` in the chunks between consecutive ``cuts``; the times of every op, in trace order."""
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        got = r.feed(ev.iloc[a:b].reset_index(drop=True), d.take(np.arange(a, b)), units[a:b])
        if got is not None:
            out.append(got)
    out.append(r.finish())
    return {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def test_chunk_replay_matches_one_call():
    """ChunkReplay on a synthetic one-unit-per-op program split anywhere at a phase boundary: same times as
    feeding it whole (carried clocks, buffer slots and the deferred last write-back)."""
    rng = np.random.default_rng(3)
    n_ph, per = 12, 9
    n = n_ph * per
    ev = pd.DataFrame({"phase": ["frame_prefill"] * n, "frame": np.repeat(np.arange(n_ph), per),
                       "question": -1, "step": -1, "layer": np.tile(np.arange(per) // 3, n_ph), "kv_tier": "device",
                       "head_group": np.tile([-1, 0, 1, -1, 0, 1, -1, -1, -1], n_ph),
                       "kind": np.tile(["gemm", "kv_read", "kv_read", "gemm", "attn_score", "attn_score",
                                        "softmax", "kv_write", "gemm"], n_ph)})
    z = lambda p: np.where(rng.random(n) < p, rng.random(n) * 1e-3, 0.0)  # noqa: E731
    d = Durations.of(rng.random(n) * 1e-3, z(0.7), z(0.3), z(0.3), z(0.2), z(0.2) * 0.1)
    units = rng.integers(0, 3, n)

    def run(cuts):
        return _feed_in_cuts(ChunkReplay(3, prefetch=True), ev, d, units, cuts)

    whole = replay_trace(_with_cost_columns(ev), d, units, 3, prefetch=True)
    for cuts in ([0, per, n], list(range(0, n + 1, per)), [0, 5 * per, 6 * per, n]):
        got = run(cuts)
        for k, v in whole.items():
            np.testing.assert_array_equal(got[k], v, err_msg=f"{k} with cuts {cuts}")


def test_chunked_sim_memory_does_not_keep_ops(tiny_workload, vrex8_hw):
    """The chunked result holds no per-op rows: the phase sums and the unit sums only."""
    wl = _wl(tiny_workload, "resv")
    t = StreamTracer(wl)
    sim = ChunkedSim(t.meta_preview(), vrex8_hw)
    for c in t.chunks(2):
        sim.feed(c)
        assert sim.pending is not None and len(sim.phases) <= wl.stream.frames
    res = sim.finish()
    assert res.ops.empty and res.phases is not None and len(res.phases) == len(phase_table(res))


_KINDS = ["gemm", "kv_read", "retrieval_score", "topk", "attn_score", "softmax", "kv_write", "norm"]
_dur = st.one_of(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]), st.floats(0.0, 10.0, allow_subnormal=False))


@st.composite
def _programs(draw):
    """Random phases (each a run of layers of random ops, some in KV-head groups) with random durations and
    units, and random chunk cuts at phase boundaries."""
    rows = []
    n_phases = draw(st.integers(1, 6))
    for ph in range(n_phases):
        for layer in range(draw(st.integers(1, 3))):
            for _ in range(draw(st.integers(1, 6))):
                rows.append(("decode" if ph % 2 else "frame_prefill", ph, -1, -1, layer,
                             draw(st.sampled_from([-1, -1, 0, 1])), draw(st.sampled_from(_KINDS))))
    ev = pd.DataFrame(rows, columns=["phase", "frame", "question", "step", "layer", "head_group", "kind"])
    n, n_units = len(ev), draw(st.integers(1, 3))
    arr = lambda: np.array(draw(st.lists(_dur, min_size=n, max_size=n)), dtype=np.float64)  # noqa: E731
    sparse = lambda: arr() * np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))  # noqa: E731
    latency = np.array(draw(st.lists(st.sampled_from([0.0, 0.25, 1.0]), min_size=n, max_size=n)))
    d = Durations.of(arr(), sparse(), sparse(), sparse(), sparse(), latency)
    units = np.array(draw(st.lists(st.integers(0, n_units - 1), min_size=n, max_size=n)), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, ev["frame"].to_numpy()[1:] != ev["frame"].to_numpy()[:-1]]).tolist()
    cuts = sorted(set(draw(st.lists(st.sampled_from(starts), max_size=4))) | {0, n})
    return ev, d, units, n_units, cuts, draw(st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_programs())
def test_chunk_replay_equals_replay_trace_on_random_programs(program):
    """Any cut of a program at phase boundaries replays to the whole program's times, bit for bit."""
    ev, d, units, n_units, cuts, prefetch = program
    want = replay_trace(_with_cost_columns(ev), d, units, n_units, prefetch=prefetch, engine="compiled")
    one_unit = (units == units[0]).all() and not any(a.any() for a in (d.read_s, d.write_s, d.link_read_s,
                                                                        d.link_write_s))
    times = _feed_in_cuts(ChunkReplay(n_units, prefetch=prefetch), ev, d, units, cuts)
    for k, v in want.items():
        got = times[k]
        if one_unit:  # replay_trace sums one unit's times directly (start = end - duration): equal to rounding
            np.testing.assert_allclose(got, v, rtol=RTOL, atol=1e-12, err_msg=k)
        else:
            np.testing.assert_array_equal(got, v, err_msg=f"{k} with cuts {cuts}")
