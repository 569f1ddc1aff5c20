"""Global sensitivity of chosen outputs to chosen inputs (``vrex sensitivity SPEC.yaml``, ``make sensitivity``).

Three stages, each a set of points saved as they finish (``OUT/<stage>/points/*.parquet``, resumable):

1. ``oat``: the nominal point (every input at the base configs' value) and each input alone at the ends
   of its range (an ``options`` input: at each option); drawn as the tornado plot.
2. ``morris``: SALib's Morris elementary effects (``trajectories`` x (inputs + 1) points on a ``levels``
   grid), screening every input: mu* (mean absolute effect) and sigma (spread: interaction/non-linearity).
3. ``sobol``: SALib's Saltelli sampling and Sobol indices (S1 first order, ST total) on the ``top`` inputs by
   Morris mu*, the others held at nominal: ``samples`` x (top + 2) points.

Each point runs every scenario twice through the pipeline: the accelerator on the workload (e.g. V-Rex8 +
ReSV) and the baseline on ``baseline_workload`` if given (e.g. the Orin + FlexGen on the same stream), else
on the paper's baseline (the accelerator's workload under FlexGen); outputs are ``<scenario>.frame_speedup``
(baseline frame latency / accelerator frame latency), ``<scenario>.tpot_speedup`` or any accelerator metric
``<scenario>.<metric>``. With a ``baseline_workload`` file, ``workload.*`` inputs apply to the accelerator's
workload only (they are its policy's parameters); without one, only ``workload.kv_policy.*`` inputs do (the
stream is shared). ``model.*``, ``hw.*`` and ``baseline.*`` inputs apply to both runs.

Writes ``OUT/indices.csv``, ``OUT/sensitivity.md`` (inputs with range and source, the OAT swing, Morris and
Sobol indices) and ``OUT/tornado.png``/``.pdf``.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import analysis.studies.sweep as sweep
from analysis.studies.explore import (
    Scenario,
    _get,
    _raw_base,
    check_any_path,
    check_scenarios,
    metric_names,
    scenario_configs,
)
from analysis.studies.store import PointStore, point_key
from simulator.config.schema import build, load_yaml, spec
from simulator.errors import ConfigError, VrexError
from simulator.pipeline import PAPER_BASELINE_POLICY
from simulator.safe_io import OutputError

STAGES = sweep.STUDY_STORES["sensitivity"]


@dataclass(frozen=True, kw_only=True)
class SensBase:
    hw: str = spec("accelerator config")
    baseline: str = spec("GPU baseline config")
    workload: str = spec("the accelerator's workload")
    baseline_workload: str | None = spec("the baseline's workload file (its workload.* inputs are the "
                                         "accelerator's only); default: the paper's baseline, the accelerator's "
                                         "workload under FlexGen (the stream's inputs apply to both, the "
                                         "kv_policy's to the accelerator only)", default=None)
    duration_s: float | None = spec("override the stream length (s)", default=None, gt=0)


@dataclass(frozen=True, kw_only=True)
class SensInput:
    name: str = spec("input name")
    paths: list[str] | None = spec("config paths set to the input's value (one value, several places)",
                                   default=None)
    range: list[float] | None = spec("[low, high] of a numeric input", default=None)
    log: bool = spec("sample the range on a log scale", default=False)
    integer: bool = spec("round to integers", default=False)
    high_from: str | None = spec("a config path each scenario sets: the range's high end in that scenario is its "
                                 "value (e.g. workload.kv_prefill_tokens: the window up to the scenario's cache); "
                                 "the input is then sampled as a position 0-1 between range[0] and that end",
                                 default=None)
    levels: int | None = spec("snap samples to this many evenly spaced levels (an input that changes the trace: "
                              "one trace per level, not one per point)", default=None, ge=2, le=64)
    options: dict[str, dict[str, Any]] | None = spec("named choices, each setting config paths", default=None)
    source: str = spec("where the range comes from, or why it is open")


@dataclass(frozen=True, kw_only=True)
class MorrisSettings:
    trajectories: int = spec("Morris trajectories (points: trajectories x (inputs + 1))", ge=2, default=5,
                             le=10_000, why="10^4 trajectories; Morris screening needs tens")
    levels: int = spec("grid levels (even: Morris's step of levels / 2 is then symmetric)", ge=2, default=4,
                       le=1024, why="a 1024-level grid; Morris uses 4-10")
    seed: int = spec("sampling seed", default=0)


@dataclass(frozen=True, kw_only=True)
class SobolSettings:
    top: int = spec("inputs carried from Morris to Sobol (largest mu*)", ge=1, default=3)
    samples: int = spec("Saltelli base samples N to start from, a power of 2 (points: N x (top + 2))", ge=2,
                        default=16, le=1 << 16, why="2^16 base samples; the point count N x (top + 2) is also bounded")
    max_samples: int = spec("the budget: N doubles until every S1 and ST interval is within +/- target, or N would "
                            "pass this (then the report says the indices did not converge)", ge=2, default=1024,
                            le=1 << 16, why="2^16 base samples; the point count N x (top + 2) is also bounded")
    target: float = spec("the half-width of the bootstrap 95% intervals that counts as converged", gt=0, le=1,
                         default=0.05)
    seed: int = spec("sampling seed", default=0)


@dataclass(frozen=True, kw_only=True)
class SensitivitySpec:
    name: str = spec("study name")
    base: SensBase = spec("base configs")
    scenarios: list[Scenario] = spec("workload settings every point is simulated on")
    inputs: list[SensInput] = spec("uncertain inputs, each with a range and its source")
    outputs: list[str] = spec("outputs: <scenario>.frame_speedup, <scenario>.tpot_speedup or <scenario>.<metric>")
    morris: MorrisSettings = spec("Morris screening", default_factory=MorrisSettings)
    sobol: SobolSettings = spec("Sobol indices on the inputs that matter", default_factory=SobolSettings)
    excluded: dict[str, str] = spec("open choices deliberately not inputs, with the reason (reported)",
                                    default_factory=dict)
    cases: dict[str, dict[str, Any]] = spec("labelled cases simulated beside the study, not sampled: name -> config "
                                            "paths set on the nominal point (e.g. every KV on device)",
                                            default_factory=dict)


def load_sensitivity_spec(path: str | Path) -> SensitivitySpec:
    source = str(path)
    sp = build(SensitivitySpec, load_yaml(path), source=source)
    check_scenarios(sp.scenarios, source)
    if len(sp.inputs) < 2:
        raise ConfigError(source, "inputs", "give at least two inputs")
    if len(sp.inputs) > MAX_INPUTS:
        raise ConfigError(source, "inputs", f"{len(sp.inputs)} inputs; at most {MAX_INPUTS} (Morris runs "
                                            "trajectories x (inputs + 1) points)")
    if sp.morris.levels % 2:
        raise ConfigError(source, "morris.levels", f"got {sp.morris.levels}; must be even (an odd grid biases "
                                                   "Morris's elementary effects)")
    names = [i.name for i in sp.inputs]
    for k, inp in enumerate(sp.inputs):
        where = f"inputs[{k}]"
        if names.count(inp.name) > 1:
            raise ConfigError(source, f"{where}.name", f"'{inp.name}' is used twice; names must be unique")
        if not inp.source.strip():
            raise ConfigError(source, f"{where}.source", "empty; say where the range comes from or why it is open")
        if inp.options is not None:
            if inp.paths is not None or inp.range is not None:
                raise ConfigError(source, where, "an 'options' input takes no paths or range")
            if len(inp.options) < 2:
                raise ConfigError(source, f"{where}.options", "give at least two options")
            for lab, sets in inp.options.items():
                for p in sets:
                    check_any_path(p, source, f"{where}.options.{lab}.{p}")
            continue
        if not inp.paths or inp.range is None:
            raise ConfigError(source, where, "needs 'paths' and 'range', or 'options'")
        if inp.high_from is not None:
            for scen in sp.scenarios:
                hi = scen.set.get(inp.high_from)
                if not isinstance(hi, (int, float)) or hi <= inp.range[0]:
                    raise ConfigError(source, f"{where}.high_from", f"scenario '{scen.name}' must set "
                                      f"'{inp.high_from}' to a number above range[0] = {inp.range[0]:g} (got {hi!r})")
        for j, p in enumerate(inp.paths):
            check_any_path(p, source, f"{where}.paths[{j}]")
        if len(inp.range) != 2 or not inp.range[0] < inp.range[1] or (inp.log and inp.range[0] <= 0):
            raise ConfigError(source, f"{where}.range", f"got {list(inp.range)}; must be [low, high] with low < "
                                                        f"high{' and low > 0 (log)' if inp.log else ''}")
    allowed = metric_names(sp.scenarios)
    for k, o in enumerate(sp.outputs):
        if o not in allowed or o.split(".")[0] not in {s.name for s in sp.scenarios}:
            raise ConfigError(source, f"outputs[{k}]", f"unknown output '{o}'; allowed: <scenario>.frame_speedup, "
                                                       "<scenario>.tpot_speedup or <scenario>.<stream metric>")
    if not sp.outputs:
        raise ConfigError(source, "outputs", "empty; name at least one output")
    for key in ("samples", "max_samples"):
        n = getattr(sp.sobol, key)
        if n & (n - 1):
            raise ConfigError(source, f"sobol.{key}", f"got {n}; must be a power of 2")
    if sp.sobol.max_samples < sp.sobol.samples:
        raise ConfigError(source, "sobol.max_samples", f"got {sp.sobol.max_samples}; at least sobol.samples "
                                                        f"({sp.sobol.samples})")
    for lab, sets in sp.cases.items():
        for pth in sets:
            check_any_path(pth, source, f"cases.{lab}.{pth}")
    if sp.sobol.top > len(sp.inputs):
        raise ConfigError(source, "sobol.top", f"got {sp.sobol.top}; at most the {len(sp.inputs)} inputs")
    check_size(sp, source)
    nominal(sp, Path.cwd(), source)
    return sp


MAX_INPUTS = 256
MAX_SAMPLE_BYTES = 1 << 30  # the sample matrices SALib allocates (float64): 1 GiB


def stage_sizes(sp: SensitivitySpec) -> dict[str, int]:
    """Points per stage, known before anything runs (Sobol: at most ``top`` inputs carried)."""
    n = len(sp.inputs)
    oat = 1 + sum(len(i.options) - 1 if i.options is not None else 2 for i in sp.inputs)
    return {"oat": oat, "morris": sp.morris.trajectories * (n + 1), "sobol": sp.sobol.samples * (sp.sobol.top + 2)}


def check_size(sp: SensitivitySpec, source: str) -> None:
    """Every stage's point count within the study bound and the sample matrices' memory within
    MAX_SAMPLE_BYTES, checked before any sampling or simulation."""
    sizes = stage_sizes(sp)
    for stage, key in (("morris", "morris.trajectories"), ("sobol", "sobol.samples")):
        if sizes[stage] > sweep.MAX_POINTS:
            raise ConfigError(source, key, f"the {stage} stage would run {sizes[stage]:,} points; at most "
                                           f"{sweep.MAX_POINTS:,} ({sweep.WHY_POINTS})")
    need = 8 * (sizes["morris"] * len(sp.inputs) + sizes["sobol"] * sp.sobol.top)
    if need > MAX_SAMPLE_BYTES:
        raise ConfigError(source, "morris", f"the sample matrices would need {need / 2**30:.1f} GiB; at most "
                                            f"{MAX_SAMPLE_BYTES / 2**30:.0f} GiB")


# ---------------------------------------------------------------- input space
def bounds(inp: SensInput) -> list[float]:
    """The input's sampling interval: [log lo, log hi] for log ranges, [0, n] for n options."""
    if inp.options is not None:
        return [0.0, float(len(inp.options))]
    if inp.high_from is not None:
        return [0.0, 1.0]
    lo, hi = inp.range
    return [math.log(lo), math.log(hi)] if inp.log else [float(lo), float(hi)]


