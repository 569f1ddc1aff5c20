"""Design-space sweeps: axes over config paths, sampled by grid / random / Latin hypercube.

A sweep spec (YAML) names a base accelerator, baseline and workload, the axes, optional constraints
and the objectives of the Pareto front. Every point gets a stable id (a hash of its axis values), is
simulated once and saved in the study's point store (``analysis.studies.store``: ``OUT/points/``, one file
per point named by its resolved configs and the code version, atomic rename), so results are appended
point by point, ``--resume`` skips finished points (and recomputes points whose configs or code changed,
or whose file is damaged), and no point is lost or duplicated.
A failing point is recorded with its error and does not stop the sweep. Traces are made once per
distinct workload (``OUT/traces/``) and reused by every point that shares it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import json
import math
import operator
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.studies.store import PointStore, code_version, point_key
from simulator.config import overrides
from simulator.config.hardware import AcceleratorConfig, GpuConfig
from simulator.config.schema import build, load_yaml, spec
from simulator.config.workload import WorkloadConfig
from simulator.errors import ConfigError, VrexError
from simulator.safe_io import OutputError

MAX_POINTS = 100_000
BATCH = 64  # points a worker simulates together (those sharing their traces: one evaluate_designs call each)
WHY_POINTS = "100000 points: each is a full simulation (seconds to minutes); a day of 2 cores does ~10^4"
ROLES = {"hw": AcceleratorConfig, "baseline": GpuConfig, "workload": WorkloadConfig}
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
_CONSTRAINT = re.compile(r"^\s*([a-z_][a-z0-9_.]*)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+|reference)\s*$")


@dataclass(frozen=True, kw_only=True)
class BaseSpec:
    hw: str = spec("accelerator config")
    baseline: str = spec("GPU baseline config", default="hwconfigs/orin-agx-64gb.yaml")
    workload: str = spec("workload config")
    duration_s: float | None = spec("override the stream length (s), to keep points fast", default=None, gt=0)
    baseline_workload: str | None = spec("what the baseline runs: null (default) the paper's baseline, FlexGen on "
                                         "each point's stream and cache; 'same' the point's own workload; or a "
                                         "workload file of the same stream", default=None)
    force_baseline: bool = spec("compare even if the baseline's stream differs in more than the KV policy",
                                default=False)


@dataclass(frozen=True, kw_only=True)
class Axis:
    path: str = spec("config path: hw.<key>..., baseline.<key>... or workload.<key>...")
    values: list[Any] | None = spec("explicit values (grid; random/lhs pick among them)", default=None)
    range: list[float] | None = spec("[low, high] for random / lhs sampling", default=None)
    log: bool = spec("sample the range log-uniformly", default=False)
    integer: bool = spec("round sampled values to integers", default=False)


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    name: str = spec("sweep name")
    base: BaseSpec = spec("base configs")
    sampler: str = spec("how points are chosen", choices=("grid", "random", "lhs"), default="grid")
    samples: int = spec("points for random / lhs", ge=1, default=50, le=MAX_POINTS, why=WHY_POINTS)
    seed: int = spec("sampling seed", default=0)
    axes: list[Axis] = spec("swept config paths")
    constraints: list[str] = spec("metric bounds, e.g. 'area_mm2 <= 10'", default_factory=tuple)
    objectives: list[str] = spec("metrics minimised by the Pareto front",
                                 default_factory=lambda: ("frame_latency_mean_s", "energy_per_frame_j", "area_mm2"))


# ---------------------------------------------------------------- validation
def check_path(path: str, source: str, where: str) -> None:
    """Raise ConfigError unless ``path`` names a config field of a sweep role."""
    overrides.check_path(path, ROLES, source, where)


def parse_bound(text: Any, source: str, where: str, *, reference: bool = False) -> tuple[str, str, float | str]:
    """'metric <op> number' -> (metric, op, bound); with ``reference``, the bound may also be the word
    'reference' (explore: the base design's own figure). Every study parses its constraints here."""
    m = _CONSTRAINT.match(text) if isinstance(text, str) else None
    allowed = "number|reference" if reference else "number"
    if not m:
        raise ConfigError(source, where, f"{text!r} is not 'metric <op> {allowed}' with op one of {', '.join(OPS)}")
    if reference and m.group(3) == "reference":
        return m.group(1), m.group(2), "reference"
    try:
        bound = float(m.group(3))
    except ValueError:
        raise ConfigError(source, where, f"'{m.group(3)}' in '{text}' is not a number"
                                         + (" or 'reference'" if reference else "")) from None
    if not math.isfinite(bound):
        raise ConfigError(source, where, f"'{m.group(3)}' in '{text}' is not a finite number")
    return m.group(1), m.group(2), bound


def load_spec(path: str | Path) -> SweepSpec:
    """Load and fully validate a sweep spec; nothing runs before this passes."""
    from simulator.results.metrics import StreamMetrics

    source = str(path)
    sp = build(SweepSpec, load_yaml(path), source=source)
    metric_names = {f.name for f in dataclasses.fields(StreamMetrics)} | {"speedup", "energy_eff"}
    if not sp.axes:
        raise ConfigError(source, "axes", "empty; give at least one axis")
    for i, ax in enumerate(sp.axes):
        where = f"axes[{i}]"
        check_path(ax.path, source, f"{where}.path")
        if ax.values is not None and len(ax.values) == 0:
            raise ConfigError(source, f"{where}.values", "empty axis; give at least one value")
        if ax.values is None and ax.range is None:
            raise ConfigError(source, where, "needs 'values' or 'range'")
        if ax.range is not None:
            if len(ax.range) != 2 or not ax.range[0] <= ax.range[1]:
                raise ConfigError(source, f"{where}.range",
                                  f"got {list(ax.range)}; must be [low, high] with low <= high")
            if ax.log and ax.range[0] <= 0:
                raise ConfigError(source, f"{where}.range", "log sampling needs low > 0")
            if sp.sampler == "grid" and ax.values is None:
                raise ConfigError(source, where, "grid sampling needs 'values'")
    if sp.sampler == "grid":
        n = math.prod(len(ax.values or ()) for ax in sp.axes)
        if n > MAX_POINTS:
            raise ConfigError(source, "axes", f"the grid has {n:,} points; at most {MAX_POINTS:,} ({WHY_POINTS})")
    for i, c in enumerate(sp.constraints):
        name, _, _ = parse_bound(c, source, f"constraints[{i}]")
        if name not in metric_names:
            raise ConfigError(source, f"constraints[{i}]", f"unknown metric '{name}'; allowed: "
                                                           f"{', '.join(sorted(metric_names))}")
    for i, o in enumerate(sp.objectives):
        if o not in metric_names:
            raise ConfigError(source, f"objectives[{i}]", f"unknown metric '{o}'; allowed: "
                                                          f"{', '.join(sorted(metric_names))}")
    return sp


# ---------------------------------------------------------------- sampling
def sample_points(sp: SweepSpec) -> list[dict[str, Any]]:
    """The sweep's points as {path: value} dicts, in a deterministic order."""
    rng = np.random.default_rng(sp.seed)
    if sp.sampler == "grid":
        grids = [list(ax.values) for ax in sp.axes]
        combos = np.array(np.meshgrid(*[np.arange(len(g)) for g in grids], indexing="ij")).reshape(len(grids), -1).T
        return [{ax.path: grids[j][int(i)] for j, (ax, i) in enumerate(zip(sp.axes, row))} for row in combos]
    n = sp.samples
    if sp.sampler == "random":
        u = rng.random((n, len(sp.axes)))
    else:  # Latin hypercube: one sample per stratum on every axis, strata shuffled independently
        u = (np.argsort(rng.random((len(sp.axes), n)), axis=1).T + rng.random((n, len(sp.axes)))) / n
    pts = []
    for row in u:
        p = {}
        for ax, x in zip(sp.axes, row):
            if ax.values is not None and ax.range is None:
                v = ax.values[min(int(x * len(ax.values)), len(ax.values) - 1)]
            else:
                lo, hi = ax.range
                v = math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if ax.log else lo + x * (hi - lo)
                v = int(round(v)) if ax.integer else float(v)
            p[ax.path] = v
        pts.append(p)
    return pts


def point_id(values: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- one point
def cached_yaml(path: str | Path) -> Any:
    """A fresh copy of a YAML file's parsed content, parsed once per version of the file (its path, size and
    modification time): a study builds thousands of points from the same few configs."""
    st = Path(path).stat()
    return copy.deepcopy(_parsed_yaml(str(path), st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _parsed_yaml(path: str, _size: int, _mtime_ns: int) -> Any:
    return load_yaml(path)


def point_configs(sp: SweepSpec, values: dict[str, Any], root: Path, source: str):
    """(hw, baseline, workload) for one point, validated by the schema (errors name the axis path)."""
    from simulator.config.workload import build_workload

    raw = {role: cached_yaml(root / getattr(sp.base, role)) for role in ROLES}
    for path, v in values.items():
        role, *rest = path.split(".")
        overrides.set_path(raw[role], rest, v, source, path)
    where = f"{source} (point {values})"
    hw = _built(raw["hw"], None, lambda: build(AcceleratorConfig, raw["hw"], source=where))
    base = _built(raw["baseline"], None, lambda: build(GpuConfig, raw["baseline"], source=where))
    wpath = root / sp.base.workload
    wl = _built({"workload": raw["workload"], "at": str(wpath)}, _model_stamp(raw["workload"], wpath),
                lambda: build_workload(raw["workload"], wpath, source=where))
    if sp.base.duration_s is not None:
        wl = wl.with_stream(duration_s=sp.base.duration_s,
                            questions=tuple(q for q in wl.stream.questions if q.at_s <= sp.base.duration_s))
    return hw, base, wl


_BUILT: dict[str, Any] = {}  # validated configs by their raw content (frozen dataclasses, safe to share)
_BUILT_MAX = 4096  # a few MB of configs: a study's distinct hw, baseline and workload variants


def _built(raw: Any, stamp: Any, make: Callable[[], Any]) -> Any:
    """``make()`` (a schema build of ``raw``), once per distinct raw content (and ``stamp``: what a build reads
    besides ``raw``, e.g. a model file's version): a study builds the same few configs for thousands of points.
    A build that fails is not kept (every point gets its own error); ``stamp`` None for a file that cannot be
    read: built afresh (its error)."""
    key = json.dumps([raw, stamp], sort_keys=True, default=str)
    hit = _BUILT.get(key)
    if hit is None:
        hit = make()
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        _BUILT[key] = hit
    return hit


def _model_stamp(raw_wl: Any, wl_path: Path) -> Any:
    """The version (path, size, mtime) of the model file a raw workload names, or a fresh object (never equal:
    no caching) when it cannot be read."""
    from simulator.config.workload import find_model

    try:
        path = find_model(str(raw_wl["model"]), wl_path, "")
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]
    except (OSError, TypeError, KeyError, VrexError):
        return object()


def workload_key(wl: WorkloadConfig) -> str:
    d = dataclasses.asdict(wl)
    d.pop("model_config", None)
    d["model_shape"] = dataclasses.asdict(wl.model_config)
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


_TRACE_CACHE: dict[str, Any] = {}


def _trace_for(wl: WorkloadConfig, trace_dir: Path):
    """The workload's trace: from this process's cache, the sweep's trace directory, or traced now."""
    from simulator.stream import trace_workload
    from simulator.tracer.trace_file import read_trace, write_trace

    key = workload_key(wl)
    if key in _TRACE_CACHE:
        return _TRACE_CACHE[key]
    path = trace_dir / f"{key}.parquet"
    if path.is_file():
        tr = read_trace(path)
    else:
        tr = trace_workload(wl)
        write_trace(tr, path)
    if len(_TRACE_CACHE) > 12:  # a few hundred MB at most (short streams; a study reuses a dozen traces)
        _TRACE_CACHE.clear()
    _TRACE_CACHE[key] = tr
    return tr


def run_point(spec_path: str, root: str, out_dir: str, values: dict[str, Any], key: str) -> dict:
    """Simulate one point and save its row under ``key`` (its store key); never raises for the point's own
    failure (errors become a row with status=error); a failed write (full disk) raises OutputError."""
    from simulator.engine.platforms.accelerator import AcceleratorPlatform

    pid = point_id(values)
    row: dict[str, Any] = {"point_id": pid, "values": json.dumps(values, sort_keys=True, default=str)}
    try:
        kinds = {ax.path: axis_kind(ax) for ax in load_spec(spec_path).axes}
    except VrexError:
        kinds = {}
    row.update({f"axis:{k}": typed(v, kinds.get(k)) for k, v in values.items()})
    t0 = time.perf_counter()
    try:
        sp = load_spec(spec_path)
        hw, base, wl = point_configs(sp, values, Path(root), spec_path)
        area = sum(AcceleratorPlatform(hw).area_mm2().values())
        ok_pre = _constraints_ok(sp, {"area_mm2": area}, pre=True)
        if not ok_pre:
            row.update(status="infeasible", area_mm2=area)
        else:
            res = run_compared(hw, base, wl, sp.base, Path(root), Path(out_dir) / "traces")
            row.update(compared_metrics(res.accel, res.baseline, res.trace, res.baseline_trace))
            row["status"] = _status(sp, row)
    except OSError as exc:  # the machine, not the point (a full disk): stop; --resume recomputes it
        raise OutputError(write_failure(exc, out_dir)) from None
    except VrexError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # a point's failure is data, not a crash of the sweep
        row.update(status="error", error=f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}")
    row["wall_s"] = time.perf_counter() - t0
    PointStore(out_dir).write(key, row)
    return row


def _point_row(values: dict[str, Any], kinds: dict[str, type]) -> dict[str, Any]:
    row: dict[str, Any] = {"point_id": point_id(values), "values": json.dumps(values, sort_keys=True, default=str)}
    row.update({f"axis:{k}": typed(v, kinds.get(k)) for k, v in values.items()})
    return row


def _failed(row: dict, exc: BaseException, out_dir: str) -> None:
    """A point's failure as its row's status (an OSError, the machine's, stops the sweep)."""
    if isinstance(exc, OSError):  # the machine, not the point (a full disk): stop; --resume recomputes it
        raise OutputError(write_failure(exc, out_dir)) from None
    if isinstance(exc, VrexError):
        row.update(status="error", error=str(exc))
    else:  # a point's failure is data, not a crash of the sweep
        row.update(status="error", error=f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}")


def compared_metrics(acc, base, tr, btr) -> dict[str, Any]:
    """A point's metrics from the accelerator's and the baseline's results on their traces, as
    :func:`run_point` takes them from ``pipeline.run``'s report: the accelerator's stream metrics, the stream's
    speedup and energy efficiency over the baseline (both at the accelerator's stream rate), the baseline's
    policy and workload, the DRE's area share."""
    from simulator.results.metrics import phase_comparison, stream_metrics

    fps = tr.record.fps
    am, apt = stream_metrics(acc, fps)
    _, bpt = stream_metrics(base, fps)
    m = am.as_dict()
    if acc.ok and base.ok:
        comp = phase_comparison(bpt, apt).set_index("phase")
        m["speedup"] = float(comp.loc["stream", "speedup"])
        m["energy_eff"] = float(comp.loc["stream", "energy_eff"])
    else:  # a system that cannot run (out of memory) is reported as such, never as a number
        m["speedup"] = m["energy_eff"] = float("nan")
        m["status"] = acc.status if not acc.ok else f"baseline {base.status}"
    m["baseline_policy"] = btr.record.kv_policy
    m["baseline_workload"] = btr.record.workload
    m["dre_area_share"] = (sum(v for k, v in acc.area_mm2.items() if k.startswith("dre_"))
                           / sum(acc.area_mm2.values()))
    return {k: v for k, v in m.items() if k != "hardware"}


def run_points(spec_path: str, root: str, out_dir: str, items: list[tuple[dict[str, Any], str]]) -> list[dict]:
    """:func:`run_point` of several points (``(values, store key)``), the designs that share a trace simulated in
    one ``simulate.evaluate_designs`` call (the trace's plan once, aggregates only), with the figures
    one-by-one :func:`run_point` gives (tests/analysis/studies/test_sweep.py); each row saved under its key."""
    from simulator.engine.platforms.accelerator import AcceleratorPlatform
    from simulator.engine.simulate import evaluate_designs
    from simulator.pipeline import check_same_stream

    t0 = time.perf_counter()
    sp = load_spec(spec_path)
    kinds = {ax.path: axis_kind(ax) for ax in sp.axes}
    rows, runs = [], {}  # runs: point index -> (hw, baseline, trace, baseline trace)
    groups: dict[int, tuple[Any, list[tuple[int, str, Any]]]] = {}  # trace id -> (trace, [(point, role, config)])
    for i, (values, _) in enumerate(items):
        row = _point_row(values, kinds)
        rows.append(row)
        try:
            hw, base, wl = point_configs(sp, values, Path(root), spec_path)
            area = sum(AcceleratorPlatform(hw).area_mm2().values())
            if not _constraints_ok(sp, {"area_mm2": area}, pre=True):
                row.update(status="infeasible", area_mm2=area)
                continue
            tr, btr = compared_traces(wl, sp.base, Path(root), Path(out_dir) / "traces")
            if not sp.base.force_baseline:
                bw = sp.base.baseline_workload
                check_same_stream(tr.meta, btr.meta, str(bw or "baseline workload"))
            runs[i] = (tr, btr)
            groups.setdefault(id(tr), (tr, []))[1].append((i, "accel", hw))
            groups.setdefault(id(btr), (btr, []))[1].append((i, "baseline", base))
        except Exception as exc:
            _failed(row, exc, out_dir)
    results: dict[tuple[int, str], Any] = {}
    for tr, todo in groups.values():
        try:
            for (i, role, _), res in zip(todo, evaluate_designs(tr, [cfg for _, _, cfg in todo])):
                results[(i, role)] = res
        except Exception as exc:
            for i, _, _ in todo:
                _failed(rows[i], exc, out_dir)
    wall = (time.perf_counter() - t0) / max(len(items), 1)
    for i, ((_, key), row) in enumerate(zip(items, rows)):
        if i in runs and "status" not in row:
            try:
                row.update(compared_metrics(results[(i, "accel")], results[(i, "baseline")], *runs[i]))
                row["status"] = _status(sp, row)
            except Exception as exc:
                _failed(row, exc, out_dir)
        row["wall_s"] = wall
        PointStore(out_dir).write(key, row)
    return rows


def axis_kind(ax: Axis) -> type:
    """The type of an axis's column (one per axis, so the points read as one Parquet dataset): int or float for
    numbers (float as soon as one value or the sampled range is), bool, else str."""
    vals = list(ax.values or ())
    if ax.range is not None and not vals:
        return int if ax.integer else float
    if vals and all(isinstance(v, bool) for v in vals):
        return bool
    if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return int if all(isinstance(v, int) for v in vals) and (ax.range is None or ax.integer) else float
    return str


def typed(v: Any, kind: type | None) -> Any:
    """An axis value in its column's type (``kind`` None: numbers as they are, others as text)."""
    if kind in (int, float, bool):
        return kind(v)
    return v if kind is None and isinstance(v, (int, float)) else str(v)


def compared_traces(wl: WorkloadConfig, bs: BaseSpec, root: Path, trace_dir: Path):
    """(the workload's trace, the baseline's trace): the spec's baseline workload (the paper's FlexGen baseline
    by default) on the same stream; both from the sweep's trace cache."""
    from simulator.pipeline import SAME, baseline_workload_of

    bw = bs.baseline_workload
    bwl = baseline_workload_of(wl, bw if bw in (None, SAME) else root / bw, source=f"base.baseline_workload {bw}")
    if bs.duration_s is not None and bw not in (None, SAME):
        bwl = bwl.with_stream(duration_s=bs.duration_s,
                              questions=tuple(q for q in bwl.stream.questions if q.at_s <= bs.duration_s))
    tr = _trace_for(wl, trace_dir)
    return tr, (tr if bwl == wl else _trace_for(bwl, trace_dir))


def run_compared(hw, base, wl: WorkloadConfig, bs: BaseSpec, root: Path, trace_dir: Path):
    """One point's comparison with the spec's baseline workload (``compared_traces``)."""
    from simulator.pipeline import run

    tr, btr = compared_traces(wl, bs, root, trace_dir)
    return run(hw=hw, baseline=base, workload=wl, trace=tr, baseline_trace=btr,
               baseline_workload=bs.baseline_workload, force=bs.force_baseline)


def _status(sp: SweepSpec, m: dict) -> str:
    """A simulated point's status: why it could not run (out of memory), else ok or infeasible (constraints)."""
    if m.get("status", "ok") != "ok":
        return m["status"]
    return "ok" if _constraints_ok(sp, m) else "infeasible"


def _constraints_ok(sp: SweepSpec, metrics: dict, pre: bool = False) -> bool:
    for c in sp.constraints:
        name, op, bound = parse_bound(c, "", "")
        if name not in metrics:
            if pre:
                continue
            return False
        if not OPS[op](metrics[name], bound):
            return False
    return True


# ---------------------------------------------------------------- the sweep
def load_results(out: str | Path) -> pd.DataFrame:
    """Every saved point of a study directory; a damaged file is an error naming it (for plots and reports)."""
    return PointStore(out).load()


def configs_key(configs, code: str) -> str:
    """A sweep point's store key: its (hw, baseline, workload) and the code version."""
    return point_key({"hw": configs[0], "baseline": configs[1], "workload": configs[2]}, code)


def write_failure(exc: BaseException, out: str | Path | None = None) -> str:
    """One line for a failed write: an OutputError's own text, or an OSError's file (else ``out``) and reason."""
    if isinstance(exc, OutputError):
        return str(exc)
    where = getattr(exc, "filename", None) or (str(out) if out is not None else None)
    return f"{where + ': ' if where else ''}cannot write: {getattr(exc, 'strerror', None) or type(exc).__name__}"


def stopped_note(study: str, spec_path, out, n_done: int, n_total: int | None = None) -> str:
    """What a stopped or failed study kept and how to continue it (one line)."""
    of = f" of {n_total}" if n_total is not None else ""
    return (f"{n_done}{of} points finished and kept in {out}; 'vrex {study} {spec_path} --out {out} --resume' "
            "continues")


@contextlib.contextmanager
def study_guard(study: str, spec_path, out, n_saved: Callable[[], int], bar=None, n_total: int | None = None):
    """Run a study's work so that it stops cleanly: SIGTERM acts as Ctrl-C, and either ends with one line saying
    what was kept and how to resume (the KeyboardInterrupt goes on); a failed write (a full disk) is one
    OutputError saying the same. The signal handlers are restored and the progress bar closed either way."""
    prev = _raise_on_sigterm()
    try:
        yield
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"vrex: {study} stopped: {stopped_note(study, spec_path, out, n_saved(), n_total)}", file=sys.stderr)
        raise
    except (OutputError, OSError) as exc:  # a full disk: the points written so far are whole and kept
        note = stopped_note(study, spec_path, out, n_saved(), n_total)
        raise OutputError(f"{write_failure(exc, out)}; {note} once there is room") from None
    finally:
        _restore_sigterm(prev)
        if bar is not None:
            bar.close()


STUDY_STORES: dict[str, tuple[str, ...]] = {"sweep": (), "explore": (), "fit": (),
                                             "sensitivity": ("oat", "morris", "sobol", "cases")}
"""The registry of study methods: study name -> the stages whose point stores live in sub-directories of its
output (``OUT/<stage>/points``; every study may also use ``OUT/points``). The one owner of a study's stage
names (sensitivity reads its own from here); :func:`check_resume` recognises any registered study's points."""


def held_points(out: Path) -> bool:
    """Whether ``out`` holds any registered study's saved points."""
    subdirs = {s for stores in STUDY_STORES.values() for s in stores}
    return bool(PointStore(out).names()) or any(PointStore(out / s).names() for s in sorted(subdirs))


def check_resume(out: Path, spec_path: Path, study: str, resume: bool) -> str:
    """Refuse a directory that holds another study's points (or any points without --resume); returns the spec
    hash, written beside the points by :func:`record_spec` once the run starts."""
    digest = spec_hash(spec_path)
    if not held_points(out):
        return digest
    if not resume:
        raise ConfigError(str(out), "", "output directory holds results; pass --resume to continue it "
                                        "or choose another --out")
    old = out / "spec.yaml"
    if not old.is_file():
        raise ConfigError(str(out), "", f"holds points but no spec.yaml: not a {study} directory (or a damaged "
                                        "one); choose another --out")
    try:
        old_digest = spec_hash(old)
    except ConfigError:
        raise ConfigError(str(out), "spec.yaml", "the saved spec is damaged; choose another --out") from None
    if old_digest != digest:
        raise ConfigError(str(out), "", f"was made by a different spec ({old} has hash {old_digest[:12]}, "
                                        f"{spec_path} has {digest[:12]}); --resume continues only the same "
                                        "spec: choose another --out")
    return digest


def record_spec(out: Path, spec_path: Path, digest: str) -> None:
    from simulator.safe_io import atomic_write

    text = spec_path.read_text()
    atomic_write(out / "spec.yaml", lambda tmp: tmp.write_text(text), rescue=False)
    atomic_write(out / "spec.sha256", lambda tmp: tmp.write_text(digest + "\n"), rescue=False)


def pareto_front(df: pd.DataFrame, objectives: list[str]) -> pd.DataFrame:
    """Feasible points not dominated on ``objectives`` (all minimised)."""
    ok = df[df.get("status", pd.Series(dtype=str)) == "ok"]
    if ok.empty or any(o not in ok for o in objectives):  # no point ran (all infeasible or failed)
        return ok.iloc[0:0]
    ok = ok.dropna(subset=list(objectives))
    if ok.empty:
        return ok
    vals = ok[list(objectives)].to_numpy(dtype=float)
    keep = np.ones(len(vals), dtype=bool)
    for i in range(len(vals)):
        dominated = np.all(vals <= vals[i], axis=1) & np.any(vals < vals[i], axis=1)
        keep[i] = not dominated.any()
    return ok[keep].sort_values(list(objectives)).reset_index(drop=True)


def run_sweep(spec_path: str | Path, out: str | Path, *, resume: bool = False, executor: str = "local",
              scheduler: str | None = None, workers: int | None = None, progress: bool = True,
              client=None) -> pd.DataFrame:
    """Run (or resume) a sweep; returns every point's row. Writes ``pareto.parquet`` at the end."""
    spec_path = Path(spec_path)
    sp = load_spec(spec_path)
    root = Path.cwd()
    out = Path(out)
    points = sample_points(sp)
    # validate every point's configs before anything runs
    configs = {point_id(v): point_configs(sp, v, root, str(spec_path)) for v in points}
    digest = check_resume(out, spec_path, "sweep", resume)
    code = code_version()
    keys = {pid: configs_key(c, code) for pid, c in configs.items()}
    record_spec(out, spec_path, digest)
    store = PointStore(out)
    store.set_aside_others(keys.values())
    finished = {k for k in keys.values() if store.get(k) is not None}
    todo = [v for v in points if keys[point_id(v)] not in finished]
    args = [(str(spec_path), str(root), str(out), v, keys[point_id(v)]) for v in todo]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(points), initial=len(points) - len(todo), desc=f"sweep {sp.name}", unit="point")
    with study_guard("sweep", spec_path, out, lambda: len(store.names()), bar, n_total=len(points)):
        # one trace per distinct workload, made before the points fan out
        traces_of = {}  # point id -> its workload's key (the baseline's workload follows from it and the spec)
        for vals in todo:
            _, _, wl = configs[point_id(vals)]
            traces_of[point_id(vals)] = workload_key(wl)
            with contextlib.suppress(VrexError):  # a point's own error is reported in its row
                compared_traces(wl, sp.base, root, out / "traces")
        # the points that share their traces in batches (one evaluate_designs call per trace), over the workers
        by_traces: dict[str, list] = {}
        for a in args:
            by_traces.setdefault(traces_of[point_id(a[3])], []).append((a[3], a[4]))
        size = max(1, min(BATCH, math.ceil(len(args) / max(workers or os.cpu_count() or 1, 1))))
        batches = [(str(spec_path), str(root), str(out), group[k:k + size])
                   for _, group in sorted(by_traces.items()) for k in range(0, len(group), size)]

        def done(rows: list[dict]) -> None:
            if bar is not None:
                bar.update(len(rows))

        if executor == "dask":
            _run_dask(batches, scheduler, client, None, fn=run_points, on_result=done)
        elif workers == 1 or len(batches) <= 1:
            for b in batches:
                done(run_points(*b))
        else:
            _run_local(batches, workers, None, fn=run_points, on_result=done)
        df = store.load(keys.values())
        front = pareto_front(df, list(sp.objectives))
        from simulator.safe_io import atomic_write

        atomic_write(out / "pareto.parquet", lambda tmp: front.to_parquet(tmp, index=False), rescue=False)
    if not df.empty:
        from analysis.studies.sweep_outputs import plot_lines, write_tables

        write_tables(out, df, front, list(sp.objectives))
        plot_lines(out, df, list(sp.objectives))
    return df


def spec_hash(path: str | Path) -> str:
    """SHA-256 of a spec's parsed content (comments and formatting do not count): a resumed directory must
    come from the same spec."""
    data = load_yaml(path)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: stop the workers, keep the finished points."""


def _raise_on_sigterm():
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(_signum, _frame):
        raise _Terminated()

    # Ctrl-C too, even where the shell started us with SIGINT ignored (a background job)
    return signal.signal(signal.SIGTERM, handler), signal.signal(signal.SIGINT, signal.default_int_handler)


def _restore_sigterm(prev) -> None:
    import signal

    if prev is not None:
        signal.signal(signal.SIGTERM, prev[0])
        signal.signal(signal.SIGINT, prev[1])


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which terminates them (a worker that caught it would go on)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_args(fn, a) -> dict:
    return (fn or run_point)(*a)


def _run_local(args, workers, bar, fn=None, on_result=None) -> None:
    """Run ``fn(*a)`` (default :func:`run_point`) for every ``a`` in ``args`` in a process pool; ``on_result``
    (if given) receives each return value in this process as it comes."""
    import multiprocessing as mp

    n = min(workers or os.cpu_count() or 1, len(args))
    pool = mp.get_context("spawn").Pool(processes=n, initializer=_worker_init)
    try:
        for r in pool.imap_unordered(functools.partial(_run_args, fn), args):
            if on_result is not None:
                on_result(r)
            if bar is not None:
                bar.update(1)
        pool.close()
    except BaseException:
        pool.terminate()  # in-flight points are dropped (each is written atomically, so none is half-written)
        raise
    finally:
        pool.join()


def _run_dask(args, scheduler, client, bar, fn=None, on_result=None) -> None:
    from dask.distributed import Client, as_completed

    own = client is None
    if own:
        if not scheduler:
            raise ConfigError("--scheduler", "", "the dask executor needs --scheduler tcp://HOST:PORT")
        client = Client(scheduler)
    futs = []
    try:
        futs = [client.submit(fn or run_point, *a, pure=False) for a in args]
        for f in as_completed(futs):
            r = f.result()
            if on_result is not None:
                on_result(r)
            if bar is not None:
                bar.update(1)
    except BaseException:
        client.cancel(futs)
        raise
    finally:
        if own:
            client.close()
