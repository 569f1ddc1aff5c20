"""Area and energy model properties (area_model.py): area grows with MACs, SRAM and lanes; energy per MAC
falls with a smaller node; a MAC tree of N inputs costs less than N full MACs; peak power per block."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.hardware import load_hardware
from simulator.config.tech import load_tech
from simulator.engine.memory.sram import SramBuffers
from simulator.engine.physical import area_model as am
from simulator.engine.physical.peak_power import peak_power_per_core_w
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.units.vector_unit import VectorUnit

TECH = load_tech()
NODES_BIG_TO_SMALL = ("65nm", "45nm", "28nm", "16nm", "14nm", "samsung8nm", "7nm")
PRECS = ("int4", "int8", "fp16", "bf16")


@settings(max_examples=40, deadline=None)
@given(node=st.sampled_from(("28nm", "14nm", "7nm")), prec=st.sampled_from(PRECS),
       trees=st.integers(1, 128), inputs=st.sampled_from((4, 8, 16, 32, 64, 128)))
def test_area_grows_with_macs(node, prec, trees, inputs):
    t = TECH.at(node)
    cfg = load_hardware_cfg("vrex8-edge").pe_array
    small = dataclasses.replace(cfg, trees=trees, tree_inputs=inputs, precision=prec)
    assert am.matrix_engine(t, dataclasses.replace(small, trees=trees + 1))[0] > am.matrix_engine(t, small)[0]
    assert am.matrix_engine(t, dataclasses.replace(small, tree_inputs=2 * inputs))[0] > am.matrix_engine(t, small)[0]
    sys = dataclasses.replace(load_hardware_cfg("vrex-edge").pe_array, rows=trees, cols=inputs, precision=prec)
    assert am.matrix_engine(t, dataclasses.replace(sys, rows=trees + 1))[0] > am.matrix_engine(t, sys)[0]


@settings(max_examples=40, deadline=None)
@given(node=st.sampled_from(("28nm", "14nm", "7nm")), kb=st.integers(1, 4096), extra=st.integers(1, 1024),
       banks=st.sampled_from((1, 4, 16, 32)), width=st.sampled_from((64, 128, 256)))
def test_area_grows_with_sram(node, kb, extra, banks, width):
    t = TECH.at(node)
    cfg = dataclasses.replace(load_hardware_cfg("vrex8-edge").sram, weight_kb=kb, banks=banks, port_width_bits=width)
    bigger = dataclasses.replace(cfg, weight_kb=kb + extra)
    assert SramBuffers(bigger, t).area_mm2 > SramBuffers(cfg, t).area_mm2
    assert t.sram_mm2(kb + extra, banks, width) > t.sram_mm2(kb, banks, width)


@settings(max_examples=30, deadline=None)
@given(node=st.sampled_from(("28nm", "14nm", "7nm")), lanes=st.integers(1, 512))
def test_area_grows_with_lanes(node, lanes):
    t = TECH.at(node)
    cfg = load_hardware_cfg("vrex8-edge").vector_unit
    a = VectorUnit(dataclasses.replace(cfg, lanes=lanes), 1e9, t).area_mm2
    b = VectorUnit(dataclasses.replace(cfg, lanes=lanes + 1), 1e9, t).area_mm2
    assert b > a > 0


@pytest.mark.parametrize("prec", PRECS)
def test_energy_per_mac_falls_with_smaller_node(prec):
    for kind in ("vrex8-edge", "vrex-edge"):  # MAC tree and systolic
        cfg = dataclasses.replace(load_hardware_cfg(kind).pe_array, precision=prec)
        e = [am.matrix_engine(TECH.at(n), cfg)[1] for n in NODES_BIG_TO_SMALL]
        assert all(a > b for a, b in zip(e, e[1:])), (kind, e)
        a = [am.matrix_engine(TECH.at(n), cfg)[0] for n in NODES_BIG_TO_SMALL]
        assert all(x > y for x, y in zip(a, a[1:])), (kind, a)


@pytest.mark.parametrize("prec", PRECS)
@pytest.mark.parametrize("n", (2, 4, 16, 64, 256))
def test_mac_tree_cheaper_than_n_full_macs(prec, n):
    t = TECH.at("14nm")
    tree, pe = am.mac_tree(t, n, prec), am.systolic_pe(t, prec)
    assert tree.area_mm2 < n * pe.area_mm2
    assert tree.pj < n * pe.pj  # per cycle: n MACs either way


def test_energy_falls_with_lower_supply():
    assert TECH.at("14nm", vdd=0.6).energy_scale < TECH.at("14nm", vdd=0.8).energy_scale


def test_peak_power_per_block(root):
    acc = AcceleratorPlatform(load_hardware(root / "hwconfigs" / "vrex8-edge.yaml"))
    peak = peak_power_per_core_w(acc)
    assert set(acc.area_per_core_mm2()) <= set(peak) and all(v > 0 for v in peak.values())
    hw = acc.hw
    assert peak["dpe"] > hw.pe_array.macs * acc.pe.mac_pj * hw.clock_hz * 1e-12  # dynamic + leakage
    faster = AcceleratorPlatform(dataclasses.replace(hw, clock_mhz=2 * hw.clock_mhz))
    assert peak_power_per_core_w(faster)["dpe"] > peak["dpe"]


def load_hardware_cfg(name: str):
    from pathlib import Path
    return load_hardware(Path(__file__).resolve().parents[3] / "hwconfigs" / f"{name}.yaml")