def decode(inp: SensInput, x: float) -> Any:
    """A sampled coordinate -> the input's value (an option label or a number)."""
    if inp.options is not None:
        labels = list(inp.options)
        return labels[min(max(int(math.floor(x)), 0), len(labels) - 1)]
    if inp.levels is not None:  # the nearest of the evenly spaced levels
        lo, hi = bounds(inp)
        k = min(max(int(math.floor((x - lo) / (hi - lo) * inp.levels)), 0), inp.levels - 1)
        x = lo + (hi - lo) * k / (inp.levels - 1)
    if inp.high_from is not None:
        return round(min(max(x, 0.0), 1.0), 12)  # a position between range[0] and each scenario's high end
    v = math.exp(x) if inp.log else x
    v = min(max(v, inp.range[0]), inp.range[1])
    return int(round(v)) if inp.integer else float(v)


def resolve(inp: SensInput, v: Any, scen: Scenario | None) -> Any:
    """An input's config value in a scenario: a ``high_from`` input's position 0-1 between range[0] and the
    scenario's high end (log or linear), others as they are."""
    if inp.high_from is None or scen is None:
        return v
    lo, hi = float(inp.range[0]), float(scen.set[inp.high_from])
    x = math.exp(math.log(lo) + v * (math.log(hi) - math.log(lo))) if inp.log else lo + v * (hi - lo)
    return int(round(x)) if inp.integer else float(x)


