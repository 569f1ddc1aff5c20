"""Benchmarks (``make bench``): tracing and replay speed on a 10-minute 7B stream, printed as figures.

Targets (issues 3 and 5): trace a 10-minute 2 FPS stream of the 7B model in under 60 s, and replay it
on the accelerator model in under 60 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import time

from simulator.config.hardware import load_hardware
from simulator.config.workload import load_workload
from simulator.engine.accelerator import simulate_accelerator
from simulator.engine.gpu import simulate_gpu
from simulator.pipeline import resolve
from simulator.tracer.stream import trace_workload


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workload", default="workloads/coin-llava-ov-7b.yaml")
    ap.add_argument("--duration-s", type=float, default=600.0, help="stream length (default 10 minutes)")
    args = ap.parse_args(argv)
    wl = load_workload(resolve(args.workload)).with_stream(duration_s=args.duration_s)
    print(f"workload {wl.name}: {wl.stream.frames} frames ({args.duration_s:g} s at {wl.stream.fps:g} FPS)")

    t0 = time.perf_counter()
    tr = trace_workload(wl, mode="meta")
    dt = time.perf_counter() - t0
    n = len(tr.events)
    print(f"trace  (meta):  {dt:7.2f} s wall, {n:,} events, {n / dt:,.0f} events/s   [target < 60 s]")

    hw = load_hardware(resolve("hwconfigs/vrex8-edge.yaml"))
    t0 = time.perf_counter()
    res = simulate_accelerator(tr, hw)
    dt = time.perf_counter() - t0
    print(f"replay (accel): {dt:7.2f} s wall, {n / dt:,.0f} simulated ops/s, {res.total_s:,.1f} s simulated "
          f"[target < 60 s]")

    gpu = load_hardware(resolve("hwconfigs/orin-agx.yaml"))
    t0 = time.perf_counter()
    simulate_gpu(tr, gpu)
    dt = time.perf_counter() - t0
    print(f"replay (gpu):   {dt:7.2f} s wall, {n / dt:,.0f} simulated ops/s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory:    {rss:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
