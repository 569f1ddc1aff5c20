"""Command line: ``vrex simulate | compare | trace | sweep | plot | report | policies | paper | validate``.

User errors (bad configs, corrupt traces) print one line ``vrex: error: ...`` and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from simulator import __version__
from simulator.config.schema import check_field, spec
from simulator.errors import ConfigError, VrexError
from simulator.safe_io import check_output_path


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error convention: one line ``vrex: error: ...``, exit code 2."""

    def error(self, message: str):
        self.exit(2, f"vrex: error: {self.prog}: {message} (see '{self.prog} --help')\n")


@dataclass(frozen=True, kw_only=True)
class RunFlags:
    """Command-line values that are no config field, with their ranges (the flags that override a config field
    are checked against that field: ``--fps`` against ``stream.fps`` and so on, see ``_FLAG_FIELDS``)."""

    streams: int = spec("concurrent streams", ge=1, le=1024,
                        why="1024 streams; each stream is a full copy of the replayed jobs")
    max_queue: int = spec("waiting frames per stream", ge=1, le=1_000_000, why="a million frames of queue")
    jitter_s: float = spec("frame arrival jitter", unit="s", ge=0, le=3600, why="an hour of jitter")
    chunk_frames: int = spec("frames replayed per chunk", ge=1, le=1_000_000, why="a million frames per chunk")
    seed: int = spec("random seed", ge=0, le=2**32 - 1, why="numpy seeds are 32-bit")
    drop_policy: str = spec("drop policy", choices=("drop_oldest", "skip_new"))
    question_policy: str = spec("question policy", choices=("answer_first", "interleave"))
    window_s: float = spec("timeline window bound", unit="s", ge=0, le=86400, why="a day of video")
    workers: int = spec("sweep worker processes", ge=1, le=1024,
                        why="1024 processes; each loads a model trace (hundreds of MB)")
    jobs: int = spec("paper worker processes", ge=1, le=64, why="64 processes; each holds a trace (hundreds of MB)")


def _flag_fields():
    from simulator.config.workload import StreamConfig

    # flag -> (config class, field, dotted key in the workload file)
    return {"--fps": (StreamConfig, "fps", "stream.fps"),
            "--duration-s": (StreamConfig, "duration_s", "stream.duration_s")}


def check_flag(flag: str, value):
    """Validate a flag's value against the schema field it overrides (or RunFlags); returns the value."""
    fields = _flag_fields()
    if flag in fields:
        cls, name, key = fields[flag]
        return check_field(cls, name, value, source=flag, key=key)
    name = {"--timeline-window": "window_s"}.get(flag, flag.lstrip("-").replace("-", "_"))
    return check_field(RunFlags, name, value, source=flag, key=name)


def _check_real_mode(paths, workloads=()) -> None:
    """--mode real runs the model on the CPU: refuse, with an estimate, what cannot fit this machine."""
    from simulator.config.workload import check_real_mode, load_workload
    from simulator.pipeline import resolve

    for p in paths:
        check_real_mode(load_workload(resolve(p)), str(p))
    for wl, src in workloads:
        check_real_mode(wl, src)


def _override_stream(wl, args, source: str):
    """The workload with --fps / --duration-s applied, re-checked as a whole (questions within the stream,
    the trace within this machine's memory)."""
    from simulator.config.workload import check_workload

    changes = {}
    for flag, attr, name in (("--duration-s", "duration_s", "duration_s"), ("--fps", "fps", "fps")):
        v = getattr(args, attr, None)
        if v is not None:
            changes[name] = check_flag(flag, v)
    if not changes:
        return wl
    from simulator.config.schema import deferred

    with deferred():  # checked below, naming the flags
        wl = wl.with_stream(**changes)
    flags = " and ".join(f for f, n in (("--duration-s", "duration_s"), ("--fps", "fps")) if n in changes)
    check_workload(wl, f"{source} with {flags}")
    return wl


def _with_software(hw, path: str, software: str):
    """The baseline config running ``--software``."""
    from simulator.config.hardware import GpuConfig

    if not isinstance(hw, GpuConfig):
        raise ConfigError(str(path), "kind", "the --baseline config must be kind 'gpu'")
    return hw.with_software(check_field(GpuConfig, "software", software, source="--software"), "--software")


def _progress(args) -> bool:
    """Progress bars only on an interactive terminal and unless --no-progress."""
    return not args.no_progress and sys.stderr.isatty()


