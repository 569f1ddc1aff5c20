"""Command line: ``vrex simulate | trace | sweep | plot | report | policies | paper | validate``.

User errors (bad configs, corrupt traces) print one line ``vrex: error: ...`` and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator import __version__
from simulator.errors import VrexError


def _progress(args) -> bool:
    """Progress bars only on an interactive terminal and unless --no-progress."""
    return not args.no_progress and sys.stderr.isatty()


def _add_sim_args(p: argparse.ArgumentParser) -> None:
    from simulator.pipeline import DEFAULT_BASELINE, DEFAULT_HW, DEFAULT_WORKLOAD

    p.add_argument("--hw", default=DEFAULT_HW, help=f"accelerator config (default {DEFAULT_HW})")
    p.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"GPU baseline config (default {DEFAULT_BASELINE})")
    p.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"workload config (default {DEFAULT_WORKLOAD})")
    p.add_argument("--mode", choices=("meta", "real"), default="meta", help="tracing mode (default meta)")
    p.add_argument("--tech", default=None, help="technology table (default hwconfigs/tech/technology.yaml)")


def cmd_simulate(args) -> int:
    from simulator.config.tech import DEFAULT_TECH
    from simulator.pipeline import run
    from simulator.results.report import render_text, write_json, write_parquet

    out = run(args.hw, args.baseline, args.workload, trace_path=args.trace, mode=args.mode,
              tech_path=args.tech or DEFAULT_TECH, progress=_progress(args))
    if args.json:
        print(write_json(out.report))
    else:
        print(render_text(out.report))
    if args.out:
        path = write_parquet(out.report, args.out)
        print(f"results written to {path}", file=sys.stderr)
    if args.timeline:
        cols = ["phase", "frame", "question", "step", "layer", "op", "kind", "unit", "start_s", "end_s",
                "compute_start_s", "compute_end_s", "compute_s", "read_s", "write_s", "dram_bytes", "bound"]
        Path(args.timeline).parent.mkdir(parents=True, exist_ok=True)
        out.accel.ops[cols].to_parquet(args.timeline, index=False)
        print(f"per-op timeline of {out.accel.hardware} written to {args.timeline}", file=sys.stderr)
    if args.save:
        from analysis.artefacts import save_run

        print(f"run saved to {save_run(out, args.save)} (vrex plot {args.save})", file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    from analysis.sweep import run_sweep

    out = args.out or f"results/{Path(args.spec).stem}"
    df = run_sweep(args.spec, out, resume=args.resume, executor=args.executor, scheduler=args.scheduler,
                   workers=args.workers, progress=not args.no_progress)
    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    print(f"{out}: {len(df)} points ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
          f"Pareto front in {out}/pareto.parquet")
    return 0


def cmd_plot(args) -> int:
    from analysis.plots import plot_inputs

    inputs = [Path(p) for p in args.inputs]
    _check_inputs(inputs)
    out = Path(args.out) if args.out else inputs[0] / "plots"
    paths = plot_inputs(inputs, out)
    print(f"{len(paths)} files written to {out}")
    return 0


def cmd_report(args) -> int:
    from analysis.plots import write_report

    inputs = [Path(p) for p in args.inputs]
    _check_inputs(inputs)
    out = Path(args.out) if args.out else inputs[0] / "report.md"
    print(f"report written to {write_report(inputs, out)}")
    return 0


def _check_inputs(inputs: list[Path]) -> None:
    from analysis.artefacts import is_run_dir, is_sweep_dir
    from simulator.errors import VrexError

    for d in inputs:
        if not (is_run_dir(d) or is_sweep_dir(d)):
            raise VrexError(f"{d}: not a saved run (vrex simulate --save DIR) or a sweep directory (vrex sweep)")


def cmd_trace(args) -> int:
    import time

    from simulator.config.workload import load_workload
    from simulator.pipeline import resolve
    from simulator.stream import trace_workload
    from simulator.tracer.trace_file import write_trace

    wl_path = resolve(args.workload)
    wl = load_workload(wl_path)
    t0 = time.perf_counter()
    tr = trace_workload(wl, mode=args.mode, progress=_progress(args),
                        source=str(wl_path))
    out = args.out or f"traces/{wl.name}-{args.mode}.parquet"
    write_trace(tr, out)
    dt = time.perf_counter() - t0
    print(f"{out}: {len(tr.events):,} events, {tr.meta['frames']} frames, {dt:.1f} s "
          f"({len(tr.events) / dt:,.0f} events/s)")
    return 0


def cmd_policies(args) -> int:
    from analysis.policy_report import compare_policies, load_suite, render
    from simulator.config.workload import load_workload
    from simulator.pipeline import resolve

    wl = load_workload(resolve(args.workload))
    if args.duration_s is not None:
        wl = wl.with_stream(duration_s=args.duration_s)
    suite = load_suite(resolve(args.suite))
    traces: dict = {}
    df = compare_policies(wl, suite, mode=args.mode, progress=_progress(args), traces=traces)
    print(render(df, wl.name, args.mode))
    if args.heatmap:
        from analysis.policy_report import plot_retrieval_heatmaps

        files = plot_retrieval_heatmaps(traces, args.heatmap)
        print(f"retrieval heatmaps: {', '.join(map(str, files)) or 'none (no per-head retrieval policy)'}",
              file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(args.out, index=False)
        print(f"table written to {args.out}", file=sys.stderr)
    return 0


def cmd_paper(args) -> int:
    from analysis.paper import run_paper

    path = run_paper(args.out, progress=_progress(args))
    print(path.read_text())
    return 0


def cmd_validate(args) -> int:
    from simulator.config.hardware import load_hardware
    from simulator.config.schema import load_yaml
    from simulator.config.workload import load_workload

    for f in args.files:
        data = load_yaml(f)
        if isinstance(data, dict) and "kind" in data:
            load_hardware(f)
        elif isinstance(data, dict) and "policies" in data:
            from analysis.policy_report import load_suite

            load_suite(f)
        elif isinstance(data, dict) and "axes" in data:
            from analysis.sweep import load_spec

            load_spec(f)
        elif isinstance(data, dict) and "llm" in data:
            from simulator.config.workload import load_model

            load_model(f)
        else:
            load_workload(f)
        print(f"{f}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vrex", description="Streaming video LLM accelerator simulator (V-Rex-like)")
    p.add_argument("--version", action="version", version=f"vrex-sim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="trace a workload and replay it on an accelerator and the GPU baseline")
    _add_sim_args(s)
    s.add_argument("--trace", default=None, help="replay this trace file instead of tracing the workload")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--out", default=None, help="also write the results as Parquet to this file")
    s.add_argument("--timeline", default=None, help="write the accelerator's per-op timeline (Parquet)")
    s.add_argument("--save", default=None, help="save the run's tables to this directory for 'vrex plot'")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_simulate)
    sw = sub.add_parser("sweep", help="design-space sweep over config paths (grid, random, lhs)")
    sw.add_argument("spec", help="sweep spec YAML")
    sw.add_argument("--out", default=None, help="results directory (default results/<spec name>)")
    sw.add_argument("--resume", action="store_true", help="continue a sweep, skipping finished points")
    sw.add_argument("--executor", choices=("local", "dask"), default="local")
    sw.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    sw.add_argument("--workers", type=int, default=None, help="local processes (default: all cores)")
    sw.add_argument("--no-progress", action="store_true")
    sw.set_defaults(func=cmd_sweep)
    pl = sub.add_parser("plot", help="draw figures (PNG and PDF) from saved runs and sweeps")
    pl.add_argument("inputs", nargs="+", help="directories from 'vrex simulate --save' or 'vrex sweep'")
    pl.add_argument("--out", default=None, help="figure directory (default <first input>/plots)")
    pl.set_defaults(func=cmd_plot)
    rp = sub.add_parser("report", help="write a Markdown report embedding the figures")
    rp.add_argument("inputs", nargs="+")
    rp.add_argument("--out", default=None, help="Markdown file (default <first input>/report.md)")
    rp.set_defaults(func=cmd_report)
    t = sub.add_parser("trace", help="trace a workload to a Parquet trace file")
    t.add_argument("--workload", default="workloads/coin-llava-ov-7b.yaml")
    t.add_argument("--mode", choices=("meta", "real"), default="meta")
    t.add_argument("--out", default=None, help="output file (default traces/<workload>-<mode>.parquet)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_trace)
    pp = sub.add_parser("policies", help="compare KV-cache policies on one stream (memory, fetches, recall)")
    pp.add_argument("--workload", default="workloads/tiny.yaml")
    pp.add_argument("--suite", default="workloads/policy-suite.yaml", help="policies to compare")
    pp.add_argument("--heatmap", default=None, help="write the per-layer x per-head retrieval heatmap (PNG + PDF)")
    pp.add_argument("--mode", choices=("meta", "real"), default="real")
    pp.add_argument("--duration-s", type=float, default=None, help="override the stream length")
    pp.add_argument("--out", default=None, help="also write the table as Parquet")
    pp.add_argument("--no-progress", action="store_true")
    pp.set_defaults(func=cmd_policies)
    pa = sub.add_parser("paper", help="reproduce the V-Rex paper's headline table, with an ablation")
    pa.add_argument("--out", default="results/paper")
    pa.add_argument("--no-progress", action="store_true")
    pa.set_defaults(func=cmd_paper)
    v = sub.add_parser("validate", help="check hardware, workload, model, sweep or policy-suite YAML files")
    v.add_argument("files", nargs="+", type=Path)
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VrexError as exc:
        print(f"vrex: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vrex: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
