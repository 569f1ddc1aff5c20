"""An Orin-like GPU as a platform: tensor cores, CUDA cores, a copy engine, DRAM (and an offload tier).

Kernels run one after another in stream order (as a single CUDA stream does). A kernel's time is
``max(compute, memory) + dequantisation + launch overhead``, with the efficiencies of its precision
(``GpuEfficiency``: the weights' format for kernels with weights, the activations' otherwise): compute at
the achieved fraction of the tensor-core peak (matrix ops, rows padded to whole tiles above the GEMV
size, ``tensor_cores.py``) or of the CUDA-core peak (vector ops, ``cuda_cores.py``); memory at the achieved
fraction of DRAM bandwidth; weight-only formats (W4A16) add the time to unpack their weights. Activations of
a kernel stay in L2 when its inputs and outputs fit; attention is fused (scores stay in shared memory), as
in FlashAttention-class kernels. Energy is static power over time, busy power over each kernel's time, plus
per-FLOP and per-bit dynamic energy; a kernel whose power would exceed the power mode is slowed to the cap.

With offloaded KV, transfers to and from the offload tier run on a copy engine beside the compute stream
(a second CUDA stream), in program order, with the next layer's selection and fetch issued one layer ahead
as the baselines do (FlexGen, InfiniGen, ReKV prefetch); a kernel that needs fetched KV waits for it (the
same replay as the accelerator's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.config.hardware import GPU_PRECISIONS, GpuConfig
from simulator.config.tech import TechTable
from simulator.engine.memory.dram import Dram
from simulator.engine.memory.offload import NoOffload, OffloadTier
from simulator.engine.ops import ON_CHIP_KINDS, TRANSFER_KINDS, OpArrays
from simulator.engine.platform import Platform, Price, default_tech, names_column, register_unit
from simulator.engine.replay.discrete_event import Durations
from simulator.engine.replay.plan import trace_plan
from simulator.engine.units.copy_engine import CopyEngine
from simulator.engine.units.cuda_cores import CudaCores
from simulator.engine.units.irregular import IRREGULAR_KINDS, irregular_costs
from simulator.engine.units.tensor_cores import TensorCores


class GpuPlatform(Platform):
    kind = "gpu"
    energy_parts = ("dpe", "sram", "dram", "offload", "vpe", "dre", "noc", "control")

    def __init__(self, hw: GpuConfig, tech: TechTable | None = None):
        self.hw, self.name = hw, hw.name
        self.tech = (tech or default_tech()).at(hw.tech_node)
        self.cores = 1
        self.dram = Dram(hw.dram, self.tech)
        self.offload_cfg = OffloadTier(hw.offload) if hw.offload is not None else NoOffload()
        self.offload = self.offload_cfg  # as the trace's KV policy moves KV (``for_trace``: its kv_transfer)
        self.l2_bytes = hw.l2_mb * 2**20
        self.act = "fp16"  # the activations' format; set per trace by ``for_trace``
        self.build_units()
        self.peak_flops = max(hw.tensor_tflops.get(p, 0.0) for p in ("fp16", "bf16")) * 1e12
        self.prefetch = True  # the baselines fetch one layer ahead
        self.resv_head_launches = 1  # launches per call of ReSV's per-layer kernels; set per trace (for_trace)
        # the tensor and CUDA cores share one CUDA stream; the copy engine is a second one
        self.executors = {"tensor": 0, "cuda": 0, "copy": 1}

    @property
    def has_offload(self) -> bool:
        return self.hw.offload is not None

    def for_trace(self, meta: dict) -> "GpuPlatform":
        self.act = activation_precision(meta)
        # ReSV in software: its per-layer kernels launched once per KV head (``resv_launches``)
        per_head = meta.get("kv_policy") == "resv" and self.hw.resv_launches == "per_kv_head"
        self.resv_head_launches = int(meta.get("kv_heads", 1)) if per_head else 1
        self.offload = self.offload_cfg.with_transfer(meta.get("kv_transfer"))
        return self

    def tech_prefixes(self) -> tuple[str, ...]:
        # a GPU's own power model is in its config; the table gives only its DRAM's energy per bit
        return (f"dram_pj_per_bit.{self.hw.dram.type}",)

    def memory_prices(self) -> dict[str, Price]:
        p = self.hw.power
        # "kernel_ps": a picosecond of a kernel running costs busy_w pJ (1 W x 1 ps = 1 pJ), part "control"
        # (the clocks, schedulers and issue logic a running kernel keeps busy, whatever it moves or computes)
        return {"dram_bit": Price("dram", self.dram.pj_per_bit, f"dram_pj_per_bit.{self.hw.dram.type}"),
                "l2_bit": Price("sram", p.l2_pj_per_bit, "power.l2_pj_per_bit"),
                "kernel_ps": Price("control", p.busy_w, "power.busy_w"), **self.offload.prices()}

    def op_costs(self, ev: pd.DataFrame, offload_share: np.ndarray | None = None, act: str | None = None
                 ) -> pd.DataFrame:
        """Per-kernel times (s), bytes and dynamic energy (pJ); ``offload_share`` as for the accelerator;
        ``act`` is the activations' format (the trace's ``precision.activations``; default: ``for_trace``'s)."""
        if act is not None:
            self.act = act
        plan = trace_plan(ev)  # the units cost each distinct op row once
        ops = OpArrays.from_events(ev, kind=plan.kind(), tier=plan.tier())
        kind, tier = ops.kind, ops.tier
        unit_u = self.assign(plan.unique.kind)
        time_u, actions_u, extra_u = self.unit_costs(plan.unique, unit_u)
        inv = plan.inverse
        compute_s = time_u[inv]
        actions = {name: count[inv] for name, count in actions_u.items()}
        extra = {name: col[inv] for name, col in extra_u.items()}
        prec = extra["precision"]
        dequant_s = extra["dequant_s"]
        bw_frac = np.array([self.hw.stack.at(p).bandwidth for p in GPU_PRECISIONS])[prec]
        w = ops["bytes_weight_read"]
        on_chip = np.isin(kind, ON_CHIP_KINDS)
        a_r = np.where(on_chip, 0.0, ops["bytes_act_read"])
        a_w = np.where(on_chip, 0.0, ops["bytes_act_write"])
        act_dram = np.where(a_r + a_w > self.l2_bytes, a_r + a_w, 0.0)
        act_l2 = (a_r + a_w) - act_dram
        kv = ops["bytes_kv_read"] + ops["bytes_kv_write"]
        evicted = np.zeros(len(ev)) if offload_share is None else np.asarray(offload_share, dtype=np.float64)
        kv_dram = np.where(tier == "offload", 0.0, kv)
        kv_evicted = kv_dram * evicted
        hc = ops["bytes_hc_read"] + ops["bytes_hc_write"]
        dram_b = w + kv_dram - kv_evicted + act_dram + hc
        runs = ops["kv_token_runs"]  # GPU software keeps tokens in arrival order
        link_r = np.where(tier == "offload", ops["bytes_kv_read"], 0.0) + kv_evicted
        link_w = np.where(tier == "offload", ops["bytes_kv_write"], 0.0)
        offload_b = link_r + link_w
        # copy calls per KV read or write as the policy's code issues them (its kv_transfer: FlexGen and
        # InfiniGen gather first, then a K and a V copy; ReKV a K and a V copy per block), each paying the setup
        link = self.offload.traffic(link_r, link_w, np.where(tier == "offload", runs, 0),
                                    copies=self.offload.copy_calls(runs))
        dram_s = dram_b / (self.hw.dram.bandwidth_gbps * 1e9 * bw_frac)
        actions.update({"dram_bit": dram_b * 8, "l2_bit": (act_l2 + dram_b) * 8,  # everything passes L2
                        **self.offload.actions(link_r, link_w)})
        energy = self.price(actions, len(ops))
        # ReSV's per-layer kernels (RESV_LAYER_OPS) run once per KV head in a software implementation that loops
        # over heads (``resv_launches``): each call pays that many launches
        launch = self.hw.stack.kernel_launch_us * 1e-6 * np.where(
            np.isin(ev["op"].to_numpy(), RESV_LAYER_OPS), self.resv_head_launches, 1)
        # a kernel's own time; offload transfers run beside it. Unpacking weights is added, not overlapped:
        # the measured W4A16 decode rates are slower than their bytes at FP16's bandwidth (make calibrate)
        dur = np.maximum(compute_s, dram_s) + dequant_s + launch
        # top-k, sorting and clustering run as irregular kernels: several launches and passes over their
        # inputs at measured rates (simulator/engine/units/irregular.py), not their FLOPs
        irregular = np.isin(kind, IRREGULAR_KINDS)
        if irregular.any():
            elem_b = np.maximum(ops["act_bits"], 8.0) / 8.0
            # elements in: the scores it reads (WiCSum's rows x cluster scores, which stay on chip in the trace)
            n_in = np.where(kind == "wicsum", np.maximum(ops["m"], 1.0) * ops["candidates"],
                            ops["bytes_act_read"] / elem_b)
            irr_s = irregular_costs(kind, n_in, elem_b, self.hw.dram.bandwidth_gbps * 1e9, launch)
            dur = np.where(irregular, np.maximum(dur, irr_s), dur)
        # the module's own power (the SSD and host memory are outside it) may not exceed the power mode: while
        # a kernel runs the GPU draws static_w + busy_w + its work's energy over its time
        dyn_pj = energy["e_dpe_pj"] + energy["e_vpe_pj"] + energy["e_dram_pj"] + energy["e_sram_pj"]
        p = self.hw.power
        cap_w = max(p.mode_w - p.static_w - p.busy_w, 1e-9)
        dur = np.maximum(dur, dyn_pj * 1e-12 / cap_w)
        # KV moves over PCIe are issued to the copy engine
        copy = np.isin(kind, TRANSFER_KINDS) & ((link["link_read_s"] > 0) | (link["link_write_s"] > 0))
        codes, names = pd.factorize(np.r_[unit_u, np.array(["copy"], dtype=object)])
        unit = names_column(np.where(copy, codes[-1], codes[:-1][inv]), names)
        # busy power over each kernel's own time (known only now, after the cap); a copy-engine transfer runs
        # no kernel, so a stall on PCIe costs static power only. Priced by the same table and step.
        busy = self.price({"kernel_ps": np.where(copy, 0.0, dur) * 1e12}, len(ops))
        energy = {k: energy[k] + busy[k] for k in energy}
        return pd.DataFrame({
            "unit": unit, "precision": pd.Categorical.from_codes(prec, GPU_PRECISIONS),
            "compute_s": compute_s, "dequant_s": dequant_s, "dram_s": dram_s,
            "mem_s": dram_s + link["link_read_s"] + link["link_write_s"], "dur_s": dur, **link,
            "dram_bytes": dram_b, "offload_bytes": offload_b, **energy,
        }, copy=False)

    def durations(self, costs: pd.DataFrame) -> Durations:
        """A kernel occupies its stream for its whole time; a copy-engine transfer costs the compute stream
        nothing and the copy engine a launch, while its bytes move on the offload link."""
        copy = (costs["unit"] == "copy").to_numpy(dtype=bool)
        launch = self.hw.stack.kernel_launch_us * 1e-6
        return Durations.of(np.where(copy, launch, costs["dur_s"].to_numpy()),
                            link_read_s=costs["link_read_s"].to_numpy(), link_write_s=costs["link_write_s"].to_numpy(),
                            link_latency_s=costs["link_read_latency_s"].to_numpy())

    def area_mm2(self) -> dict[str, float]:
        return {"soc": self.hw.die_area_mm2}

    def area_per_core_mm2(self) -> dict[str, float]:
        return {}

    def peak_power_per_core_w(self) -> dict[str, float]:
        return {}

    def leakage_w(self) -> float:
        return self.hw.power.static_w + self.offload.idle_w

    def overflow_note(self, cap, share: np.ndarray) -> str:
        return (f"KV cache exceeds DRAM after frame {cap.overflow_frame} (t = {cap.overflow_time_s:.1f} s): "
                "the oldest KV is evicted to the offload tier and read back over the link")


def activation_precision(meta: dict) -> str:
    """The trace's activations' format; traces written before the format names were stored carry only
    bits, and 16-bit activations there are FP16 (the tracer's default then)."""
    prec = meta.get("precision")
    if prec is not None:
        return prec["activations"]
    bits = meta["precision_bits"]["activation"]
    return {16: "fp16", 8: "int8", 4: "int4"}[bits]


# ReSV's kernels that the trace records once per layer (the hash projection, Hamming clustering and the HC-table
# update, simulator/kvpolicy/resv_store.py); scoring, WiCSum and the gathers are recorded per KV head already
RESV_LAYER_OPS = ("hash_proj", "cluster", "hc_update")


# The GPU's units: tensor cores run the matrix kinds (and InfiniGen's / ReKV's scoring); CUDA cores everything
# else; the copy engine moves KV over PCIe (ops with offload traffic are issued to it, see ``op_costs``).
register_unit("gpu", "cuda", lambda p: CudaCores(p.hw))
register_unit("gpu", "tensor", lambda p: TensorCores(p.hw, lambda: p.act))
register_unit("gpu", "copy", lambda p: CopyEngine(p.hw))
