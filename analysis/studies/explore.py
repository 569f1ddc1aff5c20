"""Multi-objective design-space exploration (``vrex explore SPEC.yaml``, ``make codesign``).

A spec names base configs (as a sweep), *scenarios* (workload settings every design is simulated on,
e.g. a 10K and a 40K pre-computed cache), *axes* (config paths with values or ranges, or named *options*
that set several paths at once, e.g. a DRAM part), constraints and objectives. The search is optuna's
NSGA-II (``optuna.samplers.NSGAIISampler``) in ask/tell form, a generation of ``population`` designs at
a time; the base design (every axis at the base configs' value) is the first design evaluated.

- **Constraints before simulating.** ``area_mm2`` (chip area at the config's node), ``peak_power_w`` (all
  units busy at once, see :func:`peak_power_w`) and ``dram_headroom_gib`` (DRAM capacity minus weights and
  the largest device-resident KV of any scenario, from the traces) are known before a design runs; a design
  that breaks one of them is recorded as ``infeasible`` and never simulated. Bounds may be numbers or
  ``reference`` (the base design's own value, e.g. V-Rex8's area as the budget). Constraints on simulated
  metrics (``<scenario>.<metric>``) are checked after the run.
- **Points.** Each design is one Parquet row under ``OUT/points/`` (the studies' point store,
  ``analysis.studies.store``: named by the design's configs on every scenario and the code version, atomic,
  checked on read), written as soon as its scenarios are done; its configs go to ``OUT/configs/<point_id>/``
  (``hw.yaml``, ``baseline.yaml``, ``<scenario>.workload.yaml``) so ``vrex simulate --hw ... --baseline ...
  --workload ...`` re-runs it to the same figures (against the paper's FlexGen baseline; add
  ``--baseline-workload`` as the spec's ``base.baseline_workload`` says when it sets one).
- **Resume.** The sampler is seeded and deterministic, so ``--resume`` replays the search: every design
  it proposes that already has a row is told from the row instead of simulated. A row made from other
  configs (a base file changed) or another code version is not reused (moved to ``points/superseded``), a
  damaged one is set aside and recomputed, and a different spec is refused (its hash, ``OUT/spec.sha256``).
- **Bounds.** Population, generations, scenarios and axes are bounded before any work; a search in which
  no design meets the constraints is a result: ``codesign.md`` then lists the designs closest to them.
- **Executors.** A generation's designs run on the sweep's local process pool or Dask executor; traces
  are made once per distinct workload (``OUT/traces``) before the designs fan out.

Paths: ``hw.*``, ``baseline.*``, ``workload.*`` as in a sweep, and ``model.*`` (the workload's model file,
e.g. ``model.tokens_per_frame``: a derived model file is written under ``OUT/models``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
import traceback
import typing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import yaml

import analysis.studies.sweep as sweep
from analysis.studies.store import PointStore
from analysis.studies.store import point_key as store_key
from simulator.config import overrides
from simulator.config.schema import build, load_yaml, spec
from simulator.config.workload import ModelConfig
from simulator.errors import ConfigError, VrexError
from simulator.safe_io import OutputError, atomic_write

PRE_METRICS = ("area_mm2", "chip_peak_power_w", "system_peak_power_w", "dram_headroom_gib")
LEVELS = ("chip", "memory", "io", "policy")  # what a knob belongs to: the chip, the memory system, I/O, a policy
WORST = "worst"  # objectives 'worst.<metric>': the largest ratio to the reference over the scenarios
MAX_POPULATION = 10_000
MAX_GENERATIONS = 10_000
MAX_SCENARIOS = 64  # every design runs every scenario: 64 is hours per design
MAX_AXES = 256  # NSGA-II's per-axis bookkeeping and the report's tables; the shipped search has 13


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str = spec("scenario name (prefix of its metrics, e.g. kv10k.frame_latency_mean_s)")
    set: dict[str, Any] = spec("config paths set for this scenario (workload.*, model.*, hw.*, baseline.*)",
                               default_factory=dict)
    label: str = spec("human name in tables and figures (default: the name)", default="")
    fps: float | None = spec("frame rate the scenario must sustain (real time: frame latency <= 1 / fps); gives "
                             "the metrics <scenario>.frame_load (latency x fps, <= 1 is real time)",
                             gt=0, le=1000, default=None)


@dataclass(frozen=True, kw_only=True)
class ExploreAxis:
    name: str = spec("axis name (a column 'axis:<name>' of the results)")
    path: str | None = spec("config path the axis sets (with values or range)", default=None)
    values: list[Any] | None = spec("the values the search chooses among", default=None)
    range: list[float] | None = spec("[low, high] of a numeric axis", default=None)
    log: bool = spec("search the range on a log scale", default=False)
    integer: bool = spec("integer values in the range", default=False)
    options: dict[str, dict[str, Any]] | None = spec(
        "named choices, each setting several config paths (e.g. a DRAM part: type, bandwidth, capacity)",
        default=None)
    reason: str = spec("where the values come from / why this range", default="")
    level: str = spec("what the knob belongs to: chip (cores, MAC trees, SRAM, DRE), memory (DRAM), io (PCIe, "
                      "offload device) or policy (ReSV window and other software choices)", choices=LEVELS)
    label: str = spec("human name in tables and figures (default: the name)", default="")


@dataclass(frozen=True, kw_only=True)
class Stage:
    name: str = spec("stage name (e.g. chip-only)")
    free: list[str] = spec("levels the stage searches; the others stay at the reference's values")
    population: int | None = spec("designs per generation (default: the optimizer's)", ge=2, default=None,
                                  le=MAX_POPULATION, why="a generation is run and held at once")
    generations: int | None = spec("generations (default: the optimizer's)", ge=1, default=None,
                                   le=MAX_GENERATIONS, why="the stages' designs are also bounded in total")


@dataclass(frozen=True, kw_only=True)
class Optimizer:
    population: int = spec("designs per NSGA-II generation", ge=2, default=16, le=MAX_POPULATION,
                           why="a generation is run and held at once; 10^4 designs is days of simulation")
    generations: int = spec("NSGA-II generations", ge=1, default=4, le=MAX_GENERATIONS,
                            why="10^4 generations; population x generations is also bounded")
    seed: int = spec("sampler seed", default=0)


@dataclass(frozen=True, kw_only=True)
class ExploreSpec:
    name: str = spec("study name")
    base: sweep.BaseSpec = spec("base configs (the reference design)")
    scenarios: list[Scenario] = spec("workload settings every design is simulated on")
    axes: list[ExploreAxis] = spec("design axes")
    optimizer: Optimizer = spec("NSGA-II settings", default_factory=Optimizer)
    constraints: list[str] = spec("bounds, e.g. 'area_mm2 <= reference', 'kv40k.frame_latency_mean_s < 1'",
                                  default_factory=tuple)
    objectives: list[str] = spec("metrics minimised: area_mm2, peak_power_w or <scenario>.<metric>")
    reference_name: str = spec("label of the base design in reports and plots", default="reference")
    stages: list[Stage] = spec("searches, each over some levels with the rest held at the reference (default: one "
                               "search over every level)", default_factory=tuple)
    neighbours: bool = spec("also simulate every one-knob neighbour of the reference (each axis moved alone to each "
                            "of its other values, or a range's ends), whatever the constraints", default=True)


# ---------------------------------------------------------------- paths and specs
def check_model_path(path: str, source: str, where: str) -> None:
    """Raise ConfigError unless ``model.<key>...`` names a value of the model file."""
    parts = path.split(".")[1:]
    tp: Any = ModelConfig
    for i, part in enumerate(parts):
        if typing.get_origin(tp) is not None:
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        names = {f.name: f for f in dataclasses.fields(tp) if f.init}
        if part not in names:
            raise ConfigError(source, where, f"unknown path '{path}': '{part}' is not a key of "
                                             f"{'.'.join(['model'] + parts[:i])}; allowed: {', '.join(names)}")
        tp = typing.get_type_hints(tp)[part]
    if not parts:
        raise ConfigError(source, where, f"path '{path}' names a section, not a value")
    inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    if dataclasses.is_dataclass(inner[0]):
        raise ConfigError(source, where, f"path '{path}' names a section, not a value")


def check_any_path(path: str, source: str, where: str) -> None:
    if path.startswith("model."):
        check_model_path(path, source, where)
    else:
        sweep.check_path(path, source, where)


def parse_bound(text: str, source: str, where: str) -> tuple[str, str, float | str]:
    """A constraint 'metric <op> number|reference' (the sweep's parser, :func:`sweep.parse_bound`)."""
    return sweep.parse_bound(text, source, where, reference=True)


def metric_names(scenarios) -> set[str]:
    from simulator.results.metrics import StreamMetrics

    per = {f.name for f in dataclasses.fields(StreamMetrics)} - {"hardware", "status"}
    per |= {"baseline_frame_latency_mean_s", "baseline_decode_step_s", "frame_speedup", "tpot_speedup",
            "decode_energy_per_token_j"}
    names = set(PRE_METRICS) | {f"{s.name}.{m}" for s in scenarios for m in per}
    names |= {f"{s.name}.frame_load" for s in scenarios if s.fps}
    names |= {f"{WORST}.{m}" for m in per}
    return names


def check_scenarios(scenarios, source: str) -> None:
    if not scenarios:
        raise ConfigError(source, "scenarios", "empty; give at least one scenario (e.g. {name: kv10k, set: "
                                               "{workload.kv_prefill_tokens: 10000}})")
    if len(scenarios) > MAX_SCENARIOS:
        raise ConfigError(source, "scenarios", f"{len(scenarios)} scenarios; at most {MAX_SCENARIOS} (every design "
                                               "runs every scenario)")
    names = [s.name for s in scenarios]
    for i, s in enumerate(scenarios):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", s.name):
            raise ConfigError(source, f"scenarios[{i}].name", f"'{s.name}': use lower-case letters, digits, _")
        if s.name == WORST:
            raise ConfigError(source, f"scenarios[{i}].name", f"'{WORST}' names the worst case over the scenarios; "
                                                              "choose another name")
        if names.count(s.name) > 1:
            raise ConfigError(source, f"scenarios[{i}].name", f"'{s.name}' is used twice; names must be unique")
        for p in s.set:
            check_any_path(p, source, f"scenarios[{i}].set.{p}")


def load_explore_spec(path: str | Path) -> ExploreSpec:
    """Load and fully validate an explore spec; nothing runs before this passes."""
    source = str(path)
    sp = build(ExploreSpec, load_yaml(path), source=source)
    check_scenarios(sp.scenarios, source)
    if not sp.axes:
        raise ConfigError(source, "axes", "empty; give at least one axis")
    if len(sp.axes) > MAX_AXES:
        raise ConfigError(source, "axes", f"{len(sp.axes)} axes; at most {MAX_AXES}")
    opt = sp.optimizer
    proposals = sum((st.population or opt.population) * (st.generations or opt.generations)
                    for st in sp.stages) if sp.stages else opt.population * opt.generations
    if proposals > sweep.MAX_POINTS:
        raise ConfigError(source, "stages" if sp.stages else "optimizer",
                          f"population x generations = {proposals:,} designs over the stages; at most "
                          f"{sweep.MAX_POINTS:,} ({sweep.WHY_POINTS})")
    seen = set()
    for i, ax in enumerate(sp.axes):
        where = f"axes[{i}]"
        if ax.name in seen:
            raise ConfigError(source, f"{where}.name", f"'{ax.name}' is used twice; names must be unique")
        seen.add(ax.name)
        if ax.options is not None:
            if ax.path is not None or ax.values is not None or ax.range is not None:
                raise ConfigError(source, where, "an 'options' axis takes no path, values or range")
            if not ax.options:
                raise ConfigError(source, f"{where}.options", "empty; give at least one option")
            for label, sets in ax.options.items():
                if not sets:
                    raise ConfigError(source, f"{where}.options.{label}", "empty; set at least one path")
                for p in sets:
                    check_any_path(p, source, f"{where}.options.{label}.{p}")
            continue
        if ax.path is None:
            raise ConfigError(source, where, "needs 'path' (with 'values' or 'range') or 'options'")
        check_any_path(ax.path, source, f"{where}.path")
        if (ax.values is None) == (ax.range is None):
            raise ConfigError(source, where, "needs exactly one of 'values' or 'range'")
        if ax.values is not None:
            if not ax.values:
                raise ConfigError(source, f"{where}.values", "empty axis; give at least one value")
            for j, v in enumerate(ax.values):
                if not isinstance(v, (bool, int, float, str)):
                    raise ConfigError(source, f"{where}.values[{j}]", f"got {v!r}; must be a number, string or "
                                                                      "true/false (use 'options' for sections)")
        if ax.range is not None and (len(ax.range) != 2 or not ax.range[0] < ax.range[1]
                                     or (ax.log and ax.range[0] <= 0)):
            raise ConfigError(source, f"{where}.range", f"got {list(ax.range)}; must be [low, high] with "
                                                        f"low < high{' and low > 0 (log)' if ax.log else ''}")
    names = metric_names(sp.scenarios)
    for i, c in enumerate(sp.constraints):
        name, _, _ = parse_bound(c, source, f"constraints[{i}]")
        if name not in names:
            raise ConfigError(source, f"constraints[{i}]", f"unknown metric '{name}'; allowed: "
                                                           f"{', '.join(PRE_METRICS)} or <scenario>.<metric>")
    for i, st in enumerate(sp.stages):
        if not st.free:
            raise ConfigError(source, f"stages[{i}].free", "empty; give at least one level to search")
        bad = [lv for lv in st.free if lv not in LEVELS]
        if bad:
            raise ConfigError(source, f"stages[{i}].free", f"unknown level '{bad[0]}'; allowed: {', '.join(LEVELS)}")
        if not any(ax.level in st.free for ax in sp.axes):
            raise ConfigError(source, f"stages[{i}].free", f"no axis belongs to {', '.join(st.free)}")
    if not sp.objectives:
        raise ConfigError(source, "objectives", "empty; give at least one metric to minimise")
    for i, o in enumerate(sp.objectives):
        if o not in names:
            raise ConfigError(source, f"objectives[{i}]", f"unknown metric '{o}'; allowed: "
                                                          f"{', '.join(PRE_METRICS)} or <scenario>.<metric>")
    reference_values(sp, Path.cwd(), source)
    return sp


# ---------------------------------------------------------------- designs -> configs
def design_values(sp: ExploreSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Axis choices -> {config path: value}."""
    out: dict[str, Any] = {}
    for ax in sp.axes:
        v = params[ax.name]
        if ax.options is not None:
            out.update(ax.options[v])
        else:
            out[ax.path] = v
    return out


def _raw_base(base, root: Path) -> dict[str, Any]:
    raw = {role: sweep.cached_yaml(root / getattr(base, role)) for role in sweep.ROLES}
    model = (root / base.workload).parent / raw["workload"]["model"]
    raw["model"] = sweep.cached_yaml(model)
    return raw


def _get(raw: dict, path: str):
    d: Any = raw
    for p in path.split("."):
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def reference_values(sp: ExploreSpec, root: Path, source: str) -> dict[str, Any]:
    """The base design's choice on every axis (its configs' values); an error if an axis does not hold it."""
    raw = _raw_base(sp.base, root)
    params = {}
    for i, ax in enumerate(sp.axes):
        if ax.options is not None:
            match = [lab for lab, sets in ax.options.items() if all(_get(raw, p) == v for p, v in sets.items())]
            if not match:
                raise ConfigError(source, f"axes[{i}].options", "no option matches the base configs; add one with "
                                  "their values so the base design is a point of the search")
            params[ax.name] = match[0]
            continue
        v = _get(raw, ax.path)
        if v is None:
            raise ConfigError(source, f"axes[{i}].path", f"the base configs do not set '{ax.path}'; set it there "
                                                         "so the base design is a point of the search")
        if ax.values is not None and v not in ax.values:
            raise ConfigError(source, f"axes[{i}].values", f"the base configs' value {v!r} of '{ax.path}' is not "
                                                           "among the values; add it")
        if ax.range is not None and (not isinstance(v, (int, float)) or not ax.range[0] <= v <= ax.range[1]):
            raise ConfigError(source, f"axes[{i}].range", f"the base configs' value {v!r} of '{ax.path}' is "
                                                          "outside the range")
        params[ax.name] = v
    return params


def point_key(values: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


_DERIVED: dict[tuple[str, str], Path] = {}  # derived model files written by this process: (directory, content)


def _derived_model(model: dict, out: Path) -> Path:
    """The derived model file of ``model`` (``OUT/models/<hash of its YAML>.yaml``), written once (atomically)."""
    key = (str(out), json.dumps(model, sort_keys=True, default=str))
    path = _DERIVED.get(key)
    if path is not None and path.is_file():
        return path
    text = yaml.safe_dump(model, sort_keys=False)
    path = (out / "models" / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.yaml").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    _DERIVED[key] = path
    return path


def scenario_configs(base, values: dict[str, Any], scenario, root: Path, out: Path, source: str, *,
                     workload: str | None = None, accel_only: tuple[str, ...] = ()):
    """(hw, baseline, workload, raw dicts) of one design on one scenario.

    ``workload``: run this workload file instead of the base one (e.g. the baseline's FlexGen stream);
    paths in ``accel_only`` are then not applied (e.g. a ReSV parameter the FlexGen policy does not take).
    """
    vals = {**{k: v for k, v in values.items() if k not in accel_only}, **scenario.set}
    base = dataclasses.replace(base, workload=workload) if workload else base
    raw = _raw_base(base, root)
    model_vals = {k: v for k, v in vals.items() if k.startswith("model.")}
    rest = {k: v for k, v in vals.items() if not k.startswith("model.")}
    for path, v in model_vals.items():
        overrides.set_path(raw["model"], path.split(".")[1:], v)
    if model_vals:
        rest["workload.model"] = str(_derived_model(raw["model"], out))
    else:  # the model file as the workload names it: next to the workload file
        model = rest.get("workload.model", raw["workload"]["model"])
        rest["workload.model"] = str(((root / base.workload).parent / model).resolve())
    for path, v in rest.items():
        role, *tail = path.split(".")
        overrides.set_path(raw[role], tail, v)
    hw, bl, wl = sweep.point_configs(SimpleNamespace(base=base), rest, root, source)
    return hw, bl, wl, raw


def system_peak_power_w(hw) -> float:
    """System power with every part busy at once (W): the chip at its peak (every block at its rated activity,
    ``engine/physical/peak_power.py``), DRAM at its peak bandwidth, the PCIe link and the offload device at full
    load (``engine/physical/io.py``). A budget figure known before simulating."""
    from simulator.engine.platforms.accelerator import AcceleratorPlatform

    return float(sum(AcceleratorPlatform(hw).system_peak_w().values()))


def pre_metrics(hw, traces) -> dict[str, float]:
    """Figures known before simulating: chip area (cores + DRAM and PCIe PHYs), chip and system peak power and
    DRAM headroom (GiB) over the scenarios."""
    from simulator.engine.memory.kv_memory import kv_bytes_held
    from simulator.engine.platforms.accelerator import AcceleratorPlatform

    head = math.inf
    for tr in traces:
        meta = tr.record
        weights = meta.weight_bytes_llm + meta.weight_bytes_vision
        held = kv_bytes_held(tr.kv_tokens, meta)
        need = weights + (float(held.max()) if held.size else 0.0)
        head = min(head, hw.dram.capacity_gib - need / 2**30)
    acc = AcceleratorPlatform(hw)
    parts = acc.system_peak_w()
    io = acc.io_area_mm2()
    return {"area_mm2": float(sum(acc.area_mm2().values()) + sum(io.values())),
            "core_area_mm2": float(sum(acc.area_mm2().values())), "io_phy_area_mm2": float(sum(io.values())),
            "chip_peak_power_w": float(parts["chip"]), "system_peak_power_w": float(sum(parts.values())),
            **{f"peak_{k}_w": float(v) for k, v in parts.items() if k != "chip"},
            "dram_headroom_gib": float(head)}


def scenario_metrics(res, prefix: str, fps: float | None = None) -> dict[str, Any]:
    """One pipeline run's figures: the accelerator's stream metrics, its bound shares and unit busy shares
    (the stall breakdown), the energy per decoded token, the frame load (latency x ``fps``, <= 1 is real
    time) and the baseline's frame latency and TPOT on the same trace."""
    from simulator.results.metrics import phase_table

    m = {k: v for k, v in res.report.accel.as_dict().items() if k != "hardware"}
    pt = phase_table(res.accel)
    dec = pt[pt["phase"] == "decode"] if "phase" in pt else pt.iloc[:0]
    m["decode_energy_per_token_j"] = float(dec["energy_j"].sum() / len(dec)) if len(dec) else math.nan
    if fps:
        m["frame_load"] = float(m["frame_latency_mean_s"]) * fps
    for k, v in res.report.bound_share.get(res.accel.hardware, {}).items():
        m[f"bound_{k}"] = v
    for k, v in (res.accel.utilisation or {}).items():
        m[f"busy_{k}"] = v
    b = res.report.baseline
    m["baseline_frame_latency_mean_s"] = b.frame_latency_mean_s
    m["baseline_decode_step_s"] = b.decode_step_s
    return {f"{prefix}.{k}": v for k, v in m.items()}


def save_configs(out: Path, pid: str, raws: dict[str, dict], name: str) -> Path:
    """Write a design's configs (hw, baseline, one workload per scenario) so ``vrex simulate`` re-runs it."""
    d = out / "configs" / pid
    d.mkdir(parents=True, exist_ok=True)
    first = next(iter(raws.values()))
    hw = dict(first["hw"], name=f"{name}-{pid[:8]}")
    (d / "hw.yaml").write_text(yaml.safe_dump(hw, sort_keys=False))
    (d / "baseline.yaml").write_text(yaml.safe_dump(first["baseline"], sort_keys=False))
    for scen, raw in raws.items():
        wl = dict(raw["workload"])
        wl["model"] = os.path.relpath(wl["model"], d.resolve())
        (d / f"{scen}.workload.yaml").write_text(yaml.safe_dump(wl, sort_keys=False))
    return d


# ---------------------------------------------------------------- one design (runs in a worker)
def run_design(spec_path: str, root: str, out_dir: str, params: dict[str, Any], pre: dict[str, float],
               key: str) -> dict:
    """Simulate one design on every scenario and save its row under ``key`` (its store key); never raises for
    the design's own failure (errors become status=error); a failed write (full disk) raises OutputError."""

    out = Path(out_dir)
    sp = load_explore_spec(spec_path)
    values = design_values(sp, params)
    pid = point_key(values)
    row: dict[str, Any] = {"point_id": pid, "values": json.dumps(values, sort_keys=True, default=str),
                           "params": json.dumps(params, sort_keys=True, default=str), **pre}
    row.update({f"axis:{k}": (v if isinstance(v, (int, float)) else str(v)) for k, v in params.items()})
    t0 = time.perf_counter()
    try:
        raws = {}
        status = "ok"
        for scen in sp.scenarios:
            hw, bl, wl, raw = scenario_configs(sp.base, values, scen, Path(root), out, spec_path)
            raws[scen.name] = raw
            res = sweep.run_compared(hw, bl, wl, sp.base, Path(root), out / "traces")
            row.update(scenario_metrics(res, scen.name, scen.fps))
            if res.accel.status != "ok":
                status = f"{scen.name}: {res.accel.status}"
        row["config_dir"] = str(save_configs(out, pid, raws, sp.name).relative_to(out))
        row["status"] = status  # post-run constraints are checked against the reference by the search
    except OSError as exc:  # the machine, not the point (a full disk): stop; --resume recomputes it
        raise OutputError(sweep.write_failure(exc, out_dir)) from None
    except VrexError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # a design's failure is data, not a crash of the search
        row.update(status="error", error=f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}")
    row["wall_s"] = time.perf_counter() - t0
    PointStore(out).write(key, row)
    return row


def violations(sp: ExploreSpec, row: dict, ref: dict) -> list[float]:
    """Per constraint: > 0 when broken (by how much, relative to the bound), <= 0 when met, NaN if unknown."""
    out = []
    for c in sp.constraints:
        name, op, bound = parse_bound(c, "", "")
        if bound == "reference":
            bound = ref.get(name, math.nan)
        v = row.get(name, math.nan)
        if v is None or bound is None or (isinstance(v, float) and math.isnan(v)) or math.isnan(bound):
            out.append(math.nan)
            continue
        scale = abs(bound) or 1.0
        if op in ("<=", "<"):
            x = (v - bound) / scale
            out.append(x if op == "<=" or x != 0 else 1e-12)
        elif op in (">=", ">"):
            x = (bound - v) / scale
            out.append(x if op == ">=" or x != 0 else 1e-12)
        else:
            out.append(abs(v - bound) / scale)
    return out


# ---------------------------------------------------------------- the search
def _distributions(sp: ExploreSpec):
    import optuna.distributions as od

    dists = {}
    for ax in sp.axes:
        if ax.options is not None:
            dists[ax.name] = od.CategoricalDistribution(list(ax.options))
        elif ax.values is not None:
            dists[ax.name] = od.CategoricalDistribution(list(ax.values))
        elif ax.integer:
            dists[ax.name] = od.IntDistribution(int(ax.range[0]), int(ax.range[1]), log=ax.log)
        else:
            dists[ax.name] = od.FloatDistribution(float(ax.range[0]), float(ax.range[1]), log=ax.log)
    return dists


def level_of_change(sp: ExploreSpec, params: dict, ref_params: dict) -> str:
    """The levels a design moves away from the reference ('chip', 'io', 'chip+memory+io', ...; 'reference')."""
    lv = {ax.level for ax in sp.axes if str(params.get(ax.name)) != str(ref_params.get(ax.name))}
    return "+".join(x for x in LEVELS if x in lv) or "reference"


def neighbour_params(sp: ExploreSpec, ref_params: dict) -> list[dict]:
    """The reference's one-knob neighbours: each axis alone at each of its other values (a range: its ends)."""
    out = []
    for ax in sp.axes:
        choices = (list(ax.options) if ax.options is not None else list(ax.values) if ax.values is not None
                   else [ax.range[0], ax.range[1]])
        out += [{**ref_params, ax.name: v} for v in choices if str(v) != str(ref_params[ax.name])]
    return out


def worst_metrics(sp: ExploreSpec) -> list[str]:
    names = [*sp.objectives, *(parse_bound(c, "", "")[0] for c in sp.constraints)]
    return sorted({n.split(".", 1)[1] for n in names if n.startswith(WORST + ".")})


def add_worst(sp: ExploreSpec, row: dict, ref_row: dict) -> dict:
    """``worst.<metric>``: the largest ratio of the design's metric to the reference's over the scenarios."""
    for m in worst_metrics(sp):
        r = []
        for sc in sp.scenarios:
            v, b = row.get(f"{sc.name}.{m}"), ref_row.get(f"{sc.name}.{m}")
            ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (v, b))
            r.append(v / b if ok and b else math.nan)
        row[f"{WORST}.{m}"] = max(r) if r and not any(math.isnan(x) for x in r) else math.nan
    return row


def _stages(sp: ExploreSpec, fix_levels: tuple[str, ...]) -> list[Stage]:
    if fix_levels:
        free = [lv for lv in LEVELS if lv not in fix_levels and any(ax.level == lv for ax in sp.axes)]
        return [Stage(name=f"{'+'.join(free)} (fixed: {', '.join(fix_levels)})", free=free)]
    return list(sp.stages) or [Stage(name="all levels", free=list(LEVELS))]


def run_explore(spec_path: str | Path, out: str | Path, *, resume: bool = False, executor: str = "local",
                scheduler: str | None = None, workers: int | None = None, progress: bool = True,
                client=None, fix_levels: tuple[str, ...] = ()) -> pd.DataFrame:
    """Run (or resume) the search; returns every design's row and writes ``pareto.parquet``/``.csv``.

    First the reference and (``neighbours``) its one-knob neighbours are simulated, whatever the constraints;
    then each stage (``stages``, or one over the levels not in ``fix_levels``) runs its own seeded NSGA-II over
    its free axes, the other axes held at the reference's values."""
    import optuna

    spec_path = Path(spec_path)
    sp = load_explore_spec(spec_path)
    bad = [lv for lv in fix_levels if lv not in LEVELS]
    if bad:
        raise ConfigError(str(spec_path), "--fix-level", f"unknown level '{bad[0]}'; allowed: {', '.join(LEVELS)}")
    root, out = Path.cwd(), Path(out)
    digest = sweep.check_resume(out, spec_path, "explore", resume)
    sweep.record_spec(out, spec_path, digest)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ref_params = reference_values(sp, root, str(spec_path))
    ref_pid = point_key(design_values(sp, ref_params))
    store, code = PointStore(out), sweep.code_version()
    rows: dict[str, dict] = {}  # by point id: this run's designs (saved ones re-read from the store, checked)
    keys: dict[str, str] = {}  # point id -> store key (the design's configs on every scenario + code version)
    ref, _ = _pre_for(sp, ref_params, root, out, str(spec_path), code)  # the budget: the base design's figures
    stages = _stages(sp, fix_levels)
    first = [ref_params] + (neighbour_params(sp, ref_params) if sp.neighbours else [])
    total = len(first) + sum((st.population or sp.optimizer.population) * (st.generations or sp.optimizer.generations)
                             for st in stages)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"explore {sp.name}", unit="design")

    def evaluate(param_list: list[dict], stage: str, force: bool) -> None:
        """Simulate the designs not done yet (``force``: whatever the constraints); rows into ``rows``."""
        todo, pending = [], set()
        for params in param_list:
            values = design_values(sp, params)
            pid = point_key(values)
            if pid in rows or pid in pending:
                continue
            pre, key = _pre_for(sp, params, root, out, str(spec_path), code)
            keys[pid] = key
            saved = store.get(key) if resume else None  # a damaged one is set aside and recomputed
            if saved is not None:
                rows[pid] = saved
                continue
            pending.add(pid)
            pre = {**pre, "levels": level_of_change(sp, params, ref_params), "stage": stage}
            broken = [v for v in violations(sp, pre, ref) if not math.isnan(v) and v > 0]
            if broken and not force:
                row = {"point_id": pid, "values": json.dumps(values, sort_keys=True, default=str),
                       "params": json.dumps(params, sort_keys=True, default=str), **pre,
                       "status": "infeasible", "wall_s": 0.0}
                row.update({f"axis:{k}": (v if isinstance(v, (int, float)) else str(v)) for k, v in params.items()})
                store.write(key, row)
                rows[pid] = store.read(key)
            else:
                todo.append((str(spec_path), str(root), str(out), params, pre, key))
        _run(todo, executor, scheduler, workers, client)
        for a in todo:
            rows[point_key(design_values(sp, a[3]))] = store.read(a[-1])
        if bar is not None:
            bar.update(len(param_list))

    with sweep.study_guard("explore", spec_path, out, lambda: len(store.names()), bar):
        evaluate(first, "reference and one-knob neighbours", force=True)
        ref_row = rows.get(ref_pid, {})
        for k, v in ref_row.items():  # 'reference' bounds on simulated metrics: the base design's figures
            if "." in k and isinstance(v, (int, float)) and not isinstance(v, bool):
                ref.setdefault(k, float(v))
        for st in stages:
            free = [ax for ax in sp.axes if ax.level in st.free]
            dists = {k: v for k, v in _distributions(sp).items() if k in {ax.name for ax in free}}
            sampler = optuna.samplers.NSGAIISampler(population_size=st.population or sp.optimizer.population,
                                                    seed=sp.optimizer.seed)
            study = optuna.create_study(directions=["minimize"] * len(sp.objectives), sampler=sampler)
            study.enqueue_trial({k: ref_params[k] for k in dists})
            for _gen in range(st.generations or sp.optimizer.generations):
                trials = [study.ask(dists) for _ in range(st.population or sp.optimizer.population)]
                full = [{**ref_params, **t.params} for t in trials]
                evaluate(full, st.name, force=False)
                for t, params in zip(trials, full):
                    row = add_worst(sp, dict(rows[point_key(design_values(sp, params))]), ref_row)
                    vio = violations(sp, row, ref)
                    ok = row.get("status") == "ok"  # simulated on every scenario
                    if row.get("status") != "infeasible" and not ok:  # an error or out of memory: worst case
                        vio = [1.0] * max(1, len(vio))
                    for i, v in enumerate(vio):  # NSGA-II's constrained domination: feasible iff every value <= 0
                        t.set_constraint(f"c{i}", 0.0 if math.isnan(v) else float(v))
                    vals = [float(row.get(o, math.nan)) for o in sp.objectives]
                    vals = [v if math.isfinite(v) else 1e30 for v in vals] if ok else [1e30] * len(vals)
                    study.tell(t, vals)
        store.set_aside_others(keys.values())
        df = _finalise(sp, store.load(keys.values()), ref)
        front = sweep.pareto_front(df, list(sp.objectives))
        atomic_write(out / "pareto.parquet", lambda tmp: front.to_parquet(tmp, index=False), rescue=False)
        atomic_write(out / "pareto.csv", lambda tmp: front.to_csv(tmp, index=False), rescue=False)
        text = json.dumps({"point_id": ref_pid, "params": ref_params, **ref}, default=str, indent=1)
        atomic_write(out / "reference.json", lambda tmp: tmp.write_text(text), rescue=False)
    return df


