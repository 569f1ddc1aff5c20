"""The accelerator replay: roofline bound, monotonicity in bandwidth and clock, conservation."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.replay.discrete_event import Durations, Replay
from simulator.engine.simulate import simulate


def _with(hw, **dram):
    return dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, **dram))


def roofline_bound_s(trace, hw) -> float:
    """Lower bound for the same work: each resource at its peak, perfectly overlapped."""
    acc = AcceleratorPlatform(hw)
    ev = trace.events
    compute = max(ev["flops_matmul"].sum() / acc.pe.peak_flops, ev["flops_vector"].sum() / acc.vector.peak_ops)
    compulsory = ev["bytes_weight_read"].sum() + ev.loc[ev["kv_tier"] == "dram", ["bytes_kv_read",
                                                                                   "bytes_kv_write"]].sum().sum()
    return max(compute, compulsory / acc.dram.peak_bytes_per_s)


def test_latency_never_below_roofline(tiny_trace, vrex_hw):
    for bw in (1.0, 10.0, 102.4, 2000.0):
        hw = _with(vrex_hw, bandwidth_gbps=bw)
        res = simulate(tiny_trace, hw)
        assert res.total_s >= roofline_bound_s(tiny_trace, hw) * (1 - 1e-12)


def test_doubling_bandwidth_never_slows(tiny_trace, vrex_hw):
    prev = None
    for bw in (0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256):
        res = simulate(tiny_trace, _with(vrex_hw, bandwidth_gbps=bw))
        phase_ends = res.ops.groupby(["phase", "frame", "question", "step"])["end_s"].max()
        if prev is not None:
            assert res.total_s <= prev[0] * (1 + 1e-12)
            assert (phase_ends.to_numpy() <= prev[1].to_numpy() * (1 + 1e-12)).all()
        prev = (res.total_s, phase_ends)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    factor=st.floats(1.0, 8.0),
)
def test_replay_monotone_in_transfer_times(n, seed, factor):
    """Shrinking every transfer (more bandwidth) never delays any op's completion."""
    rng = np.random.default_rng(seed)
    read = rng.exponential(1.0, n) * (rng.random(n) < 0.7)
    write = rng.exponential(1.0, n) * (rng.random(n) < 0.5)
    comp = rng.exponential(1.0, n) * (rng.random(n) < 0.8)
    unit = rng.integers(0, 4, n)
    slow = Replay(Durations.of(comp, read, write), unit, 4).run()
    fast = Replay(Durations.of(comp, read / factor, write / factor), unit, 4).run()
    for key in ("compute_end", "write_end"):
        assert (fast[key] <= slow[key] + 1e-9).all()
    # and ops never start computing before their inputs arrived, in program order
    assert (slow["compute_start"] >= slow["read_end"] - 1e-12).all()
    assert (np.diff(slow["compute_start"]) >= -1e-12).all()


def test_faster_clock_never_slows(tiny_trace, vrex_hw):
    slow = simulate(tiny_trace, dataclasses.replace(vrex_hw, clock_mhz=500)).total_s
    fast = simulate(tiny_trace, dataclasses.replace(vrex_hw, clock_mhz=1000)).total_s
    assert fast <= slow


def test_conservation_of_bytes(tiny_trace, vrex_hw):
    """Every weight and KV byte of the trace is moved by the simulation, from DRAM or the KV buffer."""
    res = simulate(tiny_trace, vrex_hw)
    ev = tiny_trace.events
    compulsory = ev["bytes_weight_read"].sum() + ev["bytes_kv_read"].sum() + ev["bytes_kv_write"].sum()
    assert len(res.ops) == len(ev)
    moved = res.ops["dram_bytes"] + res.ops["kv_sram_bytes"]
    assert moved.sum() >= compulsory
    # with a huge activation buffer nothing spills: weights and KV are all that move
    big = dataclasses.replace(vrex_hw, sram=dataclasses.replace(vrex_hw.sram, activation_kb=1 << 20))
    ops = simulate(tiny_trace, big).ops
    assert np.isclose((ops["dram_bytes"] + ops["kv_sram_bytes"]).sum(), compulsory)
    # a KV buffer too small to pin anything sends all KV reads to DRAM
    tiny_kv = dataclasses.replace(big, sram=dataclasses.replace(big.sram, kv_kb=1))
    ops = simulate(tiny_trace, tiny_kv).ops
    assert ops["kv_sram_bytes"].sum() < 0.2 * ev["bytes_kv_read"].sum()


def test_pe_energy_counts_every_mac(tiny_trace, vrex_hw):
    acc = AcceleratorPlatform(vrex_hw)
    res = simulate(tiny_trace, vrex_hw)
    pe_flops = tiny_trace.events.loc[res.ops["unit"] == "dpe", "flops_matmul"].sum()
    # every MAC at its price: the MAC tree's energy with what synthesis adds (registers, clock network)
    assert np.isclose(res.ops["e_dpe_pj"].sum(), pe_flops / 2 * acc.prices()["mac"].pj)
    assert acc.prices()["mac"].pj > acc.pe.mac_pj


def test_narrow_sram_ports_slow_vector_work(tiny_trace, vrex_hw):
    narrow = dataclasses.replace(vrex_hw, sram=dataclasses.replace(vrex_hw.sram, banks=1, port_width_bits=8))
    a = simulate(tiny_trace, vrex_hw).ops
    b = simulate(tiny_trace, narrow).ops
    vec = a["unit"] == "vpe"
    assert (b.loc[vec, "compute_s"] >= a.loc[vec, "compute_s"]).all()
    assert b.loc[vec, "compute_s"].sum() > a.loc[vec, "compute_s"].sum()
