"""The paper's open choices inferred from its declared fit set (``vrex fit``, ``make paper-fit``; issue 29).

The fit set (:data:`FIT_SET`, ``--fit-set``) holds published latencies of V-Rex8 running ReSV: per-frame
latency (ms) at a pre-computed KV size and batch. It is the only paper result this module reads; every other
figure of the paper stays a prediction. The spec (``analysis/specs/paper-fit.yaml``) declares each open
choice's plausible range, with its reason, before any fit: the recent-KV window (two parameterisations: tokens,
or a share of the device DRAM left after the weights and activations, fitted separately), cluster scope, the
KVMU's offload layout and request merging, the SSD's queue depth and largest request, and prefetch depth.

Search: optuna's TPE sampler (seeded), ``trials`` per window parameterisation, minimising the root mean square
of the log residuals ln(simulated / published) over the fit points. Each trial simulates the fit points on the
spec's base configs with the trial's values (meta traces, one per distinct (KV size, batch, effective window,
cluster scope), kept in memory: engine-only choices reuse them). Then a one-at-a-time profile around the best
point: each input alone across its range (``profile_points`` values, or every option), the others at the best;
the values whose every residual stays within ``tolerance`` of the published value form that input's fitting
set, and an input whose fitting set is its whole declared range is left free by the fit points.

Trials and profile points are rows in the sweep store (``OUT/points/*.parquet``, written as each finishes), so
an interrupted fit resumes (the seeded sampler proposes the same trials; finished ones are read back).
Writes ``OUT/fit.md`` (best values, fitting sets, residuals), ``OUT/fit.json`` and, with ``overlay``, the
``paper-fitted`` overlay (:func:`write_overlay`), every value of which says it was inferred by ``vrex fit``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import analysis.studies.sweep as sweep
from analysis.studies.store import PointStore, code_version, point_key
from simulator.config import overrides
from simulator.config.hardware import AcceleratorConfig
from simulator.config.schema import build, load_yaml, spec
from simulator.config.workload import build_workload
from simulator.errors import ConfigError
from simulator.pipeline import ROOT

# The declared fit set, relative to the repository root (CI has shared/ beside its clone); never copied
FIT_SET = Path("..") / "shared" / "reference" / "vrex-fit.csv"
FIT_COLUMNS = ("system", "method", "kv_tokens", "batch", "metric", "value", "unit")
FIT_SYSTEM, FIT_METHOD, FIT_METRIC = "vrex8", "resv", "frame_latency"
OVERLAY_NOTE = "inferred by vrex fit from vrex-fit.csv"
WINDOW_PATH = "workload.kv_policy.params.recent_window"
TIE = 0.005  # RMS log residuals closer than this are a tie between the window's parameterisations
WINDOW_STEPS_PER_OCTAVE = 4  # traces are made on a window grid of 2^(1/4) steps (about 19% apart)


# ---------------------------------------------------------------- the fit set
@dataclass(frozen=True)
class FitPoint:
    kv_tokens: int
    batch: int
    latency_ms: float


def fit_set_path(path: str | Path | None = None) -> Path:
    """The fit set's path: ``path`` (the ``--fit-set`` flag) or :data:`FIT_SET` under the repository root."""
    return Path(path) if path is not None else (ROOT / FIT_SET).resolve()