def _finalise(sp: ExploreSpec, df: pd.DataFrame, ref: dict) -> pd.DataFrame:
    """Re-check every simulated row against the constraints (bounds relative to the reference)."""
    if df.empty:
        return df
    recs = df.to_dict("records")
    ref_row = next((r for r in recs if r.get("levels") == "reference"), {})
    recs = [add_worst(sp, dict(r), ref_row) for r in recs]
    df = pd.DataFrame(recs)
    st = []
    for r in recs:
        s = r.get("status")
        if s == "ok":
            vio = violations(sp, r, ref)
            s = "ok" if all(math.isnan(v) or v <= 0 for v in vio) else "infeasible"
        st.append(s)
    df = df.copy()
    df["status"] = st
    return df


_TRACES: dict[str, Any] = {}


def _pre_for(sp: ExploreSpec, params: dict, root: Path, out: Path, source: str,
             code: str) -> tuple[dict[str, float], str]:
    """Pre-simulation figures of a design and its store key (its configs on every scenario and the code
    version); makes (or reads) each scenario's trace once."""
    values = design_values(sp, params)
    traces, hw, configs = [], None, {}
    for scen in sp.scenarios:
        hw, bl, wl, _ = scenario_configs(sp.base, values, scen, root, out, source)
        configs[scen.name] = {"hw": hw, "baseline": bl, "workload": wl}
        key = sweep.workload_key(wl)
        if key not in _TRACES:
            if len(_TRACES) > 8:
                _TRACES.clear()
            _TRACES[key] = sweep._trace_for(wl, out / "traces")
        traces.append(_TRACES[key])
    return pre_metrics(hw, traces), store_key(configs, code)


