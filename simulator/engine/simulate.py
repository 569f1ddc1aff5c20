"""One simulation path for every platform: trace -> op costs -> replay -> per-op results."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.config.hardware import AcceleratorConfig, GpuConfig
from simulator.config.tech import TechTable
from simulator.engine.accelerator import AcceleratorPlatform
from simulator.engine.gpu import GpuPlatform
from simulator.engine.kv_memory import check_capacity, offload_share_per_op, run_status
from simulator.engine.ops import TRANSFER_KINDS
from simulator.engine.platform import Platform, names_column
from simulator.engine.replay import DEFAULT_ENGINE, REPLAY_ENGINES, replay_trace
from simulator.engine.result import SimResult
from simulator.tracer.trace_file import Trace

PLATFORMS = {"accelerator": AcceleratorPlatform, "gpu": GpuPlatform}  # config kind -> platform


def build_platform(hw: AcceleratorConfig | GpuConfig, tech: TechTable | None = None) -> Platform:
    return PLATFORMS[hw.kind](hw, tech)


def simulate(trace: Trace, hw: AcceleratorConfig | GpuConfig | Platform, tech: TechTable | None = None, *,
             engine: str = DEFAULT_ENGINE) -> SimResult:
    """Replay ``trace`` on a hardware config (or a built platform); per-op timing and energy, area, notes.
    ``engine``: ``compiled`` (default) or ``simpy`` (the reference model; the same times).

    A point that cannot run (weights or KV beyond memory, an offloading policy without an offload tier)
    comes back with its ``status`` and no ops."""
    if engine not in REPLAY_ENGINES:
        raise ValueError(f"unknown replay engine {engine!r}; known: {', '.join(REPLAY_ENGINES)}")
    p = hw if isinstance(hw, Platform) else build_platform(hw, tech)
    if isinstance(p, GpuPlatform):
        p.for_trace(trace.meta)
    ev = trace.events
    weight_bytes = trace.meta.get("weight_bytes_llm", 0) + trace.meta.get("weight_bytes_vision", 0)
    base = dict(hardware=p.name, kind=p.kind, area_mm2=p.area_mm2(), area_per_core_mm2=p.area_per_core_mm2(),
                peak_tflops=p.peak_flops / 1e12, cores=p.cores, leakage_mw_per_mm2=p.tech.leakage_mw_per_mm2()
                if p.kind == "accelerator" else 0.0, peak_power_per_core_w=p.peak_power_per_core_w(),
                assumptions=p.assumptions())
    status = run_status(ev, trace.kv_tokens, trace.meta, p.dram.capacity_bytes, weight_bytes, p.has_offload)
    if status != "ok":
        return SimResult(ops=pd.DataFrame(), leakage_w=0.0, total_s=float("nan"), notes=[status], status=status,
                         **base)
    share = offload_share_per_op(ev, trace.kv_tokens, trace.meta, p.dram.capacity_bytes - weight_bytes)
    costs = p.op_costs(ev, share)
    unit_idx = p.unit_index(costs["unit"])
    t = replay_trace(ev, p.durations(costs), unit_idx, max(p.executors.values()) + 1, prefetch=p.prefetch,
                     engine=engine)
    ops = pd.concat([ev[["phase", "frame", "question", "step", "layer", "op", "kind"]].copy(), costs], axis=1)
    ops["compute_start_s"] = t["compute_start"]
    ops["compute_end_s"] = t["compute_end"]
    ops["start_s"] = np.minimum(t["read_start"], t["compute_start"])
    ops["end_s"] = np.maximum(t["compute_end"], t["write_end"])
    ops["mem_s"] = ops["dram_s"] + ops["link_read_s"] + ops["link_write_s"]
    ops["bound"] = names_column(np.where(ops["compute_s"] >= ops["mem_s"], 0, 1), ("compute", "bandwidth"),
                                str)
    cap = check_capacity(trace.kv_tokens, trace.meta, p.dram.capacity_bytes, weight_bytes)
    notes = []
    if cap.overflow_frame is not None:
        notes.append(p.overflow_note(cap, share))
        ops.loc[(share > 0) & (ops["offload_bytes"] > 0), "bound"] = "capacity"
    total = float(ops["end_s"].max()) if len(ops) else 0.0
    return SimResult(ops=ops, leakage_w=p.leakage_w(), total_s=total, notes=notes, capacity=cap.as_dict(),
                     utilisation=utilisation(p, ops, total), **base)


def utilisation(p: Platform, ops: pd.DataFrame, total_s: float) -> dict[str, float]:
    """Busy share of the run for each compute unit (its compute time), DRAM and the offload link (their
    transfer time); units that only move KV are counted on the link."""
    if total_s <= 0:
        return {}
    movers = {u.name for u in p.units if set(u.kinds) <= set(TRANSFER_KINDS)}
    busy = ops.groupby("unit")["compute_s"].sum() / total_s
    out = {u: float(v) for u, v in busy.items() if u not in movers}
    out["dram"] = float(ops["dram_s"].sum() / total_s)
    out["offload_link"] = float((ops["link_read_s"] + ops["link_write_s"]).sum() / total_s)
    return out
