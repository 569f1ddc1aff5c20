"""Arrival-driven streaming: queues grow and drop above the service rate, not below; TTFT under load; determinism;
the Chrome-trace export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator.cli import main
from simulator.engine.replay.realtime import (
    RealtimePolicy,
    StreamJobs,
    at_rate,
    drop_share,
    max_sustainable_fps,
    run_realtime,
    stream_jobs,
)
from simulator.engine.simulate import simulate
from simulator.results.realtime import chrome_trace, ops_for_timeline, summary


def _jobs(n=200, frame_s=0.1, question_at=(5.0,), prefill_s=0.05, steps=8, step_s=0.02) -> StreamJobs:
    return StreamJobs(frame_s=np.full(n, frame_s), question_s=[prefill_s] * len(question_at),
                      decode_s=[np.full(steps, step_s)] * len(question_at), question_at_s=list(question_at))


@pytest.mark.parametrize("drop_policy", ["drop_oldest", "skip_new"])
def test_overload_grows_the_queue_and_drops(drop_policy):
    pol = RealtimePolicy(max_queue=3, drop_policy=drop_policy)
    over = run_realtime([_jobs(frame_s=0.1)], fps=20.0, policy=pol)  # 20 frames/s offered, 10/s served
    s = summary(over, [_jobs()])
    assert s["frames_dropped"] > 50 and s["queue_depth_max"] == 3
    assert s["deadline_misses"] > 0
    calm = _jobs(frame_s=0.1, question_at=())  # a question would delay a few frames (answer first)
    under = run_realtime([calm], fps=5.0, policy=pol)
    su = summary(under, [calm])
    assert su["frames_dropped"] == 0 and su["deadline_misses"] == 0 and su["queue_depth_max"] <= 1
    if drop_policy == "drop_oldest":  # the newest frames are kept: the last frame is processed
        frames = over.jobs[over.jobs["kind"] == "frame"]
        assert not frames.sort_values("index")["dropped"].iloc[-1]


def test_ttft_under_load_at_least_unloaded():
    jobs = _jobs()
    for qp in ("answer_first", "interleave"):
        run = run_realtime([jobs, jobs], fps=9.0, policy=RealtimePolicy(question_policy=qp))
        for ans in summary(run, [jobs, jobs])["answers"]:
            assert ans["ttft_s"] >= ans["ttft_unloaded_s"] - 1e-12
            assert ans["tpot_s"] >= 0.02 - 1e-12
    first = summary(run_realtime([jobs], 9.0, RealtimePolicy(question_policy="answer_first")), [jobs])["answers"][0]
    inter = summary(run_realtime([jobs], 9.0, RealtimePolicy(question_policy="interleave")), [jobs])["answers"][0]
    assert first["tpot_s"] <= inter["tpot_s"]  # interleaving frames between answer tokens slows the answer


def test_deterministic_for_a_seed():
    pol = RealtimePolicy(jitter_s=0.03, seed=7)
    a = run_realtime([_jobs()], 9.5, pol).jobs
    b = run_realtime([_jobs()], 9.5, pol).jobs
    c = run_realtime([_jobs()], 9.5, RealtimePolicy(jitter_s=0.03, seed=8)).jobs
    assert a.equals(b) and not a.equals(c)


def test_max_sustainable_fps_near_the_service_rate():
    fps = max_sustainable_fps([_jobs(n=400, question_at=())], RealtimePolicy(), traced_fps=10.0, duration_s=40.0)
    assert 9.0 <= fps <= 10.5  # 0.1 s per frame


def _coin_like() -> StreamJobs:
    """The average COIN case's shape: 26 frames at 2 FPS (13 s), one question at 12.9 s answered in 39 tokens;
    frames take 0.22 s, the answer ~4 s (V-Rex8-like service times)."""
    return _jobs(n=26, frame_s=0.22, question_at=(12.9,), prefill_s=0.1, steps=39, step_s=0.1)


def test_drop_share_grows_with_the_rate_when_content_scales_with_it():
    """The stream at each rate (at_rate: same length, questions by time): a higher rate only adds load, so the
    drop share never falls as the rate rises; and a run that drops nothing at 2 and 4 FPS sustains >= 4."""
    jobs = _coin_like()
    pol = RealtimePolicy()
    rates = np.geomspace(0.25, 40, 45)
    shares = [drop_share([at_rate(jobs, 2.0, f, 13.0)], f, pol) for f in rates]
    assert all(b >= a - 1e-12 for a, b in zip(shares, shares[1:])), shares
    assert shares[0] == 0 and shares[-1] > 0.5
    for f in (2.0, 4.0):
        assert drop_share([at_rate(jobs, 2.0, f, 13.0)], f, pol) == 0
    best = max_sustainable_fps([jobs], pol, traced_fps=2.0, duration_s=13.0)
    assert 4.0 <= best <= 1 / 0.22 * 1.2  # at most a little above the service rate (the queue absorbs the tail)


def test_at_rate_keeps_length_and_question_times():
    jobs = _coin_like()
    fast = at_rate(jobs, 2.0, 8.0, 13.0)
    assert len(fast.frame_s) == 104 and fast.question_at_s == jobs.question_at_s
    assert set(np.round(fast.frame_s, 6)) <= set(np.round(jobs.frame_s, 6))


def test_chrome_trace_has_a_slice_for_every_busy_unit(tiny_resv_trace, vrex8_hw):
    res = simulate(tiny_resv_trace, vrex8_hw)
    jobs = stream_jobs(res.ops, tiny_resv_trace.meta)
    run = run_realtime([jobs], tiny_resv_trace.meta["fps"], RealtimePolicy())
    tr = chrome_trace(run, [ops_for_timeline(res.ops)], [jobs], device="vrex8-edge")
    ev = tr["traceEvents"]
    slices = [e for e in ev if e["ph"] == "X"]
    assert slices and all({"ph", "ts", "dur", "pid", "tid"} <= set(e) for e in slices)
    names = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    busy = set(res.ops.loc[res.ops["compute_s"] > 0, "unit"])
    assert busy <= names and {"DRAM", "offload link", "arrivals"} <= names
    tids = {e["args"]["name"]: e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    for unit in busy:
        assert any(e["tid"] == tids[unit] for e in slices)
    assert any(e["ph"] == "i" and "frame" in e["name"] for e in ev)


def test_stream_command(capsys, root, tmp_path):
    out, tl = tmp_path / "rt", tmp_path / "tl.json"
    assert main(["stream", "--workload", str(root / "workloads" / "tiny.yaml"), "--out", str(out),
                 "--timeline-json", str(tl), "--no-progress", "--no-bisect"]) == 0
    text = capsys.readouterr().out
    assert "p99" in text and "TTFT" in text and "offload tier" in text
    assert json.loads((out / "summary.json").read_text())["frames_arrived"] == 8
    assert (out / "figures" / "realtime_rt.png").is_file()
    assert "traceEvents" in json.loads(tl.read_text())
    assert main(["report", str(out), "--out", str(tmp_path / "rep.md")]) == 0
    assert "Real-time streaming" in (tmp_path / "rep.md").read_text()
