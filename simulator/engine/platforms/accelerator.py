"""A V-Rex-like accelerator as a platform: its units and its memory system.

Units (each its own module in ``units/``, registered at the bottom of this file): the DPE (``dpe.py``: MAC
trees or a systolic array per core, split over the cores by ``multicore.py``), the VPE (``vector_unit.py``), the
DRE's HCU and WTU (``hcu.py``, ``wtu.py``) and the KVMU (``kvmu.py``: KV transfers and their request counts).
Each owns its block (area, prices, peak actions per cycle); the block table, peak and chip power follow from
them (``blocks``). This module adds the memory system (SRAM buffers, DRAM, the offload tier) and turns each op
into the durations the replay overlaps (``replay/discrete_event.py``): compute on its unit, DRAM reads and
write-backs, offload-link transfers. Attention runs fused and tiled (scores stay on chip); other activations
stay on chip when an op's inputs and outputs fit the activation buffers and spill the excess to DRAM
otherwise. The on-chip KV buffers pin the hottest share of each phase's KV working set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.config.hardware import AcceleratorConfig
from simulator.config.tech import TechTable
from simulator.engine.memory.dram import Dram
from simulator.engine.memory.offload import NoOffload, OffloadTier
from simulator.engine.memory.sram import SramBuffers
from simulator.engine.ops import ON_CHIP_KINDS
from simulator.engine.physical.io import io_area_mm2, system_peak_w
from simulator.engine.physical.peak_power import peak_power_per_core_w
from simulator.engine.physical.synthesis import overhead_factor
from simulator.engine.platform import (
    BlockInfo,
    Platform,
    Price,
    default_tech,
    names_column,
    register_unit,
    unit_peak_actions,
)
from simulator.engine.replay.discrete_event import Durations
from simulator.engine.replay.plan import CostRows, trace_plan
from simulator.engine.result import BlockCharge, op_energy_col
from simulator.engine.units.dpe import Dpe
from simulator.engine.units.hcu import Hcu
from simulator.engine.units.kvmu import Kvmu
from simulator.engine.units.multicore import Noc
from simulator.engine.units.pe_array import PeArray
from simulator.engine.units.vector_unit import Vpe
from simulator.engine.units.wtu import Wtu
from simulator.tracer.events import Tier

BUFFERS = ("weight", "activation", "kv")  # the SRAM buffers (see sram.py)


class AcceleratorPlatform(Platform):
    """An accelerator config as a platform: its units (registered below) and its memory system."""

    kind = "accelerator"

    def __init__(self, hw: AcceleratorConfig, tech: TechTable | None = None):
        self.hw, self.name = hw, hw.name
        self.tech = (tech or default_tech()).at(hw.tech_node)
        clk, n = hw.clock_hz, hw.cores
        self.cores = n
        self.pe = PeArray(hw.pe_array, clk, self.tech)
        self.noc = Noc(hw.noc, n, self.tech)
        self.sram = SramBuffers(hw.sram, self.tech, n, hw.dre.sram_kb if hw.dre.enabled else 0.0)
        self.dram = Dram(hw.dram, self.tech)
        self.offload = OffloadTier(hw.offload) if hw.offload is not None else NoOffload()
        self.build_units()
        self.vector = self.unit("vpe")
        self.kvmu = self.unit("kvmu")
        self.peak_flops = n * (self.pe.peak_flops + self.vector.peak_flops)
        # layers ahead the prediction and fetch run (0: none)
        self.prefetch = hw.dre.prefetch_layers if hw.dre.enabled and hw.dre.prefetch else 0
        self.executors = {u.name: i for i, u in enumerate(self.units)}  # each unit executes its own ops
        self.onchip_parts = tuple(dict.fromkeys(b.charge.part for b in self.blocks() if b.charge.part))

    @property
    def has_offload(self) -> bool:
        return self.hw.offload is not None

    def for_trace(self, meta: dict) -> "AcceleratorPlatform":
        self.kvmu.for_trace(meta)  # the KV geometry its offload layout needs
        return self

    def tech_prefixes(self) -> tuple[str, ...]:
        # every block's area and energy is built from the base values, scaled to the node
        return "base.", f"nodes.{self.hw.tech_node}.", f"dram_pj_per_bit.{self.hw.dram.type}"

    def memory_prices(self) -> dict[str, Price]:
        out = {"dram_bit": Price("dram", self.dram.pj_per_bit, f"dram_pj_per_bit.{self.hw.dram.type}")}
        for buf in BUFFERS:
            out[f"sram_read_bit.{buf}"] = Price("sram", self.sram.read_pj_per_bit[buf], "base.sram_pj_per_bit_8kb")
            out[f"sram_write_bit.{buf}"] = Price("sram", self.sram.write_pj_per_bit[buf],
                                                 "base.sram_pj_per_bit_8kb, base.sram_write_factor")
        out.update(self.offload.prices())
        return out

    # ---- static cost model (vectorised over distinct cost rows) ----
    CHUNK_OPS = 200_000  # cost rows costed at a time (bounds the temporaries' memory)

    def op_costs(self, ev: pd.DataFrame, offload_share: np.ndarray | None = None) -> pd.DataFrame:
        """Per-op unit, compute/transfer times (s), bytes and dynamic energy (pJ): :meth:`cost_rows` spread
        to every op."""
        return self.cost_rows(ev, offload_share).per_op(names_column)

    def cost_rows(self, ev: pd.DataFrame, offload_share: np.ndarray | None = None) -> CostRows:
        """The cost columns of each distinct cost row and each op's row (``CostRows``).

        ``offload_share`` (per op): share of the held KV evicted to the offload tier because it no longer
        fits DRAM (see kv_memory.offload_share_per_op); KV reads and writes of DRAM-tier ops move that
        share over the offload link instead. An op's costs depend on its trace row, its evicted share and its
        phase's KV working set (for the on-chip KV buffers: the one quantity that spans rows, summed per
        phase instance); the ops that agree on all three are costed once (``plan.cost_keys``): the units
        per distinct trace row, the traffic and its energy per distinct (row, share, working set).
        """
        plan = trace_plan(ev)
        u = plan.unique
        keys = plan.cost_keys(offload_share, self._working_set)
        rows = keys.row
        # what depends on an op's kind and tier only, per distinct row (once per trace: ``plan.memo``)
        masks = plan.memo(("accelerator masks",), lambda: {
            "on_chip": np.isin(u.kind, ON_CHIP_KINDS), "dram": u.tier == Tier.DRAM, "offload": u.tier == Tier.OFFLOAD})
        unit_u, codes, names = plan.memo(("units", tuple(sorted(self.unit_of_kind.items()))), lambda: self._units_of(u))
        per_row = (*self.unit_costs(u, unit_u), self.kvmu.requests(u), masks)
        parts = [self._op_costs(u, rows[a:a + self.CHUNK_OPS], per_row, keys.evicted[a:a + self.CHUNK_OPS],
                                keys.working_set[a:a + self.CHUNK_OPS])
                 for a in range(0, len(rows), self.CHUNK_OPS)]
        if not parts:
            parts = [self._op_costs(u, rows, per_row, keys.evicted, keys.working_set)]
        cols = {c: np.concatenate([p[c] for p in parts]) if len(parts) > 1 else parts[0][c] for c in parts[0]}
        del parts
        return CostRows(inverse=keys.inverse, unit_codes=codes[rows], unit_names=names, cols=cols, keys=keys)

    def _units_of(self, u) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each distinct row's unit name (``assign``) and the names as (codes, distinct names)."""
        unit_u = self.assign(u.kind)
        codes, names = pd.factorize(unit_u)
        return unit_u, codes, np.asarray(names, dtype=object)

    @staticmethod
    def _working_set(plan, evicted: np.ndarray) -> np.ndarray:
        """Each op's phase KV working set (bytes): the DRAM-tier KV its phase instance reads and keeps in DRAM."""
        u = plan.unique
        kv_dram = np.where((u.tier == "dram")[plan.inverse], u["bytes_kv_read"][plan.inverse], 0.0)
        grp = plan.phase_runs
        return np.bincount(grp, weights=kv_dram * (1 - evicted))[grp]

    def _op_costs(self, u, rows: np.ndarray, per_row: tuple, evicted: np.ndarray, ws: np.ndarray
                  ) -> dict[str, np.ndarray]:
        """The cost columns (all but ``unit``) of cost rows: distinct trace rows ``rows`` of ``u`` (the plan's
        ``unique``) with their evicted share and working set; ``per_row``: (time, actions, extra, KV requests,
        kind and tier masks) of each distinct trace row."""
        inv = rows
        n = len(inv)
        col = {c: u[c][inv] for c in ("bytes_kv_read", "bytes_kv_write", "bytes_weight_read", "bytes_act_read",
                                      "bytes_act_write", "bytes_hc_read", "bytes_hc_write")}
        kv_r, kv_w = col["bytes_kv_read"], col["bytes_kv_write"]
        w_r, a_r, a_w = col["bytes_weight_read"], col["bytes_act_read"], col["bytes_act_write"]
        hc_r, hc_w = col["bytes_hc_read"], col["bytes_hc_write"]
        time_u, actions_u, extra_u, requests_u, masks = per_row
        on_chip, dram_tier, offload_tier = (masks[k][inv] for k in ("on_chip", "dram", "offload"))
        compute_s = time_u[inv]
        actions = {name: count[inv] for name, count in actions_u.items()}
        extra = {name: col[inv] for name, col in extra_u.items()}

        # traffic
        sp_r, sp_w = self.sram.activation_spill(np.where(on_chip, 0, a_r), np.where(on_chip, 0, a_w))
        kv_dram_r = np.where(dram_tier, kv_r, 0.0)
        kv_evicted_r = kv_dram_r * evicted
        kv_dram_r = kv_dram_r - kv_evicted_r
        # hierarchical KV memory: the on-chip KV buffers pin the hottest share of each phase's KV
        # working set ``ws`` (tokens re-read phase after phase), served without DRAM traffic
        hit = np.where(ws > 0, np.minimum(1.0, self.sram.kv_bytes / np.maximum(ws, 1.0)), 0.0)
        kv_sram_r = kv_dram_r * hit
        kv_dram_r = kv_dram_r - kv_sram_r
        kv_dram_w = np.where(dram_tier, kv_w, 0.0)
        # offload tier: its own KV (fetches and write-outs), plus (after DRAM overflows) evicted KV read back
        # and the write-out of as much old KV as each new write displaces
        link_r = np.where(offload_tier, kv_r, 0.0) + kv_evicted_r
        link_w = np.where(offload_tier, kv_w, 0.0) + np.where(evicted > 0, kv_dram_w, 0.0)
        link = self.offload.traffic(link_r, link_w, np.where(offload_tier, requests_u[inv], 0))
        dram_read = w_r + kv_dram_r + sp_r + hc_r
        dram_write = kv_dram_w + sp_w + hc_w
        read_s = self.dram.transfer_s(dram_read)
        write_s = self.dram.transfer_s(dram_write)

        # memory actions: DRAM bits, SRAM fills (weights, KV arriving from DRAM or the offload tier, spilled
        # activations, HC-table entries), link bytes
        fills_kv = kv_dram_r + link_r
        mem = {"dram_bit": (dram_read + dram_write) * 8, "sram_write_bit.weight": 8 * w_r,
               "sram_write_bit.kv": 8 * (fills_kv + hc_r), "sram_write_bit.activation": 8 * sp_r,
               **self.offload.actions(link_r, link_w)}
        for name, count in mem.items():
            actions[name] = actions[name] + count if name in actions else count
        energy = self.price(actions, n)
        # control: a share of the on-chip blocks' dynamic energy (the parts they are charged from, ``blocks``)
        energy[op_energy_col("control")] = self.hw.control_overhead * sum(energy[op_energy_col(p)]
                                                                          for p in self.onchip_parts)
        noc_bytes = extra.get("noc_bytes", np.zeros(n))
        return {
            "compute_s": compute_s, "read_s": read_s, "write_s": write_s, **link,
            "dram_s": read_s + write_s,
            "dram_bytes": dram_read + dram_write, "offload_bytes": link_r + link_w, "kv_sram_bytes": kv_sram_r,
            "noc_bytes": noc_bytes, **energy,
        }

    def durations(self, costs: pd.DataFrame) -> Durations:
        return Durations.of(costs["compute_s"].to_numpy(), costs["read_s"].to_numpy(), costs["write_s"].to_numpy(),
                            costs["link_read_s"].to_numpy(), costs["link_write_s"].to_numpy(),
                            costs["link_read_latency_s"].to_numpy())

    def blocks(self) -> list[BlockInfo]:
        """One core's blocks: its units' (``Platform.unit_blocks``), then the memory system's: the SRAM buffers
        (every bank read through its full port every cycle at rated activity) and the DRE SRAM (its four
        banks likewise)."""
        s, cfg = self.sram, self.hw.sram
        out = self.unit_blocks()
        sram_pj = sum(cfg.banks * cfg.port_width_bits * s.read_pj_per_bit[b] for b in s.read_pj_per_bit)
        out.append(BlockInfo("sram", s.area_mm2, sram_pj, BlockCharge("sram")))
        if self.hw.dre.enabled:
            out.append(BlockInfo("dre_sram", s.dre_area_mm2, 4 * s.dre_port_bits * s.dre_read_pj_per_bit,
                                 BlockCharge(None)))
        return out

    def block_charges(self) -> dict[str, BlockCharge]:
        """The blocks' charges (``Platform.block_charges``), plus control (its share of the dynamic energy) and
        the NoC (energy only: its wiring is in control)."""
        return {**super().block_charges(), "control": BlockCharge("control"), "noc": BlockCharge("noc")}

    def area_per_core_mm2(self) -> dict[str, float]:
        """Area of one core's blocks (``blocks``: the units', the SRAM buffers, the DRE SRAM) and control."""
        parts = {b.name: b.area_mm2 for b in self.blocks() if b.area_mm2 > 0}
        parts["control"] = self.hw.control_overhead * sum(parts.values())
        return parts

    def area_mm2(self) -> dict[str, float]:
        """Chip area by block (all cores)."""
        return {k: v * self.cores for k, v in self.area_per_core_mm2().items()}

    def peak_power_per_core_w(self) -> dict[str, float]:
        return peak_power_per_core_w(self)

    def prices(self) -> dict[str, Price]:
        """The price table; the units' own datapath actions (their peak actions: MACs, vector ops, Hamming
        distances, WTU scores, KVMU requests, a new unit's) carry what synthesis adds to their arithmetic
        (registers, clock network: ``engine/physical/synthesis.py``), in the run and in peak power alike."""
        table = super().prices()
        f = overhead_factor(self.tech)
        for name in dict.fromkeys(a for u in self.units for a in unit_peak_actions(u)):
            if name in table:
                p = table[name]
                table[name] = Price(p.part, p.pj * f, f"{p.entry} x synthesis overhead (base.synth_*)")
        return table

    def chip_peak_power_w(self) -> float:
        """The chip with every block at its rated activity (W): cores x ``peak_power_per_core_w``."""
        return self.cores * sum(self.peak_power_per_core_w().values())

    def io_area_mm2(self) -> dict[str, float]:
        """Die area of the DRAM and PCIe PHYs (mm^2; ``engine/physical/io.py``)."""
        return io_area_mm2(self.hw, self.tech)

    def system_peak_w(self) -> dict[str, float]:
        """System peak power by part (W): chip, DRAM at peak bandwidth, link at full load, offload device."""
        return system_peak_w(self.hw, self.chip_peak_power_w(), self.dram.pj_per_bit, self.tech)

    def leakage_w(self) -> float:
        return sum(self.area_mm2().values()) * self.tech.leakage_mw_per_mm2() * 1e-3 + self.offload.idle_w

    def overflow_note(self, cap, share: np.ndarray) -> str:
        return (f"KV cache exceeds DRAM after frame {cap.overflow_frame} (t = {cap.overflow_time_s:.1f} s): "
                f"the oldest KV is evicted to the offload tier (up to {100 * share.max():.0f}% of it) and "
                "read back over the link; those ops are capacity-bound")


# The accelerator's units, in claiming order: the VPE runs every element-wise kind and, without a DRE, ReSV's
# retrieval steps; the DPE the matrix kinds; the DRE's HCU and WTU take clustering and WiCSum when enabled;
# the KVMU (the DMA role) every KV transfer.
register_unit("accelerator", "vpe", lambda p: Vpe(p.hw.vector_unit, p.hw.clock_hz, p.tech, p.cores,
                                                  p.sram.bytes_per_cycle, p.hw.pe_array.precision))
register_unit("accelerator", "dpe", lambda p: Dpe(p.pe, p.noc, p.unit("vpe"), p.hw.clock_hz))
register_unit("accelerator", "hcu", lambda p: Hcu(p.hw.dre, p.hw.clock_hz, p.tech, p.cores) if p.hw.dre.enabled
              else None)
register_unit("accelerator", "wtu", lambda p: Wtu(p.hw.dre, p.hw.clock_hz, p.tech, p.cores) if p.hw.dre.enabled
              else None)
register_unit("accelerator", "kvmu", lambda p: Kvmu(p.hw.dre, p.hw.clock_hz, p.tech, p.cores))