def _add_sim_args(p: argparse.ArgumentParser) -> None:
    from simulator.pipeline import DEFAULT_BASELINE, DEFAULT_HW, DEFAULT_WORKLOAD

    p.add_argument("--hw", default=DEFAULT_HW, help=f"accelerator config (default {DEFAULT_HW})")
    p.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"GPU baseline config (default {DEFAULT_BASELINE})")
    p.add_argument("--software", default=None,
                   help="the baseline GPU's software stack, e.g. hf-pytorch or tensorrt-llm (default: the config's "
                        "'software')")
    p.add_argument("--workload", default=None, help=f"workload config, a path or a shipped name (default "
                   f"{DEFAULT_WORKLOAD}; with --trace: the workload the trace was made from)")
    p.add_argument("--mode", choices=("meta", "real"), default="meta", help="tracing mode (default meta)")
    p.add_argument("--baseline-workload", default=None,
                   help="what the baseline GPU runs (default: the paper's baseline, FlexGen on the accelerator's "
                        "stream and cache, whatever --workload; 'same': the accelerator's own workload and policy; "
                        "or a workload file of the same stream)")
    p.add_argument("--force-baseline", action="store_true",
                   help="compare even if the baseline's stream differs in more than the KV policy")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a config value, e.g. --set workload.kv_prefill_tokens=40000, --set hw.cores=16, "
                        "--set baseline.dram.bandwidth_gbps=102.4, --set baseline_workload.kv_policy.name=full "
                        "(repeatable; checked by the config's schema)")
    p.add_argument("--tech", default=None, help="technology table (default hwconfigs/tech/technology.yaml)")
    p.add_argument("--engine", choices=("compiled", "simpy"), default="compiled",
                   help="replay engine: compiled (numba, default) or simpy (the reference model; the same times)")


def _add_workload_set(p: argparse.ArgumentParser, note: str = "") -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a workload value, e.g. --set workload.stream.duration_s=10, --set "
                        f"workload.kv_policy.params.recent_window=512 (repeatable; checked by the schema){note}")


