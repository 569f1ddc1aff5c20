"""The hardware/software contract: a trace made with one hash width or bucket count is not simulated on a DRE
built for another (each side owns its value once; a mismatch is one line naming both)."""

from __future__ import annotations

import dataclasses

import pytest

from simulator.engine.contract import check_contract, platform_contract, trace_contract
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.engine.simulate import simulate
from simulator.errors import VrexError
from simulator.tracer.trace_file import read_trace, write_trace


def test_the_trace_records_what_its_policy_used(tiny_resv_trace, tiny_trace):
    assert tiny_resv_trace.meta["hw_contract"] == {"hash_bits": 32, "wtu_buckets": 16}
    assert tiny_trace.meta["hw_contract"] == {}  # the full cache builds on no unit's parameters


def test_the_units_state_what_they_are_built_for(vrex_hw, orin_hw):
    built = platform_contract(AcceleratorPlatform(vrex_hw))
    assert built == {"hash_bits": ("hcu", vrex_hw.dre.hash_bits), "wtu_buckets": ("wtu", vrex_hw.dre.wtu_buckets)}
    no_dre = dataclasses.replace(vrex_hw, dre=dataclasses.replace(vrex_hw.dre, enabled=False))
    assert platform_contract(AcceleratorPlatform(no_dre)) == {}  # the VPE runs ReSV's steps: nothing to agree on
    assert platform_contract(GpuPlatform(orin_hw)) == {}


@pytest.mark.parametrize("key,value", [("hash_bits", 16), ("wtu_buckets", 8)])
def test_a_mismatch_is_one_line_naming_both_sides(tiny_resv_trace, vrex_hw, key, value):
    meta = {**tiny_resv_trace.meta, "hw_contract": {**tiny_resv_trace.meta["hw_contract"], key: value}}
    trace = dataclasses.replace(tiny_resv_trace, meta=meta)
    with pytest.raises(VrexError) as err:
        simulate(trace, vrex_hw)
    msg = str(err.value)
    assert "\n" not in msg and f"kv_policy.params.{key} = {value}" in msg
    assert f"dre.{key} = {getattr(vrex_hw.dre, key)}" in msg and vrex_hw.name in msg
    # the hardware side changed to agree: the point runs
    agreeing = dataclasses.replace(vrex_hw, dre=dataclasses.replace(vrex_hw.dre, **{key: value}))
    check_contract(AcceleratorPlatform(agreeing), meta)


def test_the_contract_survives_the_trace_file(tiny_resv_trace, tmp_path):
    back = read_trace(write_trace(tiny_resv_trace, tmp_path / "t.parquet"))
    assert trace_contract(back.meta) == {"hash_bits": 32, "wtu_buckets": 16}


def test_a_trace_before_the_record_is_checked_on_the_values_it_set(tiny_resv_trace):
    old = {k: v for k, v in tiny_resv_trace.meta.items() if k != "hw_contract"}
    assert trace_contract({**old, "kv_policy_params": {"hash_bits": 24, "recent_window": 32}}) == {"hash_bits": 24}
    assert trace_contract({**old, "kv_policy_params": {}}) == {}
