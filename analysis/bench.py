"""Benchmarks (``make bench``): tracing and replay speed on a one-hour and a 10-minute stream, printed as figures.

Each stream length runs in its own process, so its peak memory is its own. Per stream: the meta-mode
trace (templated: distinct phase shapes traced, the other phases computed; ``--full-trace`` traces every
phase, the reference), the V-Rex8 and the Orin replays (the compiled engine), and the process's peak memory.
The replay still holds every op's costs in memory, so it runs only on streams up to ``--replay-max-s``
(default 10 minutes).

Targets (issue 22), on 2 cores: one-hour stream traced + replayed on V-Rex8 in under 60 s, peak memory under
2 GiB.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from simulator.config.hardware import load_hardware
from simulator.config.workload import load_workload
from simulator.pipeline import resolve
from simulator.stream import StreamTracer


def _peak_mib() -> float:
    """The process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(workload: str, duration_s: float, templated: bool, replay: bool) -> dict:
    """Trace (and replay) one stream length; the figures as a dict."""
    from simulator.engine.simulate import simulate

    wl = load_workload(resolve(workload)).with_stream(duration_s=duration_s)
    out: dict = {"frames": wl.stream.frames, "fps": wl.stream.fps, "name": wl.name}
    t0, c0 = time.perf_counter(), time.process_time()
    tracer = StreamTracer(wl, mode="meta", source=workload, templated=templated)
    tr = tracer.run()
    out["trace_s"], out["trace_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    out["events"] = len(tr.events)
    out["template"] = tracer.template_stats()
    out["trace_peak_mib"] = _peak_mib()
    if replay:
        hw = load_hardware(resolve("hwconfigs/vrex8-edge.yaml"))
        t0 = time.perf_counter()
        res = simulate(tr, hw)
        out["accel_s"] = time.perf_counter() - t0
        out["accel_sim_s"] = res.total_s
        gpu = load_hardware(resolve("hwconfigs/orin-agx.yaml"))
        t0 = time.perf_counter()
        simulate(tr, gpu)
        out["gpu_s"] = time.perf_counter() - t0
    out["peak_mib"] = _peak_mib()
    return out


def _in_child(args: tuple) -> dict:
    return run_case(*args)


def report(fig: dict) -> list[str]:
    """The figures of one stream as printed lines (the four headline lines first)."""
    n, dt = fig["events"], fig["trace_s"]
    lines = [f"trace (meta): {dt:.2f} s wall, {n:,} events"]
    if "accel_s" in fig:
        lines += [f"replay (accel): {fig['accel_s']:.2f} s wall", f"replay (gpu): {fig['gpu_s']:.2f} s wall"]
    else:
        lines += ["replay (accel): skipped (longer than --replay-max-s)",
                  "replay (gpu): skipped (longer than --replay-max-s)"]
    lines.append(f"peak memory: {fig['peak_mib']:,.0f} MiB")
    t = fig["template"]
    how = (f"{t['shapes']} phase shapes, {t['traced']} LLM phases traced, {t['generated']} computed, "
           f"{t['untemplated_shapes']} shapes untemplated" if t["shapes"] else "every phase traced")
    lines.append(f"  trace: {n / dt:,.0f} events/s ({fig['trace_cpu_s']:.2f} s CPU: the machine is shared); {how}; "
                 f"peak after the trace {fig['trace_peak_mib']:,.0f} MiB")
    if "accel_s" in fig:
        lines.append(f"  replay: accel {n / fig['accel_s']:,.0f} ops/s ({fig['accel_sim_s']:,.1f} s simulated), "
                     f"gpu {n / fig['gpu_s']:,.0f} ops/s")
    return lines


# the sweep-throughput case (issue 22: >= 2 design points per second on 2-minute V-Rex8 streams, trace reused)
SWEEP_WORKLOAD = "workloads/coin-videollm-online-8b-resv.yaml"
SWEEP_DURATION_S = 120.0
SWEEP_HW = "hwconfigs/vrex8-edge.yaml"


def sweep_variants(hw) -> list:
    """Twelve V-Rex8 design points: cores x DRAM bandwidth x clock (the kind of grid a designer sweeps)."""
    import dataclasses

    return [dataclasses.replace(hw, cores=c, clock_mhz=hw.clock_mhz * f,
                                dram=dataclasses.replace(hw.dram, bandwidth_gbps=hw.dram.bandwidth_gbps * b))
            for c in (8, 4, 16) for b in (1.0, 0.5) for f in (1.0, 0.8)]


def sweep_throughput(workload: str = SWEEP_WORKLOAD, duration_s: float = SWEEP_DURATION_S) -> dict:
    """Trace one stream, then simulate it on every :func:`sweep_variants` point (the trace and its per-trace
    plan reused). Times are CPU (``time.process_time``: the machine is shared) and wall; the first point
    includes building the trace's plan (engine/plan.py)."""
    from simulator.engine.simulate import simulate

    wl = load_workload(resolve(workload)).with_stream(duration_s=duration_s)
    tr = StreamTracer(wl, mode="meta", source=workload).run()
    points = sweep_variants(load_hardware(resolve(SWEEP_HW)))
    simulate(tr, points[0])  # compiles the replay kernel if numba's cache is cold
    tr = type(tr)(events=tr.events.copy(), meta=tr.meta, kv_tokens=tr.kv_tokens)  # a fresh table: no plan yet
    c0, t0 = time.process_time(), time.perf_counter()
    first = None
    for hw in points:
        res = simulate(tr, hw)
        if not res.ok:
            raise RuntimeError(f"sweep point {hw.name} did not run: {res.status}")
        first = first if first is not None else time.process_time() - c0
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"points": len(points), "events": len(tr.events), "cpu_s": cpu, "wall_s": wall, "first_cpu_s": first}


def sweep_lines(fig: dict) -> list[str]:
    n = fig["points"]
    return [f"sweep: {n / fig['cpu_s']:.2f} design points/s (2-minute V-Rex8 points, trace reused)",
            f"  sweep: {n} points of {fig['events']:,} ops in {fig['cpu_s']:.2f} s CPU ({fig['wall_s']:.2f} s wall: "
            f"the machine is shared); the first, with the trace's plan, {fig['first_cpu_s']:.2f} s CPU"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workload", default="workloads/coin-videollm-online-8b-resv.yaml")
    ap.add_argument("--duration-s", type=float, nargs="+", default=[3600.0, 600.0],
                    help="stream lengths, each in its own process (default: one hour, then 10 minutes)")
    ap.add_argument("--replay-max-s", type=float, default=600.0,
                    help="replay only streams up to this length (the replay holds every op's costs in memory)")
    ap.add_argument("--full-trace", action="store_true", help="trace every phase (the reference) instead of "
                    "templated tracing")
    args = ap.parse_args(argv)
    ctx = mp.get_context("fork")
    for duration in args.duration_s:
        # a process per stream length; one killed for memory is reported as such (a Pool would wait forever)
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            try:
                fig = pool.submit(_in_child, (args.workload, duration, not args.full_trace,
                                              duration <= args.replay_max_s)).result()
            except BrokenProcessPool:
                print(f"{duration:g} s stream: out of memory (the process was killed); the replay holds every "
                      "op's costs in memory", flush=True)
                continue
        print(f"workload {fig['name']}: {fig['frames']} frames ({duration:g} s at {fig['fps']:g} FPS)"
              + (", full trace" if args.full_trace else ""))
        for line in report(fig):
            print(line, flush=True)
    print("\n".join(sweep_lines(sweep_throughput(args.workload))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