def cmd_simulate(args) -> int:
    from simulator.config.overrides import parse_overrides
    from simulator.config.tech import DEFAULT_TECH
    from simulator.pipeline import DEFAULT_WORKLOAD, load_run_configs, run
    from simulator.results.report import render_text, write_json, write_parquet
    from simulator.safe_io import atomic_write, guarded_dir_write

    check_output_path(args.out, "--out")
    check_output_path(args.timeline, "--timeline")
    check_output_path(args.save, "--save", directory=True)
    check_output_path(args.per_layer, "--per-layer")
    ov = parse_overrides(args.overrides, ("hw", "baseline", "workload", "baseline_workload"))
    if args.mode == "real" and args.trace is None:
        _check_real_mode([args.workload or DEFAULT_WORKLOAD])
    hw, baseline, wl, bwl = load_run_configs(args.hw, args.baseline, args.workload, args.baseline_workload, ov,
                                             need_workload=args.trace is None or args.workload is not None)
    if args.software is not None:
        baseline = _with_software(baseline, args.baseline, args.software)
    out = run(hw=hw, baseline=baseline, workload=wl, trace_path=args.trace, mode=args.mode,
              tech_path=args.tech or DEFAULT_TECH, progress=_progress(args), baseline_workload=bwl,
              force=args.force_baseline, engine=args.engine)
    if args.json:
        print(write_json(out.report))
    else:
        print(render_text(out.report))
    sys.stdout.flush()  # the report is out before any file is written: a failed write loses nothing
    if args.out:
        path = atomic_write(args.out, lambda tmp: write_parquet(out.report, tmp))
        print(f"results written to {path}", file=sys.stderr)
    if args.timeline:
        cols = ["phase", "frame", "question", "step", "layer", "op", "kind", "unit", "start_s", "end_s",
                "compute_start_s", "compute_end_s", "compute_s", "read_s", "write_s", "dram_bytes", "bound"]
        atomic_write(args.timeline, lambda tmp: out.accel.ops[cols].to_parquet(tmp, index=False))
        print(f"per-op timeline of {out.accel.hardware} written to {args.timeline}", file=sys.stderr)
    if args.per_layer:
        from simulator.engine.platforms.accelerator import AcceleratorPlatform
        from simulator.results.per_layer import per_layer

        acc = AcceleratorPlatform(out.accel_config)
        table = per_layer(out.accel, out.trace.events, out.accel_config.clock_mhz * 1e6,
                          acc.cores * acc.pe.peak_flops)
        atomic_write(args.per_layer, lambda tmp: table.to_csv(tmp, index=False))
        print(f"per-layer report of {out.accel.hardware} ({len(table)} rows) written to {args.per_layer}",
              file=sys.stderr)
    if args.save:
        from analysis.report.artefacts import save_run

        d = guarded_dir_write(args.save, lambda d: save_run(out, d))
        print(f"run saved to {d} (vrex plot {args.save})", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from simulator.compare import CompareEntry, compare, render
    from simulator.config.overrides import load_workload_with, parse_overrides
    from simulator.config.tech import DEFAULT_TECH, load_tech
    from simulator.pipeline import DEFAULT_WORKLOAD, resolve, resolve_config
    from simulator.safe_io import atomic_write, guarded_dir_write

    check_output_path(args.out, "--out", directory=True)
    entries = [CompareEntry.parse(e) for e in args.entries]
    entries = [CompareEntry(e.hardware, p) for e in entries for p in (args.policy or [e.policy])]
    roles = ("workload",) + tuple(f"hw{i + 1}" for i in range(len(entries)))
    ov = parse_overrides(args.overrides, roles)
    wl_path = resolve_config(args.workload or DEFAULT_WORKLOAD, "workloads", "--workload")
    wl = load_workload_with(wl_path, ov, "workload")
    df = compare(entries, wl, load_tech(resolve(args.tech or DEFAULT_TECH)), overrides=ov, mode=args.mode,
                 engine=args.engine, progress=_progress(args), source=str(wl_path))
    print(f"workload {wl.name}: {wl.model_config.name}, {wl.stream.frames} frames at {wl.stream.fps:g} FPS, "
          f"{len(wl.stream.questions)} question(s), {wl.kv_prefill_tokens} tokens in the cache; every entry on this "
          "stream")
    print(render(df))
    sys.stdout.flush()
    if args.out:
        from analysis.report.compare import plot_comparison

        out = Path(args.out)
        atomic_write(out / "compare.csv", lambda tmp: df.to_csv(tmp, index=False))
        atomic_write(out / "compare.md", lambda tmp: tmp.write_text(render_markdown(df)))
        files = guarded_dir_write(out, lambda d: plot_comparison(df, d))
        print(f"compare.csv, compare.md and {', '.join(p.name for p in files)} written to {out}", file=sys.stderr)
    return 0


def render_markdown(df) -> str:
    """A comparison table as Markdown (one row per entry, the ratios to the first beside each figure)."""
    from simulator.compare import FIGURES

    head = ["entry", "status"] + [f"{w} [{u}]" for _, w, u, _ in FIGURES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df.iterrows():
        cells = [r["label"], r["status"]] + [f"{r[f] * k:.4g} ({r[f + '_vs_first']:.2f}x)" for f, _, _, k in FIGURES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nRatios: each entry's value / {df['label'].iloc[0]}'s.\n"


def _study_out(args) -> str:
    """The output directory of a sweep, search or sensitivity study, after checking the flags they share
    (before any work starts)."""
    if args.workers is not None:
        check_flag("--workers", args.workers)
    if args.scheduler is not None and args.executor != "dask":
        raise ConfigError("--scheduler", "", "only used with --executor dask")
    out = args.out or f"results/{Path(args.spec).stem}"
    check_output_path(out, "--out", directory=True)
    return out


def cmd_sweep(args) -> int:
    from analysis.studies.sweep import run_sweep

    out = _study_out(args)
    df = run_sweep(args.spec, out, resume=args.resume, executor=args.executor, scheduler=args.scheduler,
                   workers=args.workers, progress=not args.no_progress)
    from analysis.studies.sweep import load_spec, pareto_front
    from analysis.studies.sweep_outputs import summary_columns

    objectives = list(load_spec(args.spec).objectives)
    front = pareto_front(df, objectives)
    shown, what = (df, "points") if len(df) <= 20 else (front, "Pareto points")
    shown = shown.sort_values([c for c in shown.columns if c.startswith("axis:")] or ["point_id"], kind="stable")
    if len(shown):
        cols = [c for c in summary_columns(shown, objectives) if c not in ("point_id", "error")]
        print(f"{what}:\n{shown[cols].to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
    print(f"{out}: {len(df)} points ({_status_counts(df)}); {len(front)} on the Pareto front; tables points.csv, "
          f"points.md, pareto.csv (and .parquet); line plots in {out}/lines")
    return 0


def _status_counts(df) -> str:
    """'N ok, M out of memory, ...' over a study's points (empty without a status column)."""
    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def cmd_explore(args) -> int:
    import time

    from analysis.studies.codesign import write_codesign_report
    from analysis.studies.explore import run_explore

    out = _study_out(args)
    t0 = time.perf_counter()
    df = run_explore(args.spec, out, resume=args.resume, executor=args.executor, scheduler=args.scheduler,
                     workers=args.workers, progress=not args.no_progress, fix_levels=tuple(args.fix_level or ()))
    from simulator.safe_io import guarded_dir_write

    wall_s = time.perf_counter() - t0  # every design is saved: a failed report write is redone by --resume
    report = guarded_dir_write(out, lambda d: write_codesign_report(d, wall_s=wall_s))
    if "status" not in df or not (df["status"] == "ok").any():
        print(f"{out}: {len(df)} designs ({_status_counts(df)}); no design meets every constraint: the closest "
              f"designs are in {report}")
        return 0
    print(f"{out}: {len(df)} designs ({_status_counts(df)}); Pareto set in {out}/pareto.parquet, report {report}")
    return 0


def cmd_sensitivity(args) -> int:
    from analysis.studies.sensitivity import run_sensitivity

    out = _study_out(args)
    res = run_sensitivity(args.spec, out, resume=args.resume, executor=args.executor, scheduler=args.scheduler,
                          workers=args.workers, progress=not args.no_progress, max_samples=args.max_samples)
    n = sum(len(res[k]) for k in ("oat", "morris", "sobol"))
    print(f"{out}: {n} points; indices in {out}/indices.csv, tornado plot {out}/tornado.png, "
          f"report {out}/sensitivity.md")
    return 0


def cmd_fit(args) -> int:
    from analysis.studies.fit import run_fit

    check_output_path(args.out, "--out", directory=True)
    if args.overlay:
        check_output_path(args.overlay, "--overlay")
    s = run_fit(args.spec, args.out, fit_set=args.fit_set, overlay=args.overlay, resume=args.resume,
                progress=not args.no_progress)
    print((Path(args.out) / "fit.md").read_text())
    print(f"{args.out}: fit.md, fit.json, fitting_sets.csv"
          + (f"; overlay {args.overlay}" if args.overlay else "") + f" ({s['wall_s']:.0f} s)")
    return 0


def cmd_plot(args) -> int:
    from analysis.report.plots import plot_inputs
    from simulator.safe_io import guarded_dir_write

    inputs = [Path(p) for p in args.inputs]
    _check_inputs(inputs)
    out = Path(args.out) if args.out else inputs[0] / "plots"
    check_output_path(out, "--out", directory=True)
    paths = guarded_dir_write(out, lambda d: plot_inputs(inputs, d))
    print(f"{len(paths)} files written to {out}")
    return 0


def cmd_report(args) -> int:
    from analysis.report.plots import write_report
    from simulator.safe_io import guarded_dir_write

    inputs = [Path(p) for p in args.inputs]
    _check_inputs(inputs)
    out = Path(args.out) if args.out else inputs[0] / "report.md"
    check_output_path(out, "--out")
    print(f"report written to {guarded_dir_write(out.parent, lambda _d: write_report(inputs, out))}")
    return 0


def _check_inputs(inputs: list[Path]) -> None:
    from analysis.report.artefacts import is_realtime_dir, is_run_dir, is_sweep_dir
    from simulator.config.schema import load_yaml
    from simulator.errors import VrexError

    for d in inputs:
        if is_sweep_dir(d):
            kind, _ = file_kind(load_yaml(d / "spec.yaml"))
            if kind != "sweep spec":
                raise VrexError(f"{d}: made by 'vrex {kind.removesuffix(' spec')}'; 'vrex plot' and 'vrex report' draw "
                                "saved runs and sweeps ('vrex explore' and 'vrex sensitivity' write their own figures "
                                "and report into it)")
        if not (is_run_dir(d) or is_sweep_dir(d) or is_realtime_dir(d)):
            raise VrexError(f"{d}: not a saved run (vrex simulate --save DIR), a sweep directory (vrex sweep) or a "
                            "real-time run (vrex stream --out DIR)")


def cmd_stream(args) -> int:
    """Arrival-driven streaming: frames and questions on a clock, queueing, drops, answers under load."""
    import json

    from simulator.config.overrides import load_hardware_with, load_workload_with, parse_overrides
    from simulator.config.tech import DEFAULT_TECH, load_tech
    from simulator.engine.replay.realtime import RealtimePolicy
    from simulator.pipeline import resolve, resolve_config
    from simulator.results import realtime as rt
    from simulator.safe_io import atomic_write, guarded_dir_write
    from simulator.streaming import run_stream

    # every flag and output path is checked before any work starts
    for flag in ("--streams", "--max-queue", "--jitter-s", "--seed", "--drop-policy", "--question-policy",
                 "--chunk-frames"):
        check_flag(flag, getattr(args, flag.lstrip("-").replace("-", "_")))
    if args.fps is not None:
        check_flag("--fps", args.fps)
    if args.duration_s is not None:
        check_flag("--duration-s", args.duration_s)
    start, end = (check_flag("--timeline-window", v) for v in args.timeline_window)
    if not end > start:
        raise ConfigError("--timeline-window", "", f"end {end:g} must be after start {start:g}")
    check_output_path(args.out, "--out", directory=True)
    check_output_path(args.timeline_json, "--timeline-json")
    check_output_path(args.timeline, "--timeline")
    ov = parse_overrides(args.overrides, ("hw", "workload"))
    hw = load_hardware_with(resolve_config(args.hw, "hwconfigs", "--hw"), ov, "hw")
    wl = _override_stream(load_workload_with(resolve_config(args.workload, "workloads", "--workload"), ov),
                          args, str(args.workload))
    try:
        policy = RealtimePolicy(max_queue=args.max_queue, drop_policy=args.drop_policy,
                                question_policy=args.question_policy, jitter_s=args.jitter_s, seed=args.seed)
    except ValueError as exc:
        raise ConfigError("command line", "stream", str(exc)) from None

    tech = load_tech(resolve(args.tech or DEFAULT_TECH))
    tmp_dir = None
    timeline = args.timeline
    if args.timeline_json and not timeline:  # --timeline-json reads its window back from a temporary timeline
        import tempfile

        tmp_dir = tempfile.TemporaryDirectory(prefix="vrex-stream-")
        timeline = Path(tmp_dir.name) / "timeline.parquet"
    so = run_stream(wl, hw, tech, policy, streams=args.streams, chunk_frames=args.chunk_frames, timeline=timeline,
                    bisect=not args.no_bisect, progress=_progress(args), source=str(args.workload))
    res = so.result
    if not res.ok:
        print(f"{hw.name}: {res.status}")
        return 0
    run, streams, summ = so.run, so.streams, so.summary
    a = summ
    print(f"{a['label']}: {wl.stream.frames} frames at {wl.stream.fps:g} FPS x {args.streams} stream(s), "
          f"queue {policy.max_queue} ({policy.drop_policy}), questions {policy.question_policy}")
    print(f"  frame latency p50 {a['frame_latency_p50_s'] * 1e3:.3g} ms, p95 {a['frame_latency_p95_s'] * 1e3:.3g} ms,"
          f" p99 {a['frame_latency_p99_s'] * 1e3:.3g} ms, max {a['frame_latency_max_s'] * 1e3:.3g} ms")
    print(f"  frames processed {a['frames_processed']} of {a['frames_arrived']}, dropped {a['frames_dropped']}, "
          f"deadline misses {a['deadline_misses']}, max queue depth {a['queue_depth_max']}")
    for ans in a["answers"]:
        print(f"  stream {ans['stream']} question {ans['question']} at {ans['arrival_s']:.1f} s: TTFT "
              f"{ans['ttft_s'] * 1e3:.3g} ms (unloaded {ans['ttft_unloaded_s'] * 1e3:.3g} ms), TPOT "
              f"{ans['tpot_s'] * 1e3:.3g} ms, {ans['frames_dropped_meanwhile']} frames dropped meanwhile")
    if "max_sustainable_fps" in a:
        print(f"  highest sustainable frame rate (< 1% dropped): {a['max_sustainable_fps']:.2f} FPS")
    print(f"  KV at the end: {a['kv_end_device_gib']:.2f} GiB in device memory, {a['kv_end_offload_gib']:.2f} GiB "
          f"({100 * a['kv_offload_share_end']:.0f}%) in the offload tier")
    for n in res.notes:
        print(f"  note: {n}")
    sys.stdout.flush()
    if args.out:
        out = Path(args.out)
        text = json.dumps(summ, indent=1, default=float)
        atomic_write(out / "summary.json", lambda tmp: tmp.write_text(text))
        atomic_write(out / "jobs.parquet", lambda tmp: run.jobs.to_parquet(tmp, index=False))
        atomic_write(out / "queue.parquet", lambda tmp: run.queue.to_parquet(tmp, index=False))
        from analysis.report.plots import realtime as realtime_figures

        files = guarded_dir_write(out, lambda d: realtime_figures(d, d / "figures"))
        print(f"results and {len(files)} figure files written to {out}", file=sys.stderr)
    if args.timeline_json:
        trace = rt.chrome_trace(run, [rt.ops_for_timeline(_timeline_window(timeline, run, streams, start, end))]
                                * args.streams, streams, window_s=(start, end), device=hw.name)
        path = atomic_write(args.timeline_json, lambda tmp: rt.write_json(trace, tmp))
        print(f"timeline ({len(trace['traceEvents']):,} events) written to {path}", file=sys.stderr)
    if args.timeline:
        print(f"per-op timeline of {hw.name} written to {args.timeline}", file=sys.stderr)
    if tmp_dir is not None:
        tmp_dir.cleanup()
    return 0


def _timeline_window(path, run, streams, start_s: float, end_s: float):
    """The per-op rows (from the replay's Parquet timeline) of the jobs served in the stream-time window
    [start_s, end_s]: only those are read back."""
    import pyarrow.parquet as pq

    served = run.jobs[~run.jobs["dropped"].astype(bool) & (run.jobs["end_s"] >= start_s)
                      & (run.jobs["start_s"] <= end_s)]
    wins = []
    for _, job in served.iterrows():
        key = {"frame": ("frame", int(job["index"])), "question": ("question", int(job["index"])),
               "decode": ("decode", int(job["index"]), int(job["step"]))}.get(job["kind"])
        win = streams[int(job["stream"])].phase_window.get(key) if key else None
        if win is not None:
            wins.append(win)
    lo = min((w[0] for w in wins), default=0.0)
    hi = max((w[1] for w in wins), default=-1.0) + 1e-15
    return pq.read_table(path, filters=[("end_s", ">", lo), ("start_s", "<", hi)]).to_pandas()


def cmd_trace(args) -> int:
    import time

    from simulator.config.overrides import load_workload_with, parse_overrides
    from simulator.pipeline import resolve_config
    from simulator.stream import trace_workload
    from simulator.tracer.trace_file import write_trace

    ov = parse_overrides(args.overrides, ("workload",))
    wl_path = resolve_config(args.workload, "workloads", "--workload")
    wl = load_workload_with(wl_path, ov)
    out = args.out or f"traces/{wl.name}-{args.mode}.parquet"
    check_output_path(out, "--out")
    if args.mode == "real":
        _check_real_mode([], [(wl, str(wl_path))])
    t0 = time.perf_counter()
    tr = trace_workload(wl, mode=args.mode, progress=_progress(args),
                        source=str(wl_path))
    write_trace(tr, out)
    dt = time.perf_counter() - t0
    print(f"{out}: {len(tr.events):,} events, {tr.record.frames} frames, {dt:.1f} s "
          f"({len(tr.events) / dt:,.0f} events/s)")
    return 0


def cmd_policies(args) -> int:
    from analysis.studies.policies import compare_policies, load_suite, render
    from simulator.config.overrides import load_workload_with, parse_overrides
    from simulator.pipeline import resolve
    from simulator.safe_io import atomic_write, guarded_dir_write

    if args.duration_s is not None:
        check_flag("--duration-s", args.duration_s)
    check_output_path(args.out, "--out")
    check_output_path(args.heatmap, "--heatmap")
    ov = parse_overrides(args.overrides, ("workload",))
    wl = _override_stream(load_workload_with(resolve(args.workload), ov), args, str(args.workload))
    if args.mode == "real":
        _check_real_mode([], [(wl, str(args.workload))])
    suite = load_suite(resolve(args.suite))
    traces: dict = {}
    df = compare_policies(wl, suite, mode=args.mode, progress=_progress(args), traces=traces)
    print(render(df, wl.name, args.mode))
    if args.heatmap:
        from analysis.studies.policies import plot_retrieval_heatmaps

        files = guarded_dir_write(Path(args.heatmap).parent, lambda _d: plot_retrieval_heatmaps(traces, args.heatmap))
        print(f"retrieval heatmaps: {', '.join(map(str, files)) or 'none (no per-head retrieval policy)'}",
              file=sys.stderr)
    if args.out:
        atomic_write(args.out, lambda tmp: df.to_parquet(tmp, index=False))
        print(f"table written to {args.out}", file=sys.stderr)
    return 0


def cmd_paper(args) -> int:
    from analysis.paper.evaluation import run_paper

    check_output_path(args.out, "--out", directory=True)
    check_flag("--jobs", args.jobs)
    modes = ("as-stated", "paper-fitted") if args.mode == "both" else (args.mode,)
    path = run_paper(args.out, progress=_progress(args), modes=modes, overlay=args.overlay, jobs=args.jobs)
    print(path.read_text())
    return 0


def _sweep_spec(f):
    from analysis.studies.sweep import load_spec, point_configs, sample_points

    sp = load_spec(f)  # then every point's configs, as vrex sweep checks them before it starts
    for v in sample_points(sp):
        point_configs(sp, v, Path.cwd(), str(f))
    return sp


def _fit_spec(f):
    from analysis.studies.fit import load_fit_spec

    return load_fit_spec(f)


def _explore_spec(f):
    from analysis.studies.explore import load_explore_spec

    return load_explore_spec(f)


def _sensitivity_spec(f):
    from analysis.studies.sensitivity import load_sensitivity_spec

    return load_sensitivity_spec(f)


def _policy_suite(f):
    from analysis.studies.policies import load_suite

    return load_suite(f)


def _model(f):
    from simulator.config.workload import load_model

    return load_model(f)


def _hardware(f):
    from simulator.config.hardware import load_hardware

    return load_hardware(f)


def _workload(f):
    from simulator.config.workload import load_workload

    return load_workload(f)


# file kinds `vrex validate` recognises: (kind, keys only that kind has, loader that checks it with its own
# schema); the first kind whose keys the file holds wins, a file with none of them is a workload
FILE_KINDS = (
    ("hardware", ("kind",), _hardware),
    ("policy suite", ("policies",), _policy_suite),
    ("fit spec", ("tolerance", "near_best", "trials", "profile_points", "window"), _fit_spec),
    ("sensitivity spec", ("inputs", "outputs", "morris", "sobol", "excluded"), _sensitivity_spec),
    ("explore spec", ("scenarios", "optimizer", "reference_name"), _explore_spec),
    ("sweep spec", ("axes", "sampler", "samples"), _sweep_spec),
    ("model", ("llm", "vision", "tokens_per_frame"), _model),
)


def file_kind(data) -> tuple[str, object]:
    """(kind, loader) of a parsed YAML file, from the keys only that kind has."""
    if isinstance(data, dict):
        for kind, keys, loader in FILE_KINDS:
            if any(k in data for k in keys):
                return kind, loader
    return "workload", _workload


def cmd_validate(args) -> int:
    from simulator.config.schema import load_yaml

    for f in args.files:
        kind, loader = file_kind(load_yaml(f))
        loader(f)
        print(f"{f}: ok ({kind})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vrex", description="Streaming video LLM accelerator simulator (V-Rex-like)")
    p.add_argument("--version", action="version", version=f"vrex-sim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="trace a workload and replay it on an accelerator and the GPU baseline")
    _add_sim_args(s)
    s.add_argument("--trace", default=None, help="replay this trace file instead of tracing the workload")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--out", default=None, help="also write the results as Parquet to this file")
    s.add_argument("--timeline", default=None, help="write the accelerator's per-op timeline (Parquet)")
    s.add_argument("--save", default=None, help="save the run's tables to this directory for 'vrex plot'")
    s.add_argument("--per-layer", default=None, metavar="FILE.csv",
                   help="write the accelerator's per-layer report: per layer and phase, cycles, PE utilisation, "
                        "bytes per memory level (DRAM, KV SRAM, offload tier, NoC), energy")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_simulate)
    c = sub.add_parser("compare", help="two or more platforms (accelerators and GPUs) and/or KV policies on one "
                                       "stream: one table and one figure, ratios against the first")
    c.add_argument("entries", nargs="+", metavar="HARDWARE[:POLICY]",
                   help="hardware configs (paths or shipped names, e.g. vrex8-edge), each optionally with the KV "
                        "policy it runs (e.g. orin-agx-32gb:flexgen; default: the workload's policy)")
    c.add_argument("--policy", action="append", default=None,
                   help="run every entry with each of these policies (repeatable)")
    c.add_argument("--workload", default=None, help="workload config, a path or a shipped name (default "
                   "workloads/coin-avg-resv.yaml)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a config value: workload.<key>, or hwN.<key> for the N-th entry's hardware")
    c.add_argument("--mode", choices=("meta", "real"), default="meta")
    c.add_argument("--engine", choices=("compiled", "simpy"), default="compiled")
    c.add_argument("--tech", default=None, help="technology table (default hwconfigs/tech/technology.yaml)")
    c.add_argument("--out", default=None, help="write compare.csv, compare.md and compare.png/.pdf here")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_compare)
    sw = sub.add_parser("sweep", help="design-space sweep over config paths (grid, random, lhs)")
    sw.add_argument("spec", help="sweep spec YAML")
    sw.add_argument("--out", default=None, help="results directory (default results/<spec name>)")
    sw.add_argument("--resume", action="store_true", help="continue a sweep, skipping finished points")
    sw.add_argument("--executor", choices=("local", "dask"), default="local")
    sw.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    sw.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
    sw.add_argument("--no-progress", action="store_true")
    sw.set_defaults(func=cmd_sweep)
    for name, func, hlp in (("explore", cmd_explore, "multi-objective design search (NSGA-II) under area, power and "
                                                     "DRAM constraints; writes the Pareto set and codesign.md"),
                            ("sensitivity", cmd_sensitivity, "global sensitivity (Morris, then Sobol) of outputs "
                                                             "to uncertain inputs; tornado plot and indices")):
        ex = sub.add_parser(name, help=hlp)
        ex.add_argument("spec", help=f"{name} spec YAML")
        ex.add_argument("--out", default=None, help="results directory (default results/<spec name>)")
        ex.add_argument("--resume", action="store_true", help="continue, reusing finished points")
        ex.add_argument("--executor", choices=("local", "dask"), default="local")
        ex.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786")
        ex.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
        ex.add_argument("--no-progress", action="store_true")
        if name == "sensitivity":
            ex.add_argument("--max-samples", type=int, default=None,
                            help="the Sobol budget N instead of the spec's sobol.max_samples (a power of 2); a "
                                 "resumed study stops or goes on there, every point kept")
        if name == "explore":
            ex.add_argument("--fix-level", action="append", choices=("chip", "memory", "io", "policy"),
                            help="hold this level's knobs at the reference (repeatable; e.g. --fix-level memory "
                                 "--fix-level io --fix-level policy: a chip-only search at the reference's system)")
        ex.set_defaults(func=func)
    fi = sub.add_parser("fit", help="infer the paper's open choices from the declared fit set (five published "
                                     "V-Rex8 latencies) within the ranges the spec declares; writes the overlay")
    fi.add_argument("spec", nargs="?", default="analysis/specs/paper-fit.yaml", help="fit spec YAML")
    fi.add_argument("--fit-set", default=None, help="the fit set CSV (default ../shared/reference/vrex-fit.csv "
                                                    "beside the repository)")
    fi.add_argument("--out", default="results/paper-fit", help="results directory")
    fi.add_argument("--overlay", default=None, help="write the paper-fitted overlay here (YAML)")
    fi.add_argument("--resume", action="store_true", help="continue, reusing finished points")
    fi.add_argument("--no-progress", action="store_true")
    fi.set_defaults(func=cmd_fit)
    pl = sub.add_parser("plot", help="draw figures (PNG and PDF) from saved runs and sweeps")
    pl.add_argument("inputs", nargs="+", help="directories from 'vrex simulate --save' or 'vrex sweep'")
    pl.add_argument("--out", default=None, help="figure directory (default <first input>/plots)")
    pl.set_defaults(func=cmd_plot)
    rp = sub.add_parser("report", help="write a Markdown report embedding the figures")
    rp.add_argument("inputs", nargs="+")
    rp.add_argument("--out", default=None, help="Markdown file (default <first input>/report.md)")
    rp.set_defaults(func=cmd_report)
    t = sub.add_parser("trace", help="trace a workload to a Parquet trace file")
    t.add_argument("--workload", default="workloads/coin-avg-resv.yaml",
                   help="workload config, a path or a shipped name (default workloads/coin-avg-resv.yaml, as simulate)")
    t.add_argument("--mode", choices=("meta", "real"), default="meta")
    t.add_argument("--out", default=None, help="output file (default traces/<workload>-<mode>.parquet)")
    _add_workload_set(t)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_trace)
    ps = sub.add_parser("stream", help="real-time streaming: frames and questions arriving on a clock")
    ps.add_argument("--hw", default="hwconfigs/vrex8-edge.yaml",
                    help="accelerator or GPU config (default hwconfigs/vrex8-edge.yaml)")
    ps.add_argument("--workload", default="workloads/coin-videollm-online-8b-resv.yaml",
                    help="workload config (default workloads/coin-videollm-online-8b-resv.yaml: a 120-s "
                         "VideoLLM-online-8B stream under ReSV)")
    ps.add_argument("--fps", type=float, default=None, help="frame rate (default: the workload's)")
    ps.add_argument("--duration-s", type=float, default=None, help="stream length (default: the workload's)")
    ps.add_argument("--streams", type=int, default=1, help="concurrent streams sharing the device")
    ps.add_argument("--max-queue", type=int, default=4, help="waiting frames per stream (default 4)")
    ps.add_argument("--drop-policy", default="drop_oldest", help="drop_oldest | skip_new")
    ps.add_argument("--question-policy", default="answer_first", help="answer_first | interleave")
    ps.add_argument("--jitter-s", type=float, default=0.0, help="uniform jitter of frame arrivals [s]")
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--no-bisect", action="store_true", help="skip the search for the highest sustainable fps")
    ps.add_argument("--out", default=None, help="directory for summary.json, jobs/queue tables and figures")
    ps.add_argument("--timeline-json", default=None, help="Chrome trace / Perfetto JSON of the run")
    ps.add_argument("--timeline", default=None, help="write the device's per-op timeline (Parquet, written "
                    "chunk by chunk as the stream is replayed)")
    ps.add_argument("--chunk-frames", type=int, default=32,
                    help="frames traced and replayed per chunk (memory is bounded by a chunk; default 32)")
    ps.add_argument("--timeline-window", type=float, nargs=2, default=(0.0, 5.0), metavar=("START", "END"),
                    help="stream seconds the timeline covers (default 0 5)")
    ps.add_argument("--tech", default=None, help="technology table (default hwconfigs/tech/technology.yaml)")
    ps.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                    help="override a config value: hw.<key> or workload.<key> (repeatable)")
    ps.add_argument("--no-progress", action="store_true")
    ps.set_defaults(func=cmd_stream)

    pp = sub.add_parser("policies", help="compare KV-cache policies on one stream (memory, fetches, recall)")
    pp.add_argument("--workload", default="workloads/tiny.yaml")
    pp.add_argument("--suite", default="workloads/policy-suite.yaml", help="policies to compare")
    pp.add_argument("--heatmap", default=None, help="write the per-layer x per-head retrieval heatmap (PNG + PDF)")
    pp.add_argument("--mode", choices=("meta", "real"), default="real")
    pp.add_argument("--duration-s", type=float, default=None, help="override the stream length")
    pp.add_argument("--out", default=None, help="also write the table as Parquet")
    _add_workload_set(pp, " (the suite's policies replace kv_policy)")
    pp.add_argument("--no-progress", action="store_true")
    pp.set_defaults(func=cmd_policies)
    pa = sub.add_parser("paper", help="reproduce the V-Rex paper's headline table, with an ablation")
    pa.add_argument("--out", default="results/paper")
    pa.add_argument("--mode", choices=("both", "as-stated", "paper-fitted"), default="both",
                    help="as-stated (our documented open choices), paper-fitted (the make paper-fit overlay) or both")
    pa.add_argument("--overlay", default=None, help="the paper-fitted overlay (default "
                                                    "hwconfigs/overlays/paper-fitted.yaml)")
    pa.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="worker processes tracing and evaluating the points (default: 2, or 1 on one core; the "
                         "same results with any number)")
    pa.add_argument("--no-progress", action="store_true")
    pa.set_defaults(func=cmd_paper)
    v = sub.add_parser("validate", help="check hardware, workload, model, sweep (every point's configs), explore, "
                                        "sensitivity, fit or policy-suite YAML files")
    v.add_argument("files", nargs="+", type=Path)
    v.set_defaults(func=cmd_validate)
    return p


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _StreamError(VrexError):
    """Standard output or standard error cannot be written (a full device, a closed pipe)."""

    def __init__(self, name: str, exc: OSError):
        self.exc = exc
        super().__init__(f"{name}: cannot write: {exc.strerror or type(exc).__name__}")