def nominal(sp: SensitivitySpec, root: Path, source: str) -> dict[str, Any]:
    """Every input's value in the base configs (an error if the base lies outside an input's range)."""
    raw = _raw_base(sp.base, root)
    out = {}
    for k, inp in enumerate(sp.inputs):
        if inp.options is not None:
            match = [lab for lab, sets in inp.options.items() if all(_get(raw, p) == v for p, v in sets.items())]
            if not match:
                raise ConfigError(source, f"inputs[{k}].options", "no option matches the base configs; add one")
            out[inp.name] = match[0]
            continue
        v = _get(raw, inp.paths[0])
        if inp.high_from is not None:  # the nominal value must be the range's low end (position 0 everywhere)
            if v != inp.range[0]:
                raise ConfigError(source, f"inputs[{k}].range", f"with high_from, range[0] must be the base "
                                  f"configs' value {v!r} of '{inp.paths[0]}'")
            out[inp.name] = 0.0
            continue
        if not isinstance(v, (int, float)) or not inp.range[0] <= v <= inp.range[1]:
            raise ConfigError(source, f"inputs[{k}].paths[0]", f"the base configs' value {v!r} of '{inp.paths[0]}' "
                                                               f"is not set or outside the range {list(inp.range)}")
        out[inp.name] = v
    return out


def input_values(sp: SensitivitySpec, point: dict[str, Any], scen: Scenario | None = None) -> dict[str, Any]:
    """{input name: value} -> {config path: value} (in scenario ``scen``: see :func:`resolve`). A point may
    carry a labelled case's settings under ``"case"`` (set last)."""
    vals = {}
    for inp in sp.inputs:
        v = point[inp.name]
        if inp.options is not None:
            vals.update(inp.options[v])
        else:
            vals.update({p: resolve(inp, v, scen) for p in inp.paths})
    if "case" in point:
        vals.update(sp.cases[point["case"]])
    return vals


# ---------------------------------------------------------------- one point (runs in a worker)
def _accel_only(vals: dict) -> tuple[str, ...]:
    return tuple(p for p in vals if p.startswith("workload."))


def _configs(sp, vals, scen, root: Path, out: Path, source: str):
    a = scenario_configs(sp.base, vals, scen, root, out, source)
    if sp.base.baseline_workload:
        b = scenario_configs(sp.base, vals, scen, root, out, source, workload=sp.base.baseline_workload,
                             accel_only=_accel_only(vals))
    else:  # the paper's baseline: the accelerator's own stream under FlexGen
        policy = tuple(p for p in vals if p.startswith("workload.kv_policy"))
        b = scenario_configs(sp.base, {**vals, "workload.kv_policy": {"name": PAPER_BASELINE_POLICY}}, scen, root,
                             out, source, accel_only=policy)
    return a, b


def make_trace(wl, trace_dir: str) -> None:
    sweep._trace_for(wl, Path(trace_dir))


@dataclass(frozen=True)
class Sim:
    """One simulation a point needs: a config (accelerator or baseline) on a workload's trace, its metrics taken
    at ``fps`` (the accelerator's stream rate, for both systems, as ``pipeline.run``)."""
    trace: str  # the workload's trace key (sweep.workload_key)
    workload: Any
    config: Any
    fps: float


@dataclass(frozen=True)
class PointJob:
    """A point to simulate: its index in the stage, its input values, its store key and its simulations
    ({(scenario, role): sim id}; role "accel" or "baseline")."""
    index: int
    point: dict
    key: str
    sims: dict


