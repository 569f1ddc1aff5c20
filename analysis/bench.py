"""Benchmarks (``make bench``): tracing and replay speed on a 10-minute 7B stream, printed as figures.

Targets (issue 16), on 2 cores: trace a 10-minute 2 FPS stream of the 7B model in under 30 s, replay it
on V-Rex8 in under 15 s, peak memory under 2 GiB.
"""

from __future__ import annotations

import argparse
import resource
import time

from simulator.config.hardware import load_hardware
from simulator.config.workload import load_workload
from simulator.engine.simulate import simulate
from simulator.pipeline import resolve
from simulator.stream import trace_workload


def _peak_mib() -> float:
    """The process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    print(f"trace  (meta):  {dt:7.2f} s wall, {n:,} events, {n / dt:,.0f} events/s   [target < 30 s]"
          f"   (peak so far {_peak_mib():,.0f} MiB)")

    hw = load_hardware(resolve("hwconfigs/vrex8-edge.yaml"))
    t0 = time.perf_counter()
    res = simulate(tr, hw)
    dt = time.perf_counter() - t0
    print(f"replay (accel): {dt:7.2f} s wall, {n / dt:,.0f} simulated ops/s, {res.total_s:,.1f} s simulated "
          f"[target < 15 s]   (peak so far {_peak_mib():,.0f} MiB)")

    gpu = load_hardware(resolve("hwconfigs/orin-agx.yaml"))
    t0 = time.perf_counter()
    simulate(tr, gpu)
    dt = time.perf_counter() - t0
    print(f"replay (gpu):   {dt:7.2f} s wall, {n / dt:,.0f} simulated ops/s")
    print(f"peak memory:    {_peak_mib():,.0f} MiB   [target < 2048 MiB]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
