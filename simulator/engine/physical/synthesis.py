"""What a synthesised datapath spends beyond its arithmetic: pipeline and operand registers clocked every
cycle, the clock network that drives them, on top of the combinational logic the per-op energies price.

The per-op energies of ``area_model`` (Horowitz 2014's adders and multipliers, cells switched once per use)
are the *combinational* part of a datapath. A synthesis power report of a MAC array splits its dynamic
power into combinational, register and clock-network groups; the register group (flip-flops whose clock
pins toggle every cycle, whatever the data) is larger than the arithmetic itself. The ratios come from a
published report (technology table ``synth_register_per_comb``, ``synth_clock_per_comb``: RecPipe's
12 nm matrix unit, see the table's sources) and are applied to the logic blocks, the registered units' own
datapaths (DPE, VPE, HCU, WTU, KVMU, any unit added): the price of each unit's peak actions (its datapath's
use) carries the factor (``AcceleratorPlatform.prices``), so the run's energy and the blocks' peak power
(``peak_power.py``, the same actions at the same prices) include it alike and stay comparable block by
block. SRAM macros (their own periphery and clocking are in the bitcell-level model), the NoC's wires and the
control share are not scaled.

On top of that split, one fitted scale (technology table ``synth_datapath_scale``): a synthesised MAC datapath's
peak energy per MAC (the NVDLA primer's 16 nm peak power estimates across seven sizes, fitted on their slope by
``analysis/validate/area.py``) is about twice the arithmetic times the breakdown above -- operand delivery,
wiring and the placed clock tree the pre-layout breakdown leaves out. Fitted on MAC datapaths, applied to every
unit's logic alike (the other units: ours).

Kept apart from the block structures so the published figures, not a structure, set the overhead; the
model's own pipeline registers inside the blocks are priced at the logic density (small next to this).
"""

from __future__ import annotations


def overhead_factor(tech) -> float:
    """Dynamic power of a synthesised logic block per unit of the model's combinational power (>= 1)."""
    return tech.base("synth_datapath_scale") * (
        1.0 + tech.base("synth_register_per_comb") + tech.base("synth_clock_per_comb"))