def load_fit_set(path: str | Path) -> list[FitPoint]:
    """The fit points (V-Rex8 + ReSV per-frame latencies in ms); a one-line error if absent or malformed."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise ConfigError(src, "--fit-set", "fit set not found: the declared fit set is "
                                            f"{FIT_SET} beside the repository (or pass --fit-set FILE)")
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(src, "<file>", f"not a readable CSV: {exc}") from None
    if not rows or any(c not in rows[0] for c in FIT_COLUMNS):
        raise ConfigError(src, "<header>", f"needs the columns {', '.join(FIT_COLUMNS)}")
    points = []
    for i, r in enumerate(rows, start=2):
        want = (FIT_SYSTEM, FIT_METHOD, FIT_METRIC, "ms")
        got = (r["system"], r["method"], r["metric"], r["unit"])
        if got != want:
            raise ConfigError(src, f"line {i}", f"system, method, metric, unit are {', '.join(got)}; the fit "
                                                f"takes only {', '.join(want)} rows")
        try:
            kv, batch, value = int(r["kv_tokens"]), int(r["batch"]), float(r["value"])
        except (TypeError, ValueError):
            raise ConfigError(src, f"line {i}", "kv_tokens and batch must be integers and value a number") from None
        if kv < 0 or batch < 1 or not (math.isfinite(value) and value > 0):
            raise ConfigError(src, f"line {i}", "kv_tokens >= 0, batch >= 1 and a positive finite value")
        points.append(FitPoint(kv, batch, value))
    return points


# ---------------------------------------------------------------- the spec
@dataclass(frozen=True, kw_only=True)
class FitBase:
    hw: str = spec("the accelerator config the fit set was measured on")
    workload: str = spec("the workload (its kv_prefill_tokens and batch are set per fit point)")


@dataclass(frozen=True, kw_only=True)
class WindowRange:
    range: list[float] = spec("[low, high]")
    reason: str = spec("why this range (declared before fitting)")


@dataclass(frozen=True, kw_only=True)
class WindowSpec:
    tokens: WindowRange = spec("the recent-KV window in tokens per stream (log scale)")
    share: WindowRange = spec("the window as a share of the DRAM left after weights and activations (log scale)")


@dataclass(frozen=True, kw_only=True)
class FitInput:
    name: str = spec("input name")
    path: str = spec("config path (hw.* or workload.*)")
    values: list[Any] | None = spec("the choices", default=None)
    range: list[float] | None = spec("[low, high] of a numeric input", default=None)
    log: bool = spec("search the range on a log scale", default=False)
    integer: bool = spec("integer values", default=False)
    reason: str = spec("why this range (declared before fitting)")


@dataclass(frozen=True, kw_only=True)
class FitSpec:
    name: str = spec("fit name")
    base: FitBase = spec("base configs")
    tolerance: float = spec("a point fits when every residual is within this share of the published value",
                            gt=0, le=1)
    near_best: float = spec("a profiled value is near the best when the RMS log residual rises by at most this",
                            gt=0, le=1)
    trials: int = spec("TPE trials per window parameterisation", ge=1, le=100_000)
    profile_points: int = spec("values per numeric input in the profile around the best point", ge=2, le=100,
                               default=5)
    seed: int = spec("sampler seed", default=0)
    frames: int | None = spec("frames of the stream (default: the workload's)", ge=1, le=100_000, default=None)
    window: WindowSpec = spec("the recent-KV window's two parameterisations")
    inputs: list[FitInput] = spec("the other open choices")


def load_fit_spec(path: str | Path) -> FitSpec:
    src = str(path)
    sp = build(FitSpec, load_yaml(path), source=src)
    for i, inp in enumerate(sp.inputs):
        where = f"inputs[{i}]"
        if (inp.values is None) == (inp.range is None):
            raise ConfigError(src, where, "give exactly one of values or range")
        if inp.range is not None and (len(inp.range) != 2 or not inp.range[0] < inp.range[1]
                                      or (inp.log and inp.range[0] <= 0)):
            raise ConfigError(src, f"{where}.range", "must be [low, high] with low < high (low > 0 when log)")
        if inp.values is not None and not inp.values:
            raise ConfigError(src, f"{where}.values", "must list at least one choice")
        role = inp.path.split(".")[0]
        if role not in ("hw", "workload") or inp.path == WINDOW_PATH:
            raise ConfigError(src, f"{where}.path", f"{inp.path!r}: a hw.* or workload.* path (the window is "
                                                    "the window block)")
        sweep.check_path(inp.path, src, f"{where}.path")
    for key in ("tokens", "share"):
        r = getattr(sp.window, key).range
        if len(r) != 2 or not 0 < r[0] < r[1]:
            raise ConfigError(src, f"window.{key}.range", "must be [low, high] with 0 < low < high")
    if sp.window.share.range[1] > 1:
        raise ConfigError(src, "window.share.range", "a share is at most 1")
    names = [i.name for i in sp.inputs]
    if len(set(names)) != len(names):
        raise ConfigError(src, "inputs", "input names must be unique")
    return sp


# ---------------------------------------------------------------- evaluation
def frame_latency_s(res) -> float:
    """Mean per-frame latency (s): each frame's vision and frame-prefill phases."""
    from simulator.results.metrics import phase_table

    pt = phase_table(res)
    frames = pt[pt["phase"].isin(["vision", "frame_prefill"])].groupby("frame")["latency_s"].sum()
    return float(frames.mean())


