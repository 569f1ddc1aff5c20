"""Peak power of an accelerator's blocks: every unit busy at its rated activity, as a power report states it.

Per core, per block (W): the block's energy per use (``area_model.py``) times its uses per cycle at
full load times the clock, plus its leakage (area x the node's leakage density):

- each unit: its ``peak_actions_per_cycle`` at its prices (DPE: every MAC every cycle; VPE: every lane
  one op per cycle, x ``ops_per_lane_per_cycle``; HCU: every XOR-accumulator one 32-bit word per cycle;
  WTU: every lane of every core one score per cycle; KVMU: one request per cycle; a new unit: its own);
- SRAM: every bank of the three buffers read through its full port every cycle; DRE SRAM: its four banks
  read through their ports every cycle (``AcceleratorPlatform.blocks``);
- the units' blocks (logic: DPE, VPE, HCU, WTU, KVMU, any unit registered) carry what synthesis adds to
  their arithmetic: registers clocked every cycle and the clock network (``synthesis.py``, a published
  synthesis breakdown), through their prices, as the run's energy does;
- control: ``control_overhead`` x the dynamic power above (as for the run's energy);
- NoC: the core's link at its rated bandwidth (energy only: its wiring is in ``control``).

The run's average power (``results/metrics.chip_blocks``) uses the same per-use energies weighted by
what the run did; the two are comparable block by block.
"""

from __future__ import annotations


def peak_power_per_core_w(acc) -> dict[str, float]:
    """Peak power (W) of one core's blocks of an accelerator (``platforms.accelerator.AcceleratorPlatform``):
    every block of ``acc.blocks()`` (its units' and its memory system's, each owning its energy per cycle at
    rated activity) at the clock, control, leakage and the NoC."""
    f = acc.hw.clock_hz
    dyn = {b.name: b.peak_pj_per_cycle * f * 1e-12 for b in acc.blocks()}
    dyn["control"] = acc.hw.control_overhead * sum(dyn.values())
    area = acc.area_per_core_mm2()
    leak = acc.tech.leakage_mw_per_mm2() * 1e-3
    peak = {k: v + area.get(k, 0.0) * leak for k, v in dyn.items()}
    if acc.hw.noc is not None and acc.cores > 1:
        peak["noc"] = acc.hw.noc.bandwidth_gbps * 1e9 * 8 * acc.noc.pj_per_bit * 1e-12
    return peak