class _Guarded:
    """sys.stdout / sys.stderr, a failed write raising :class:`_StreamError` (one line, or a quiet exit for a
    closed pipe) instead of an OSError traceback from ``print``."""

    def __init__(self, stream, name: str):
        self._stream, self._name = stream, name

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _StreamError(self._name, exc) from None

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as exc:
            raise _StreamError(self._name, exc) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of what is still buffered does not fail
    again (and print 'Exception ignored')."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _say_error(text: str) -> None:
    try:
        print(f"vrex: error: {_one_line(text)}", file=sys.stderr)
        sys.stderr.flush()
    except (OSError, _StreamError):
        pass  # standard error is gone too (e.g. 2>/dev/full): the exit code says it


def main(argv: list[str] | None = None) -> int:
    from simulator.safe_io import stream_failed

    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Guarded(out, "standard output"), _Guarded(err, "standard error")
    try:
        rc = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that went away is handled below, not at exit
        return rc
    except _StreamError as exc:
        _silence_stdout()
        if stream_failed(exc.exc):
            # the reader went away (e.g. `vrex simulate --json | head`): stop quietly like other CLI tools
            return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by SIGPIPE
        _say_error(str(exc))
        return 2
    except VrexError as exc:
        _say_error(str(exc))
        return 2
    except KeyboardInterrupt:
        try:
            print("vrex: interrupted", file=sys.stderr)
        except (OSError, _StreamError):
            pass
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    finally:
        sys.stdout, sys.stderr = out, err


if __name__ == "__main__":
    sys.exit(main())
