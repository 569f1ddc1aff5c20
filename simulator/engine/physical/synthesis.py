"""What a synthesised datapath spends beyond its arithmetic: pipeline and operand registers clocked every
cycle, the clock network that drives them, on top of the combinational logic the per-op energies price.

The per-op energies of ``area_model`` (Horowitz 2014's adders and multipliers, cells switched once per use)
are the *combinational* part of a datapath. A synthesis power report of a MAC array splits its dynamic
power into combinational, register and clock-network groups; the register group (flip-flops whose clock
pins toggle every cycle, whatever the data) is larger than the arithmetic itself. The ratios come from a
published report (technology table ``synth_register_per_comb``, ``synth_clock_per_comb``: RecPipe's
12 nm matrix unit, see the table's sources) and are applied to the logic blocks' dynamic power at their
rated activity (``peak_power.py``): DPE, VPE, HCU, WTU, KVMU. SRAM macros (their own periphery and clocking
are in the bitcell-level model), the NoC's wires and the control share are not scaled. The run's energy
prices the same blocks' actions with the same factor (``AcceleratorPlatform.prices``), so the run's average
power stays comparable with the peak block by block.

Kept apart from the block structures so the published breakdown, not a structure, sets the overhead; the
model's own pipeline registers inside the blocks are priced at the logic density (small next to this).
"""

from __future__ import annotations

LOGIC_BLOCKS = ("dpe", "vpe", "dre_hcu", "dre_wtu", "dre_kvmu")
# the same blocks' actions in the run's price table (their energy per use carries the overhead too)
LOGIC_ACTIONS = ("mac", "vector_op", "hcu_distance", "wtu_score", "kvmu_request")


def overhead_factor(tech) -> float:
    """Dynamic power of a synthesised logic block per unit of its combinational power (>= 1)."""
    return 1.0 + tech.base("synth_register_per_comb") + tech.base("synth_clock_per_comb")


def synthesis_overhead_w(dyn_w: dict[str, float], tech) -> dict[str, float]:
    """Per logic block, the register and clock-network power (W) a synthesis report adds to ``dyn_w`` (the
    block's combinational dynamic power at its rated activity)."""
    extra = overhead_factor(tech) - 1.0
    return {k: extra * v for k, v in dyn_w.items() if k in LOGIC_BLOCKS}
