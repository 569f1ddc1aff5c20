"""Orin-like GPU baseline replaying the same trace.

Kernels run one after another in stream order (as a single CUDA stream does). A kernel's time is
``max(compute, memory) + dequantisation + launch overhead``, with the efficiencies of its precision
(``GpuEfficiency``: the weights' format for kernels with weights, the activations' otherwise): compute at
the achieved fraction of the tensor-core peak (matrix ops, rows padded to whole tiles above the GEMV
size) or of the CUDA-core peak (vector ops); memory at the achieved fraction of DRAM bandwidth;
weight-only formats (W4A16) add the time to unpack their weights. Activations of a kernel stay in L2
when its inputs and outputs fit; attention is fused (scores stay in shared memory), as in
FlashAttention-class kernels. Energy is static power over time plus per-FLOP and per-bit dynamic
energy; a kernel whose power would exceed the power mode is slowed to the cap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.config.hardware import GPU_PRECISIONS, GpuConfig
from simulator.config.tech import TechTable, load_tech
from simulator.engine.accelerator import ON_CHIP_KINDS, PE_KINDS, replay_trace
from simulator.engine.dram import Dram
from simulator.engine.irregular import IRREGULAR_KINDS, irregular_costs
from simulator.engine.kv_memory import check_capacity, host_share_per_op, run_status
from simulator.engine.offload import NoOffload, OffloadTier
from simulator.engine.result import SimResult
from simulator.engine.vector_unit import VectorUnit
from simulator.tracer.trace_file import Trace

# activations' format -> the GPU precision of kernels without weights (INT4 activations use the INT8 path)
_ACT_PRECISION = {"fp16": "fp16", "bf16": "bf16", "int8": "int8", "int4": "int8"}


def kernel_precision(kind: np.ndarray, weight_bytes: np.ndarray, weight_bits: np.ndarray, act: str) -> np.ndarray:
    """Each kernel's precision as an index into ``GPU_PRECISIONS`` (see ``GpuEfficiency``): the weights'
    format for matrix kernels with weights (4 bits: ``w4a16``, 8 bits: ``int8``), else the activations'."""
    code = {p: np.int8(i) for i, p in enumerate(GPU_PRECISIONS)}
    has_w = np.isin(kind, PE_KINDS) & (weight_bytes > 0)
    out = np.full(len(kind), code[_ACT_PRECISION[act]], dtype=np.int8)
    out[has_w & (weight_bits == 4)] = code["w4a16"]
    out[has_w & (weight_bits == 8)] = code["int8"]
    return out


