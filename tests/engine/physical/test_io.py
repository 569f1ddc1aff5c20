"""The chip's I/O PHYs and the system peak power: a faster or wider link is never free (power and area), the
DRAM PHYs follow the interface count, and the synthesis overhead raises only the logic blocks' peak."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.hardware import load_hardware
from simulator.engine.physical.io import dram_interfaces, io_area_mm2, link_w_per_lane, phy_w_per_lane
from simulator.engine.physical.synthesis import overhead_factor
from simulator.engine.platforms.accelerator import AcceleratorPlatform


@pytest.fixture(scope="module")
def vrex8(root):
    return load_hardware(root / "hwconfigs/vrex8-edge.yaml")


def _with_link(hw, **kw):
    return dataclasses.replace(hw, offload=dataclasses.replace(
        hw.offload, link=dataclasses.replace(hw.offload.link, **kw)))


@settings(max_examples=20, deadline=None)
@given(gen=st.sampled_from([3, 4]), lanes=st.sampled_from([1, 2, 4, 8]), ref=st.sampled_from([3, 4, 5]),
       scaling=st.sampled_from(["phy", "rate"]))
def test_a_faster_link_is_never_free(vrex8, gen, lanes, ref, scaling):
    slow = AcceleratorPlatform(_with_link(vrex8, gen=gen, lanes=lanes, w_per_lane_gen=ref, power_scaling=scaling))
    fast = AcceleratorPlatform(_with_link(vrex8, gen=gen + 1, lanes=lanes, w_per_lane_gen=ref,
                                          power_scaling=scaling))
    assert fast.system_peak_w()["link"] > slow.system_peak_w()["link"]
    assert fast.io_area_mm2()["pcie_phy"] > slow.io_area_mm2()["pcie_phy"]
    wide = AcceleratorPlatform(_with_link(vrex8, gen=gen, lanes=2 * lanes if lanes < 16 else lanes,
                                          w_per_lane_gen=ref, power_scaling=scaling))
    if lanes < 16:
        assert wide.system_peak_w()["link"] > slow.system_peak_w()["link"]
        assert wide.io_area_mm2()["pcie_phy"] > slow.io_area_mm2()["pcie_phy"]
    # the run's energy per offloaded byte follows the link's power over its rate
    assert fast.offload.link_w > slow.offload.link_w


def test_link_power_at_its_stated_generation_is_the_config(vrex8):
    tech = AcceleratorPlatform(vrex8).tech
    assert link_w_per_lane(_with_link(vrex8, w_per_lane_gen=3).offload.link, tech) == vrex8.offload.link.w_per_lane
    assert link_w_per_lane(vrex8.offload.link, tech) == vrex8.offload.link.w_per_lane  # gen 3 stated at gen 3
    g4 = _with_link(vrex8, gen=4, w_per_lane_gen=3).offload.link
    assert link_w_per_lane(g4, tech) == pytest.approx(3.0 + phy_w_per_lane(4, tech) - phy_w_per_lane(3, tech))
    assert link_w_per_lane(dataclasses.replace(g4, power_scaling="rate"), tech) == pytest.approx(6.0, rel=1e-9)
    # a config without w_per_lane_gen keeps its own figure at its own generation (the A100's PCIe 4.0)
    assert link_w_per_lane(dataclasses.replace(g4, w_per_lane_gen=None), tech) == 3.0


def test_dram_phys_follow_the_interfaces(vrex8):
    assert dram_interfaces(vrex8.dram) == ("x16_channel", 16)  # 256-bit LPDDR5
    hbm = dataclasses.replace(vrex8.dram, type="hbm2e", bandwidth_gbps=921.6)
    assert dram_interfaces(hbm) == ("hbm_stack", 2)
    tech = AcceleratorPlatform(vrex8).tech
    assert io_area_mm2(dataclasses.replace(vrex8, dram=hbm), tech)["dram_phy"] > io_area_mm2(vrex8, tech)["dram_phy"]


def test_system_peak_is_the_sum_of_its_parts(vrex8):
    acc = AcceleratorPlatform(vrex8)
    parts = acc.system_peak_w()
    assert parts["chip"] == pytest.approx(acc.chip_peak_power_w())
    assert parts["dram"] == pytest.approx(204.8e9 * 8 * 4.0e-12)  # LPDDR5 at 4 pJ/bit (technology table)
    assert parts["link"] == pytest.approx(12.0) and parts["offload_device"] == pytest.approx(4.7)


def test_synthesis_overhead_scales_the_logic_blocks_only(vrex8, monkeypatch):
    """The units' blocks (derived from the registered units) carry the overhead; memory, NoC do not."""
    import simulator.engine.platforms.accelerator as accel

    acc = AcceleratorPlatform(vrex8)
    with_oh = acc.peak_power_per_core_w()
    logic = {b.name for b in acc.unit_blocks()}
    assert len(logic) == len(acc.unit_blocks()) and {"dpe", "vpe", "dre_hcu"} <= logic  # a new unit adds its own
    assert not logic & {"sram", "dre_sram", "noc"}  # the memory system's and the NoC's blocks are not units
    monkeypatch.setattr(accel, "overhead_factor", lambda tech: 1.0)
    bare = AcceleratorPlatform(vrex8).peak_power_per_core_w()
    monkeypatch.undo()
    f = overhead_factor(acc.tech)
    assert f > 2  # registers and clock network outweigh the arithmetic in the published breakdown
    leak = acc.tech.leakage_mw_per_mm2() * 1e-3
    area = acc.area_per_core_mm2()
    for k in with_oh:
        if k in logic:  # dynamic power x f; leakage unchanged
            dyn_bare = bare[k] - area[k] * leak
            assert with_oh[k] - area[k] * leak == pytest.approx(f * dyn_bare)
        elif k == "control":  # the control share follows the blocks' dynamic power
            assert with_oh[k] > bare[k]
        else:
            assert with_oh[k] == pytest.approx(bare[k])
    # the run prices the same blocks' actions with the same factor
    assert acc.prices()["mac"].pj == pytest.approx(f * acc.pe.mac_pj)
    assert acc.prices()["dram_bit"].pj == acc.dram.pj_per_bit