def window_grid(tokens: float) -> int:
    """The trace grid's window nearest ``tokens`` (2^(1/4) steps)."""
    k = round(WINDOW_STEPS_PER_OCTAVE * math.log2(max(tokens, 1.0)))
    return int(round(2 ** (k / WINDOW_STEPS_PER_OCTAVE)))


class Evaluator:
    """Simulates the fit points for a set of config values, reusing traces across engine-only choices."""

    MAX_TRACES = 60  # traces held in memory (a meta trace of the COIN case is a few MB)

    def __init__(self, sp: FitSpec, points: list[FitPoint], root: Path, source: str):
        self.sp, self.points, self.root, self.source = sp, points, root, source
        self.hw_raw = load_yaml(root / sp.base.hw)
        self.wl_raw = load_yaml(root / sp.base.workload)
        self.traces: dict[tuple, Any] = {}
        self._room: float | None = None
        self.code = code_version()  # part of every saved point's key

    def configs(self, values: dict[str, Any], kv: int, batch: int):
        raw = {"hw": copy.deepcopy(self.hw_raw), "workload": copy.deepcopy(self.wl_raw)}
        for path, v in values.items():
            role, *rest = path.split(".")
            overrides.set_path(raw[role], rest, v)
        raw["workload"]["kv_prefill_tokens"] = kv
        raw["workload"]["batch"] = batch
        # the frames only: the questions come after the last frame, so they move no frame's latency
        stream = raw["workload"].setdefault("stream", {})
        stream["questions"] = []
        if self.sp.frames is not None:
            stream["duration_s"] = self.sp.frames / float(stream.get("fps", 2.0))
        where = f"{self.source} (values {values})"
        hw = build(AcceleratorConfig, raw["hw"], source=where)
        wl = build_workload(raw["workload"], self.root / self.sp.base.workload, source=where)
        return hw, wl, raw

    def stream_tokens(self, wl) -> int:
        """Tokens a stream adds (frames and text): a window at least the cache plus these never closes."""
        s = wl.stream
        return s.frames * wl.model_config.tokens_per_frame + sum(q.prompt_tokens + q.answer_tokens
                                                                for q in s.questions)

    def trace(self, wl):
        """The workload's meta trace; windows past the cache's reach are one trace (nothing ever closes)."""
        from simulator.config.workload import KvPolicyConfig
        from simulator.stream import trace_workload

        p = dict(wl.kv_policy.params)
        if "recent_window" in p:
            p["recent_window"] = min(int(p["recent_window"]), wl.kv_prefill_tokens + self.stream_tokens(wl))
        key = sweep.workload_key(wl.replace(kv_policy=KvPolicyConfig(name=wl.kv_policy.name, params=p)))
        if key not in self.traces:
            if len(self.traces) >= self.MAX_TRACES:
                self.traces.pop(next(iter(self.traces)))
            self.traces[key] = trace_workload(wl, mode="meta")
        return self.traces[key]

    def room_tokens(self) -> float:
        """KV tokens (one stream, all layers) the DRAM holds beside the weights and the activations: the window
        share's unit. Activations: the largest single op's activation reads plus writes (a layer's live set)."""
        if self._room is None:
            hw, wl, _ = self.configs({}, self.points[0].kv_tokens, 1)
            tr = self.trace(wl)
            m = tr.meta
            ev = tr.events
            act = float((ev["bytes_act_read"] + ev["bytes_act_write"]).max())
            weights = m.get("weight_bytes_llm", 0) + m.get("weight_bytes_vision", 0)
            bits = m.get("kv_bits_stored") or m["precision_bits"]["kv"]
            per_token = 2 * m["kv_heads"] * m["head_dim"] * bits / 8 * m["llm_layers"]
            self._room = max(0.0, (hw.dram.capacity_gib * 2**30 - weights - act) / per_token)
        return self._room

    def stated(self, path: str):
        """The base configs' value at ``path`` (the as-stated choice)."""
        role, *rest = path.split(".")
        d = self.hw_raw if role == "hw" else self.wl_raw
        for part in rest:
            d = d.get(part) if isinstance(d, dict) else None
        if d is None and path == WINDOW_PATH:
            return 1024  # ResvPolicy's default
        if d is None:
            raise ConfigError(self.source, path, "the base configs must state this choice (its as-stated value)")
        return d

    def stated_window(self, param: str) -> float:
        """The as-stated window in ``param``'s units (a share: of the room at batch 1)."""
        tokens = float(self.stated(WINDOW_PATH))
        return tokens if param == "tokens" else tokens / self.room_tokens()

    def window_tokens(self, param: str, x: float, batch: int) -> int:
        tokens = x if param == "tokens" else x * self.room_tokens() / batch
        return max(1, window_grid(tokens))

    def evaluate(self, param: str, window: float, values: dict[str, Any]) -> dict[str, Any]:
        """Simulated latency (ms) and residuals of every fit point; status "ok" or why a point cannot run."""
        return self.evaluate_many(param, [(window, values)])[0]

    def evaluate_many(self, param: str, trials: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
        """:meth:`evaluate` of several (window, values), the designs that share a trace simulated together
        (``simulate.evaluate_designs``: the trace's plan once, aggregates only; the figures ``simulate`` gives)."""
        from simulator.engine.simulate import evaluate_designs

        groups: dict[int, tuple[Any, list[tuple[int, int, Any]]]] = {}  # trace id -> (trace, [(trial, point, hw)])
        for k, (window, values) in enumerate(trials):
            for j, pt in enumerate(self.points):
                vals = {**values, WINDOW_PATH: self.window_tokens(param, window, pt.batch)}
                hw, wl, _ = self.configs(vals, pt.kv_tokens, pt.batch)
                tr = self.trace(wl)
                groups.setdefault(id(tr), (tr, []))[1].append((k, j, hw))
        results: dict[tuple[int, int], Any] = {}
        for tr, todo in groups.values():
            for (k, j, _), res in zip(todo, evaluate_designs(tr, [hw for _, _, hw in todo])):
                results[(k, j)] = res
        return [self._figures([results[(k, j)] for j in range(len(self.points))]) for k in range(len(trials))]

    def _figures(self, results: list) -> dict[str, Any]:
        """A trial's row from its fit points' results (in fit-set order): up to the first point that cannot
        run (its status), else every point's latency and residual and the trial's scores."""
        out: dict[str, Any] = {"status": "ok"}
        logs = []
        for pt, res in zip(self.points, results):
            tag = f"kv{pt.kv_tokens}_b{pt.batch}"
            if not res.ok:
                out["status"] = f"{tag}: {res.status}"
                return out
            ms = 1e3 * frame_latency_s(res)
            out[f"{tag}.sim_ms"] = ms
            out[f"{tag}.residual"] = ms / pt.latency_ms - 1
            logs.append(math.log(ms / pt.latency_ms))
        out["rms_log"] = float(np.sqrt(np.mean(np.square(logs))))
        out["max_abs_residual"] = float(max(abs(out[f"kv{p.kv_tokens}_b{p.batch}.residual"]) for p in self.points))
        return out


# ---------------------------------------------------------------- search
def _suggest(trial, inp: FitInput):
    if inp.values is not None:
        return trial.suggest_categorical(inp.name, list(inp.values))
    lo, hi = inp.range
    if inp.integer:
        return trial.suggest_int(inp.name, int(lo), int(hi), log=inp.log)
    return trial.suggest_float(inp.name, float(lo), float(hi), log=inp.log)


def _values(sp: FitSpec, params: dict[str, Any]) -> dict[str, Any]:
    return {inp.path: params[inp.name] for inp in sp.inputs}


def _row_id(stage: str, param: str, window: float, values: dict[str, Any]) -> str:
    return sweep.point_id({"stage": stage, "param": param, "window": window, **values})


def _run(ev: Evaluator, store: PointStore, done: dict[str, dict], stage: str, param: str, window: float,
         values: dict[str, Any]) -> dict:
    """One evaluation as a row of the studies' point store (:func:`_run_many` of one)."""
    return _run_many(ev, store, done, stage, param, [(window, values)])[0]


def _run_many(ev: Evaluator, store: PointStore, done: dict[str, dict], stage: str, param: str,
              trials: list[tuple[float, dict[str, Any]]]) -> list[dict]:
    """Evaluations as rows of the studies' point store, each keyed by what it was computed from (the trial, the
    base configs, the fit set) and the code version: read back when already saved, never reused after a change;
    the others simulated together (:meth:`Evaluator.evaluate_many`) and saved."""
    pids = [_row_id(stage, param, w, v) for w, v in trials]
    todo: dict[str, tuple[str, float, dict[str, Any]]] = {}
    for pid, (window, values) in zip(pids, trials):
        if pid in done or pid in todo:
            continue
        key = point_key({"trial": pid, "hw": ev.hw_raw, "workload": ev.wl_raw, "fit_set": ev.points}, ev.code)
        row = store.get(key)  # a damaged file is set aside (one line) and the point recomputed
        if row is None:
            todo[pid] = (key, window, values)
        else:
            done[pid] = row
    if todo:
        t0 = time.perf_counter()
        figures = ev.evaluate_many(param, [(w, v) for _, w, v in todo.values()])
        wall = (time.perf_counter() - t0) / len(todo)
        for (pid, (key, window, values)), fig in zip(todo.items(), figures):
            row = {"point_id": pid, "stage": stage, "param": param, "window": float(window),
                   "values": json.dumps(values, sort_keys=True, default=str), **fig, "wall_s": wall}
            store.write(key, row)
            done[pid] = row
    return [done[pid] for pid in pids]


def _score(row: dict) -> float:
    return float(row["rms_log"]) if row.get("status") == "ok" else 1e9


def search(ev: Evaluator, sp: FitSpec, store: PointStore, done: dict, param: str, bar=None) -> dict:
    """TPE over the window (``param``) and the inputs; returns the best row."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=sp.seed))
    lo, hi = getattr(sp.window, param).range
    best = None
    for _ in range(sp.trials):
        t = study.ask()
        window = t.suggest_float("window", float(lo), float(hi), log=True)
        params = {inp.name: _suggest(t, inp) for inp in sp.inputs}
        row = _run(ev, store, done, f"search-{param}", param, window, _values(sp, params))
        study.tell(t, _score(row))
        if best is None or _score(row) < _score(best):
            best = row
        if bar is not None:
            bar.update(1)
    return best


def _profile_values(inp: FitInput, n: int) -> list[Any]:
    if inp.values is not None:
        return list(inp.values)
    lo, hi = inp.range
    xs = np.geomspace(lo, hi, n) if inp.log else np.linspace(lo, hi, n)
    return sorted({int(round(x)) for x in xs}) if inp.integer else [float(x) for x in xs]


def profile(ev: Evaluator, sp: FitSpec, store: PointStore, done: dict, best: dict, bar=None) -> list[dict]:
    """Each input (the window included) alone across its range and at its as-stated value, the others at the
    best point."""
    param, window = best["param"], best["window"]
    values = json.loads(best["values"])
    lo, hi = getattr(sp.window, param).range
    grid = np.geomspace(lo, hi, sp.profile_points + 2)
    shown = []  # (input, value shown, window, values) of every profile point
    for w in sorted({*grid.tolist(), window, ev.stated_window(param)}):
        shown.append((f"window ({param})", window_grid(w) if param == "tokens" else w,  # tokens: the trace grid's
                      float(w), values))
    for inp in sp.inputs:
        for v in _profile_values(inp, sp.profile_points) + [values[inp.path], ev.stated(inp.path)]:
            shown.append((inp.name, v, window, {**values, inp.path: v}))
    # one input at a time, its points simulated together (they share the traces of the engine-only choices)
    rows = []
    for name in dict.fromkeys(s[0] for s in shown):
        group = [s for s in shown if s[0] == name]
        for (_, v, _, _), row in zip(group, _run_many(ev, store, done, "profile", param,
                                                      [(w, vals) for _, _, w, vals in group])):
            rows.append({"input": name, "value": v, **row})
        if bar is not None:
            bar.update(len(group))
    return rows


def fitting_sets(sp: FitSpec, rows: list[dict], best: dict, ev: Evaluator) -> pd.DataFrame:
    """Per input: the profiled values whose every residual is within the tolerance, those near the best (RMS log
    residual within ``near_best`` of the best's), and whether the fit points determine it (some declared value
    is not near the best) or leave it free (every profiled value is)."""
    df = pd.DataFrame(rows)
    ok_run = df["status"] == "ok"
    df["fits"] = ok_run & (df["max_abs_residual"].fillna(np.inf) <= sp.tolerance)
    df["near"] = ok_run & (df["rms_log"].fillna(np.inf) <= _score(best) + sp.near_best)
    out = []
    best_vals = json.loads(best["values"])
    for name, g in df.groupby("input", sort=False):
        inp = next((i for i in sp.inputs if i.name == name), None)
        best_v = best["window"] if inp is None else best_vals[inp.path]
        if inp is None and best["param"] == "tokens":
            best_v = window_grid(best_v)
        stated = ev.stated(WINDOW_PATH if inp is None else inp.path)
        if inp is None and best["param"] == "share":
            stated = ev.stated_window("share")
        stated_near = bool(g.loc[g["value"].map(_fmt) == _fmt(stated), "near"].any())
        vals = sorted({_fmt(v) for v in g.loc[g["fits"], "value"]}, key=_sort_key)
        near = sorted({_fmt(v) for v in g.loc[g["near"], "value"]}, key=_sort_key)
        status = ("free (every profiled value is near the best)" if g["near"].all()
                  else "determined (some values are not near the best)")
        rng = (f"{_fmt(getattr(sp.window, best['param']).range[0])}-{_fmt(getattr(sp.window, best['param']).range[1])}"
               if inp is None else (", ".join(_fmt(v) for v in inp.values) if inp.values is not None
                                    else f"{_fmt(inp.range[0])}-{_fmt(inp.range[1])}"))
        out.append({"input": name, "best": _fmt(best_v), "declared range": rng,
                    "within tolerance": ", ".join(vals) if vals else "none",
                    "near the best": ", ".join(near), "the fit points": status, "as stated": _fmt(stated),
                    "paper-fitted": _fmt(stated) if stated_near else _fmt(best_v),
                    "_path": WINDOW_PATH if inp is None else inp.path, "_keep": stated_near})
    return pd.DataFrame(out)


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e9 else f"{float(v):.4g}"
    return str(v)


def _sort_key(s: str):
    try:
        return (0, float(s), "")
    except ValueError:
        return (1, 0.0, s)


# ---------------------------------------------------------------- the run
def run_fit(spec_path: str | Path, out: str | Path, *, fit_set: str | Path | None = None,
            overlay: str | Path | None = None, resume: bool = False, progress: bool = True) -> dict:
    """Fit, profile and report; returns the summary written to ``OUT/fit.json``."""
    spec_path, out = Path(spec_path), Path(out)
    sp = load_fit_spec(spec_path)
    fs = fit_set_path(fit_set)
    points = load_fit_set(fs)
    store = PointStore(out, fmt="json")
    if out.exists() and store.names() and not resume:
        raise ConfigError(str(out), "", "output directory holds results; pass --resume to continue it "
                                        "or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    t0 = time.perf_counter()
    ev = Evaluator(sp, points, ROOT, str(spec_path))
    bar = None
    if progress:
        from tqdm import tqdm

        n_prof = sp.profile_points + 4 + sum(len(_profile_values(i, sp.profile_points)) + 2 for i in sp.inputs)
        bar = tqdm(total=2 * sp.trials + n_prof, desc=f"fit {sp.name}", unit="point")
    try:
        bests = {param: search(ev, sp, store, done, param, bar) for param in ("tokens", "share")}
        # the window in tokens (the policy's own parameter) unless the share fits better by more than a tie
        best = bests["share"] if _score(bests["share"]) < _score(bests["tokens"]) - TIE else bests["tokens"]
        if best["status"] != "ok":
            raise ConfigError(str(spec_path), "inputs", f"no trial could run ({best['status']})")
        prof = profile(ev, sp, store, done, best, bar)
    finally:
        if bar is not None:
            bar.close()
    sets = fitting_sets(sp, prof, best, ev)
    # the paper-fitted point: each choice at its as-stated value where that is near the best (the five points
    # cannot tell them apart), else at the best; simulated once more as a whole
    keep = dict(zip(sets["_path"], sets["_keep"]))
    best_values = json.loads(best["values"])
    values = {p: (ev.stated(p) if keep[p] else v) for p, v in best_values.items()}
    window = ev.stated_window(best["param"]) if keep[WINDOW_PATH] else best["window"]
    chosen = _run(ev, store, done, "paper-fitted", best["param"], window, values)
    if chosen["status"] != "ok":
        raise ConfigError(str(spec_path), "inputs", f"the paper-fitted point cannot run ({chosen['status']})")
    window_by_batch = {p.batch: ev.window_tokens(best["param"], window, p.batch) for p in points}
    summary = {
        "fit_set": str(fs), "spec": str(spec_path), "tolerance": sp.tolerance,
        "parameterisation": best["param"], "window": window, "best_window": best["window"],
        "window_tokens": window_by_batch, "room_tokens": ev.room_tokens(),
        "values": values, "best_values": best_values, "kept_as_stated": [p for p, k in keep.items() if k],
        "rms_log": {p: bests[p]["rms_log"] if bests[p]["status"] == "ok" else None for p in bests},
        "rms_log_paper_fitted": chosen["rms_log"],
        "residuals": [{"kv_tokens": p.kv_tokens, "batch": p.batch, "published_ms": p.latency_ms,
                       "best_ms": best[f"kv{p.kv_tokens}_b{p.batch}.sim_ms"],
                       "paper_fitted_ms": chosen[f"kv{p.kv_tokens}_b{p.batch}.sim_ms"],
                       "residual": chosen[f"kv{p.kv_tokens}_b{p.batch}.residual"]} for p in points],
        "wall_s": time.perf_counter() - t0,
    }
    (out / "fit.json").write_text(json.dumps(summary, indent=1, default=str))
    sets = sets.drop(columns=["_path", "_keep"])
    sets.to_csv(out / "fitting_sets.csv", index=False)
    (out / "fit.md").write_text(report(sp, summary, sets))
    if overlay is not None:
        write_overlay(overlay, sp, summary)
    return summary


def report(sp: FitSpec, s: dict, sets: pd.DataFrame) -> str:
    from analysis.report.markdown import md_table

    res = pd.DataFrame(s["residuals"])
    res["residual"] = res["residual"].map(lambda r: f"{100 * r:+.1f}%")
    rms = ", ".join(f"{p}: {v:.3f}" if v is not None else f"{p}: none ran" for p, v in s["rms_log"].items())
    lines = [f"# vrex fit: {sp.name}", "",
             f"Fit set: `{s['fit_set']}` (the only paper result read). Best of {sp.trials} TPE trials per window "
             f"parameterisation; RMS of ln(simulated / published): {rms}. Kept: **{s['parameterisation']}** "
             f"(the share only when it fits better by more than {TIE}; all fit points at one batch make the two "
             "coincide up to the trace grid, as a share of DRAM the window shrinks with the batch).", "",
             "The paper-fitted values: each choice as stated where the five points cannot tell that from the best "
             "(its as-stated value is near the best), else the best; RMS of ln(simulated / published) there: "
             f"{s['rms_log_paper_fitted']:.3f}.", "",
             f"Window: {_fmt(s['window'])} ({s['parameterisation']}; traces on a 2^(1/{WINDOW_STEPS_PER_OCTAVE}) "
             "grid) = "
             + ", ".join(f"{t} tokens at batch {b}" for b, t in s["window_tokens"].items())
             + f"; the DRAM beside weights and activations holds {s['room_tokens']:.0f} tokens of one stream.", "",
             "## Residuals (residual: the paper-fitted point's)", "", md_table(res), "",
             f"## Fitting sets (one input at a time around the best point; within tolerance: every residual "
             f"within {100 * sp.tolerance:.0f}%; near the best: RMS log residual within {sp.near_best} of the "
             "best's)", "", md_table(sets), ""]
    return "\n".join(lines)


def write_overlay(path: str | Path, sp: FitSpec, s: dict) -> Path:
    """The ``paper-fitted`` overlay: each value the fit changed from the as-stated configs (``set``: with its
    declared range, reason and note) and the choices the fit left as stated (``kept_as_stated``)."""
    path = Path(path)
    rng = {i.path: (list(i.values) if i.values is not None else list(i.range)) for i in sp.inputs}
    reasons = {i.path: " ".join(i.reason.split()) for i in sp.inputs}
    rng[WINDOW_PATH] = list(sp.window.tokens.range)
    reasons[WINDOW_PATH] = " ".join(sp.window.tokens.reason.split())
    values = {WINDOW_PATH: int(sorted(s["window_tokens"].items())[0][1]), **s["values"]}
    kept = set(s["kept_as_stated"])
    entries = [{"path": p, "value": v, "note": OVERLAY_NOTE, "declared_range": rng[p], "reason": reasons[p]}
               for p, v in values.items() if p not in kept]
    if WINDOW_PATH not in kept:
        entries[0]["fitted_as"] = f"{s['parameterisation']} = {_fmt(s['window'])}"
    doc = {"name": "paper-fitted",
           "about": ("Written by `vrex fit` (make paper-fit) from the fit set alone. hw.* applies to the V-Rex "
                     "accelerators (offload.device.* to SSD tiers), workload.* to ReSV runs. A choice whose "
                     "as-stated value fits as well as the best (within near_best) is kept as stated."),
           "residual_rms_log": s["rms_log_paper_fitted"],
           "set": entries,
           "kept_as_stated": sorted(kept)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# paper-fitted overlay: every value " + OVERLAY_NOTE + " (make paper-fit); do not edit by hand\n"
                    + yaml.safe_dump(doc, sort_keys=False, width=110))
    return path


# ---------------------------------------------------------------- the overlay, applied
@dataclass(frozen=True)
class Overlay:
    """The ``paper-fitted`` overlay's values: ``hw`` (paths under an accelerator config) and ``workload``
    (paths under a workload; ReSV's parameters)."""

    hw: tuple[tuple[str, Any], ...]
    workload: tuple[tuple[str, Any], ...]
    source: str


def load_overlay(path: str | Path) -> Overlay:
    """Read an overlay written by :func:`write_overlay`; one-line errors name the file and the entry."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise ConfigError(src, "<file>", "overlay not found (make paper-fit writes it)")
    raw = load_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("set"), list):
        raise ConfigError(src, "set", "must be a list of {path, value, note, ...} entries")
    hw, wl = [], []
    for i, e in enumerate(raw["set"]):
        if not isinstance(e, dict) or "path" not in e or "value" not in e:
            raise ConfigError(src, f"set[{i}]", "each entry needs a path and a value")
        if e.get("note") != OVERLAY_NOTE:
            raise ConfigError(src, f"set[{i}].note", f"must say {OVERLAY_NOTE!r}: the overlay holds fitted values only")
        role, _, rest = str(e["path"]).partition(".")
        if role not in ("hw", "workload") or not rest:
            raise ConfigError(src, f"set[{i}].path", f"{e['path']!r}: must start with hw. or workload.")
        if role == "hw":
            sweep.check_path(e["path"], src, f"set[{i}].path")
        (hw if role == "hw" else wl).append((rest, e["value"]))
    return Overlay(tuple(hw), tuple(wl), src)


def _replace_path(obj, parts: list[str], value):
    import dataclasses

    if not parts:
        return value
    return dataclasses.replace(obj, **{parts[0]: _replace_path(getattr(obj, parts[0]), parts[1:], value)})


def _hw_entries(ov: Overlay, kind: str, tier: str | None) -> list[tuple[list[str], Any]]:
    """The overlay's hardware values a config of ``kind`` with offload ``tier`` takes: V-Rex accelerators take
    them (offload.* only on an SSD tier, the drive the fit saw); GPU baselines keep their configs."""
    if kind != "accelerator":
        return []
    return [(path.split("."), value) for path, value in ov.hw
            if not (path.split(".")[0] == "offload" and tier != "ssd")]


def overlay_hardware(hw, ov: Overlay):
    """``hw`` (a config) with the overlay's hardware values (see :func:`_hw_entries`)."""
    for parts, value in _hw_entries(ov, hw.kind, hw.offload.tier if hw.offload is not None else None):
        hw = _replace_path(hw, parts, value)
    return hw


def overlay_hardware_yaml(raw: dict, ov: Overlay) -> dict:
    """A hardware config's YAML data with the overlay's values (the same rules as :func:`overlay_hardware`)."""
    off = raw.get("offload")
    for parts, value in _hw_entries(ov, raw.get("kind"), off.get("tier") if isinstance(off, dict) else None):
        overrides.set_path(raw, parts, value)
    return raw


def overlay_params(method: str, params: dict[str, Any], ov: Overlay) -> dict[str, Any]:
    """A workload's KV-policy parameters with the overlay's (ReSV's only, on any platform: the same window)."""
    out = dict(params)
    if method != "resv":
        return out
    for path, value in ov.workload:
        parts = path.split(".")
        if parts[:2] == ["kv_policy", "params"] and len(parts) == 3:
            out[parts[2]] = value
    return out
