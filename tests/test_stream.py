"""The streaming driver: phases, KV growth, decode steps, meta == real event structure."""

from __future__ import annotations

import numpy as np
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
