"""KV memory hierarchy: capacity-triggered eviction to the offload tier, and capacity-bound ops."""

from __future__ import annotations

import dataclasses

import numpy as np

from simulator.engine.memory.kv_memory import kv_bytes_held, offload_share_per_op
from simulator.engine.simulate import simulate


def _small_dram(hw, gib):
    return dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, capacity_gib=gib))


def _moved(ops):
    return ops["dram_bytes"].sum() + ops["offload_bytes"].sum() + (ops["kv_sram_bytes"].sum()
                                                                 if "kv_sram_bytes" in ops else 0.0)


def test_overflow_evicts_to_host(tiny_trace, vrex_hw, orin_hw):
    meta = tiny_trace.meta
    weights = meta["weight_bytes_llm"] + meta["weight_bytes_vision"]
    held = kv_bytes_held(tiny_trace.kv_tokens, meta).max()
    gib = (weights + held / 2) / 2**30  # room for half of the final KV
    share = offload_share_per_op(tiny_trace.events, tiny_trace.kv_tokens, meta, gib * 2**30 - weights)
    assert 0 < share.max() <= 0.5 + 1e-9
    for hw in (vrex_hw, orin_hw):
        roomy = simulate(tiny_trace, hw)
        tight = simulate(tiny_trace, _small_dram(hw, gib))
        assert roomy.ops["offload_bytes"].sum() == 0
        assert tight.ops["offload_bytes"].sum() > 0
        assert (tight.ops["bound"] == "capacity").any()
        assert tight.capacity["overflow_frame"] is not None and tight.notes
        assert tight.total_s > roomy.total_s
        # bytes are conserved across tiers; the accelerator also writes evicted KV out to the host
        extra = 0.0
        if hw is vrex_hw:
            ev = tiny_trace.events
            extra = ev.loc[(share > 0) & (ev["kv_tier"] == "dram"), "bytes_kv_write"].sum()
        assert np.isclose(_moved(tight.ops), _moved(roomy.ops) + extra)
