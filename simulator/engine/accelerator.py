"""SimPy model of the V-Rex-like accelerator replaying a trace.

Each trace event is one op. Its cost is computed per component (pe_array, vector_unit, dre, sram,
dram, host_link); the discrete-event part then overlaps transfers with compute:

- double buffering: op i+1's inputs are fetched from DRAM while op i computes (two buffer slots);
- one DRAM controller serves reads and write-backs in a fixed program order
  (R0, R1, W0, R2, W1, ...), so results are deterministic and monotone in every duration
  (more bandwidth or a faster clock can never make a run slower);
- ops execute in program order on their unit (PE array, vector unit, DRE or the DMA engine), each a
  SimPy resource.

Attention is executed fused and tiled (scores and probabilities never leave the chip), as in
FlashAttention-style accelerator dataflows; other activations stay on chip when an op's inputs and
outputs fit the activation buffer and spill the excess to DRAM otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import simpy

from simulator.config.hardware import AcceleratorConfig
from simulator.config.tech import TechTable, load_tech
from simulator.engine.dram import Dram
from simulator.engine.dre import Dre
from simulator.engine.host_link import HostLink
from simulator.engine.kv_memory import check_capacity, host_share_per_op
from simulator.engine.pe_array import PeArray
from simulator.engine.result import SimResult
from simulator.engine.schedule import dependencies
from simulator.engine.sram import SramBuffers
from simulator.engine.vector_unit import VectorUnit
from simulator.tracer.stream import Trace

UNITS = ("pe", "vector", "dre", "dma")
PE_KINDS = ("gemm", "attn_score", "attn_value")
VECTOR_KINDS = ("softmax", "norm", "elementwise", "embedding", "copy")
DMA_KINDS = ("kv_write", "kv_read")
ON_CHIP_KINDS = ("attn_score", "softmax", "attn_value")  # fused attention


class Accelerator:
    """Component models of one accelerator config."""

    def __init__(self, hw: AcceleratorConfig, tech: TechTable | None = None):
        self.hw = hw
        self.tech = (tech or load_tech()).at(hw.tech_node)
        clk = hw.clock_hz
        self.pe = PeArray(hw.pe_array, clk, self.tech)
        self.vector = VectorUnit(hw.vector_unit, clk, self.tech)
        self.dre = Dre(hw.dre, clk, self.tech)
        self.sram = SramBuffers(hw.sram, self.tech)
        self.dram = Dram(hw.dram, self.tech)
        self.host = HostLink(hw.host_link)

    # ---- static cost model (vectorised over ops) ----
    def op_costs(self, ev: pd.DataFrame, host_share: np.ndarray | None = None) -> pd.DataFrame:
        """Per-op unit, compute/transfer times (s), bytes and dynamic energy (pJ).

        ``host_share`` (per op): share of the held KV evicted to the host tier because it no longer
        fits DRAM (see kv_memory.host_share_per_op); KV reads and writes of DRAM-tier ops move that
        share over the host link instead.
        """
        kind = ev["kind"].to_numpy()
        b, m, n, k = (ev[c].to_numpy(np.int64) for c in ("batch", "m", "n", "k"))
        fm = ev["flops_matmul"].to_numpy(np.float64)
        fv = ev["flops_vector"].to_numpy(np.float64)
        kv_bits = ev["kv_bits"].to_numpy(np.float64)
        act_bits = ev["act_bits"].to_numpy(np.float64)
        w_bits = ev["weight_bits"].to_numpy(np.float64)
        tier = ev["kv_tier"].to_numpy()
        kv_r = ev["bytes_kv_read"].to_numpy(np.float64)
        kv_w = ev["bytes_kv_write"].to_numpy(np.float64)
        w_r = ev["bytes_weight_read"].to_numpy(np.float64)
        a_r = ev["bytes_act_read"].to_numpy(np.float64)
        a_w = ev["bytes_act_write"].to_numpy(np.float64)
        clk = self.hw.clock_hz
        dre_on = self.hw.dre.enabled

        is_pe = np.isin(kind, PE_KINDS)
        is_vec = np.isin(kind, VECTOR_KINDS)
        is_dma = np.isin(kind, DMA_KINDS)
        is_score = kind == "retrieval_score"
        is_cluster = kind == "cluster"
        is_topk = kind == "topk"
        on_dre = (is_score | is_cluster | is_topk) & bool(dre_on)
        unit = np.full(len(ev), "vector", dtype=object)
        unit[is_pe] = "pe"
        unit[is_dma] = "dma"
        unit[on_dre] = "dre"
        unit[is_score & ~on_dre] = "pe"

        pe_mask = is_pe | (is_score & ~on_dre)
        vec_mask = is_vec | ((is_cluster | is_topk) & ~on_dre)
        pe_cyc = np.where(pe_mask, self.pe.cycles(b, m, n, k), 0)
        vec_cyc = np.where(vec_mask, self.vector.cycles(fv), 0)
        # matrix ops also have vector work (bias adds): pipelined on the vector unit behind the PE array
        vec_side = np.where(pe_mask, self.vector.cycles(fv), 0)
        dre = self.dre
        bits = dre.bits_evaluated(ev["score_bits"].to_numpy(), ev["bits_needed_mean"].to_numpy())
        bit_ops = np.where(is_score & on_dre, dre.bit_ops(fm / 2, bits), 0.0)
        checks = np.where(is_score & on_dre, dre.early_exit_checks(ev["candidates"].to_numpy(), bits), 0.0)
        cl_ops = np.where(is_cluster & on_dre, fv, 0.0)
        topk_cmp = np.where(is_topk & on_dre, fv, 0.0)
        dre_cyc = (dre.score_cycles(bit_ops) + dre.compare_cycles(checks, max(1, self.hw.dre.early_exit_units))
                   + dre.cluster_cycles(cl_ops) + dre.compare_cycles(topk_cmp, self.hw.dre.topk_per_cycle))
        # on-chip bandwidth: a vector op streams its activations through the activation buffer's ports and
        # the DRE streams candidate keys from the KV buffer: neither can be faster than the ports allow
        port = self.sram.bytes_per_cycle
        vec_cyc = np.where(vec_mask, np.maximum(vec_cyc, np.ceil((a_r + a_w) / port)), vec_cyc)
        dre_cyc = np.where(on_dre, np.maximum(dre_cyc, np.ceil(kv_r / port)), dre_cyc)
        compute_s = (np.maximum(pe_cyc, vec_side) + vec_cyc + dre_cyc) / clk

        # traffic
        on_chip = np.isin(kind, ON_CHIP_KINDS)
        sp_r, sp_w = self.sram.activation_spill(np.where(on_chip, 0, a_r), np.where(on_chip, 0, a_w))
        kv_dram_r = np.where(tier == "dram", kv_r, 0.0)
        evicted = np.zeros(len(ev)) if host_share is None else np.asarray(host_share, dtype=np.float64)
        kv_evicted_r = kv_dram_r * evicted
        kv_dram_r = kv_dram_r - kv_evicted_r
        # hierarchical KV memory: the on-chip KV buffer pins the hottest share of each phase's KV
        # working set (clusters and tokens re-read phase after phase), served without DRAM traffic
        keys = ev[["phase", "frame", "question", "step"]]
        grp = np.cumsum((keys != keys.shift()).any(axis=1).to_numpy())
        ws = pd.Series(kv_dram_r).groupby(grp).transform("sum").to_numpy()
        hit = np.where(ws > 0, np.minimum(1.0, self.sram.kv_bytes / np.maximum(ws, 1.0)), 0.0)
        kv_sram_r = kv_dram_r * hit
        kv_dram_r = kv_dram_r - kv_sram_r
        kv_dram_w = np.where(tier == "dram", kv_w, 0.0)
        # offloaded tiers: host-tier KV, plus (after DRAM overflows) evicted KV reads and the write-out of
        # as much old KV as each new write displaces
        host_b = np.where(tier == "host", kv_r + kv_w, 0.0) + kv_evicted_r + np.where(evicted > 0, kv_dram_w, 0.0)
        dram_read = w_r + kv_dram_r + sp_r
        dram_write = kv_dram_w + sp_w
        read_s = self.dram.transfer_s(dram_read) + self.host.transfer_s(host_b)
        write_s = self.dram.transfer_s(dram_write)

        # dynamic energy (pJ)
        sr = self.sram.read_pj_per_bit
        sw = self.sram.write_pj_per_bit
        a_el, b_el, o_el = self.pe.operand_reads(b, m, n, k)
        b_buf_pj = np.where(kind == "gemm", sr["weight"] * w_bits, sr["kv"] * kv_bits)
        e_sram = np.where(pe_mask, a_el * act_bits * sr["activation"] + b_el * b_buf_pj
                          + o_el * act_bits * sw["activation"], 0.0)
        e_sram += np.where(~pe_mask & ~is_dma, (a_r * sr["activation"] + a_w * sw["activation"]) * 8, 0.0)
        e_sram += np.where(on_dre, kv_r * 8 * sr["kv"], 0.0)  # the DRE reads keys from the KV buffer
        fills_kv = kv_dram_r + kv_evicted_r + np.where(tier == "host", kv_r, 0.0)  # from DRAM or the host
        e_sram += 8 * (w_r * sw["weight"] + fills_kv * sw["kv"] + sp_r * sw["activation"])  # fills land in SRAM
        e_pe = np.where(pe_mask, fm / 2 * self.pe.mac_pj, 0.0)
        e_vec = (np.where(vec_mask, fv, 0.0) + np.where(pe_mask, fv, 0.0)) * self.vector.op_pj
        # clustering similarities: one 8-bit multiply-add per element op, as 8 lane bit-operations
        e_dre = (bit_ops + 8 * cl_ops) * dre.bit_op_pj + (checks + topk_cmp) * dre.compare_pj
        e_dram = self.dram.energy_pj(dram_read + dram_write)
        e_host = self.host.energy_pj(host_b)
        e_ctrl = self.hw.control_overhead * (e_pe + e_vec + e_dre + e_sram)
        return pd.DataFrame({
            "unit": unit, "compute_s": compute_s, "read_s": read_s, "write_s": write_s,
            "dram_bytes": dram_read + dram_write, "host_bytes": host_b, "kv_sram_bytes": kv_sram_r,
            "e_pe_pj": e_pe, "e_sram_pj": e_sram, "e_dram_pj": e_dram, "e_host_pj": e_host,
            "e_vector_pj": e_vec, "e_dre_pj": e_dre, "e_control_pj": e_ctrl,
        })

    def area_mm2(self) -> dict[str, float]:
        parts = {"pe": self.pe.area_mm2, "sram": self.sram.area_mm2, "vector": self.vector.area_mm2,
                 "dre": self.dre.area_mm2}
        parts["control"] = self.hw.control_overhead * sum(parts.values())
        return parts


def replay(read_s: np.ndarray, compute_s: np.ndarray, write_s: np.ndarray, unit_idx: np.ndarray,
           deps: list[tuple[int, ...]] | None = None, n_units: int = len(UNITS)) -> dict[str, np.ndarray]:
    """Discrete-event replay: one executor process per unit, one in-order DRAM controller.

    Each unit executes its ops in program order once the op's inputs are loaded and the ops it
    depends on (``deps``; default: the previous op) have computed. The DRAM controller serves, in the
    fixed order R0, R1, W0, R2, W1, ..., the reads (op i's read waits for a free buffer slot: op i-2
    has computed) and the write-backs (after the op computed). Fixed orders make the result
    deterministic and monotone in every duration. Returns start/end arrays (s) of each op's read,
    compute and write.
    """
    n = len(compute_s)
    if deps is None:
        deps = [(i - 1,) if i else () for i in range(n)]
    env = simpy.Environment()
    read_done = [env.event() for _ in range(n)]
    comp_done = [env.event() for _ in range(n)]
    r0, r1, c0, c1, w0, w1 = (np.zeros(n) for _ in range(6))
    read_s, compute_s, write_s = (np.asarray(a, dtype=np.float64).tolist() for a in (read_s, compute_s, write_s))
    unit_idx = np.asarray(unit_idx)
    ops_of = [np.flatnonzero(unit_idx == u).tolist() for u in range(n_units)]

    def stage(waits, duration, start, end, i):
        """Wait for ``waits``, then hold the resource for ``duration``; record start and end."""
        for ev in waits:
            if not ev.processed:
                yield ev
        start[i] = env.now
        if duration > 0:
            yield env.timeout(duration)
        end[i] = env.now

    def dram_controller():
        for i in range(n):
            # a read waits for a free buffer slot: op i-2 has computed
            yield from stage([comp_done[i - 2]] if i >= 2 else [], read_s[i], r0, r1, i)
            read_done[i].succeed()
            if i >= 1:
                yield from stage([comp_done[i - 1]], write_s[i - 1], w0, w1, i - 1)
        if n:
            yield from stage([comp_done[n - 1]], write_s[n - 1], w0, w1, n - 1)

    def executor(ops):
        for i in ops:
            yield from stage([read_done[i], *(comp_done[d] for d in deps[i])], compute_s[i], c0, c1, i)
            comp_done[i].succeed()

    env.process(dram_controller())
    for ops in ops_of:
        if ops:
            env.process(executor(ops))
    env.run()
    return {"read_start": r0, "read_end": r1, "compute_start": c0, "compute_end": c1,
            "write_start": w0, "write_end": w1}


def simulate_accelerator(trace: Trace, hw: AcceleratorConfig, tech: TechTable | None = None) -> SimResult:
    """Replay ``trace`` on accelerator ``hw``; returns per-op timing/energy and area."""
    acc = Accelerator(hw, tech)
    ev = trace.events
    weight_bytes = trace.meta.get("weight_bytes_llm", 0) + trace.meta.get("weight_bytes_vision", 0)
    room = acc.dram.capacity_bytes - weight_bytes
    share = host_share_per_op(ev, trace.kv_tokens, trace.meta, room)
    costs = acc.op_costs(ev, share)
    unit_idx = pd.Categorical(costs["unit"], categories=UNITS).codes
    t = replay(costs["read_s"].to_numpy(), costs["compute_s"].to_numpy(), costs["write_s"].to_numpy(), unit_idx,
               dependencies(ev))
    ops = ev[["phase", "frame", "question", "step", "layer", "op", "kind"]].copy()
    ops = pd.concat([ops, costs], axis=1)
    ops["compute_start_s"] = t["compute_start"]
    ops["compute_end_s"] = t["compute_end"]
    ops["start_s"] = np.minimum(t["read_start"], t["compute_start"])
    ops["end_s"] = np.maximum(t["compute_end"], t["write_end"])
    ops["mem_s"] = ops["read_s"] + ops["write_s"]
    ops["bound"] = np.where(ops["compute_s"] >= ops["mem_s"], "compute", "bandwidth")
    area = acc.area_mm2()
    leak_w = sum(area.values()) * acc.tech.leakage_mw_per_mm2() * 1e-3
    cap = check_capacity(trace.kv_tokens, trace.meta, acc.dram.capacity_bytes, weight_bytes)
    notes = []
    if cap.overflow_frame is not None:
        notes.append(f"KV cache exceeds DRAM after frame {cap.overflow_frame} (t = {cap.overflow_time_s:.1f} s): "
                     f"the oldest KV is evicted to the host tier (up to {100 * share.max():.0f}% of it) and "
                     "read back over the host link; those ops are capacity-bound")
        ops.loc[(share > 0) & (ops["host_bytes"] > 0), "bound"] = "capacity"
    total = float(ops["end_s"].max()) if len(ops) else 0.0
    return SimResult(hardware=hw.name, kind="accelerator", ops=ops, area_mm2=area, leakage_w=leak_w,
                     total_s=total, notes=notes, capacity=cap.as_dict(), utilisation=utilisation(ops, total))


def utilisation(ops: pd.DataFrame, total_s: float) -> dict[str, float]:
    """Busy share of the run for each unit (compute time) and for DRAM (transfer time)."""
    if total_s <= 0:
        return {}
    busy = ops.groupby("unit")["compute_s"].sum() / total_s
    out = {u: float(v) for u, v in busy.items() if u != "dma"}
    out["dram"] = float(ops["mem_s"].sum() / total_s)
    return out
