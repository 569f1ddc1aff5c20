"""Side-by-side comparisons (``vrex compare``): two or more platforms (accelerators and GPUs alike) and/or KV
policies on one stream, in one table, with every figure also given as a ratio against the first entry.

An entry is a hardware config (a path or a shipped name) with an optional ``:policy``
(``orin-agx-32gb:flexgen``); without one it runs the workload's own policy. Every entry replays the same
stream and cache (the workload with only the policy changed), so the comparison is like for like by
construction; a trace is made once per policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from simulator.config.hardware import AcceleratorConfig
from simulator.config.overrides import load_hardware_with
from simulator.config.tech import TechTable
from simulator.config.workload import KV_POLICIES, KvPolicyConfig, WorkloadConfig
from simulator.engine.replay.discrete_event import DEFAULT_ENGINE
from simulator.engine.simulate import simulate
from simulator.errors import ConfigError
from simulator.results.metrics import stream_metrics
from simulator.stream import trace_workload

# (column, what, unit, factor from SI): the compared figures, in the table's order
FIGURES = (("frame_latency_mean_s", "frame latency, mean", "ms", 1e3),
           ("fps_sustained", "FPS sustained", "frames/s", 1.0),
           ("ttft_mean_s", "time to first token", "ms", 1e3),
           ("decode_step_s", "time per output token", "ms", 1e3),
           ("energy_per_frame_j", "energy per frame", "J", 1.0),
           ("energy_total_j", "energy, whole stream", "J", 1.0),
           ("total_time_s", "processing time, whole stream", "s", 1.0),
           ("avg_power_w", "average power", "W", 1.0),
           ("area_mm2", "area", "mm^2", 1.0))


@dataclass(frozen=True)
class CompareEntry:
    """One compared run: a hardware config (path or shipped name) and the KV policy it runs (None: the
    workload's)."""

    hardware: str
    policy: str | None = None

    @classmethod
    def parse(cls, text: str) -> "CompareEntry":
        hw, sep, pol = str(text).rpartition(":") if ":" in str(text) else (str(text), "", "")
        if sep and pol not in KV_POLICIES:
            raise ConfigError("vrex compare", str(text), f"unknown KV policy '{pol}'; allowed: "
                                                         f"{', '.join(KV_POLICIES)}")
        if not hw:
            raise ConfigError("vrex compare", str(text), "must be HARDWARE or HARDWARE:POLICY")
        return cls(hw, pol or None)


def workload_with_policy(wl: WorkloadConfig, policy: str | None) -> WorkloadConfig:
    """``wl`` under ``policy`` (its own parameters if it is the workload's policy, the policy's defaults
    otherwise)."""
    if policy is None or policy == wl.kv_policy.name:
        return wl
    return wl.replace(kv_policy=KvPolicyConfig(name=policy))


def compare(entries: list[CompareEntry], workload: WorkloadConfig, tech: TechTable, *, overrides=(),
            mode: str = "meta", engine: str = DEFAULT_ENGINE, progress: bool = False, source: str = "") -> pd.DataFrame:
    """One row per entry: its label, hardware, kind, policy, status, the FIGURES and ``<figure>_vs_first``
    (value / the first entry's value)."""
    from simulator.pipeline import resolve_config

    if len(entries) < 2:
        raise ConfigError("vrex compare", "entries", "give at least two entries (HARDWARE[:POLICY] ...)")
    traces = {}
    rows = []
    for i, e in enumerate(entries):
        hw = load_hardware_with(resolve_config(e.hardware, "hwconfigs", f"entry {i + 1}"), list(overrides),
                                f"hw{i + 1}")
        wl = workload_with_policy(workload, e.policy)
        key = wl.kv_policy.name
        if key not in traces:
            wl.kv_policy.resolve(f"{source} with policy {key}")  # its parameters, validated before tracing
            traces[key] = trace_workload(wl, mode=mode, progress=progress, source=source)
        res = simulate(traces[key], hw, tech, engine=engine)
        m, _ = stream_metrics(res, workload.stream.fps)
        kind = "accelerator" if isinstance(hw, AcceleratorConfig) else "gpu"
        row = {"label": f"{hw.name} [{key}]", "hardware": hw.name, "kind": kind, "policy": key,
               "workload": workload.name, "status": m.status}
        row.update({f: getattr(m, f) for f, *_ in FIGURES})
        rows.append(row)
    df = pd.DataFrame(rows)
    for f, *_ in FIGURES:
        df[f"{f}_vs_first"] = df[f] / df[f].iloc[0]
    return df


def render(df: pd.DataFrame) -> str:
    """The comparison as a text table: one column per entry, each figure with its ratio to the first."""
    w = max(16, *(len(x) for x in df["label"]))
    lines = [f"{'':32s} " + " ".join(f"{x:>{w}s}" for x in df["label"])]
    lines.append(f"{'status':32s} " + " ".join(f"{x:>{w}s}" for x in df["status"]))
    for f, what, unit, k in FIGURES:
        cells = []
        for v, r in zip(df[f], df[f"{f}_vs_first"]):
            cells.append(f"{'-' if pd.isna(v) else format(v * k, '.4g')} ({'-' if pd.isna(r) else format(r, '.2f')}x)")
        lines.append(f"{what + ' [' + unit + ']':32s} " + " ".join(f"{c:>{w}s}" for c in cells))
    lines.append(f"(ratios: each entry's value / {df['label'].iloc[0]}'s)")
    return "\n".join(lines)
