"""Energy and area: zero work costs only leakage; node shrinks lower energy per MAC; parts add up."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from simulator.config.tech import load_tech
from simulator.engine.simulate import simulate
from simulator.results.metrics import phase_table, stream_metrics
from simulator.tracer.events import COLUMN_NAMES
from simulator.tracer.trace_file import Trace


def test_node_shrink_lowers_energy_per_mac():
    tech = load_tech()
    for prec in ("int4", "int8", "fp16", "bf16"):
        e = [tech.at(n).mac_pj(prec) for n in ("28nm", "16nm", "7nm")]
        assert e[0] > e[1] > e[2]
    assert tech.at("28nm").sram_mm2(1024) > tech.at("7nm").sram_mm2(1024)


def test_sram_cost_depends_on_macro_size():
    t = load_tech().at("28nm")
    assert t.sram_mm2(1024, banks=64) > t.sram_mm2(1024, banks=4)  # small macros: more periphery per bit
    assert t.sram_pj_per_bit(64) > t.sram_pj_per_bit(8)  # big macros: longer bit lines


def _zero_work_trace(tiny_trace) -> Trace:
    ev = tiny_trace.events.copy()
    for c in COLUMN_NAMES:
        if c.startswith(("flops", "bytes", "m", "n", "k", "batch", "candidates", "selected")) and c not in (
                "kv_bits",):
            if pd.api.types.is_numeric_dtype(ev[c]):
                ev[c] = 0
    return Trace(events=ev.reset_index(drop=True), meta=tiny_trace.meta, kv_tokens=tiny_trace.kv_tokens)


def test_zero_work_costs_only_leakage(tiny_trace, vrex_hw):
    res = simulate(_zero_work_trace(tiny_trace), vrex_hw)
    pt = phase_table(res)
    dyn = [c for c in pt.columns if c.startswith("energy_") and c not in ("energy_j", "energy_leakage_j")]
    assert np.allclose(pt[dyn].to_numpy(), 0.0)
    m, _ = stream_metrics(res, 4.0)
    assert res.leakage_w > 0
    assert m.stream_wall_s > 0
    assert np.isclose(m.energy_wall_j, res.leakage_w * m.stream_wall_s)


def test_gpu_zero_work_costs_only_static(tiny_trace, orin_hw):
    res = simulate(_zero_work_trace(tiny_trace), orin_hw)
    m, _ = stream_metrics(res, 4.0)
    static_w = orin_hw.power.static_w + orin_hw.offload.device.idle_w  # the GPU module and the idle SSD
    assert np.isclose(m.energy_wall_j, static_w * m.stream_wall_s)


def test_leakage_scales_with_area(tiny_trace, vrex_hw):
    small = simulate(tiny_trace, vrex_hw)
    big = simulate(tiny_trace, dataclasses.replace(
        vrex_hw, sram=dataclasses.replace(vrex_hw.sram, kv_kb=vrex_hw.sram.kv_kb * 8)))
    ratio = sum(big.area_mm2.values()) / sum(small.area_mm2.values())
    idle = vrex_hw.offload.device.idle_w  # the offload device's idle power does not scale with the chip
    assert np.isclose((big.leakage_w - idle) / (small.leakage_w - idle), ratio)


@pytest.mark.parametrize("node", ["28nm", "16nm", "7nm"])
def test_shrinking_the_accelerator_lowers_its_energy(tiny_trace, vrex_hw, node):
    base = phase_table(simulate(tiny_trace, vrex_hw))
    shrunk = phase_table(simulate(tiny_trace, dataclasses.replace(vrex_hw, tech_node=node)))
    if node == "28nm":
        assert np.isclose(base["energy_j"].sum(), shrunk["energy_j"].sum())
    else:
        assert shrunk["energy_dpe_j"].sum() < base["energy_dpe_j"].sum()