def run_sims(trace_dir: str, wl, fps: float, items: list[tuple[str, Any]]) -> list[tuple[str, dict]]:
    """Simulate configs (``(sim id, config)``) on one workload's trace in one ``evaluate_designs`` call (the
    trace's plan once, aggregates only; the figures one-by-one ``simulate`` gives); returns (sim id, figures):
    the stream metrics at ``fps``, or ``{"error": text}`` for simulations that failed (a failure is data, not a
    crash of the study). A failed write (a full disk) raises OutputError."""
    from simulator.engine.simulate import evaluate_designs
    from simulator.results.metrics import stream_metrics

    t0 = time.perf_counter()
    try:
        tr = sweep._trace_for(wl, Path(trace_dir))
        out = [(sid, stream_metrics(res, fps)[0].as_dict()) for (sid, _), res in
               zip(items, evaluate_designs(tr, [cfg for _, cfg in items]))]
    except OSError as exc:  # the machine, not the points (a full disk): stop; --resume recomputes them
        raise OutputError(sweep.write_failure(exc, trace_dir)) from None
    except VrexError as exc:
        out = [(sid, {"error": str(exc)}) for sid, _ in items]
    except Exception as exc:  # a point's failure is data, not a crash of the study
        why = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}"
        out = [(sid, {"error": why}) for sid, _ in items]
    wall = (time.perf_counter() - t0) / max(len(items), 1)
    for _, fig in out:
        fig["wall_s"] = wall
    return out


def point_row(sp: SensitivitySpec, stage: str, job: PointJob, figures: dict[str, dict], shared: dict[str, int]
              ) -> dict:
    """A point's saved row from its simulations' figures (``shared``: how many points share each simulation,
    which splits its wall time)."""
    row: dict[str, Any] = {"point_id": f"{job.index:05d}", "stage": stage, "index": job.index,
                           "point": json.dumps(job.point, sort_keys=True, default=str),
                           "wall_s": sum(figures[sid]["wall_s"] / shared[sid] for sid in job.sims.values())}
    row.update({f"in:{k}": (v if isinstance(v, (int, float)) else str(v)) for k, v in job.point.items()})
    errors = [figures[sid]["error"] for sid in job.sims.values() if "error" in figures[sid]]
    if errors:
        row.update(status="error", error=errors[0])
        return row
    status = "ok"
    for scen in sp.scenarios:
        a = figures[job.sims[(scen.name, "accel")]]
        b = figures[job.sims[(scen.name, "baseline")]]
        row.update({f"{scen.name}.{k}": v for k, v in a.items() if k not in ("hardware", "status", "wall_s")})
        row[f"{scen.name}.baseline_frame_latency_mean_s"] = b["frame_latency_mean_s"]
        row[f"{scen.name}.baseline_decode_step_s"] = b["decode_step_s"]
        row[f"{scen.name}.frame_speedup"] = b["frame_latency_mean_s"] / a["frame_latency_mean_s"]
        row[f"{scen.name}.tpot_speedup"] = b["decode_step_s"] / a["decode_step_s"]
        if (a["status"] != "ok" or b["status"] != "ok") and status == "ok":
            status = f"{scen.name}: {a['status'] if a['status'] != 'ok' else 'baseline ' + b['status']}"
    row["status"] = status
    return row


# ---------------------------------------------------------------- stages
BATCH = 256  # simulations a worker evaluates together on one trace (one evaluate_designs call)
_KEYS: dict[tuple[str, str], str] = {}  # (stage, point) -> store key: a doubling Sobol stage re-keys no point


def _point_configs(sp, point: dict, root: Path, out: Path, spec_path: Path) -> dict[str, tuple]:
    """{scenario: (hw, baseline, accelerator workload, baseline workload)} of one point."""
    cfgs = {}
    for scen in sp.scenarios:
        a, b = _configs(sp, input_values(sp, point, scen), scen, root, out, str(spec_path))
        cfgs[scen.name] = (a[0], a[1], a[2], b[2])
    return cfgs


def point_jobs(sp, spec_path: Path, root: Path, out: Path, stage: str, points: list[dict], code: str,
               set_aside: bool = True) -> tuple[list[str], dict[int, PointJob], dict[str, Sim]]:
    """Every point's store key (its configs and the code version), the points not yet saved (``PointJob``) and
    their distinct simulations (by sim id: trace, config and rate; a baseline that no accelerator factor touches
    is simulated once for every point that shares it, and so is any repeated config). ``set_aside``: move the
    stage's saved points that are not among these (other configs or code) to ``superseded/``; a Sobol round does
    not (a resumed study's first rounds are prefixes of the larger rounds already saved)."""
    store = PointStore(out / stage)
    keys, cfgs = [], {}
    for i, p in enumerate(points):
        memo = (f"{out}|{stage}", json.dumps(p, sort_keys=True, default=str))
        if memo not in _KEYS:
            cfgs[i] = _point_configs(sp, p, root, out, spec_path)
            _KEYS[memo] = point_key({n: {"hw": c[0], "baseline": c[1], "workload": c[2], "baseline_workload": c[3]}
                                     for n, c in cfgs[i].items()}, code)
        keys.append(_KEYS[memo])
    if set_aside:
        store.set_aside_others(keys)
    done = {k for k in set(keys) if store.get(k) is not None}
    jobs, sims, seen = {}, {}, set()
    for i, (k, p) in enumerate(zip(keys, points)):
        if k in done or k in seen:
            continue
        seen.add(k)
        if i not in cfgs:  # keyed in an earlier round but not saved (interrupted): its configs again
            cfgs[i] = _point_configs(sp, p, root, out, spec_path)
        ids = {}
        for scen in sp.scenarios:
            hw, bl, wl, bwl = cfgs[i][scen.name]
            fps = float(wl.stream.fps)
            for role, w, cfg in (("accel", wl, hw), ("baseline", bwl, bl)):
                sim = Sim(trace=sweep.workload_key(w), workload=w, config=cfg, fps=fps)
                sid = point_key({"trace": sim.trace, "config": cfg, "fps": fps}, code)
                sims.setdefault(sid, sim)
                ids[(scen.name, role)] = sid
        jobs[i] = PointJob(index=i, point=p, key=k, sims=ids)
    return keys, jobs, sims