def _run(todo, executor, scheduler, workers, client) -> None:
    if not todo:
        return
    if executor == "dask":
        sweep._run_dask(todo, scheduler, client, None, fn=run_design)
    elif workers == 1 or len(todo) == 1:
        for a in todo:
            run_design(*a)
    else:
        sweep._run_local(todo, workers, None, fn=run_design)


# ---------------------------------------------------------------- re-running a saved design
def rerun(out: str | Path, point_id: str, scenario: str) -> dict[str, Any]:
    """Re-run a saved design on one scenario from its config files, exactly as ``vrex simulate --hw
    OUT/configs/ID/hw.yaml --baseline OUT/configs/ID/baseline.yaml --workload OUT/configs/ID/<scenario>
    .workload.yaml`` does (the paper's FlexGen baseline on the same stream, a spec's default); returns the same
    metric columns as its row."""
    from simulator.pipeline import run

    d = Path(out) / "configs" / point_id
    res = run(d / "hw.yaml", d / "baseline.yaml", d / f"{scenario}.workload.yaml")
    fps = next((s.fps for s in load_explore_spec(Path(out) / "spec.yaml").scenarios if s.name == scenario), None) \
        if (Path(out) / "spec.yaml").is_file() else None
    return scenario_metrics(res, scenario, fps)


def simulate_command(out: str | Path, point_id: str, scenario: str) -> str:
    d = Path(out) / "configs" / point_id
    return f"vrex simulate --hw {d}/hw.yaml --baseline {d}/baseline.yaml --workload {d}/{scenario}.workload.yaml"


def closest_designs(sp: ExploreSpec, df: pd.DataFrame, ref: dict, n: int = 5) -> pd.DataFrame:
    """When no design meets every constraint: the ``n`` designs that miss them by the least (the sum of their
    relative violations, column ``violation``; unknown bounds count as met)."""
    if df.empty:
        return df.assign(violation=pd.Series(dtype=float))
    tot = [sum(v for v in violations(sp, r, ref) if not math.isnan(v) and v > 0) for r in df.to_dict("records")]
    return df.assign(violation=tot).sort_values("violation").head(n).reset_index(drop=True)
