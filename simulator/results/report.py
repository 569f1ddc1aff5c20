"""Text, JSON and Parquet renderings of a simulate run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from simulator.results.metrics import StreamMetrics


@dataclass
class Report:
    workload: str
    model: str
    kv_policy: str
    stream_fps: float
    frames: int
    questions: int
    trace_events: int
    trace_mode: str
    accel: StreamMetrics
    baseline: StreamMetrics
    comparison: pd.DataFrame
    area_breakdown: dict[str, float]
    energy_breakdown: dict[str, float]
    utilisation: dict[str, dict[str, float]] = field(default_factory=dict)  # hardware -> unit -> share
    bound_share: dict[str, dict[str, float]] = field(default_factory=dict)  # hardware -> bound -> time share
    notes: list[str] = field(default_factory=list)
    chip: dict = field(default_factory=dict)  # the accelerator's blocks: see metrics.chip_blocks
    assumptions: list[dict] = field(default_factory=list)  # entry, value, unit, source, kind, hardware
    baseline_policy: str = ""  # the KV policy the baseline ran (the paper's: flexgen)
    baseline_workload: str = ""  # the workload the baseline ran (its name)
    baseline_description: str = ""  # one phrase: policy, workload and why (the header's baseline line)

    def as_dict(self) -> dict:
        return {
            "workload": self.workload, "model": self.model, "kv_policy": self.kv_policy,
            "baseline_policy": self.baseline_policy, "baseline_workload": self.baseline_workload,
            "baseline_description": self.baseline_description,
            "stream_fps": self.stream_fps, "frames": self.frames, "questions": self.questions,
            "trace_events": self.trace_events, "trace_mode": self.trace_mode,
            "accelerator": self.accel.as_dict(), "baseline": self.baseline.as_dict(),
            "comparison": self.comparison.to_dict(orient="records"),
            "area_breakdown_mm2": self.area_breakdown, "energy_breakdown_j": self.energy_breakdown,
            "chip": self.chip, "peak_tflops": self.chip.get("peak_tflops"),
            "utilisation": self.utilisation, "time_share_by_bound": self.bound_share, "notes": self.notes,
            "assumptions": self.assumptions,
        }


def _fmt(x, spec: str = ".3g") -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "-"
    return format(x, spec)


def render_text(r: Report) -> str:
    a, b = r.accel, r.baseline
    lines = [
        f"workload {r.workload}: {r.model}, {r.frames} frames at {r.stream_fps:g} FPS, {r.questions} question(s), "
        f"KV policy '{r.kv_policy}'",
        f"baseline {b.hardware}: KV policy '{r.baseline_policy}', {r.baseline_description}",
        f"trace: {r.trace_events:,} events ({r.trace_mode} mode)",
        *[f"** {m.hardware}: {m.status}" for m in (r.accel, r.baseline) if m.status != "ok"],
        "",
        f"{'metric':34s} {a.hardware:>14s} {b.hardware:>14s} {'ratio':>9s}",
    ]

    def row(label, av, bv, ratio=None, spec=".3g"):
        rt = _fmt(ratio, ".2f") + "x" if ratio is not None and not (isinstance(ratio, float) and
                                                                      (math.isnan(ratio) or math.isinf(ratio))) else ""
        lines.append(f"{label:34s} {_fmt(av, spec):>14s} {_fmt(bv, spec):>14s} {rt:>9s}")

    row("frame prefill latency, mean [ms]", a.frame_latency_mean_s * 1e3, b.frame_latency_mean_s * 1e3,
        b.frame_latency_mean_s / a.frame_latency_mean_s)
    row("frame prefill latency, last [ms]", a.frame_latency_last_s * 1e3, b.frame_latency_last_s * 1e3,
        b.frame_latency_last_s / a.frame_latency_last_s)
    row("FPS sustained", a.fps_sustained, b.fps_sustained, a.fps_sustained / b.fps_sustained)
    row("FPS at stream end", a.fps_at_end, b.fps_at_end, a.fps_at_end / b.fps_at_end)
    row(f"real time (>= {r.stream_fps:g} FPS)", a.realtime, b.realtime)
    row("time to first token, mean [ms]", a.ttft_mean_s * 1e3, b.ttft_mean_s * 1e3, b.ttft_mean_s / a.ttft_mean_s)
    row("decode [tokens/s]", a.decode_tokens_per_s, b.decode_tokens_per_s,
        a.decode_tokens_per_s / b.decode_tokens_per_s)
    row("energy per frame [J]", a.energy_per_frame_j, b.energy_per_frame_j,
        b.energy_per_frame_j / a.energy_per_frame_j)
    row("energy, whole stream [J]", a.energy_total_j, b.energy_total_j, b.energy_total_j / a.energy_total_j)
    row("average power [W]", a.avg_power_w, b.avg_power_w)
    row("area [mm^2]", a.area_mm2, b.area_mm2)
    lines += ["", "per phase (ratios: baseline / accelerator)",
              f"{'phase':18s} {'accel s':>10s} {'base s':>10s} {'speedup':>9s} {'accel J':>10s} {'base J':>10s} "
              f"{'energy eff':>10s}"]
    for _, c in r.comparison.iterrows():
        lines.append(f"{c['phase']:18s} {_fmt(c['accel_s']):>10s} {_fmt(c['baseline_s']):>10s} "
                     f"{_fmt(c['speedup'], '.2f'):>8s}x {_fmt(c['accel_j']):>10s} {_fmt(c['baseline_j']):>10s} "
                     f"{_fmt(c['energy_eff'], '.2f'):>9s}x")
    c = r.chip
    if c:
        lines += ["", f"{a.hardware}: {c['cores']} core(s), peak {c['peak_tflops']:.1f} TFLOP/s, "
                      f"{c['chip_area_mm2']:.2f} mm^2, {c['chip_power_w']:.3g} W on chip over the run, "
                      f"{c.get('chip_peak_power_w', 0):.3g} W chip peak (every unit busy), "
                      f"{c.get('system_peak_power_w', 0):.3g} W system peak (+ DRAM, link, offload device)",
                  f"  {'block':10s} {'mm^2/core':>10s} {'mm^2 chip':>10s} {'W/core':>10s} {'W chip':>10s} "
                  f"{'peak W/core':>11s}"]
        peak = c.get("peak_power_breakdown_w_per_core", {})
        for blk in c["power_breakdown_w"] | c["area_breakdown_mm2"]:
            lines.append(f"  {blk:10s} {c['area_breakdown_mm2_per_core'].get(blk, 0):10.4g} "
                         f"{c['area_breakdown_mm2'].get(blk, 0):10.4g} "
                         f"{c['power_breakdown_w_per_core'].get(blk, 0):10.3g} "
                         f"{c['power_breakdown_w'].get(blk, 0):10.3g} {peak.get(blk, 0):11.3g}")
        lines.append(f"  DRE share: {100 * c['dre_area_share']:.1f}% of area, {100 * c['dre_power_share']:.1f}% of "
                     "on-chip power (paper: 2.0% area, 2.2% power)")
    tot_e = sum(r.energy_breakdown.values())
    lines += ["", f"{a.hardware} energy by part (whole run, off-chip DRAM and offload tier included)"]
    for part, en in r.energy_breakdown.items():
        lines.append(f"  {part:10s} {en:10.3g} J ({100 * en / tot_e if tot_e else 0:5.1f}%)")
    for hw, util in r.utilisation.items():
        lines.append(f"  {hw} busy: " + ", ".join(f"{u} {100 * v:.0f}%" for u, v in util.items()))
    for hw, share in r.bound_share.items():
        lines.append(f"  {hw} op time by bound: " + ", ".join(f"{b} {100 * v:.0f}%" for b, v in share.items()))
    if r.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in r.notes]
    return "\n".join(lines)


def write_json(r: Report) -> str:
    def clean(o):
        if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(r.as_dict()), indent=2)


def write_parquet(r: Report, path: str | Path) -> Path:
    """One row per hardware with every metric, plus the per-phase comparison as columns of the accelerator row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for role, m in (("accelerator", r.accel), ("baseline", r.baseline)):
        d = {"workload": r.workload if role == "accelerator" else r.baseline_workload, "model": r.model,
             "kv_policy": r.kv_policy if role == "accelerator" else r.baseline_policy, "role": role,
             "baseline_policy": r.baseline_policy, "baseline_workload": r.baseline_workload}
        d.update(m.as_dict())
        for _, c in r.comparison.iterrows():
            d[f"speedup_{c['phase']}"] = c["speedup"]
            d[f"energy_eff_{c['phase']}"] = c["energy_eff"]
        rows.append(d)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path