def _run_stage(sp, spec_path: Path, root: Path, out: Path, stage: str, points: list[dict], workers, executor,
               scheduler, client, bar, set_aside: bool = True) -> pd.DataFrame:
    """Simulate a stage's points not yet saved and return every point's row. Configs are built once per point;
    each distinct simulation runs once (``point_jobs``); the simulations sharing a trace run in batches of one
    ``evaluate_designs`` call each, spread over the workers; a point is saved as soon as its last simulation
    finishes (so an interrupt keeps every finished point)."""
    code = sweep.code_version()
    keys, jobs, sims = point_jobs(sp, spec_path, root, out, stage, points, code, set_aside)
    # every distinct workload traced once, in parallel, before the points fan out (no two writers of a file)
    wls = {}
    for sim in sims.values():
        if sim.trace not in wls and not (out / "traces" / f"{sim.trace}.parquet").is_file():
            wls[sim.trace] = sim.workload
    _pool([(wl, str(out / "traces")) for wl in wls.values()], make_trace, workers, executor, scheduler, client)
    # simulations grouped by trace (and rate), in batches spread over the workers
    groups: dict[tuple[str, float], list[str]] = {}
    for sid, sim in sims.items():
        groups.setdefault((sim.trace, sim.fps), []).append(sid)
    size = max(1, min(BATCH, math.ceil(len(sims) / max(workers or 2, 1))))
    args = []
    for (_, fps), sids in sorted(groups.items()):
        wl = sims[sids[0]].workload
        args += [(str(out / "traces"), wl, fps, [(sid, sims[sid].config) for sid in sids[a:a + size]])
                 for a in range(0, len(sids), size)]
    waiting: dict[str, list[int]] = {}
    for i, job in jobs.items():
        for sid in set(job.sims.values()):
            waiting.setdefault(sid, []).append(i)
    shared = {sid: len(v) for sid, v in waiting.items()}
    left = {i: len(set(job.sims.values())) for i, job in jobs.items()}
    figures: dict[str, dict] = {}
    store = PointStore(out / stage)
    if bar is not None:
        bar.update(len(points) - len(jobs))

    def collect(results: list[tuple[str, dict]]) -> None:
        for sid, fig in results:
            figures[sid] = fig
            for i in waiting.pop(sid, ()):
                left[i] -= 1
                if left[i] == 0:
                    try:
                        store.write(jobs[i].key, point_row(sp, stage, jobs[i], figures, shared))
                    except OSError as exc:
                        raise OutputError(sweep.write_failure(exc, out)) from None
                    if bar is not None:
                        bar.update(1)

    _pool(args, run_sims, workers, executor, scheduler, client, on_result=collect)
    recs = store.records(set(keys))
    rows = [{**recs[k], "point_id": f"{i:05d}", "index": i, "point": json.dumps(p, sort_keys=True, default=str)}
            for i, (k, p) in enumerate(zip(keys, points)) if k in recs]
    return pd.DataFrame(rows)


def _pool(args, fn, workers, executor, scheduler, client, on_result=None) -> None:
    """``fn(*a)`` for every ``a`` in ``args``: in this process, a local process pool or Dask; ``on_result``
    (if given) receives each call's return value in this process as it finishes."""
    if not args:
        return
    if executor == "dask":
        sweep._run_dask(args, scheduler, client, None, fn=fn, on_result=on_result)
    elif workers == 1 or len(args) == 1:
        for a in args:
            r = fn(*a)
            if on_result is not None:
                on_result(r)
    else:
        sweep._run_local(args, workers, None, fn=fn, on_result=on_result)


def oat_points(sp: SensitivitySpec, nom: dict) -> list[dict]:
    pts = [dict(nom)]
    for inp in sp.inputs:
        alts = [o for o in inp.options if o != nom[inp.name]] if inp.options is not None else \
            [decode(inp, b) for b in bounds(inp)]
        pts += [{**nom, inp.name: v} for v in alts]
    return pts


