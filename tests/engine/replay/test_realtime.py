"""Arrival-driven streaming: queues grow and drop above the service rate, not below; TTFT under load; determinism;
the Chrome-trace export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator.cli import main
from simulator.engine.replay.realtime import RealtimePolicy, StreamJobs, max_sustainable_fps, run_realtime, stream_jobs
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
    fps = max_sustainable_fps([_jobs(n=400, question_at=())], RealtimePolicy())
    assert 9.0 <= fps <= 10.5  # 0.1 s per frame


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
