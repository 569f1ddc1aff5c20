"""Benchmarks (``make bench``): tracing and replay speed and peak memory on a one-hour and a 10-minute stream.

Each stream length runs in its own process, so its peak memory is its own. Per stream, chunk by chunk
(``StreamTracer.chunks`` -> ``simulate.ChunkedSim``, ``--chunk-frames`` frames at a time; memory is bounded
by a chunk): the meta-mode trace of the accelerator's workload (templated: distinct phase shapes traced, the
other phases computed; ``--full-trace`` traces every phase, the reference) replayed on V-Rex8, and the GPU
baseline's workload (the same stream under FlexGen) traced and replayed on the Orin 32 GB. Times are wall
clock (the machine is shared: the CPU times are printed beside them); the tracer's, the accelerator
replay's and the GPU replay's shares are timed separately while they run interleaved.

Targets (issue 30; memory from issue 22), on 2 cores: the one-hour stream traced + replayed on V-Rex8 in under
20 s wall, peak memory under 2 GiB; the 10-minute stream's accelerator replay at >= 5 M ops/s; the sweep at
>= 20 design points/s (2-minute V-Rex8 points, trace reused).
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

ACCEL_WORKLOAD = "workloads/coin-videollm-online-8b-resv.yaml"  # issue 22: VideoLLM-online-8B, ReSV, 2 FPS
GPU_WORKLOAD = "workloads/coin-videollm-online-8b-flexgen.yaml"  # the same stream, the GPU running FlexGen
ACCEL_HW = "hwconfigs/vrex8-edge.yaml"
GPU_HW = "hwconfigs/orin-agx-32gb.yaml"
CHUNK_FRAMES = 64  # frames per chunk: an assumption (fewer: less memory, more per-chunk overhead)


def _peak_mib() -> float:
    """The process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Clock:
    """Wall and CPU seconds spent inside ``with clock:`` blocks."""

    def __init__(self):
        self.wall_s = self.cpu_s = 0.0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.wall_s += time.perf_counter() - self._w
        self.cpu_s += time.process_time() - self._c


def _trace_and_replay(workload: str, hw_path: str, duration_s: float, templated: bool, chunk_frames: int
                      ) -> tuple[dict, _Clock, _Clock, StreamTracer]:
    """Trace ``workload`` chunk by chunk, replaying each chunk on ``hw_path`` as it comes; the tracer's and
    the replay's time kept apart."""
    from simulator.engine.simulate import ChunkedSim

    wl = load_workload(resolve(workload)).with_stream(duration_s=duration_s)
    trace_clock, replay_clock = _Clock(), _Clock()
    with trace_clock:
        tracer = StreamTracer(wl, mode="meta", source=workload, templated=templated)
        chunks = tracer.chunks(chunk_frames)
    with replay_clock:
        sim = ChunkedSim(tracer.meta_preview(), load_hardware(resolve(hw_path)))
    events = 0
    while True:
        with trace_clock:
            chunk = next(chunks, None)
        if chunk is None:
            break
        events += len(chunk.events)
        with replay_clock:
            sim.feed(chunk)
        del chunk
    with replay_clock:
        res = sim.finish()
    out = {"frames": wl.stream.frames, "fps": wl.stream.fps, "name": wl.name, "events": events,
           "ops": res.n_ops, "sim_s": res.total_s, "status": res.status}
    return out, trace_clock, replay_clock, tracer


def run_case(workload: str, gpu_workload: str, duration_s: float, templated: bool, chunk_frames: int) -> dict:
    """Trace and replay one stream length on the accelerator and the GPU; the figures as a dict."""
    acc, t_clock, a_clock, tracer = _trace_and_replay(workload, ACCEL_HW, duration_s, templated, chunk_frames)
    out = dict(acc, trace_s=t_clock.wall_s, trace_cpu_s=t_clock.cpu_s, accel_s=a_clock.wall_s,
               accel_cpu_s=a_clock.cpu_s, template=tracer.template_stats(), accel_peak_mib=_peak_mib())
    del tracer
    gpu, g_trace, g_clock, _ = _trace_and_replay(gpu_workload, GPU_HW, duration_s, templated, chunk_frames)
    out.update(gpu_name=gpu["name"], gpu_events=gpu["events"], gpu_ops=gpu["ops"], gpu_sim_s=gpu["sim_s"],
               gpu_status=gpu["status"], gpu_trace_s=g_trace.wall_s, gpu_s=g_clock.wall_s, gpu_cpu_s=g_clock.cpu_s)
    out["peak_mib"] = _peak_mib()
    return out


def _in_child(args: tuple) -> dict:
    return run_case(*args)