def run_sensitivity(spec_path: str | Path, out: str | Path, *, resume: bool = False, executor: str = "local",
                    scheduler: str | None = None, workers: int | None = None, progress: bool = True,
                    client=None, max_samples: int | None = None) -> dict[str, pd.DataFrame]:
    """Run (or resume) the study. ``max_samples``: the Sobol budget instead of the spec's ``sobol.max_samples``
    (a power of 2, at least ``sobol.samples``): a resumed study stops (or goes on) at another budget with every
    point kept, since N's samples are the prefix of 2N's."""
    import dataclasses

    from SALib.analyze import morris as morris_an
    from SALib.analyze import sobol as sobol_an
    from SALib.sample import morris as morris_sa
    from SALib.sample import sobol as sobol_sa

    spec_path, out, root = Path(spec_path), Path(out), Path.cwd()
    sp = load_sensitivity_spec(spec_path)
    if max_samples is not None:
        if max_samples & (max_samples - 1) or not sp.sobol.samples <= max_samples <= 1 << 16:
            raise ConfigError("--max-samples", "", f"got {max_samples}; must be a power of 2 from sobol.samples "
                                                   f"({sp.sobol.samples}) to {1 << 16}")
        sp = dataclasses.replace(sp, sobol=dataclasses.replace(sp.sobol, max_samples=max_samples))
    digest = sweep.check_resume(out, spec_path, "sensitivity", resume)
    sweep.record_spec(out, spec_path, digest)
    nom = nominal(sp, root, str(spec_path))
    names = [i.name for i in sp.inputs]
    problem = {"num_vars": len(names), "names": names, "bounds": [bounds(i) for i in sp.inputs]}
    X_m = morris_sa.sample(problem, N=sp.morris.trajectories, num_levels=sp.morris.levels, seed=sp.morris.seed)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc=f"sensitivity {sp.name}", unit="point")
    run = dict(workers=workers, executor=executor, scheduler=scheduler, client=client, bar=bar)
    with sweep.study_guard("sensitivity", spec_path, out, lambda: _n_saved(out), bar):
        oat = _run_stage(sp, spec_path, root, out, "oat", oat_points(sp, nom), **run)
        m_pts = [{n: decode(i, x) for n, i, x in zip(names, sp.inputs, row)} for row in X_m]
        mor = _run_stage(sp, spec_path, root, out, "morris", m_pts, **run)
        _require_ok(mor, "morris")
        morris_idx = {}
        for o in sp.outputs:
            res = morris_an.analyze(problem, X_m, mor[o].to_numpy(dtype=float), num_levels=sp.morris.levels,
                                    seed=sp.morris.seed)
            morris_idx[o] = pd.DataFrame({"input": names, "mu_star": res["mu_star"], "sigma": res["sigma"],
                                          "mu_star_conf": res["mu_star_conf"]})
        # the inputs that matter: largest mu* relative to each output's largest, over the outputs
        score = sum(d.set_index("input")["mu_star"] / max(d["mu_star"].max(), 1e-300) for d in morris_idx.values())
        top = list(score.sort_values(ascending=False).index[: sp.sobol.top])
        sub = [next(i for i in sp.inputs if i.name == n) for n in top]
        prob_s = {"num_vars": len(top), "names": top, "bounds": [bounds(i) for i in sub]}
        # Saltelli to convergence: N doubles (the smaller sample is the larger one's prefix, so its points are
        # kept) until every S1 and ST bootstrap interval of every output is within +/- target, or N reaches the
        # budget
        n_base, converged = sp.sobol.samples, False
        while True:
            X_s = sobol_sa.sample(prob_s, n_base, calc_second_order=False, seed=sp.sobol.seed)
            s_pts = [{**nom, **{n: decode(i, x) for n, i, x in zip(top, sub, row)}} for row in X_s]
            sob = _run_stage(sp, spec_path, root, out, "sobol", s_pts, **run, set_aside=False)
            _require_ok(sob, "sobol")
            sobol_idx = {}
            for o in sp.outputs:
                # SALib's Sobol analysis seeds its bootstrap only for a seed that is not 0 ("if seed:"): the
                # seed + 1, so the intervals re-run the same
                res = sobol_an.analyze(prob_s, sob[o].to_numpy(dtype=float), calc_second_order=False,
                                       seed=sp.sobol.seed + 1)
                sobol_idx[o] = pd.DataFrame({"input": top, "S1": res["S1"], "S1_conf": res["S1_conf"],
                                             "ST": res["ST"], "ST_conf": res["ST_conf"]})
            widest = max(float(np.nanmax(d[["S1_conf", "ST_conf"]].to_numpy())) for d in sobol_idx.values())
            if progress:
                print(f"sensitivity: Sobol N = {n_base} ({len(sob)} points): widest interval +/- {widest:.3f} "
                      f"(target {sp.sobol.target:g})", flush=True)
            if widest <= sp.sobol.target:
                converged = True
                break
            if n_base * 2 > sp.sobol.max_samples:
                break
            n_base *= 2
        cases = _run_stage(sp, spec_path, root, out, "cases", [{**nom, "case": c} for c in sp.cases], **run) \
            if sp.cases else pd.DataFrame()
    sobol_run = {"n": n_base, "converged": converged, "widest": widest}
    table = indices_table(sp, nom, oat, morris_idx, sobol_idx)
    counts = {"oat": len(oat), "morris": len(mor), "sobol": len(sob), "cases": len(cases)}
    try:
        table.to_csv(out / "indices.csv", index=False)
        tornado(sp, nom, oat, out)
        write_markdown(sp, nom, oat, table, top, out, counts, sobol_run,
                       {"oat": oat, "morris": mor, "sobol": sob, "cases": cases})
    except OSError as exc:  # every point is saved: a resume only redoes the indices and the report
        raise OutputError(f"{exc.filename or out}: cannot write: {exc.strerror or type(exc).__name__}; "
                          f"{sweep.stopped_note('sensitivity', spec_path, out, _n_saved(out))} once there is "
                          "room") from None
    return {"oat": oat, "morris": mor, "sobol": sob, "cases": cases, "indices": table}


def _n_saved(out: Path) -> int:
    return sum(len(PointStore(out / s).names()) for s in STAGES)


def _require_ok(df: pd.DataFrame, stage: str) -> None:
    bad = df[df["status"] != "ok"] if not df.empty else df
    if df.empty or len(bad):
        first = bad.iloc[0] if len(bad) else None
        why = (first.get("error") or first["status"]) if first is not None else "no points"
        raise VrexError(f"sensitivity: {len(bad)} {stage} point(s) did not run ({why}); the indices need every point")


