"""SimPy model of a V-Rex-like accelerator replaying a trace.

Each unit module owns its cost model (cycles and energy from the event table and its config):
``pe_array`` (DPE, split over cores by ``multicore``), ``vector_unit`` (VPE), ``hcu`` and ``wtu``
(the DRE's KVPU), ``kvmu`` (KV transfers and their request counts). This module assigns each op
to a unit (``UNIT_OF_KIND`` plus the units' own ``kinds``), adds the memory system (SRAM, DRAM,
offload tier) and overlaps everything in the discrete-event replay:

- double buffering: op i+1's inputs are fetched while op i computes (two buffer slots);
- two in-order channels, DRAM and the offload link, each serving reads and write-backs in a fixed
  program order (R0, R1, W0, R2, W1, ...), so results are deterministic and monotone in every
  duration (more bandwidth, cores or a faster clock never make a run slower);
- a fetch whose addresses come from a selection (a ``kv_read`` op) waits for the ops it depends on;
- ops execute in program order on their unit, each a SimPy process; per-KV-head chains fan out
  (``schedule.dependencies``) and, with the DRE's prefetch, the next layer's prediction and fetch are
  issued right after the current layer's QKV generation (``schedule.prefetch_order``).

Attention runs fused and tiled (scores stay on chip); other activations stay on chip when an op's
inputs and outputs fit the activation buffers and spill the excess to DRAM otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import simpy

from simulator.config.hardware import AcceleratorConfig
from simulator.config.tech import TechTable, load_tech
from simulator.engine.dram import Dram
from simulator.engine.hcu import Hcu
from simulator.engine.kv_memory import check_capacity, host_share_per_op, run_status
from simulator.engine.kvmu import Kvmu
from simulator.engine.multicore import Noc, split_matrix
from simulator.engine.offload import NoOffload, OffloadTier
from simulator.engine.ops import OpArrays
from simulator.engine.pe_array import PeArray
from simulator.engine.peak_power import peak_power_per_core_w
from simulator.engine.result import SimResult
from simulator.engine.schedule import dependencies, prefetch_order, run_ids
from simulator.engine.sram import SramBuffers
from simulator.engine.vector_unit import VectorUnit
from simulator.engine.wtu import Wtu
from simulator.tracer.trace_file import Trace

UNITS = ("pe", "vector", "hcu", "wtu", "dma")
PE_KINDS = ("gemm", "attn_score", "attn_value")
VECTOR_KINDS = ("softmax", "norm", "elementwise", "embedding", "copy", "topk")
DRE_KINDS = ("cluster", "wicsum")  # on the HCU / WTU, or on the vector unit without a DRE
DMA_KINDS = ("kv_write", "kv_read")
ON_CHIP_KINDS = ("attn_score", "softmax", "attn_value")  # fused attention
# kind -> unit for the units without a module of their own; DRE units add their kinds when enabled
UNIT_OF_KIND = {**{k: "pe" for k in PE_KINDS + ("retrieval_score",)}, **{k: "vector" for k in VECTOR_KINDS + DRE_KINDS},
                **{k: "dma" for k in DMA_KINDS}}


class Accelerator:
    """Unit models of one accelerator config (all cores)."""

    def __init__(self, hw: AcceleratorConfig, tech: TechTable | None = None):
        self.hw = hw
        self.tech = (tech or load_tech()).at(hw.tech_node)
        clk, n = hw.clock_hz, hw.cores
        self.cores = n
        self.pe = PeArray(hw.pe_array, clk, self.tech)
        self.noc = Noc(hw.noc, n, self.tech)
        self.vector = VectorUnit(hw.vector_unit, clk, self.tech, n, hw.pe_array.precision)
        self.sram = SramBuffers(hw.sram, self.tech, n, hw.dre.sram_kb if hw.dre.enabled else 0.0)
        self.dram = Dram(hw.dram, self.tech)
        self.offload = OffloadTier(hw.offload) if hw.offload is not None else NoOffload()
        self.dre_units = [Hcu(hw.dre, clk, self.tech, n), Wtu(hw.dre, clk, self.tech, n)] if hw.dre.enabled else []
        self.kvmu = Kvmu(hw.dre, clk, self.tech, n)
        self.unit_of_kind = dict(UNIT_OF_KIND)
        for u in self.dre_units:
            self.unit_of_kind.update({k: u.name for k in u.kinds})
        self.peak_flops = n * (self.pe.peak_flops + self.vector.peak_flops)

    def assign(self, kind: np.ndarray) -> np.ndarray:
        return pd.Series(kind).map(self.unit_of_kind).fillna("vector").to_numpy(dtype=object)

    # ---- static cost model (vectorised over ops) ----
    CHUNK_OPS = 200_000  # ops costed at a time (bounds the temporaries' memory)

    def op_costs(self, ev: pd.DataFrame, host_share: np.ndarray | None = None) -> pd.DataFrame:
        """Per-op unit, compute/transfer times (s), bytes and dynamic energy (pJ).

        ``host_share`` (per op): share of the held KV evicted to the offload tier because it no longer
        fits DRAM (see kv_memory.host_share_per_op); KV reads and writes of DRAM-tier ops move that
        share over the offload link instead. Costed in chunks of rows; the one quantity that spans rows,
        each phase's KV working set (for the on-chip KV buffers), is summed over the whole table first.
        """
        evicted = np.zeros(len(ev)) if host_share is None else np.asarray(host_share, dtype=np.float64)
        kv_dram = np.where(ev["kv_tier"].to_numpy() == "dram", ev["bytes_kv_read"].to_numpy(np.float64), 0.0)
        grp = run_ids(ev)
        working_set = np.bincount(grp, weights=kv_dram * (1 - evicted))[grp]
        del kv_dram, grp
        parts = [self._op_costs(ev.iloc[a:a + self.CHUNK_OPS], evicted[a:a + self.CHUNK_OPS],
                                working_set[a:a + self.CHUNK_OPS])
                 for a in range(0, len(ev), self.CHUNK_OPS)]
        if not parts:
            return self._op_costs(ev, evicted, working_set)
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def _op_costs(self, ev: pd.DataFrame, evicted: np.ndarray, ws: np.ndarray) -> pd.DataFrame:
        ops = OpArrays.from_events(ev)
        kind, tier = ops.kind, ops.tier
        b, m, n, k = ops["batch"], ops["m"], ops["n"], ops["k"]
        fm, fv = ops["flops_matmul"], ops["flops_vector"]
        kv_bits, act_bits, w_bits = ops["kv_bits"], ops["act_bits"], ops["weight_bits"]
        kv_r, kv_w = ops["bytes_kv_read"], ops["bytes_kv_write"]
        w_r, a_r, a_w = ops["bytes_weight_read"], ops["bytes_act_read"], ops["bytes_act_write"]
        hc_r, hc_w = ops["bytes_hc_read"], ops["bytes_hc_write"]
        clk = self.hw.clock_hz
        unit = self.assign(kind)

        # compute: the matrix engine (split over cores, with the NoC exchange), the vector unit, the DRE
        pe_mask = unit == "pe"
        vec_mask = unit == "vector"
        pe_s, noc_s, noc_bytes = split_matrix(self.pe, self.noc, clk, np.where(pe_mask, b, 0), m, n, k, a_w)
        noc_bytes = np.where(pe_mask, noc_bytes, 0.0)
        fallback = np.where(vec_mask, self.vector.retrieval_element_ops(kind, ops["hash_compares"], m,
                                                                         ops["candidates"]), 0.0)
        vec_ops = np.where(vec_mask, fv, 0.0) + fallback
        vec_cyc = self.vector.cycles(vec_ops)
        # a vector op cannot stream its activations faster than the activation buffers' ports allow
        port = self.sram.bytes_per_cycle
        vec_cyc = np.where(vec_mask, np.maximum(vec_cyc, np.ceil((a_r + a_w) / port)), 0.0)
        # matrix ops also have vector work (bias adds), pipelined on the vector unit behind the DPE
        vec_side = np.where(pe_mask, self.vector.cycles(fv), 0.0) / clk
        compute_s = np.maximum(pe_s, vec_side) + noc_s + vec_cyc / clk
        e_dre = np.zeros(len(ops))
        for u in (*self.dre_units, self.kvmu):
            c = u.cost(ops, unit == u.name)
            compute_s = compute_s + c.compute_s
            e_dre = e_dre + c.energy_pj

        # traffic
        on_chip = np.isin(kind, ON_CHIP_KINDS)
        sp_r, sp_w = self.sram.activation_spill(np.where(on_chip, 0, a_r), np.where(on_chip, 0, a_w))
        kv_dram_r = np.where(tier == "dram", kv_r, 0.0)
        kv_evicted_r = kv_dram_r * evicted
        kv_dram_r = kv_dram_r - kv_evicted_r
        # hierarchical KV memory: the on-chip KV buffers pin the hottest share of each phase's KV
        # working set ``ws`` (tokens re-read phase after phase), served without DRAM traffic
        hit = np.where(ws > 0, np.minimum(1.0, self.sram.kv_bytes / np.maximum(ws, 1.0)), 0.0)
        kv_sram_r = kv_dram_r * hit
        kv_dram_r = kv_dram_r - kv_sram_r
        kv_dram_w = np.where(tier == "dram", kv_w, 0.0)
        # offload tier: its own KV (fetches and write-outs), plus (after DRAM overflows) evicted KV read back
        # and the write-out of as much old KV as each new write displaces
        link_r = np.where(tier == "host", kv_r, 0.0) + kv_evicted_r
        link_w = np.where(tier == "host", kv_w, 0.0) + np.where(evicted > 0, kv_dram_w, 0.0)
        link = self.offload.traffic(link_r, link_w, np.where(tier == "host", self.kvmu.requests(ops), 0))
        dram_read = w_r + kv_dram_r + sp_r + hc_r
        dram_write = kv_dram_w + sp_w + hc_w
        read_s = self.dram.transfer_s(dram_read)
        write_s = self.dram.transfer_s(dram_write)

        # dynamic energy (pJ)
        sr = self.sram.read_pj_per_bit
        sw = self.sram.write_pj_per_bit
        a_el, b_el, o_el = self.pe.operand_reads(b, m, n, k)
        b_buf_pj = np.where(kind == "gemm", sr["weight"] * w_bits, sr["kv"] * kv_bits)
        e_sram = np.where(pe_mask, a_el * act_bits * sr["activation"] + b_el * b_buf_pj
                          + o_el * act_bits * sw["activation"], 0.0)
        e_sram += np.where(vec_mask, (a_r * sr["activation"] + a_w * sw["activation"]) * 8, 0.0)
        fills_kv = kv_dram_r + link_r  # KV arriving from DRAM or the offload tier lands in SRAM
        e_sram += 8 * (w_r * sw["weight"] + fills_kv * sw["kv"] + sp_r * sw["activation"] + hc_r * sw["kv"])
        e_pe = np.where(pe_mask, fm / 2 * self.pe.mac_pj, 0.0)
        e_vec = (vec_ops + np.where(pe_mask, fv, 0.0)) * self.vector.op_pj
        e_noc = noc_bytes * 8 * self.noc.pj_per_bit
        e_dram = self.dram.energy_pj(dram_read + dram_write)
        e_ctrl = self.hw.control_overhead * (e_pe + e_vec + e_dre + e_sram)
        return pd.DataFrame({
            "unit": unit, "compute_s": compute_s, "read_s": read_s, "write_s": write_s, **link,
            "dram_bytes": dram_read + dram_write, "host_bytes": link_r + link_w, "kv_sram_bytes": kv_sram_r,
            "noc_bytes": noc_bytes, "e_pe_pj": e_pe, "e_sram_pj": e_sram, "e_dram_pj": e_dram,
            "e_vector_pj": e_vec, "e_dre_pj": e_dre, "e_noc_pj": e_noc, "e_control_pj": e_ctrl,
        })

    def area_per_core_mm2(self) -> dict[str, float]:
        """Area of one core's blocks: DPE, VPE, on-chip memory, and the DRE's HCU, WTU, KVMU and SRAM."""
        parts = {"dpe": self.pe.area_mm2, "vpe": self.vector.area_mm2, "sram": self.sram.area_mm2}
        if self.hw.dre.enabled:
            hcu, wtu = self.dre_units
            parts.update(dre_hcu=hcu.area_mm2, dre_wtu=wtu.area_mm2, dre_kvmu=self.kvmu.area_mm2,
                         dre_sram=self.sram.dre_area_mm2)
        parts["control"] = self.hw.control_overhead * sum(parts.values())
        return parts

    def area_mm2(self) -> dict[str, float]:
        """Chip area by block (all cores)."""
        return {k: v * self.cores for k, v in self.area_per_core_mm2().items()}


def replay(read_s: np.ndarray, compute_s: np.ndarray, write_s: np.ndarray, unit_idx: np.ndarray,
           deps: list[tuple[int, ...]] | None = None, n_units: int = len(UNITS), *,
           link_read_s: np.ndarray | None = None, link_write_s: np.ndarray | None = None,
           read_waits_deps: np.ndarray | None = None, link_latency_s: np.ndarray | None = None
           ) -> dict[str, np.ndarray]:
    """Discrete-event replay: one executor process per unit, two in-order channels (DRAM, offload link).

    Each unit executes its ops in program order once the op's inputs are loaded and the ops it
    depends on (``deps``; default: the previous op) have computed. Each channel serves, in the fixed
    order R0, R1, W0, R2, W1, ..., its reads (a read waits for a free buffer slot: the second-last op
    whose inputs the channel loaded has computed; and, where ``read_waits_deps[i]``, for op i's
    dependencies, because the addresses come from them) and its write-backs (after the op computed).
    A channel with nothing to move for an op does not wait for it. Offload-link reads overlap their
    request latency (``link_latency_s``) with the transfers before them. Fixed orders make the result
    deterministic and monotone in every duration.
    Returns start/end arrays (s) of each op's read, compute and write.
    """
    n = len(compute_s)
    if deps is None:
        deps = [(i - 1,) if i else () for i in range(n)]
    zeros = np.zeros(n)
    link_read_s = zeros if link_read_s is None else np.asarray(link_read_s, dtype=np.float64)
    link_write_s = zeros if link_write_s is None else np.asarray(link_write_s, dtype=np.float64)
    link_latency_s = zeros if link_latency_s is None else np.asarray(link_latency_s, dtype=np.float64)
    waits_deps = np.zeros(n, dtype=bool) if read_waits_deps is None else np.asarray(read_waits_deps, dtype=bool)
    read_s, write_s = np.asarray(read_s, dtype=np.float64), np.asarray(write_s, dtype=np.float64)
    env = simpy.Environment()
    timeout = env.timeout
    r1, c0, c1, w1 = (np.zeros(n) for _ in range(4))
    lr1, lw1 = np.zeros(n), np.zeros(n)
    r0, lr0 = np.full(n, np.inf), np.full(n, np.inf)  # read issue times (inf: the channel read nothing)
    compute_l = np.asarray(compute_s, dtype=np.float64).tolist()
    unit_idx = np.asarray(unit_idx)
    ops_of = [np.flatnonzero(unit_idx == u).tolist() for u in range(n_units)]

    class Flags:
        """Completion flags of one kind (computed, loaded by DRAM, loaded by the link); a SimPy event is
        made only when a process has to wait for a flag that is not set yet (saves memory)."""

        def __init__(self, preset=None):
            self.set = bytearray(n) if preset is None else bytearray((~preset).astype(np.uint8).tobytes())
            self.pending: dict[int, simpy.Event] = {}

        def wait(self, i):
            if self.set[i]:
                return None
            ev = self.pending.get(i)
            if ev is None:
                ev = self.pending[i] = env.event()
            return ev

        def wait_all(self, items):
            """Generator: wait until every flag in ``items`` is set."""
            for i in items:
                ev = self.wait(i)
                if ev is not None:
                    yield ev

        def mark(self, i):
            self.set[i] = 1
            ev = self.pending.pop(i, None)
            if ev is not None:
                ev.succeed()

    comp = Flags()
    dram = Flags(read_s > 0)  # ops with nothing to load from DRAM count as loaded
    link = Flags(link_read_s > 0)

    def channel(reads, writes, loaded, rs, re, we, latency):
        """In-order controller of one channel (DRAM or the offload link).

        Its program, R0, R1, W0, R2, W1, ..., holds only the ops with something to move on it. A read waits
        for a free buffer slot (the second-last op this channel loaded has computed) and, where
        ``read_waits_deps``, for the op's dependencies. With a ``latency`` (the offload link) a read holds
        the channel only for its data time (duration - latency) and completes ``latency`` after its issue
        at the earliest: requests of consecutive ops overlap their latencies, as a device with a command
        queue does. A write-back waits for its op to compute.
        """
        program = []  # (is_read, op)
        for i in np.flatnonzero((reads > 0) | (np.r_[0.0, writes[:-1]] > 0)).tolist():
            if reads[i] > 0:
                program.append((True, i))
            if i >= 1 and writes[i - 1] > 0:
                program.append((False, i - 1))
        if n and writes[n - 1] > 0:
            program.append((False, n - 1))
        reads_l, writes_l, lat = reads.tolist(), writes.tolist(), latency.tolist()

        def finish(i, t_done):
            if t_done > env.now:
                yield timeout(t_done - env.now)
            re[i] = env.now
            loaded.mark(i)

        readers: list[int] = []  # ops this channel has loaded: two buffer slots
        for is_read, i in program:
            if not is_read:
                yield from comp.wait_all((i,))
                yield timeout(writes_l[i])
                we[i] = env.now
                continue
            yield from comp.wait_all(readers[-2:-1] if len(readers) >= 2 else ())
            readers.append(i)
            if waits_deps[i]:
                yield from comp.wait_all(deps[i])
            rs[i] = env.now
            if lat[i] > 0:
                yield timeout(max(reads_l[i] - lat[i], 0.0))
                env.process(finish(i, rs[i] + reads_l[i]))
            else:
                yield timeout(reads_l[i])
                re[i] = env.now
                loaded.mark(i)

    def executor(ops):
        for i in ops:
            yield from dram.wait_all((i,))
            yield from link.wait_all((i,))
            yield from comp.wait_all(deps[i])
            c0[i] = env.now
            if compute_l[i] > 0:
                yield timeout(compute_l[i])
            c1[i] = env.now
            comp.mark(i)

    env.process(channel(read_s, write_s, dram, r0, r1, w1, zeros))
    env.process(channel(link_read_s, link_write_s, link, lr0, lr1, lw1, link_latency_s))
    for ops in ops_of:
        if ops:
            env.process(executor(ops))
    env.run()
    read_start = np.minimum(np.minimum(r0, lr0), c0)
    return {"read_start": read_start, "read_end": np.maximum(r1, lr1), "compute_start": c0, "compute_end": c1,
            "write_end": np.maximum(w1, lw1)}


def replay_trace(ev: pd.DataFrame, read_s: np.ndarray, compute_s: np.ndarray, write_s: np.ndarray,
                 unit_idx: np.ndarray, n_units: int, link: pd.DataFrame, *, prefetch: bool) -> dict[str, np.ndarray]:
    """:func:`replay` of a trace's ops (arrays in trace order, ``link`` holding the offload-link columns of
    ``OffloadTier.traffic``): data dependencies from the trace, the program reordered for next-layer prefetch
    when ``prefetch``, fetches (``kv_read``) waiting for their selection; the times come back in trace order."""
    deps = dependencies(ev)
    order = np.arange(len(ev))
    if prefetch:
        order, deps = prefetch_order(ev, deps)
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    if not np.array_equal(order, np.arange(len(order))):
        deps = [tuple(int(pos[d]) for d in deps[i]) for i in order]
    is_fetch = ev["kind"].to_numpy() == "kv_read"
    t = replay(read_s[order], compute_s[order], write_s[order], unit_idx[order], deps, n_units,
               link_read_s=link["link_read_s"].to_numpy()[order], link_write_s=link["link_write_s"].to_numpy()[order],
               read_waits_deps=is_fetch[order], link_latency_s=link["link_read_latency_s"].to_numpy()[order])
    return {key: arr[pos] for key, arr in t.items()}  # back to trace order


def simulate_accelerator(trace: Trace, hw: AcceleratorConfig, tech: TechTable | None = None) -> SimResult:
    """Replay ``trace`` on accelerator ``hw``; returns per-op timing/energy and area."""
    acc = Accelerator(hw, tech)
    ev = trace.events
    weight_bytes = trace.meta.get("weight_bytes_llm", 0) + trace.meta.get("weight_bytes_vision", 0)
    status = run_status(ev, trace.kv_tokens, trace.meta, acc.dram.capacity_bytes, weight_bytes,
                        hw.offload is not None)
    if status != "ok":
        return SimResult(hardware=hw.name, kind="accelerator", ops=pd.DataFrame(), area_mm2=acc.area_mm2(),
                         leakage_w=0.0, total_s=float("nan"), notes=[status], status=status,
                         area_per_core_mm2=acc.area_per_core_mm2(), peak_tflops=acc.peak_flops / 1e12,
                         cores=hw.cores, leakage_mw_per_mm2=acc.tech.leakage_mw_per_mm2(),
                         peak_power_per_core_w=peak_power_per_core_w(acc))
    room = acc.dram.capacity_bytes - weight_bytes
    share = host_share_per_op(ev, trace.kv_tokens, trace.meta, room)
    costs = acc.op_costs(ev, share)
    unit_idx = pd.Categorical(costs["unit"], categories=UNITS).codes
    t = replay_trace(ev, costs["read_s"].to_numpy(), costs["compute_s"].to_numpy(), costs["write_s"].to_numpy(),
                     unit_idx, len(UNITS), costs, prefetch=hw.dre.enabled and hw.dre.prefetch)
    ops = ev[["phase", "frame", "question", "step", "layer", "op", "kind"]].copy()
    ops = pd.concat([ops, costs], axis=1)
    ops["compute_start_s"] = t["compute_start"]
    ops["compute_end_s"] = t["compute_end"]
    ops["start_s"] = np.minimum(t["read_start"], t["compute_start"])
    ops["end_s"] = np.maximum(t["compute_end"], t["write_end"])
    ops["mem_s"] = ops["read_s"] + ops["write_s"] + ops["link_read_s"] + ops["link_write_s"]
    ops["bound"] = np.where(ops["compute_s"] >= ops["mem_s"], "compute", "bandwidth")
    area = acc.area_mm2()
    leak_w = sum(area.values()) * acc.tech.leakage_mw_per_mm2() * 1e-3 + acc.offload.idle_w
    cap = check_capacity(trace.kv_tokens, trace.meta, acc.dram.capacity_bytes, weight_bytes)
    notes = []
    if cap.overflow_frame is not None:
        notes.append(f"KV cache exceeds DRAM after frame {cap.overflow_frame} (t = {cap.overflow_time_s:.1f} s): "
                     f"the oldest KV is evicted to the offload tier (up to {100 * share.max():.0f}% of it) and "
                     "read back over the link; those ops are capacity-bound")
        ops.loc[(share > 0) & (ops["host_bytes"] > 0), "bound"] = "capacity"
    total = float(ops["end_s"].max()) if len(ops) else 0.0
    return SimResult(hardware=hw.name, kind="accelerator", ops=ops, area_mm2=area, leakage_w=leak_w,
                     total_s=total, notes=notes, capacity=cap.as_dict(), utilisation=utilisation(ops, total),
                     area_per_core_mm2=acc.area_per_core_mm2(), peak_tflops=acc.peak_flops / 1e12,
                     cores=hw.cores, leakage_mw_per_mm2=acc.tech.leakage_mw_per_mm2(),
                     peak_power_per_core_w=peak_power_per_core_w(acc))


def utilisation(ops: pd.DataFrame, total_s: float) -> dict[str, float]:
    """Busy share of the run for each unit (compute time), DRAM and the offload link (transfer time)."""
    if total_s <= 0:
        return {}
    busy = ops.groupby("unit")["compute_s"].sum() / total_s
    out = {u: float(v) for u, v in busy.items() if u != "dma"}
    out["dram"] = float((ops["read_s"] + ops["write_s"]).sum() / total_s)
    out["offload_link"] = float((ops["link_read_s"] + ops["link_write_s"]).sum() / total_s)
    return out