class Gpu:
    def __init__(self, hw: GpuConfig, tech: TechTable | None = None):
        self.hw = hw
        self.tech = (tech or load_tech()).at(hw.tech_node)
        self.dram = Dram(hw.dram, self.tech)
        self.offload = OffloadTier(hw.offload) if hw.offload is not None else NoOffload()
        self.vector_flops = hw.fp32_tflops * 1e12 * hw.efficiency.vector
        self.l2_bytes = hw.l2_mb * 2**20

    def tensor_peak(self, precision: str, act: str) -> float:
        """Dense tensor-core peak (FLOP/s) a kernel of ``precision`` runs at: W4A16 unpacks its weights and
        multiplies at the activations' rate; a precision the config does not list uses FP16's."""
        peaks = self.hw.tensor_tflops
        key = _ACT_PRECISION[act] if precision == "w4a16" else precision
        return peaks.get(key, peaks.get("fp16", max(peaks.values()))) * 1e12

    def op_costs(self, ev: pd.DataFrame, host_share: np.ndarray | None = None, act: str = "fp16") -> pd.DataFrame:
        """Per-kernel times (s), bytes and dynamic energy (pJ); ``host_share`` as for the accelerator;
        ``act`` is the activations' format (the trace's ``precision.activations``)."""
        kind = ev["kind"].to_numpy()
        fm = ev["flops_matmul"].to_numpy(np.float64)
        # ReSV's clustering and WiCSum run as CUDA-core kernels (element ops as on a vector unit)
        fv = ev["flops_vector"].to_numpy(np.float64) + VectorUnit.retrieval_element_ops(
            kind, ev["hash_compares"].to_numpy(np.float64), ev["m"].to_numpy(np.float64),
            ev["candidates"].to_numpy(np.float64))
        is_mat = np.isin(kind, PE_KINDS + ("retrieval_score",))
        w = ev["bytes_weight_read"].to_numpy(np.float64)
        wbits = ev["weight_bits"].to_numpy(np.int64)
        prec = kernel_precision(kind, w, wbits, act)
        eff = self.hw.efficiency
        # per-precision parameters, looked up by each kernel's precision index
        table = np.array([[eff.at(p).bandwidth, eff.at(p).gemm, eff.at(p).gemm_tile_rows,
                           eff.at(p).dequant_ps_per_weight, self.tensor_peak(p, act)] for p in GPU_PRECISIONS])
        bw_frac, gemm_frac, tile, deq_ps, peak = table[prec].T
        # tile quantisation: above the GEMV size a matrix kernel computes whole tiles of rows (a GEMV: one
        # pass over its rows as they are)
        m = ev["m"].to_numpy(np.float64)
        gemm = m > eff.gemv_max_rows
        tiles = np.where(gemm, np.ceil(m / tile), 1.0)
        padded = np.where(gemm, tiles * tile, m)
        fm_run = np.where(m > 0, fm * padded / np.maximum(m, 1.0), fm)
        compute_s = np.where(is_mat, fm_run / (peak * gemm_frac), 0.0) + fv / self.vector_flops
        # unpacking weight-only formats: a GEMV kernel unpacks each weight once; a GEMM kernel's every row
        # tile unpacks the weight panel it streams
        weight_elems = np.where(wbits > 0, w * 8.0 / np.maximum(wbits, 1), 0.0)
        dequant_s = weight_elems * tiles * deq_ps * 1e-12
        on_chip = np.isin(kind, ON_CHIP_KINDS)
        a_r = np.where(on_chip, 0.0, ev["bytes_act_read"].to_numpy(np.float64))
        a_w = np.where(on_chip, 0.0, ev["bytes_act_write"].to_numpy(np.float64))
        act_dram = np.where(a_r + a_w > self.l2_bytes, a_r + a_w, 0.0)
        act_l2 = (a_r + a_w) - act_dram
        tier = ev["kv_tier"].to_numpy()
        kv = ev["bytes_kv_read"].to_numpy(np.float64) + ev["bytes_kv_write"].to_numpy(np.float64)
        evicted = np.zeros(len(ev)) if host_share is None else np.asarray(host_share, dtype=np.float64)
        kv_dram = np.where(tier == "host", 0.0, kv)
        kv_evicted = kv_dram * evicted
        hc = ev["bytes_hc_read"].to_numpy(np.float64) + ev["bytes_hc_write"].to_numpy(np.float64)
        dram_b = w + kv_dram - kv_evicted + act_dram + hc
        runs = ev["kv_token_runs"].to_numpy(np.float64)  # GPU software keeps tokens in arrival order
        link_r = np.where(tier == "host", ev["bytes_kv_read"].to_numpy(np.float64), 0.0) + kv_evicted
        link_w = np.where(tier == "host", ev["bytes_kv_write"].to_numpy(np.float64), 0.0)
        host_b = link_r + link_w
        # one copy call per KV read or write: the baselines gather the selected tokens into one buffer first
        # (InfiniGen: select_kv on the host into a pinned prefetch buffer, then one copy per K and V; FlexGen:
        # general_copy of the layer's cache slice), so the per-copy setup is paid once, not per token run
        link = self.offload.traffic(link_r, link_w, np.where(tier == "host", runs, 0), copies=1)
        dram_s = dram_b / (self.hw.dram.bandwidth_gbps * 1e9 * bw_frac)
        p = self.hw.power
        e_pe = np.where(is_mat, fm, 0.0) * p.pj_per_flop_tensor
        e_vec = fv * p.pj_per_flop_vector
        e_dram = self.dram.energy_pj(dram_b)
        e_l2 = (act_l2 + dram_b) * 8 * p.l2_pj_per_bit  # everything passes L2
        launch = self.hw.efficiency.kernel_launch_us * 1e-6
        # a kernel's own time; offload transfers run beside it. Unpacking weights is added, not overlapped:
        # the measured W4A16 decode rates are slower than their bytes at FP16's bandwidth (make calibrate)
        dur = np.maximum(compute_s, dram_s) + dequant_s + launch
        # top-k, sorting and clustering run as irregular kernels: several launches and passes over their
        # inputs at measured rates (simulator/engine/irregular.py), not their FLOPs
        irregular = np.isin(kind, IRREGULAR_KINDS)
        if irregular.any():
            elem_b = np.maximum(ev["act_bits"].to_numpy(np.float64), 8.0) / 8.0
            # elements in: the scores it reads (WiCSum's rows x cluster scores, which stay on chip in the trace)
            n_in = np.where(kind == "wicsum", np.maximum(m, 1.0) * ev["candidates"].to_numpy(np.float64),
                            ev["bytes_act_read"].to_numpy(np.float64) / elem_b)
            irr_s = irregular_costs(kind, n_in, elem_b, self.hw.dram.bandwidth_gbps * 1e9, launch)
            dur = np.where(irregular, np.maximum(dur, irr_s), dur)
        dyn_pj = e_pe + e_vec + e_dram + e_l2  # the module's own power (the SSD and host memory are outside it)
        cap_w = max(p.mode_w - p.static_w, 1e-9)
        dur = np.maximum(dur, dyn_pj * 1e-12 / cap_w)  # power cap of the mode
        return pd.DataFrame({
            "unit": np.where(is_mat, "tensor", "cuda"), "precision": pd.Categorical.from_codes(prec, GPU_PRECISIONS),
            "compute_s": compute_s,
            "dequant_s": dequant_s,
            "mem_s": dram_s + link["link_read_s"] + link["link_write_s"], "dur_s": dur, **link,
            "dram_bytes": dram_b, "host_bytes": host_b,
            "e_pe_pj": e_pe, "e_sram_pj": e_l2, "e_dram_pj": e_dram, "e_vector_pj": e_vec,
            "e_dre_pj": 0.0, "e_noc_pj": 0.0, "e_control_pj": 0.0,
        })