def report(fig: dict, duration_s: float, chunk_frames: int) -> list[str]:
    """The figures of one stream as printed lines (the four headline lines first)."""
    n, dt = fig["events"], fig["trace_s"]
    lines = [f"trace (meta): {dt:.2f} s wall, {n:,} events",
             f"replay (accel): {fig['accel_s']:.2f} s wall",
             f"replay (gpu): {fig['gpu_s']:.2f} s wall",
             f"peak memory: {fig['peak_mib']:,.0f} MiB"]
    t = fig["template"]
    how = (f"{t['shapes']} phase shapes, {t['traced']} LLM phases traced, {t['generated']} computed, "
           f"{t['untemplated_shapes']} shapes untemplated" if t["shapes"] else "every phase traced")
    lines.append(f"  trace: {n / dt:,.0f} events/s ({fig['trace_cpu_s']:.2f} s CPU: the machine is shared); {how}")
    lines.append(f"  replay (accel): {fig['ops'] / fig['accel_s']:,.0f} ops/s ({fig['ops'] / fig['accel_cpu_s']:,.0f} "
                 f"per CPU s, {fig['accel_cpu_s']:.2f} s CPU; target >= 5,000,000 on the 10-minute stream; "
                 f"{fig['sim_s']:,.1f} s simulated, {fig['status']})")
    lines.append(f"  replay (gpu): {fig['gpu_ops'] / fig['gpu_s']:,.0f} ops/s ({fig['gpu_cpu_s']:.2f} s CPU; "
                 f"{fig['gpu_sim_s']:,.1f} s simulated, {fig['gpu_status']}); its workload {fig['gpu_name']} "
                 f"traced in {fig['gpu_trace_s']:.2f} s wall, {fig['gpu_events']:,} events")
    lines.append(f"  stream: workload {fig['name']}, {fig['frames']} frames ({duration_s:g} s at {fig['fps']:g} FPS), "
                 f"{chunk_frames} frames per chunk; trace + accelerator replay {dt + fig['accel_s']:.1f} s wall "
                 f"(target < 20 s for one hour), peak {fig['peak_mib']:,.0f} MiB (target < 2,048 MiB)")
    return lines


# the sweep-throughput case (issue 30: >= 20 design points per second on 2-minute V-Rex8 streams, trace reused)
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
    """Trace one stream, then evaluate every :func:`sweep_variants` point on it in one process
    (``simulate.evaluate_designs``: the trace's plan reused, aggregates only), as the studies do: the metrics
    of each point and its row written as a sweep writes it. Times are CPU (``time.process_time``: the machine
    is shared) and wall, per stage; the plan (distinct rows, phase instances, the replay's schedule) is built
    on the first point."""
    import tempfile

    from analysis.studies.store import PointStore
    from simulator.engine import simulate as sim
    from simulator.results.metrics import stream_metrics

    wl = load_workload(resolve(workload)).with_stream(duration_s=duration_s)
    c0 = time.process_time()
    tr = StreamTracer(wl, mode="meta", source=workload).run()
    trace_cpu = time.process_time() - c0
    points = sweep_variants(load_hardware(resolve(SWEEP_HW)))
    sim.evaluate_designs(tr, points[:1])  # compiles the kernels if numba's cache is cold
    tr = type(tr)(events=tr.events.copy(), meta=tr.meta, kv_tokens=tr.kv_tokens)  # a fresh table: no plan yet
    sim.STAGE_TIMES.clear()
    stages = {"metrics": 0.0, "bookkeeping": 0.0}
    c0, t0 = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        store = PointStore(out)
        for i, res in enumerate(sim.evaluate_designs(tr, points)):
            if not res.ok:
                raise RuntimeError(f"sweep point {points[i].name} did not run: {res.status}")
            c1 = time.process_time()
            m, _ = stream_metrics(res, tr.meta["fps"])
            c2 = time.process_time()
            store.write(f"p{i}", {"point_id": f"p{i}", **m.as_dict()})
            stages["metrics"] += c2 - c1
            stages["bookkeeping"] += time.process_time() - c2
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    stages = {**sim.STAGE_TIMES, **stages}
    return {"points": len(points), "events": len(tr.events), "cpu_s": cpu, "wall_s": wall, "trace_cpu_s": trace_cpu,
            "stages": stages}


def sweep_lines(fig: dict) -> list[str]:
    n = fig["points"]
    per = ", ".join(f"{k} {1e3 * v / n:.1f}" for k, v in fig["stages"].items())
    return [f"sweep: {n / fig['cpu_s']:.2f} design points/s (2-minute V-Rex8 points, trace reused; target >= 20)",
            f"  sweep: {n} points of {fig['events']:,} ops in {fig['cpu_s']:.2f} s CPU ({fig['wall_s']:.2f} s wall: "
            f"the machine is shared); the trace, made once and reused, {fig['trace_cpu_s']:.2f} s CPU",
            f"  sweep profile (ms CPU per design point): {per} (total {1e3 * fig['cpu_s'] / n:.1f}; target <= 50)"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workload", default=ACCEL_WORKLOAD, help="the accelerator's workload (V-Rex8)")
    ap.add_argument("--gpu-workload", default=GPU_WORKLOAD, help="the GPU baseline's workload (Orin 32 GB)")
    ap.add_argument("--duration-s", type=float, nargs="+", default=[3600.0, 600.0],
                    help="stream lengths, each in its own process (default: one hour, then 10 minutes)")
    ap.add_argument("--chunk-frames", type=int, default=CHUNK_FRAMES, help="frames traced and replayed per chunk")
    ap.add_argument("--full-trace", action="store_true", help="trace every phase (the reference) instead of "
                    "templated tracing")
    args = ap.parse_args(argv)
    if args.chunk_frames < 1:
        ap.error("--chunk-frames must be >= 1")
    ctx = mp.get_context("fork")
    for duration in args.duration_s:
        # a process per stream length; one killed for memory is reported as such (a Pool would wait forever)
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            try:
                fig = pool.submit(_in_child, (args.workload, args.gpu_workload, duration, not args.full_trace,
                                              args.chunk_frames)).result()
            except BrokenProcessPool:
                print(f"{duration:g} s stream: out of memory (the process was killed)", flush=True)
                continue
        for line in report(fig, duration, args.chunk_frames):
            print(line + (", full trace" if args.full_trace and line.startswith("  stream") else ""), flush=True)
    print("\n".join(sweep_lines(sweep_throughput(ACCEL_WORKLOAD))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
