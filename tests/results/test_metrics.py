"""Stream metrics: parts add up; latencies add up to the timeline; numbers follow the configs."""

from __future__ import annotations

import dataclasses

import numpy as np

from simulator.engine.result import ENERGY_PARTS
from simulator.engine.simulate import simulate
from simulator.results.metrics import phase_table, stream_metrics


def test_phase_latencies_sum_to_total(tiny_trace, vrex_hw):
    res = simulate(tiny_trace, vrex_hw)
    pt = phase_table(res)
    assert np.isclose(pt["latency_s"].sum(), res.total_s)


def test_energy_is_sum_of_parts(tiny_trace, vrex_hw):
    res = simulate(tiny_trace, vrex_hw)
    pt = phase_table(res)
    parts = sum(pt[f"energy_{p}_j"] for p in ENERGY_PARTS)
    assert np.allclose(pt["energy_j"], parts)
    dyn = sum(res.ops[f"e_{p}_pj"].sum() for p in ENERGY_PARTS if p != "leakage") * 1e-12
    assert np.isclose(pt["energy_j"].sum(), dyn + res.leakage_w * res.total_s)


def test_metrics_follow_config(tiny_trace, vrex_hw):
    base, _ = stream_metrics(simulate(tiny_trace, vrex_hw), 4.0)
    bigger = dataclasses.replace(vrex_hw, pe_array=dataclasses.replace(vrex_hw.pe_array, rows=128, cols=128))
    big, _ = stream_metrics(simulate(tiny_trace, bigger), 4.0)
    assert big.area_mm2 > base.area_mm2
    assert big.frame_latency_mean_s != base.frame_latency_mean_s
    slow_dram = dataclasses.replace(vrex_hw, dram=dataclasses.replace(vrex_hw.dram, bandwidth_gbps=1.0))
    slow, _ = stream_metrics(simulate(tiny_trace, slow_dram), 4.0)
    assert slow.decode_tokens_per_s < base.decode_tokens_per_s


def test_ttft_and_decode_rate(tiny_trace, vrex_hw):
    m, pt = stream_metrics(simulate(tiny_trace, vrex_hw), 4.0)
    d = pt[pt["phase"] == "decode"]
    assert np.isclose(m.decode_tokens_per_s, len(d) / d["latency_s"].sum())
    qp = pt[(pt["phase"] == "question_prefill") & (pt["question"] == 0)]["latency_s"].sum()
    assert np.isclose(m.ttft_mean_s, qp + d[d["step"] == 0]["latency_s"].sum())
    assert m.frames == tiny_trace.meta["frames"]
