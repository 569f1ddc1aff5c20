"""Platforms are sets of registered units: a unit is added from outside the package, every kind has a unit,
and energy is the action counts times one price table."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.engine.ops import OpArrays, UnitCost
from simulator.engine.platform import Price, register_unit, unregister_unit
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.engine.simulate import simulate
from simulator.errors import VrexError


class Normaliser:
    """A made-up unit: it takes the norms from the VPE and does one element a cycle per lane."""

    name = "normaliser"
    kinds = ("norm",)
    area_mm2 = 0.05
    lanes = 8
    pj_per_element = 0.7

    def __init__(self, clock_hz: float):
        self.clock_hz = clock_hz

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        elements = np.where(mask, ops["flops_vector"], 0.0)
        return UnitCost(np.ceil(elements / self.lanes) / self.clock_hz, {"norm_element": elements})

    def prices(self) -> dict[str, Price]:
        return {"norm_element": Price("vpe", self.pj_per_element, "test: made-up unit")}


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
    # its energy is its action count at its price, in the part it names
    assert ops.loc[norm, "e_vpe_pj"].sum() == pytest.approx(ev.loc[norm, "flops_vector"].sum()
                                                               * Normaliser.pj_per_element)
    # its area is a block of the chip, and it executes beside the other units
    acc = AcceleratorPlatform(vrex_hw)
    assert acc.area_per_core_mm2()["normaliser"] == pytest.approx(Normaliser.area_mm2)
    assert "normaliser" in res.utilisation


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
