"""Multi-core V-Rex: peak throughput, how ops scale with cores, and the NoC exchange."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from simulator.config.hardware import load_hardware
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.units.multicore import split_matrix


@pytest.fixture(scope="module")
def vrex8(root):
    return load_hardware(root / "hwconfigs" / "vrex8-edge.yaml")


@pytest.mark.parametrize("name, tflops", [("vrex8-edge", 53.3), ("vrex48-server", 319.5)])
def test_peak_tflops_as_published(root, name, tflops):
    acc = AcceleratorPlatform(load_hardware(root / "hwconfigs" / f"{name}.yaml"))
    assert abs(acc.peak_flops / 1e12 - tflops) / tflops < 0.01


def _gemm_events(m, n, k, batch=1, weights=True):
    """One GEMM event: FP16/BF16 weights streamed from DRAM (weights=True) or an on-chip attention GEMM."""
    row = {"phase": "frame_prefill", "frame": 0, "question": -1, "step": -1, "t_arrival_s": 0.0, "tokens": m,
           "layer": 0, "head_group": -1, "op": "proj", "kind": "gemm" if weights else "attn_score",
           "batch": batch, "m": m, "n": n, "k": k, "flops_matmul": 2 * batch * m * n * k, "flops_vector": 0,
           "bytes_weight_read": 2 * n * k if weights else 0, "bytes_act_read": 2 * m * k,
           "bytes_act_write": 2 * m * n, "bytes_kv_read": 0, "bytes_kv_write": 0, "kv_tier": "dram", "kv_len": 0,
           "candidates": 0, "selected": 0, "hash_compares": 0, "scores_processed": 0, "kv_runs": 0,
           "kv_token_runs": 0, "bytes_hc_read": 0, "bytes_hc_write": 0, "weight_bits": 16, "act_bits": 16,
           "kv_bits": 16}
    return pd.DataFrame([row])


def _op_time(hw, ev) -> float:
    c = AcceleratorPlatform(hw).op_costs(ev).iloc[0]
    return max(c["compute_s"], c["read_s"] + c["write_s"])


def test_weight_streaming_bound_op_does_not_speed_up(vrex8):
    ev = _gemm_events(1, 4096, 4096)  # decode GEMV: 32 MiB of weights, 33 MFLOP
    t1 = _op_time(dataclasses.replace(vrex8, cores=1), ev)
    t8 = _op_time(vrex8, ev)
    assert t8 == pytest.approx(t1, rel=1e-9)  # DRAM is shared: the same bytes at the same bandwidth


def test_compute_bound_op_scales_close_to_one_over_n(vrex8):
    ev = _gemm_events(256, 4096, 16384, weights=False)  # on-chip operands, small output: compute-bound
    t1 = AcceleratorPlatform(dataclasses.replace(vrex8, cores=1)).op_costs(ev)["compute_s"].iloc[0]
    for n in (2, 4, 8):
        tn = AcceleratorPlatform(dataclasses.replace(vrex8, cores=n)).op_costs(ev)["compute_s"].iloc[0]
        assert t1 / n <= tn <= 1.1 * t1 / n  # the NoC exchange of the output costs a little


def test_split_picks_the_fastest_dimension(vrex8):
    acc = AcceleratorPlatform(vrex8)
    # attention value GEMM: n = head_dim 128 is too narrow for 8 cores x 64 trees; k (the context) splits well
    s, noc_s, noc_b = split_matrix(acc.pe, acc.noc, vrex8.clock_hz, np.array([1]), np.array([40]), np.array([128]),
                                   np.array([40960]), np.array([2 * 40 * 128]))
    by_n = acc.pe.cycles(1, 40, 16, 40960)[()] / vrex8.clock_hz
    assert s[0] + noc_s[0] < by_n
    assert noc_b[0] > 0
