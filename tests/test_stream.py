"""The streaming driver: phases, KV growth, decode steps, meta == real event structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.config.workload import KvPolicyConfig, load_workload
from simulator.stream import trace_workload


def _kv_bytes_per_token(wl):
    s = wl.model_config.llm
    return s.layers * 2 * s.kv_heads * s.head_dim * wl.precision.bits["kv"] // 8


def test_kv_bytes_written_after_f_frames(tiny_workload, tiny_trace):
    ev = tiny_trace.events
    tpf = tiny_workload.model_config.tokens_per_frame
    for f in (0, 3, tiny_workload.stream.frames - 1):
        written = ev.loc[(ev["phase"] == "frame_prefill") & (ev["frame"] <= f), "bytes_kv_write"].sum()
        assert written == (f + 1) * tpf * _kv_bytes_per_token(tiny_workload)


def test_kv_bytes_7b_meta(root):
    wl = load_workload(root / "workloads" / "coin-llava-ov-7b.yaml").with_stream(duration_s=5.0, questions=())
    tr = trace_workload(wl)
    ev = tr.events
    frames = wl.stream.frames
    written = ev.loc[ev["phase"] == "frame_prefill", "bytes_kv_write"].sum()
    assert written == frames * 196 * 28 * 2 * 4 * 128 * 2
    # every LLM layer appears once per frame for every kernel
    fp = ev[(ev["phase"] == "frame_prefill") & (ev["op"] == "q_proj")]
    assert len(fp) == frames * 28
    assert sorted(fp["layer"].unique()) == list(range(28))


def test_decode_steps_equal_answer_length(tiny_workload, tiny_trace):
    ev = tiny_trace.events
    for qi, q in enumerate(tiny_workload.stream.questions):
        steps = ev.loc[(ev["phase"] == "decode") & (ev["question"] == qi), "step"].unique()
        assert len(steps) == q.answer_tokens
        assert sorted(steps) == list(range(q.answer_tokens))


def test_question_after_frames_that_arrived(tiny_workload, tiny_trace):
    ev = tiny_trace.events
    q = tiny_workload.stream.questions[0]
    first_q_row = ev.index[ev["phase"] == "question_prefill"]
    first_q_row = first_q_row[ev.loc[first_q_row, "question"] == 0][0]
    frames_before = ev.loc[:first_q_row]
    last_frame = frames_before.loc[frames_before["phase"] == "frame_prefill", "frame"].max()
    assert last_frame == int(np.floor(q.at_s * tiny_workload.stream.fps))


def test_meta_and_real_modes_agree(tiny_trace, tiny_trace_real):
    a, b = tiny_trace.events, tiny_trace_real.events
    assert len(a) == len(b)
    cols = ["phase", "frame", "layer", "op", "kind", "flops_matmul", "flops_vector", "bytes_weight_read",
            "bytes_act_read", "bytes_act_write", "bytes_kv_read", "bytes_kv_write", "kv_len"]
    assert (a[cols].to_numpy() == b[cols].to_numpy()).all()


def test_sliding_window_caps_attention(tiny_workload):
    policy = KvPolicyConfig(name="sliding_window", params={"window": 32, "sink_tokens": 4})
    wl = tiny_workload.replace(kv_policy=policy)
    for mode in ("meta", "real"):
        tr = trace_workload(wl, mode=mode)
        ev = tr.events
        assert ev.loc[(ev["kind"] == "attn_score") & (ev["phase"] != "vision"), "kv_len"].max() == 36
        assert tr.kv_tokens["kv_slots"].max() == 36


def test_progress_does_not_change_events(tiny_workload, tiny_trace):
    tr = trace_workload(tiny_workload, progress=True)
    assert tr.events.equals(tiny_trace.events)


@pytest.mark.parametrize("mode", ["meta", "real"])
def test_phase_order(tiny_trace, tiny_trace_real, mode):
    ev = (tiny_trace if mode == "meta" else tiny_trace_real).events
    fp = ev[ev["phase"].isin(["vision", "frame_prefill"])]
    assert fp["frame"].is_monotonic_increasing


@pytest.mark.parametrize("chunk_frames", ["1", "3"])
def test_stream_command_chunked_equals_whole_trace(root, tmp_path, capsys, chunk_frames):
    """`vrex stream` replays chunk by chunk; its figures and Chrome timeline equal the whole-trace path's
    (trace -> simulate -> stream_jobs(ops) -> run_realtime), which it used before."""
    import json

    from simulator.cli import main
    from simulator.config.hardware import load_hardware
    from simulator.engine.replay.realtime import RealtimePolicy, run_realtime, stream_jobs
    from simulator.engine.simulate import simulate
    from simulator.results import realtime as rt

    wl_path = tmp_path / "tiny-resv.yaml"
    wl_path.write_text((root / "workloads" / "tiny.yaml").read_text().replace(
        "kv_policy:\n  name: full", "kv_policy:\n  name: resv\n  params: {recent_window: 32}")
        .replace("models/tiny.yaml", str(root / "workloads" / "models" / "tiny.yaml")))
    assert "resv" in wl_path.read_text()
    out, tl, tl_pq = tmp_path / "rt", tmp_path / "tl.json", tmp_path / "ops.parquet"
    assert main(["stream", "--workload", str(wl_path), "--duration-s", "3", "--out", str(out), "--no-progress",
                 "--timeline-json", str(tl), "--timeline-window", "0", "3", "--timeline", str(tl_pq),
                 "--chunk-frames", chunk_frames]) == 0
    capsys.readouterr()
    got = json.loads((out / "summary.json").read_text())
    wl = load_workload(wl_path).with_stream(duration_s=3.0)
    assert wl.kv_policy.name == "resv"
    tr = trace_workload(wl)
    hw = load_hardware(root / "hwconfigs" / "vrex8-edge.yaml")
    res = simulate(tr, hw)
    jobs = stream_jobs(res.ops, tr.meta)
    run = run_realtime([jobs], wl.stream.fps, RealtimePolicy())
    want = json.loads(json.dumps(rt.summary(run, [jobs]), default=float))
    for k, v in want.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k
        elif k != "label":
            assert got[k] == v, k
    assert got["frames_arrived"] == 12
    chrome = rt.chrome_trace(run, [rt.ops_for_timeline(res.ops)], [jobs], window_s=(0.0, 3.0), device=hw.name)
    got_chrome = json.loads(tl.read_text())
    assert len(got_chrome["traceEvents"]) == len(chrome["traceEvents"]) > 10
    for a, b in zip(got_chrome["traceEvents"], chrome["traceEvents"]):
        assert a["name"] == b["name"] and a.get("ts", 0) == pytest.approx(b.get("ts", 0), rel=1e-12)
    assert len(pd.read_parquet(tl_pq)) == len(res.ops)


def test_stream_timeline_write_failure_is_one_line(root, tmp_path, capsys, monkeypatch):
    """The per-op timeline is written while the stream replays; a write that fails then (a full disk) ends the
    command with one line naming --timeline and the path, not a traceback."""
    import pyarrow.parquet as pq

    from simulator.cli import main

    class FullDisk:
        def __init__(self, *a, **k):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "ParquetWriter", FullDisk)
    tl = tmp_path / "ops.parquet"
    assert main(["stream", "--workload", str(root / "workloads" / "tiny.yaml"), "--duration-s", "3", "--out",
                 str(tmp_path / "rt"), "--no-progress", "--no-bisect", "--timeline", str(tl)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"vrex: error: --timeline: {tl}: No space left on device"]
    assert not tl.exists()
