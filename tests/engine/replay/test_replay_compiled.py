"""The compiled replay gives the SimPy replay's times: on the replays real traces make (accelerator with and
without prefetch, offloaded KV, the GPU's copy engine) and on random traces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator.engine.replay.discrete_event as replay_mod
from simulator.config.hardware import load_hardware
from simulator.config.workload import KvPolicyConfig, Question, load_workload
from simulator.engine.replay.aggregate import op_spans
from simulator.engine.replay.compiled import (
    deps_to_csr,
    forward_deps,
    replay_compiled,
    replay_compiled_csr,
    replay_spans,
)
from simulator.engine.replay.discrete_event import replay_simpy
from simulator.engine.simulate import simulate
from simulator.stream import trace_workload

KEYS = ("read_start", "read_end", "compute_start", "compute_end", "write_end")


def assert_same(ref: dict, got: dict) -> None:
    assert set(got) == set(ref)
    for key in KEYS:
        assert got[key].dtype == np.float64 and got[key].shape == ref[key].shape, key
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, atol=0, err_msg=key)


def recorded_replays(monkeypatch, run) -> list[tuple[tuple, dict, dict]]:
    """The arguments and results of every SimPy replay ``run()`` makes through the project's pipeline."""
    calls = []

    def recording(*args, **kwargs):
        out = replay_simpy(*args, **kwargs)
        calls.append((args, kwargs, out))
        return out

    monkeypatch.setitem(replay_mod.REPLAY_ENGINES, "simpy", recording)
    run()
    monkeypatch.undo()
    assert calls, "the pipeline made no replay"
    return calls


def _short(wl, duration_s=1.0, answer_tokens=2):
    return wl.with_stream(duration_s=duration_s, questions=(Question(
        at_s=duration_s - 0.1, prompt_tokens=8, answer_tokens=answer_tokens),))


def _without_prefetch(hw):
    return dataclasses.replace(hw, dre=dataclasses.replace(hw.dre, prefetch=False))


def _simpy(trace, hw):
    return simulate(trace, hw, engine="simpy")


def _case(root, name):
    """(trace, platform, simulate) of each golden case."""
    hw = lambda f: load_hardware(root / "hwconfigs" / f)  # noqa: E731
    wl = lambda f: load_workload(root / "workloads" / f)  # noqa: E731
    if name in ("tiny-prefetch", "tiny-no-prefetch"):
        tr = trace_workload(wl("tiny.yaml"), mode="meta")
        plat = hw("vrex-edge.yaml")
        return tr, plat if name == "tiny-prefetch" else _without_prefetch(plat), _simpy
    if name == "tiny-resv-offload":
        w = wl("tiny.yaml").with_stream(duration_s=4.0).replace(
            kv_policy=KvPolicyConfig(name="resv", params={"recent_window": 32}))
        return trace_workload(w, mode="meta"), hw("vrex-edge.yaml"), _simpy
    if name.startswith("resv-vrex8"):
        tr = trace_workload(_short(wl("coin-avg-resv.yaml"), 2.0), mode="meta")
        plat = hw("vrex8-edge.yaml")
        return tr, plat if name == "resv-vrex8-prefetch" else _without_prefetch(plat), _simpy
    if name == "flexgen-orin32":
        tr = trace_workload(_short(wl("coin-avg-flexgen.yaml")), mode="meta")
        return tr, hw("orin-agx-32gb.yaml"), _simpy
    raise KeyError(name)


CASES = ("tiny-prefetch", "tiny-no-prefetch", "tiny-resv-offload", "resv-vrex8-prefetch", "resv-vrex8-no-prefetch",
         "flexgen-orin32")


@pytest.mark.parametrize("name", CASES)
def test_real_traces(monkeypatch, root, name):
    tr, plat, simulate = _case(root, name)
    calls = recorded_replays(monkeypatch, lambda: simulate(tr, plat))
    for args, kwargs, ref in calls:
        assert_same(ref, replay_compiled(*args, **kwargs))
    args, kwargs, ref = calls[-1]
    assert ref["compute_end"].max() > 0
    if name in ("resv-vrex8-prefetch", "resv-vrex8-no-prefetch", "flexgen-orin32", "tiny-resv-offload"):
        # the cases meant to exercise the offload link do move KV over it, with its latency, and fetches
        # wait for their selection
        assert kwargs["link_read_s"].any() and kwargs["link_latency_s"].any() and kwargs["read_waits_deps"].any()


