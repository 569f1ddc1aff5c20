"""Peak power of an accelerator's blocks: every unit busy at its rated activity, as a power report states it.

Per core, per block (W): the block's energy per use (``area_model.py``) times its uses per cycle at
full load times the clock, plus its leakage (area x the node's leakage density):

- DPE: every MAC every cycle; VPE: every lane one op per cycle (x ``ops_per_lane_per_cycle``);
- SRAM: every bank of the three buffers read through its full port every cycle;
- HCU: every XOR-accumulator one 32-bit word per cycle; WTU: every lane of every core one score per
  cycle; KVMU: one request per cycle; DRE SRAM: its four banks read through their ports every cycle;
- the logic blocks (DPE, VPE, HCU, WTU, KVMU) carry what synthesis adds to their arithmetic: registers
  clocked every cycle and the clock network (``synthesis.py``, a published synthesis breakdown), as the
  run's energy does;
- control: ``control_overhead`` x the dynamic power above (as for the run's energy);
- NoC: the core's link at its rated bandwidth (energy only: its wiring is in ``control``).

The run's average power (``results/metrics.chip_blocks``) uses the same per-use energies weighted by
what the run did; the two are comparable block by block.
"""

from __future__ import annotations

from simulator.engine.physical.synthesis import synthesis_overhead_w


def peak_power_per_core_w(acc) -> dict[str, float]:
    """Peak power (W) of one core's blocks of an accelerator (``platforms.accelerator.AcceleratorPlatform``)."""
    hw, f = acc.hw, acc.hw.clock_hz
    s = acc.sram
    dyn = {
        "dpe": acc.pe.macs * acc.pe.mac_pj * f,
        "vpe": acc.vector.ops_per_cycle * acc.vector.op_pj * f,
        "sram": sum(hw.sram.banks * hw.sram.port_width_bits * s.read_pj_per_bit[b] for b in s.read_pj_per_bit) * f,
    }
    if hw.dre.enabled:
        hcu, wtu = acc.unit("hcu"), acc.unit("wtu")
        dyn.update(dre_hcu=hw.dre.hcu_units * hcu.pj / hcu.words * f,
                   dre_wtu=hw.dre.wtu_cores * hw.dre.wtu_lanes * wtu.pj * f,
                   dre_kvmu=acc.kvmu.request_pj * f,
                   dre_sram=4 * s.dre_port_bits * s.dre_read_pj_per_bit * f)
    dyn = {k: v * 1e-12 for k, v in dyn.items()}
    for k, extra in synthesis_overhead_w(dyn, acc.tech).items():  # registers and clock network (synthesis.py)
        dyn[k] += extra
    dyn["control"] = hw.control_overhead * sum(dyn.values())
    area = acc.area_per_core_mm2()
    leak = acc.tech.leakage_mw_per_mm2() * 1e-3
    peak = {k: v + area.get(k, 0.0) * leak for k, v in dyn.items()}
    if hw.noc is not None and acc.cores > 1:
        peak["noc"] = hw.noc.bandwidth_gbps * 1e9 * 8 * acc.noc.pj_per_bit * 1e-12
    return peak
