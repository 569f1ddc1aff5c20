"""Traced FLOPs equal the closed-form count and torch.utils.flop_counter on the same module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from simulator.config.workload import LlmShape
from simulator.models.decoder import DecoderLayer, rope_tables
from simulator.models.kv_cache import KVCache
from simulator.tracer.recorder import recording

QWEN2_7B = LlmShape(arch="qwen2", layers=28, hidden=3584, heads=28, kv_heads=4, head_dim=128, ffn=18944,
                    vocab=152064, qkv_bias=True)
LLAMA3_8B = LlmShape(arch="llama", layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, ffn=14336,
                     vocab=128256)
FALCON_7B = LlmShape(arch="falcon", layers=32, hidden=4544, heads=71, kv_heads=1, head_dim=64, ffn=18176,
                     mlp="gelu", vocab=65024)
BITS = {"weight": 16, "activation": 16, "kv": 16}


def closed_form_layer_flops(s: LlmShape, q: int, kv_len: int) -> int:
    """Matrix FLOPs of one decoder layer for q new tokens attending to kv_len keys (incl. themselves)."""
    proj = 2 * q * s.hidden * (s.heads * s.head_dim) * 2 + 2 * q * s.hidden * (s.kv_heads * s.head_dim) * 2
    mlp = (3 if s.mlp == "swiglu" else 2) * 2 * q * s.hidden * s.ffn
    attn = 2 * (2 * s.heads * q * kv_len * s.head_dim)
    return proj + mlp + attn


def _run_layer(s, q, past, device="meta"):
    with torch.device(device):
        layer = DecoderLayer(s)
    cache = KVCache(1, s.kv_heads, s.head_dim, device=device, dtype=torch.float32)
    if past:
        with torch.device(device):
            cache.append(torch.zeros(1, s.kv_heads, past, s.head_dim), torch.zeros(1, s.kv_heads, past, s.head_dim))
    pos = np.arange(past, past + q)
    x = torch.zeros(1, q, s.hidden, device=device)
    cos, sin = rope_tables(pos, s.head_dim, s.rope_theta, device, torch.float32)
    return layer, cache, x, cos, sin, pos


@pytest.mark.parametrize("shape", [QWEN2_7B, LLAMA3_8B, FALCON_7B], ids=["qwen2-7b", "llama3-8b", "falcon-7b"])
@pytest.mark.parametrize("q, past", [(196, 0), (196, 1960), (1, 5000), (24, 777)])
def test_layer_flops_closed_form_and_flop_counter(shape, q, past):
    layer, cache, x, cos, sin, pos = _run_layer(shape, q, past)
    with recording(BITS, [layer]) as rec:
        layer(x, cache, cos, sin, pos)
    traced = sum(r["flops_matmul"] for r in rec.rows)
    assert traced == closed_form_layer_flops(shape, q, past + q)

    layer2, cache2, x2, cos2, sin2, pos2 = _run_layer(shape, q, past)
    with FlopCounterMode(display=False) as fc:
        layer2(x2, cache2, cos2, sin2, pos2)
    assert traced == fc.get_total_flops()


@pytest.mark.parametrize("s", [QWEN2_7B, FALCON_7B], ids=["qwen2-7b", "falcon-7b"])
def test_weight_bytes_read_once_per_layer(s):
    layer, cache, x, cos, sin, pos = _run_layer(s, 196, 0)
    with recording(BITS, [layer]) as rec:
        layer(x, cache, cos, sin, pos)
    weight_bytes = sum(p.numel() for p in layer.parameters()) * 2
    assert sum(r["bytes_weight_read"] for r in rec.rows) == weight_bytes


def test_attention_reads_whole_cache():
    s = QWEN2_7B
    past, q = 1000, 196
    layer, cache, x, cos, sin, pos = _run_layer(s, q, past)
    with recording(BITS, [layer]) as rec:
        layer(x, cache, cos, sin, pos)
    kv_read = sum(r["bytes_kv_read"] for r in rec.rows)
    kv_write = sum(r["bytes_kv_write"] for r in rec.rows)
    per_token = s.kv_heads * s.head_dim * 2  # bytes of K (or V) per token at 16 bit
    assert kv_read == 2 * (past + q) * per_token  # K in scores, V in values
    assert kv_write == 2 * q * per_token


def test_phase_flops_7b_stream(root):
    """Whole phases of the traced 7B stream equal the closed form summed over layers (+ LM head)."""
    from simulator.config.workload import Question, load_workload
    from simulator.stream import trace_workload

    wl = load_workload(root / "workloads" / "coin-llava-ov-7b.yaml").with_stream(
        duration_s=2.0, system_prompt_tokens=0, questions=(Question(at_s=1.0, prompt_tokens=24, answer_tokens=3),))
    ev = trace_workload(wl).events
    s, tpf = QWEN2_7B, 196
    per_phase = ev.groupby(["phase", "frame", "question", "step"], sort=False)["flops_matmul"].sum()
    q_frame = int(np.floor(1.0 * wl.stream.fps))  # the question follows the frame that arrived at t = 1 s
    for f in range(wl.stream.frames):
        kv = (f + 1) * tpf + (24 + 3 if f > q_frame else 0)  # question and answer tokens stay in the cache
        assert per_phase[("frame_prefill", f, -1, -1)] == s.layers * closed_form_layer_flops(s, tpf, kv)
    past = (q_frame + 1) * tpf
    assert per_phase[("question_prefill", q_frame, 0, -1)] == s.layers * closed_form_layer_flops(s, 24, past + 24)
    lm_head = 2 * s.hidden * s.vocab
    for j in range(3):
        expect = s.layers * closed_form_layer_flops(s, 1, past + 24 + j + 1) + lm_head
        assert per_phase[("decode", q_frame, 0, j)] == expect


def test_real_stream_total_equals_flop_counter(tiny_workload):
    """Every phase of a real-valued stream, all layers: traced matrix FLOPs == FlopCounterMode's."""
    from simulator.stream import trace_workload

    with FlopCounterMode(display=False) as fc:
        tr = trace_workload(tiny_workload, mode="real")
    assert tr.events["flops_matmul"].sum() == fc.get_total_flops()


@pytest.mark.parametrize("model", ["llama-3-8b", "mpt-7b", "falcon-7b"])
def test_closed_form_weight_bytes_match_the_module(root, model):
    from simulator.config.workload import load_model
    from simulator.models.decoder import DecoderLM
    from simulator.stream import _param_bytes

    m = load_model(root / "workloads" / "models" / f"{model}.yaml")
    with torch.device("meta"):
        lm = DecoderLM(m.llm)
    params = sum(p.numel() for p in lm.parameters()) - lm.embed.weight.numel()
    assert _param_bytes(m, 16) == params * 2