def oat_swing(sp: SensitivitySpec, nom: dict, oat: pd.DataFrame, output: str) -> pd.DataFrame:
    """Per input: the output at nominal and its lowest and highest value with that input alone moved."""
    base = float(oat.loc[oat["index"] == 0, output].iloc[0])
    rows, i = [], 1
    for inp in sp.inputs:
        n = (len(inp.options) - 1) if inp.options is not None else 2
        sel = oat[(oat["index"] >= i) & (oat["index"] < i + n)]
        vals = np.append(sel[output].to_numpy(dtype=float), base)  # the nominal value is inside the swing
        labels = [json.loads(p)[inp.name] for p in sel["point"]] + [nom[inp.name]]
        lo_i, hi_i = int(np.argmin(vals)), int(np.argmax(vals))
        rows.append({"input": inp.name, "nominal": base, "low": float(vals.min()), "high": float(vals.max()),
                     "at_low": labels[lo_i], "at_high": labels[hi_i], "swing": float(vals.max() - vals.min())})
        i += n
    return pd.DataFrame(rows)


def _range_text(inp: SensInput, nom: Any) -> str:
    if inp.options is not None:
        return " / ".join(f"**{o}**" if o == nom else o for o in inp.options)
    lo, hi = inp.range
    lv = f", {inp.levels} levels" if inp.levels else ""
    if inp.high_from is not None:
        return (f"{lo:g} up to each scenario's {inp.high_from} (position 0 - 1{' on a log scale' if inp.log else ''}"
                f"{lv}); base {lo:g} (position 0)")
    return f"{lo:g} - {hi:g}{' (log)' if inp.log else ''}{lv}; base {nom:g}"


def indices_table(sp, nom, oat, morris_idx, sobol_idx) -> pd.DataFrame:
    rows = []
    for o in sp.outputs:
        sw = oat_swing(sp, nom, oat, o).set_index("input")
        mi = morris_idx[o].set_index("input")
        si = sobol_idx[o].set_index("input")
        for inp in sp.inputs:
            r = {"output": o, "input": inp.name, "range": _range_text(inp, nom[inp.name]), "source": inp.source,
                 "oat_low": sw.loc[inp.name, "low"], "oat_high": sw.loc[inp.name, "high"],
                 "oat_swing": sw.loc[inp.name, "swing"], "morris_mu_star": mi.loc[inp.name, "mu_star"],
                 "morris_sigma": mi.loc[inp.name, "sigma"], "morris_mu_star_conf": mi.loc[inp.name, "mu_star_conf"]}
            for k in ("S1", "S1_conf", "ST", "ST_conf"):
                r[f"sobol_{k}"] = si.loc[inp.name, k] if inp.name in si.index else float("nan")
            rows.append(r)
    return pd.DataFrame(rows)


def _out_label(o: str) -> str:
    scen, metric = o.split(".", 1)
    nice = {"frame_speedup": "frame speedup over the baseline (x)", "tpot_speedup": "TPOT speedup over the "
            "baseline (x)"}.get(metric, metric)
    return f"{scen}: {nice}"


