"""The end-to-end path: workload -> trace -> accelerator and baseline replays -> metrics -> report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.config.hardware import AcceleratorConfig, GpuConfig, load_hardware
from simulator.config.tech import DEFAULT_TECH, load_tech
from simulator.config.workload import WorkloadConfig, load_workload
from simulator.engine.replay.discrete_event import DEFAULT_ENGINE
from simulator.engine.result import SimResult, phase_energy_col, phase_energy_parts
from simulator.engine.simulate import simulate
from simulator.errors import ConfigError
from simulator.results.metrics import chip_blocks, phase_comparison, stream_metrics
from simulator.results.report import Report
from simulator.stream import Trace, trace_workload
from simulator.tracer.trace_file import read_trace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HW = "hwconfigs/vrex8-edge.yaml"  # the paper's edge system (V-Rex, arXiv 2512.12284, Table I)
DEFAULT_BASELINE = "hwconfigs/orin-agx-32gb.yaml"  # the paper's edge baseline
DEFAULT_WORKLOAD = "workloads/coin-avg-resv.yaml"  # the average COIN case, V-Rex running ReSV
DEFAULT_BASELINE_WORKLOAD = "workloads/coin-avg-flexgen.yaml"  # the same case, the GPU running FlexGen


def resolve(path: str | Path) -> Path:
    """A path as given if it exists, else relative to the project root (so defaults work anywhere)."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    alt = ROOT / p
    return alt if alt.exists() else p


def bound_share(res: SimResult) -> dict[str, float]:
    """Share of op time (max of compute and memory per op) that is compute-, bandwidth- or capacity-bound."""
    if not res.ok:
        return {}
    t = res.ops[["compute_s", "mem_s"]].max(axis=1)
    tot = float(t.sum())
    return {b: float(v / tot) for b, v in t.groupby(res.ops["bound"]).sum().items()} if tot > 0 else {}


def run_assumptions(*results: SimResult) -> list[dict]:
    """The non-measured technology entries every result rests on, once each, with the hardware using it."""
    out: dict[str, dict] = {}
    for r in results:
        for a in r.assumptions:
            out.setdefault(a["entry"], {**a, "hardware": []})["hardware"].append(r.hardware)
    return list(out.values())


@dataclass
class RunOutput:
    report: Report
    accel: SimResult
    baseline: SimResult
    trace: Trace
    accel_config: AcceleratorConfig
    accel_phases: pd.DataFrame  # phase_table of the accelerator run
    baseline_phases: pd.DataFrame


def run(hw_path=DEFAULT_HW, baseline_path=DEFAULT_BASELINE, workload_path=DEFAULT_WORKLOAD, *,
        trace_path=None, mode: str = "meta", tech_path=DEFAULT_TECH, progress: bool = False,
        workload: WorkloadConfig | None = None, hw=None, baseline=None, trace: Trace | None = None,
        baseline_workload_path=None, engine: str = DEFAULT_ENGINE) -> RunOutput:
    """Simulate a workload (or a saved trace) on ``hw`` and the baseline; objects override paths.

    ``baseline_workload_path``: the baseline runs its own workload (e.g. the same stream with FlexGen); by
    default it runs the accelerator's trace. ``engine``: the replay engine (``compiled`` or ``simpy``)."""
    hw = hw or load_hardware(resolve(hw_path))
    baseline = baseline or load_hardware(resolve(baseline_path))
    if not isinstance(hw, AcceleratorConfig):
        raise ConfigError(str(hw_path), "kind", "the --hw config must be kind 'accelerator'")
    if not isinstance(baseline, GpuConfig):
        raise ConfigError(str(baseline_path), "kind", "the --baseline config must be kind 'gpu'")
    tech = load_tech(resolve(tech_path))
    if trace is None:
        if trace_path is not None:
            trace = read_trace(resolve(trace_path))
        else:
            wl_path = resolve(workload_path)
            workload = workload or load_workload(wl_path)
            trace = trace_workload(workload, mode=mode, progress=progress, source=str(wl_path))
    acc = simulate(trace, hw, tech, engine=engine)
    base_trace = trace
    if baseline_workload_path is not None:
        bpath = resolve(baseline_workload_path)
        base_trace = trace_workload(load_workload(bpath), mode=mode, progress=progress, source=str(bpath))
    base = simulate(base_trace, baseline, tech, engine=engine)
    meta, base_meta = trace.record, base_trace.record
    fps = meta.fps
    am, apt = stream_metrics(acc, fps)
    bm, bpt = stream_metrics(base, fps)
    comp = phase_comparison(bpt, apt)
    energy = {p: float(apt[phase_energy_col(p)].sum()) for p in phase_energy_parts(apt.columns)}
    policy = meta.kv_policy
    if base_trace is not trace:
        policy = f"{policy} (baseline: {base_meta.kv_policy})"
    rep = Report(workload=meta.workload, model=meta.model, kv_policy=policy,
                 stream_fps=fps, frames=meta.frames, questions=len(meta.questions),
                 trace_events=len(trace.events), trace_mode=meta.mode, accel=am, baseline=bm,
                 comparison=comp, area_breakdown=dict(acc.area_mm2), energy_breakdown=energy,
                 utilisation={acc.hardware: acc.utilisation, base.hardware: base.utilisation},
                 bound_share={r.hardware: bound_share(r) for r in (acc, base)},
                 notes=[f"{acc.hardware}: {n}" for n in acc.notes] + [f"{base.hardware}: {n}" for n in base.notes],
                 chip=chip_blocks(acc) if acc.ok else {}, assumptions=run_assumptions(acc, base))
    return RunOutput(report=rep, accel=acc, baseline=base, trace=trace, accel_config=hw, accel_phases=apt,
                     baseline_phases=bpt)