def test_prefetch_reorders_the_program(monkeypatch, root):
    """The prefetch cases replay a different program from the plain ones (so both orders are covered)."""
    tr, plat, simulate = _case(root, "resv-vrex8-prefetch")
    with_pf = recorded_replays(monkeypatch, lambda: simulate(tr, plat))[-1]
    without = recorded_replays(monkeypatch, lambda: simulate(tr, _without_prefetch(plat)))[-1]
    assert with_pf[0][4] != without[0][4]


# random traces: durations with many exact ties and zeros (same-time events), any unit, backward deps
_dur = st.one_of(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]), st.floats(0.0, 10.0, allow_subnormal=False))


@st.composite
def traces(draw, max_ops=40):
    n = draw(st.integers(0, max_ops))
    n_units = draw(st.integers(1, 4))
    arr = lambda: np.array(draw(st.lists(_dur, min_size=n, max_size=n)), dtype=np.float64)  # noqa: E731
    sparse = lambda: arr() * np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))  # noqa: E731
    read, compute, write = arr(), arr(), arr()
    link_read, link_write = sparse(), sparse()
    latency = np.array(draw(st.lists(st.sampled_from([0.0, 0.25, 1.0, 3.0]), min_size=n, max_size=n)))
    unit = np.array(draw(st.lists(st.integers(0, n_units - 1), min_size=n, max_size=n)), dtype=np.int64)
    waits = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if draw(st.booleans()):
        deps = None
    else:
        deps = [tuple(draw(st.lists(st.integers(0, i - 1), max_size=3))) if i else () for i in range(n)]
    return (read, compute, write, unit, deps, n_units), {
        "link_read_s": link_read, "link_write_s": link_write, "read_waits_deps": waits, "link_latency_s": latency}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(traces())
def test_random_traces(trace):
    args, kwargs = trace
    assert_same(replay_simpy(*args, **kwargs), replay_compiled(*args, **kwargs))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(traces(max_ops=12), st.data())
def test_random_deadlocks(trace, data):
    """Ops on no executor and dependencies on later ops (or on themselves) stall the replay; the ops that
    run, and those that never do, get SimPy's values."""
    (read, compute, write, unit, deps, n_units), kwargs = trace
    n = len(compute)
    unit = unit + (np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.int64) * n_units
                   if data.draw(st.booleans()) else 0)
    if n:
        deps = [tuple(data.draw(st.lists(st.integers(0, n - 1), max_size=2))) for _ in range(n)]
    args = (read, compute, write, unit, deps, n_units)
    assert_same(replay_simpy(*args, **kwargs), replay_compiled(*args, **kwargs))


def test_defaults_and_all_arguments_positional():
    rng = np.random.default_rng(0)
    n = 50
    read, compute, write = (rng.exponential(1.0, n) * (rng.random(n) < 0.6) for _ in range(3))
    unit = rng.integers(0, 3, n)
    assert_same(replay_simpy(read, compute, write, unit), replay_compiled(read, compute, write, unit))
    assert_same(replay_simpy(read, compute, write, unit, None, 3),
                replay_compiled(read, compute, write, unit, None, 3))


def test_every_op_runs_by_default_whatever_its_unit():
    """The executors default to every unit the ops name (an op on unit 6 once never ran: n_units was 5)."""
    unit = np.array([0, 6, 6, 2, 7])
    compute = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    t = replay_compiled(np.zeros(5), compute, np.zeros(5), unit)
    np.testing.assert_array_equal(t["compute_end"] - t["compute_start"], compute)
    assert (t["compute_end"] > 0).all()
    assert_same(replay_simpy(np.zeros(5), compute, np.zeros(5), unit), t)
    # an explicit count still leaves the ops outside it unrun (the chunk replay's carried ops rely on it)
    short = replay_compiled(np.zeros(5), compute, np.zeros(5), unit, None, 5)
    assert short["compute_end"][[1, 2, 4]].tolist() == [0.0, 0.0, 0.0]


def test_overlap_is_real():
    """A hand-checked case: op 1's DRAM read overlaps op 0's compute; op 1's link read overlaps its
    latency with op 0's link read; the link write waits for op 0's compute."""
    t = replay_compiled(np.array([1.0, 1.0]), np.array([3.0, 1.0]), np.array([0.0, 0.0]), np.array([0, 0]),
                        n_units=1, link_read_s=np.array([0.0, 2.0]), link_write_s=np.array([0.5, 0.0]),
                        link_latency_s=np.array([0.0, 1.5]))
    # DRAM: R0 0..1, R1 1..2; link: R1 issued at 0, holds 0.5 s, completes at 2; W0 after op 0 (1..4)
    np.testing.assert_array_equal(t["read_start"], [0.0, 0.0])
    np.testing.assert_array_equal(t["read_end"], [1.0, 2.0])
    np.testing.assert_array_equal(t["compute_start"], [1.0, 4.0])
    np.testing.assert_array_equal(t["compute_end"], [4.0, 5.0])
    np.testing.assert_array_equal(t["write_end"], [4.5, 0.0])


