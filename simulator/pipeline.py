"""The end-to-end path: workload -> trace -> accelerator and baseline replays -> metrics -> report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.config.hardware import AcceleratorConfig, GpuConfig, load_hardware
from simulator.config.overrides import apply, load_hardware_with, load_workload_with
from simulator.config.schema import load_yaml
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


def shipped(folder: str) -> list[str]:
    """Names of the configs shipped in ``folder`` (e.g. 'hwconfigs', 'workloads', 'workloads/models')."""
    return sorted(p.stem for p in (ROOT / folder).glob("*.yaml"))


def resolve_config(path: str | Path, folder: str, source: str) -> Path:
    """A config file by path (as given, then from the project root) or by name from the shipped set in
    ``folder`` (``vrex8-edge`` -> hwconfigs/vrex8-edge.yaml); a one-line error lists the shipped names."""
    p = resolve(path)
    if p.is_file():
        return p
    for cand in (ROOT / folder / f"{path}", ROOT / folder / f"{path}.yaml"):
        if cand.is_file():
            return cand
    raise ConfigError(source, "", f"'{path}': no such file, nor a shipped config in {folder}/; shipped: "
                      f"{', '.join(shipped(folder))}")


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


SAME = "same"  # --baseline-workload same: the baseline runs the accelerator's own trace (policy included)
PAPER_BASELINE_POLICY = "flexgen"  # the paper's GPU baseline runs FlexGen on the same stream (V-Rex, arXiv 2512.12284)
# what two streams must share to be compared (everything but the KV policy); keys of the trace's metadata
STREAM_KEYS = ("model", "frames", "fps", "questions", "kv_prefill_tokens", "batch", "precision")


@dataclass
class RunOutput:
    report: Report
    accel: SimResult
    baseline: SimResult
    trace: Trace
    accel_config: AcceleratorConfig
    accel_phases: pd.DataFrame  # phase_table of the accelerator run
    baseline_phases: pd.DataFrame
    baseline_trace: Trace | None = None  # the baseline's trace (the accelerator's one under 'same')


def check_same_stream(acc_meta: dict, base_meta: dict, source: str) -> None:
    """Raise ConfigError unless the two traces replay the same stream (they may differ in the KV policy only):
    a comparison of a 10K-token cache against a 40K one is no comparison."""
    for k in STREAM_KEYS:
        if acc_meta.get(k) != base_meta.get(k):
            raise ConfigError(source, k, f"the baseline's stream differs from the accelerator's ({k}: "
                              f"{_short(base_meta.get(k))} vs {_short(acc_meta.get(k))}); a comparison may differ "
                              "in the KV policy only (force it with --force-baseline / force=True)")


def _short(v) -> str:
    t = repr(v)
    return t if len(t) <= 50 else t[:47] + "..."


def baseline_workload_of(workload: WorkloadConfig, baseline_workload=None, *, source: str = "baseline_workload"):
    """The workload the baseline runs: None -> the paper's (``workload`` with FlexGen, same stream and cache);
    ``'same'`` -> ``workload`` itself; a path or a WorkloadConfig -> that workload."""
    from simulator.config.workload import KvPolicyConfig

    if baseline_workload is None:
        return workload.replace(kv_policy=KvPolicyConfig(name=PAPER_BASELINE_POLICY))
    if isinstance(baseline_workload, WorkloadConfig):
        return baseline_workload
    if str(baseline_workload) == SAME:
        return workload
    return load_workload(resolve_config(baseline_workload, "workloads", source))


def describe_baseline(acc_meta: dict, base_meta: dict, baseline_workload) -> str:
    """One phrase naming the baseline's policy and workload (the report's header line says it)."""
    pol = base_meta["kv_policy"]
    if baseline_workload is None:
        return f"{pol} on {acc_meta['workload']}'s stream (the paper's baseline)"
    if str(baseline_workload) == SAME and not isinstance(baseline_workload, WorkloadConfig):
        return f"{pol} on {acc_meta['workload']} (the accelerator's own workload: --baseline-workload same)"
    return f"{pol} on {base_meta['workload']}"


def load_run_configs(hw, baseline, workload, baseline_workload, overrides: list, *,
                     need_workload: bool = True):
    """(accelerator, baseline GPU, workload or None, baseline workload) for a comparison, each found by path or
    shipped name and with its ``--set`` overrides applied. The baseline workload is None (the paper's: FlexGen
    on the accelerator's stream), ``'same'`` or a WorkloadConfig; ``baseline_workload.*`` overrides without a
    baseline file start from the accelerator's workload under FlexGen."""
    hw_cfg = load_hardware_with(resolve_config(hw or DEFAULT_HW, "hwconfigs", "--hw"), overrides, "hw")
    base_cfg = load_hardware_with(resolve_config(baseline or DEFAULT_BASELINE, "hwconfigs", "--baseline"),
                                  overrides, "baseline")
    wl = None
    wl_path = resolve_config(workload or DEFAULT_WORKLOAD, "workloads", "--workload")
    if need_workload:
        wl = load_workload_with(wl_path, overrides, "workload")
    has_bwl_ov = any(o.role == "baseline_workload" for o in overrides)
    if baseline_workload is None or baseline_workload == SAME:
        if has_bwl_ov:
            if baseline_workload == SAME:
                raise ConfigError("--set", "baseline_workload", "cannot change --baseline-workload same (the "
                                  "accelerator's own trace); override workload.* or give a baseline workload file")
            data, _ = apply(load_yaml(wl_path), [o for o in overrides if o.role == "workload"], "workload")
            data["kv_policy"] = {"name": PAPER_BASELINE_POLICY}
            return hw_cfg, base_cfg, wl, load_workload_with(wl_path, overrides, "baseline_workload", base=data)
        return hw_cfg, base_cfg, wl, baseline_workload
    bpath = resolve_config(baseline_workload, "workloads", "--baseline-workload")
    if not has_bwl_ov:
        return hw_cfg, base_cfg, wl, str(bpath)  # loaded by run; its errors name the file
    return hw_cfg, base_cfg, wl, load_workload_with(bpath, overrides, "baseline_workload")


def run(hw_path=DEFAULT_HW, baseline_path=DEFAULT_BASELINE, workload_path=None, *,
        trace_path=None, mode: str = "meta", tech_path=DEFAULT_TECH, progress: bool = False,
        workload: WorkloadConfig | None = None, hw=None, baseline=None, trace: Trace | None = None,
        baseline_workload=None, baseline_trace: Trace | None = None, force: bool = False,
        engine: str = DEFAULT_ENGINE) -> RunOutput:
    """Simulate a workload (or a saved trace) on ``hw`` and the baseline; objects override paths.

    ``baseline_workload``: what the baseline GPU runs. None (default): the paper's baseline, FlexGen on the
    accelerator's stream and cache, whatever the accelerator's policy; ``'same'``: the accelerator's own trace;
    a workload path or WorkloadConfig: that workload, which must be the same stream (model, frames, questions,
    cache size, precision) unless ``force``. ``baseline_trace`` gives the baseline's trace ready-made (sweeps
    cache it). A saved trace (``trace_path``/``trace``) needs its ``workload`` (or ``workload_path``) to
    re-trace the baseline's FlexGen run, unless ``baseline_workload`` says otherwise.
    ``engine``: the replay engine (``compiled`` or ``simpy``)."""
    hw = hw or load_hardware(resolve_config(hw_path, "hwconfigs", "--hw"))
    baseline = baseline or load_hardware(resolve_config(baseline_path, "hwconfigs", "--baseline"))
    if not isinstance(hw, AcceleratorConfig):
        raise ConfigError(str(hw_path), "kind", "the --hw config must be kind 'accelerator'")
    if not isinstance(baseline, GpuConfig):
        raise ConfigError(str(baseline_path), "kind", "the --baseline config must be kind 'gpu'")
    tech = load_tech(resolve(tech_path))
    wl_src = f"workload '{workload.name}'" if workload is not None else str(workload_path or DEFAULT_WORKLOAD)
    if workload is None and (workload_path is not None or (trace is None and trace_path is None)):
        wl_path = resolve_config(workload_path or DEFAULT_WORKLOAD, "workloads", "--workload")
        workload, wl_src = load_workload(wl_path), str(wl_path)
    if trace is None:
        if trace_path is not None:
            trace = read_trace(resolve(trace_path))
        else:
            trace = trace_workload(workload, mode=mode, progress=progress, source=wl_src)
    acc = simulate(trace, hw, tech, engine=engine)
    base_trace = baseline_trace
    if base_trace is None:
        if baseline_workload is not None and str(baseline_workload) == SAME \
                and not isinstance(baseline_workload, WorkloadConfig):
            base_trace = trace
        else:
            if workload is None:
                raise ConfigError(str(trace_path or "trace"), "workload", "a saved trace carries no workload to "
                                  "re-trace for the baseline's FlexGen run; give the workload it was made from "
                                  "(--workload), a baseline workload (--baseline-workload FILE) or "
                                  "--baseline-workload same")
            bwl = baseline_workload_of(workload, baseline_workload)
            if bwl == workload and trace_path is None:  # e.g. an accelerator already running FlexGen
                base_trace = trace
            else:
                base_trace = trace_workload(bwl, mode=mode, progress=progress,
                                            source=str(baseline_workload or wl_src))
    if not force:
        src = (f"baseline workload '{baseline_workload.name}'" if isinstance(baseline_workload, WorkloadConfig)
               else str(baseline_workload or "baseline workload"))
        check_same_stream(trace.meta, base_trace.meta, src)
    base = simulate(base_trace, baseline, tech, engine=engine)
    meta, base_meta = trace.record, base_trace.record
    fps = meta.fps
    am, apt = stream_metrics(acc, fps)
    bm, bpt = stream_metrics(base, fps)
    comp = phase_comparison(bpt, apt)
    energy = {p: float(apt[phase_energy_col(p)].sum()) for p in phase_energy_parts(apt.columns)}
    rep = Report(workload=meta.workload, model=meta.model, kv_policy=meta.kv_policy,
                 baseline_policy=base_meta.kv_policy, baseline_workload=base_meta.workload,
                 baseline_description=describe_baseline(trace.meta, base_trace.meta, baseline_workload),
                 stream_fps=fps, frames=meta.frames, questions=len(meta.questions),
                 trace_events=len(trace.events), trace_mode=meta.mode, accel=am, baseline=bm,
                 comparison=comp, area_breakdown=dict(acc.area_mm2), energy_breakdown=energy,
                 utilisation={acc.hardware: acc.utilisation, base.hardware: base.utilisation},
                 bound_share={r.hardware: bound_share(r) for r in (acc, base)},
                 notes=[f"{acc.hardware}: {n}" for n in acc.notes] + [f"{base.hardware}: {n}" for n in base.notes],
                 chip=chip_blocks(acc) if acc.ok else {}, assumptions=run_assumptions(acc, base))
    return RunOutput(report=rep, accel=acc, baseline=base, trace=trace, accel_config=hw, accel_phases=apt,
                     baseline_phases=bpt, baseline_trace=base_trace)
