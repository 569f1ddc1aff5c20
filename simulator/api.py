"""The Python API: what the command line does, as functions on typed, validated configs.

    from simulator import api as vrex

    hw = vrex.load_hardware("vrex8-edge", {"cores": 16})            # a shipped name or a path, with overrides
    wl = vrex.load_workload("coin-avg-resv", {"kv_prefill_tokens": 40000})
    out = vrex.run(hw, wl)                                         # against the paper's baseline (Orin + FlexGen)
    print(out.report.baseline_policy, out.report.comparison)
    df = vrex.compare(["vrex8-edge", "orin-agx-32gb:flexgen"], wl)  # one stream, ratios against the first

Configs are frozen dataclasses checked on construction and on ``dataclasses.replace`` (``replace(hw, cores=-3)``
raises :class:`ConfigError`); :func:`override` changes nested keys by dotted path with the file schema's checks.
``baseline_workload`` (in :func:`run` and :func:`sweep` specs) is None for the paper's baseline (FlexGen on the
same stream and cache), ``"same"`` for the accelerator's own workload, or a workload of the same stream.
docs/api_example.py is a runnable example (the tests run it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from simulator.compare import CompareEntry
from simulator.compare import compare as _compare
from simulator.config.hardware import AcceleratorConfig, GpuConfig, HardwareConfig, build_hardware
from simulator.config.overrides import set_path
from simulator.config.schema import load_yaml
from simulator.config.tech import DEFAULT_TECH, TechTable, load_tech
from simulator.config.workload import WorkloadConfig, build_workload
from simulator.engine.result import SimResult
from simulator.engine.simulate import simulate as _simulate
from simulator.errors import ConfigError, VrexError
from simulator.pipeline import DEFAULT_BASELINE, RunOutput, resolve, resolve_config
from simulator.pipeline import run as _run
from simulator.stream import Trace, trace_workload

__all__ = ["AcceleratorConfig", "ConfigError", "GpuConfig", "RunOutput", "SimResult", "Trace", "VrexError",
           "WorkloadConfig", "compare", "load_hardware", "load_tech_table", "load_workload", "override", "run",
           "simulate", "sweep", "trace"]


def _with(data: dict, changes: dict[str, Any] | None) -> tuple[dict, str]:
    for key, value in (changes or {}).items():
        set_path(data, key.split("."), value, "override", key)
    return data, (" (with " + ", ".join(f"{k}={v!r}" for k, v in changes.items()) + ")") if changes else ""


def load_hardware(name_or_path: str | Path, changes: dict[str, Any] | None = None) -> HardwareConfig:
    """An accelerator or GPU config by shipped name (``vrex8-edge``) or path, with dotted-key ``changes``
    (``{"dram.bandwidth_gbps": 102.4}``) checked by the schema."""
    path = resolve_config(name_or_path, "hwconfigs", "load_hardware")
    data, note = _with(load_yaml(path), changes)
    return build_hardware(data, f"{path}{note}")


def load_workload(name_or_path: str | Path, changes: dict[str, Any] | None = None) -> WorkloadConfig:
    """A workload by shipped name (``coin-avg-resv``) or path, with dotted-key ``changes``
    (``{"stream.duration_s": 60}``); its model is found next to it, in the project or by shipped name."""
    path = resolve_config(name_or_path, "workloads", "load_workload")
    data, note = _with(load_yaml(path), changes)
    return build_workload(data, path, source=f"{path}{note}")


def override(cfg, changes: dict[str, Any]):
    """A copy of a hardware or workload config with dotted-key ``changes``, rebuilt through the schema (so every
    check of a file applies, cross-field ones included)."""
    if isinstance(cfg, WorkloadConfig):
        data = _plain(dataclasses.asdict(cfg))
        data.pop("model_config", None)
        data, note = _with(data, changes)
        return build_workload(data, Path.cwd() / "workload.yaml", source=f"workload '{cfg.name}'{note}")
    if isinstance(cfg, (AcceleratorConfig, GpuConfig)):
        data, note = _with(_plain(dataclasses.asdict(cfg)), changes)
        return build_hardware(data, f"{type(cfg).__name__} '{cfg.name}'{note}")
    raise TypeError(f"override takes a hardware or workload config, not {type(cfg).__name__}")


def _plain(o):
    """asdict's output as YAML would give it (lists, not tuples; no None-valued optional keys)."""
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items() if v is not None}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    return o


def load_tech_table(path: str | Path = DEFAULT_TECH) -> TechTable:
    return load_tech(resolve(path))


def trace(workload: WorkloadConfig, mode: str = "meta") -> Trace:
    """The workload's trace (``meta``: shapes only, fast; ``real``: runs the model on the CPU)."""
    return trace_workload(workload, mode=mode, source=f"workload '{workload.name}'")


def simulate(tr: Trace, hw: HardwareConfig, tech: TechTable | None = None, engine: str = "compiled") -> SimResult:
    """Replay a trace on one platform (accelerator or GPU): per-op times, energy, area, status."""
    return _simulate(tr, hw, tech or load_tech_table(), engine=engine)


def run(hw: HardwareConfig, workload: WorkloadConfig, baseline: GpuConfig | None = None, *,
        baseline_workload=None, force: bool = False, engine: str = "compiled") -> RunOutput:
    """``vrex simulate``: the accelerator against a GPU baseline (default the Orin 32 GB running the paper's
    FlexGen on the same stream); the report names the baseline's policy and workload."""
    return _run(hw=hw, baseline=baseline or load_hardware(DEFAULT_BASELINE), workload=workload,
                baseline_workload=baseline_workload, force=force, engine=engine)


def compare(entries: list[str], workload: WorkloadConfig, *, engine: str = "compiled"):
    """``vrex compare``: entries ``HARDWARE[:POLICY]`` on one stream; a DataFrame with ratios to the first."""
    return _compare([CompareEntry.parse(e) for e in entries], workload, load_tech_table(), engine=engine,
                    source=f"workload '{workload.name}'")


def sweep(spec_path: str | Path, out: str | Path, *, resume: bool = False, workers: int | None = 1):
    """``vrex sweep``: the spec's points into ``out`` (Parquet per point); the table of points."""
    from analysis.studies.sweep import run_sweep

    return run_sweep(str(spec_path), str(out), resume=resume, workers=workers, progress=False)