def activation_precision(meta: dict) -> str:
    """The trace's activations' format; traces written before the format names were stored carry only
    bits, and 16-bit activations there are FP16 (the tracer's default then)."""
    prec = meta.get("precision")
    if prec is not None:
        return prec["activations"]
    bits = meta["precision_bits"]["activation"]
    return {16: "fp16", 8: "int8", 4: "int4"}[bits]


def simulate_gpu(trace: Trace, hw: GpuConfig, tech: TechTable | None = None) -> SimResult:
    """Replay ``trace`` on GPU ``hw``.

    Kernels run one after another on the compute stream. Without offloaded KV that is all (each kernel
    ends when the previous one's time is added). With it, KV transfers to and from the offload tier run on
    a copy engine beside the compute stream (a second CUDA stream), in program order, with the next
    layer's selection and fetch issued one layer ahead as the baselines do (FlexGen, InfiniGen, ReKV
    prefetch); a kernel that needs fetched KV waits for it (the same replay as the accelerator's).
    """
    gpu = Gpu(hw, tech)
    ev = trace.events
    weight_bytes = trace.meta.get("weight_bytes_llm", 0) + trace.meta.get("weight_bytes_vision", 0)
    peak = max(hw.tensor_tflops.get(p, 0.0) for p in ("fp16", "bf16"))
    status = run_status(ev, trace.kv_tokens, trace.meta, gpu.dram.capacity_bytes, weight_bytes, hw.offload is not None)
    if status != "ok":
        return SimResult(hardware=hw.name, kind="gpu", ops=pd.DataFrame(), area_mm2={"soc": hw.die_area_mm2},
                         leakage_w=0.0, total_s=float("nan"), notes=[status], status=status, peak_tflops=peak)
    share = host_share_per_op(ev, trace.kv_tokens, trace.meta, gpu.dram.capacity_bytes - weight_bytes)
    costs = gpu.op_costs(ev, share, activation_precision(trace.meta))
    ops = pd.concat([ev[["phase", "frame", "question", "step", "layer", "op", "kind"]].copy(), costs], axis=1)
    dur = costs["dur_s"].to_numpy()
    link_r, link_w = costs["link_read_s"].to_numpy(), costs["link_write_s"].to_numpy()
    if not (link_r.any() or link_w.any()):
        end = np.cumsum(dur)
        ops["end_s"] = end
        ops["start_s"] = end - dur
    else:
        kind = ev["kind"].to_numpy()
        copy = np.isin(kind, ("kv_read", "kv_write")) & ((link_r > 0) | (link_w > 0))
        ops.loc[copy, "unit"] = "copy"
        launch = hw.efficiency.kernel_launch_us * 1e-6
        compute = np.where(copy, launch, dur)
        zeros = np.zeros(len(ev))
        t = replay_trace(ev, zeros, compute, zeros, copy.astype(np.int64), 2, costs, prefetch=True)
        ops["start_s"] = np.minimum(t["read_start"], t["compute_start"])
        ops["end_s"] = np.maximum(t["compute_end"], t["write_end"])
    ops["bound"] = np.where(ops["compute_s"] >= ops["mem_s"], "compute", "bandwidth")
    cap = check_capacity(trace.kv_tokens, trace.meta, gpu.dram.capacity_bytes, weight_bytes)
    notes = []
    if cap.overflow_frame is not None:
        notes.append(f"KV cache exceeds DRAM after frame {cap.overflow_frame} (t = {cap.overflow_time_s:.1f} s): "
                     "the oldest KV is evicted to the offload tier and read back over the link")
    total = float(ops["end_s"].max()) if len(ops) else 0.0
    if cap.overflow_frame is not None:
        ops.loc[(share > 0) & (ops["host_bytes"] > 0), "bound"] = "capacity"
    util = {}
    if total > 0:
        util = {u: float(v) for u, v in (ops.groupby("unit")["compute_s"].sum() / total).items()}
        util["dram"] = float((ops["mem_s"] - ops["link_read_s"] - ops["link_write_s"]).sum() / total)
        util["offload_link"] = float((ops["link_read_s"] + ops["link_write_s"]).sum() / total)
    return SimResult(hardware=hw.name, kind="gpu", ops=ops, area_mm2={"soc": hw.die_area_mm2},
                     leakage_w=hw.power.static_w + gpu.offload.idle_w, total_s=total, notes=notes,
                     capacity=cap.as_dict(), utilisation=util, peak_tflops=peak)