def _val_text(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


UNITS = ("tokens", "us", "ms", "ns", "s", "kb", "mb", "gb", "kib", "mib", "gib", "gbps", "mhz", "ghz", "w", "pj",
         "bytes", "cycles")  # name suffixes that are units (the house style puts units in names)


def _unit(name: str) -> str:
    """The unit a config path's or input's name ends in (``kv_prefill_tokens`` -> tokens), else ''."""
    last = name.rsplit(".", 1)[-1].rsplit("_", 1)[-1].lower()
    return {"us": "us", "kb": "KB", "mb": "MB", "gb": "GB", "kib": "KiB", "mib": "MiB", "gib": "GiB",
            "gbps": "GB/s", "mhz": "MHz", "ghz": "GHz", "w": "W", "pj": "pJ"}.get(last, last) if last in UNITS else ""


def value_label(inp: SensInput, v: Any, scen: Scenario | None) -> str:
    """An input's value as a figure shows it: an option's label, else its config value in scenario ``scen`` (a
    ``high_from`` input's position resolved, e.g. the window in tokens) with the unit its name carries."""
    if inp.options is not None:
        return str(v)
    x = resolve(inp, v, scen)
    unit = _unit(inp.high_from) if inp.high_from is not None else _unit(inp.name)
    text = f"{x:,}" if isinstance(x, int) else _val_text(float(x))
    return f"{text} {unit}".strip()


def tornado(sp: SensitivitySpec, nom: dict, oat: pd.DataFrame, out: Path) -> list[Path]:
    """One panel per output: each input's low-high swing around the nominal (largest on top), the bar ends
    labelled with the input value that gives them, in the input's units in that output's scenario (the window:
    tokens, not its 0-1 position)."""
    from analysis.report.figures import plt, save_figure

    n = len(sp.outputs)
    fig, axes = plt.subplots(1, n, figsize=(max(6.5, 5.8 * n), 0.42 * len(sp.inputs) + 2.0), squeeze=False)
    by_name = {i.name: i for i in sp.inputs}
    for ax, o in zip(axes[0], sp.outputs):
        scen = next((sc for sc in sp.scenarios if sc.name == o.split(".")[0]), None)
        sw = oat_swing(sp, nom, oat, o).sort_values("swing")
        base = float(sw["nominal"].iloc[0])
        y = np.arange(len(sw))
        ax.barh(y, sw["high"] - base, left=base, color="#c0504d", label="higher output")
        ax.barh(y, sw["low"] - base, left=base, color="#4f81bd", label="lower output")
        span = float((sw["high"].max() - sw["low"].min()) or 1.0)
        for yi, r in zip(y, sw.to_dict("records")):
            if r["high"] > base + 0.004 * span:  # label visible bars only
                ax.text(r["high"] + 0.01 * span, yi, value_label(by_name[r["input"]], r["at_high"], scen),
                        va="center", fontsize=7)
            if r["low"] < base - 0.004 * span:
                ax.text(r["low"] - 0.01 * span, yi, value_label(by_name[r["input"]], r["at_low"], scen),
                        va="center", ha="right", fontsize=7)
        ax.axvline(base, color="k", lw=0.8)
        ax.set_xlim(sw["low"].min() - 0.2 * span, sw["high"].max() + 0.3 * span)  # room for the end labels
        ax.set_yticks(y, sw["input"])
        ax.set_xlabel(_out_label(o))
        ax.set_title(f"{o.split('.')[0]}: nominal {base:.3g}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False,
               title="one input moved alone, others at the base value (bar ends: that input's value)",
               title_fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return save_figure(fig, out, "tornado", tight=False)


def losses(sp: SensitivitySpec, nom: dict, stages: dict[str, pd.DataFrame]) -> list[str]:
    """Where the accelerator loses (a speedup output below 1): per output, how many simulated points of each
    stage fall below 1 and the lowest, with its inputs."""
    lines = []
    for o in sp.outputs:
        if not o.endswith("_speedup"):
            continue
        for stage, df in stages.items():
            if df is None or df.empty or o not in df:
                continue
            v = df[o].to_numpy(dtype=float)
            below = np.flatnonzero(v < 1.0)
            if not below.size:
                lines.append(f"- {_out_label(o)}, {stage}: none of {len(v)} points below 1 "
                             f"(lowest {np.nanmin(v):.3g}x)")
                continue
            k = int(np.nanargmin(v))
            pt = json.loads(df["point"].iloc[k])
            moved = [f"{n} = {_val_text(x)}" for n, x in pt.items() if n == "case" or x != nom.get(n)]
            lines.append(f"- {_out_label(o)}, {stage}: **{below.size} of {len(v)} points below 1**; the lowest "
                         f"{v[k]:.3g}x with " + (", ".join(moved) or "every input at its base value")
                         + " (the others at their base values)")
    return lines


def write_markdown(sp, nom, oat, table, top, out: Path, counts: dict, sobol_run: dict | None = None,
                   stages: dict[str, pd.DataFrame] | None = None) -> Path:
    lines = [f"# Sensitivity: {sp.name}", "",
             f"Outputs: {', '.join(_out_label(o) for o in sp.outputs)}. Accelerator {sp.base.hw} on "
             f"{sp.base.workload}; baseline {sp.base.baseline} on "
             f"{sp.base.baseline_workload or 'the same stream under ' + PAPER_BASELINE_POLICY}.",
             f"Points simulated: {counts['oat']} one-at-a-time, {counts['morris']} Morris "
             f"({sp.morris.trajectories} trajectories, {sp.morris.levels} levels), {counts['sobol']} Sobol "
             f"(N = {sobol_run['n'] if sobol_run else sp.sobol.samples} on {', '.join(top)}), "
             f"{counts.get('cases', 0)} labelled cases.", ""]
    if sobol_run:
        lines += [f"Sobol: Saltelli sampling from N = {sp.sobol.samples}, doubling until every S1 and ST bootstrap "
                  f"95% interval is within +/- {sp.sobol.target:g} (budget N = {sp.sobol.max_samples}): "
                  + (f"**converged** at N = {sobol_run['n']} (widest +/- {sobol_run['widest']:.3f})."
                     if sobol_run["converged"] else
                     f"**did not converge** within the budget (at N = {sobol_run['n']} the widest interval is "
                     f"+/- {sobol_run['widest']:.3f}); read the indices with their intervals."), ""]
    lines += ["![tornado](tornado.png)", "",
             "## Inputs", "", "| input | range (base in bold) | source / reason |", "|---|---|---|"]
    for inp in sp.inputs:
        lines.append(f"| {inp.name} | {_range_text(inp, nom[inp.name])} | {inp.source} |")
    if sp.excluded:
        lines += ["", "Open choices that are not inputs here:", ""]
        lines += [f"- **{k}**: {v}" for k, v in sp.excluded.items()]
    for o in sp.outputs:
        t = table[table["output"] == o].sort_values("morris_mu_star", ascending=False)
        base = float(oat.loc[oat["index"] == 0, o].iloc[0])
        lines += ["", f"## {_out_label(o)} (nominal {base:.3g})", "",
                  "| input | one-at-a-time low - high | Morris mu* | Morris sigma | Sobol S1 | Sobol ST |",
                  "|---|---|---|---|---|---|"]
        for r in t.to_dict("records"):
            s1 = "" if math.isnan(r["sobol_S1"]) else f"{r['sobol_S1']:.2f} +/- {r['sobol_S1_conf']:.2f}"
            st = "" if math.isnan(r["sobol_ST"]) else f"{r['sobol_ST']:.2f} +/- {r['sobol_ST_conf']:.2f}"
            lines.append(f"| {r['input']} | {r['oat_low']:.3g} - {r['oat_high']:.3g} | {r['morris_mu_star']:.3g} | "
                         f"{r['morris_sigma']:.3g} | {s1} | {st} |")
    if stages is not None and sp.cases:
        cases = stages.get("cases")
        lines += ["", "## Labelled cases (not sampled)", "", "| case | settings | "
                  + " | ".join(_out_label(o) for o in sp.outputs) + " |", "|---|---|" + "---|" * len(sp.outputs)]
        for k, (lab, sets) in enumerate(sp.cases.items()):
            r = cases[cases["index"] == k]
            vals = [f"{float(r[o].iloc[0]):.3g}" if len(r) and o in r else "did not run" for o in sp.outputs]
            lines.append(f"| {lab} | " + ", ".join(f"{p} = {v}" for p, v in sets.items()) + " | "
                         + " | ".join(vals) + " |")
    if stages is not None:
        lines += ["", "## Where the accelerator loses (speedup below 1)", ""] + losses(sp, nom, stages)
    path = out / "sensitivity.md"
    path.write_text("\n".join(lines) + "\n")
    return path