def test_deps_to_csr_and_bad_deps():
    indptr, idx = deps_to_csr([(), (0,), (0, 1)], 3)
    assert indptr.tolist() == [0, 0, 1, 3] and idx.tolist() == [0, 0, 1]
    indptr, idx = deps_to_csr(None, 3)
    assert indptr.tolist() == [0, 0, 1, 2] and idx.tolist() == [0, 1]
    with pytest.raises(ValueError):
        replay_compiled(np.zeros(2), np.ones(2), np.zeros(2), np.zeros(2, dtype=int), [(), (5,)], 1)
    with pytest.raises(ValueError):
        deps_to_csr([()], 2)


@pytest.mark.parametrize("name", ["resv-vrex8-prefetch", "flexgen-orin32"])
def test_simulate_gives_the_same_times_with_either_engine(root, name):
    """End to end: the compiled path (dependencies renumbered to program order as CSR arrays) and the SimPy
    reference give the same op times on a prefetching, offloading accelerator run and a GPU copy-engine run."""
    tr, plat, _ = _case(root, name)
    ref = simulate(tr, plat, engine="simpy").ops
    got = simulate(tr, plat, engine="compiled").ops
    for col in ("start_s", "end_s", "compute_start_s", "compute_end_s"):
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12, atol=0, err_msg=col)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(traces(max_ops=12), st.data())
def test_random_deadlocks_in_one_pass(trace, data):
    """Ops on no executor stall the one-pass kernel (every dependency on an earlier op) as they stall SimPy."""
    (read, compute, write, unit, deps, n_units), kwargs = trace
    n = len(compute)
    off = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.int64) * n_units
    args = (read, compute, write, unit + off, deps, n_units)
    assert not forward_deps(*deps_to_csr(deps, n))
    assert_same(replay_simpy(*args, **kwargs), replay_compiled(*args, **kwargs))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(traces(max_ops=30), st.data())
def test_spans_from_cost_rows_equal_the_per_op_times(trace, data):
    """``replay_spans`` (durations per cost row, each op's row, spans per group kept in the kernel) gives the
    spans of the per-op replay's times exactly."""
    (read, compute, write, unit, deps, n_units), kwargs = trace
    n = len(compute)
    if n == 0:
        return
    n_rows = data.draw(st.integers(1, n))
    src = np.array(data.draw(st.lists(st.integers(0, n_rows - 1), min_size=n, max_size=n)), dtype=np.int64)
    # the rows: the durations of the first op on each row (a row's ops share its durations and unit)
    first = {int(r): i for i, r in reversed(list(enumerate(src)))}
    pick = np.array([first.get(r, 0) for r in range(n_rows)])
    per_row = {"read_s": read, "compute_s": compute, "write_s": write, **{k: kwargs[k] for k in (
        "link_read_s", "link_write_s")}, "link_latency_s": kwargs["link_latency_s"]}
    rows = {k: v[pick] for k, v in per_row.items()}
    row_unit = unit[pick]
    group = np.sort(np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int64))
    group = np.unique(group, return_inverse=True)[1].reshape(-1)
    n_groups = int(group.max()) + 1
    ptr, idx = deps_to_csr(deps, n)
    t = replay_compiled_csr(rows["read_s"][src], rows["compute_s"][src], rows["write_s"][src], row_unit[src], ptr,
                            idx, n_units, link_read_s=rows["link_read_s"][src], link_write_s=rows["link_write_s"][src],
                            read_waits_deps=kwargs["read_waits_deps"], link_latency_s=rows["link_latency_s"][src])
    want = op_spans(group, n_groups, t)
    got = replay_spans(rows, row_unit, src, ptr, idx, kwargs["read_waits_deps"], n_units, group, n_groups)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_replay_spans_refuses_forward_dependencies():
    ptr, idx = deps_to_csr([(1,), ()], 2)
    one = np.ones(2)
    rows = {k: one for k in ("read_s", "compute_s", "write_s", "link_read_s", "link_write_s", "link_latency_s")}
    with pytest.raises(ValueError, match="earlier op"):
        replay_spans(rows, np.zeros(2, dtype=np.int64), np.arange(2), ptr, idx, np.zeros(2, bool), 1,
                     np.zeros(2, dtype=np.int64), 1)
