"""Platforms are sets of registered units: a unit is added from outside the package, every kind has a unit,
and energy is the action counts times one price table."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.engine.ops import OpArrays, UnitCost
from simulator.engine.physical.synthesis import overhead_factor
from simulator.engine.platform import Price, register_unit, unregister_unit
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.engine.simulate import simulate
from simulator.errors import VrexError
from simulator.results.metrics import chip_blocks, stream_metrics


class Normaliser:
    """A made-up unit: it takes the norms from the VPE and does one element a cycle per lane."""

    name = "normaliser"
    part = "vpe"
    kinds = ("norm",)
    area_mm2 = 0.05
    lanes = 8
    pj_per_element = 0.7

    def __init__(self, clock_hz: float):
        self.clock_hz = clock_hz

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        elements = np.where(mask, ops["flops_vector"], 0.0)
        return UnitCost(np.ceil(elements / self.lanes) / self.clock_hz, {"norm_element": elements})

    def peak_actions_per_cycle(self) -> dict[str, float]:
        return {"norm_element": float(self.lanes)}

    def prices(self) -> dict[str, Price]:
        return {"norm_element": Price(self.part, self.pj_per_element, "test: made-up unit")}


class OwnPartNormaliser(Normaliser):
    """The same unit pricing its work in an energy part of its own."""

    part = "normaliser"


@pytest.fixture
def normaliser():
    register_unit("accelerator", "normaliser", lambda p: Normaliser(p.hw.clock_hz))
    yield
    unregister_unit("accelerator", "normaliser")


def test_a_unit_is_added_without_touching_the_package(normaliser, tiny_trace, vrex_hw):
    res = simulate(tiny_trace, vrex_hw)
    ev = tiny_trace.events
    norm = (ev["kind"] == "norm").to_numpy()
    assert norm.any()
    ops = res.ops
    assert (ops.loc[norm, "unit"] == "normaliser").all()
    assert not (ops.loc[~norm, "unit"] == "normaliser").any()
    expected = np.ceil(ev.loc[norm, "flops_vector"].to_numpy() / Normaliser.lanes) / vrex_hw.clock_hz
    np.testing.assert_allclose(ops.loc[norm, "compute_s"].to_numpy(), expected)
    # its energy is its action count at its price, in the part it names; as a unit's own datapath its price
    # carries the synthesis overhead (registers, clock network) like every unit's
    acc = AcceleratorPlatform(vrex_hw)
    pj = acc.prices()["norm_element"].pj
    assert pj == pytest.approx(Normaliser.pj_per_element * overhead_factor(acc.tech))
    assert ops.loc[norm, "e_vpe_pj"].sum() == pytest.approx(ev.loc[norm, "flops_vector"].sum() * pj)
    # its area is a block of the chip, and it executes beside the other units
    assert acc.area_per_core_mm2()["normaliser"] == pytest.approx(Normaliser.area_mm2)
    assert res.area_mm2["normaliser"] == pytest.approx(Normaliser.area_mm2 * vrex_hw.cores)
    assert "normaliser" in res.utilisation
    # peak power: its lanes busy every cycle at its price, plus its leakage
    leak = acc.tech.leakage_mw_per_mm2() * 1e-3
    peak = Normaliser.lanes * pj * vrex_hw.clock_hz * 1e-12 + Normaliser.area_mm2 * leak
    assert res.peak_power_per_core_w["normaliser"] == pytest.approx(peak)
    # chip power: the energy of its own ops over the run, plus its leakage; the VPE keeps every other op's
    # energy in the part they share (the DPE's bias adds included), so no pJ is lost or counted twice
    chip = chip_blocks(res)
    own = ops.loc[norm, "e_vpe_pj"].sum() * 1e-12 / res.total_s
    assert chip["power_breakdown_w"]["normaliser"] == pytest.approx(own + res.area_mm2["normaliser"] * leak)
    vpe = ops.loc[~norm, "e_vpe_pj"].sum() * 1e-12 / res.total_s + res.area_mm2["vpe"] * leak
    assert chip["power_breakdown_w"]["vpe"] == pytest.approx(vpe)
    # control is its share of every on-chip block's energy, the new one's included
    assert ops["e_control_pj"].sum() == pytest.approx(vrex_hw.control_overhead * sum(
        ops[c].sum() for c in ("e_dpe_pj", "e_vpe_pj", "e_dre_pj", "e_sram_pj")))


def test_a_unit_with_a_part_of_its_own(tiny_trace, vrex_hw):
    """A unit that prices its work in a new energy part: the part appears in the ops, the phases, the
    energy breakdown and the chip power without touching any list."""
    register_unit("accelerator", "normaliser", lambda p: OwnPartNormaliser(p.hw.clock_hz))
    try:
        res = simulate(tiny_trace, vrex_hw)
        acc = AcceleratorPlatform(vrex_hw)
    finally:
        unregister_unit("accelerator", "normaliser")
    assert "normaliser" in acc.energy_parts
    norm = (tiny_trace.events["kind"] == "norm").to_numpy()
    e = res.ops["e_normaliser_pj"]
    pj = acc.prices()["norm_element"].pj
    assert e[norm].sum() == pytest.approx(tiny_trace.events.loc[norm, "flops_vector"].sum() * pj)
    assert (e[~norm] == 0).all()
    _, pt = stream_metrics(res, tiny_trace.meta["fps"])
    assert pt["energy_normaliser_j"].sum() == pytest.approx(e.sum() * 1e-12)
    parts = [c for c in pt.columns if c.startswith("energy_") and c != "energy_j"]
    np.testing.assert_allclose(pt[parts].sum(axis=1), pt["energy_j"])
    chip = chip_blocks(res)
    leak = acc.tech.leakage_mw_per_mm2() * 1e-3
    assert chip["power_breakdown_w"]["normaliser"] == pytest.approx(e.sum() * 1e-12 / res.total_s
                                                                    + res.area_mm2["normaliser"] * leak)
    # control covers the new part too
    on_chip = ("e_dpe_pj", "e_vpe_pj", "e_dre_pj", "e_sram_pj", "e_normaliser_pj")
    assert res.ops["e_control_pj"].sum() == pytest.approx(vrex_hw.control_overhead
                                                          * sum(res.ops[c].sum() for c in on_chip))


def test_chip_power_charges_every_on_chip_pj_once(tiny_resv_trace, vrex_hw):
    """Conservation: the blocks' dynamic power sums to the on-chip parts' energy over the run time."""
    res = simulate(tiny_resv_trace, vrex_hw)
    chip = chip_blocks(res)
    leak = res.leakage_mw_per_mm2 * 1e-3
    dynamic = sum(chip["power_breakdown_w"].values()) - sum(res.area_mm2.values()) * leak
    on_chip = ("e_dpe_pj", "e_vpe_pj", "e_dre_pj", "e_sram_pj", "e_control_pj", "e_noc_pj")
    assert dynamic == pytest.approx(sum(res.ops[c].sum() for c in on_chip) * 1e-12 / res.total_s)
    assert {"dre_hcu", "dre_wtu", "dre_kvmu"} <= set(chip["power_breakdown_w"])


def test_removing_the_unit_restores_the_vpe(tiny_trace, vrex_hw):
    register_unit("accelerator", "normaliser", lambda p: Normaliser(p.hw.clock_hz))
    unregister_unit("accelerator", "normaliser")
    ops = simulate(tiny_trace, vrex_hw).ops
    assert (ops.loc[tiny_trace.events["kind"] == "norm", "unit"] == "vpe").all()


def test_a_kind_no_unit_claims_is_an_error(tiny_trace, vrex_hw):
    """No silent fallback: an op whose kind no unit of the platform claims stops the run with its name."""
    p = AcceleratorPlatform(vrex_hw)
    del p.unit_of_kind["norm"]
    with pytest.raises(VrexError, match="no unit runs op kind.*norm"):
        p.op_costs(tiny_trace.events)


def test_energy_is_actions_times_the_price_table(tiny_trace, vrex_hw, orin_hw):
    for p in (AcceleratorPlatform(vrex_hw), GpuPlatform(orin_hw)):
        prices = p.prices()
        assert prices and all(pr.part in p.energy_parts and pr.pj >= 0 and pr.entry for pr in prices.values())
        with pytest.raises(VrexError, match="has no price"):
            p.price({"unpriced_action": np.ones(3)}, 3)
        doubled = {name: np.full(2, 2.0) for name in prices}
        once = {name: np.ones(2) for name in prices}
        e2, e1 = p.price(doubled, 2), p.price(once, 2)
        for part in e1:
            np.testing.assert_allclose(e2[part], 2 * e1[part])
