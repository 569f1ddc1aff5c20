"""Replay speed, SimPy against compiled (issue 22): ops/s of both on a real replay tiled to a large trace.

The replay a real run makes (by default the paper's average COIN case with ReSV on V-Rex8: prefetch, KV
fetched over the offload link) is recorded from ``simulate(..., engine='simpy')`` and tiled end to end (each copy's
dependencies shifted to its own ops) to ``--ops`` ops for the compiled replay and ``--simpy-ops`` for
SimPy; the compiled result on the SimPy-sized trace is checked against SimPy's (max relative difference).

    python -m analysis.devtools.replay_speed --ops 7000000 --simpy-ops 1000000
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import simulator.engine.replay.discrete_event as replay_mod
from simulator.config.hardware import load_hardware
from simulator.config.workload import load_workload
from simulator.engine.replay.compiled import deps_to_csr, replay_compiled, replay_compiled_csr
from simulator.engine.simulate import simulate
from simulator.pipeline import resolve
from simulator.stream import trace_workload

ARRAYS = ("link_read_s", "link_write_s", "read_waits_deps", "link_latency_s")


def _peak_mib() -> float:
    """The process's peak resident memory so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def recorded_replay(workload: str, hardware: str, duration_s: float | None):
    """The positional and keyword arguments of the replay a simulation makes."""
    wl = load_workload(resolve(workload))
    if duration_s is not None:
        wl = wl.with_stream(duration_s=duration_s)
    tr = trace_workload(wl, mode="meta")
    calls = []
    simpy_replay = replay_mod.REPLAY_ENGINES["simpy"]
    replay_mod.REPLAY_ENGINES["simpy"] = lambda *a, **k: calls.append((a, k)) or simpy_replay(*a, **k)
    try:
        simulate(tr, load_hardware(resolve(hardware)), engine="simpy")
    finally:
        replay_mod.REPLAY_ENGINES["simpy"] = simpy_replay
    return calls[-1]


def tiled(args, kwargs, n_ops: int):
    """The replay ``args, kwargs`` repeated end to end to ``n_ops`` ops: (arrays, kwargs, CSR deps)."""
    read, compute, write, unit, deps, n_units = args
    n = len(compute)
    reps = -(-n_ops // n)
    tile = lambda a: np.tile(np.asarray(a), reps)[:n_ops]  # noqa: E731
    ptr, idx = deps_to_csr(deps, n)
    counts = np.tile(np.diff(ptr), reps)[:n_ops]
    dep_ptr = np.zeros(n_ops + 1, dtype=np.int64)
    np.cumsum(counts, out=dep_ptr[1:])
    dep_idx = (np.tile(idx, reps) + np.repeat(np.arange(reps, dtype=np.int64) * n, len(idx)))[:dep_ptr[-1]]
    return ((tile(read), tile(compute), tile(write), tile(unit), n_units),
            {k: tile(kwargs[k]) for k in ARRAYS}, (dep_ptr, dep_idx))


def as_lists(dep_ptr, dep_idx) -> list[tuple[int, ...]]:
    idx = dep_idx.tolist()
    return [tuple(idx[a:b]) for a, b in zip(dep_ptr[:-1].tolist(), dep_ptr[1:].tolist())]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", default="workloads/coin-avg-resv.yaml")
    ap.add_argument("--hardware", default="hwconfigs/vrex8-edge.yaml")
    ap.add_argument("--duration-s", type=float, default=None, help="stream length of the recorded run")
    ap.add_argument("--ops", type=int, default=7_000_000, help="ops of the compiled replay's trace")
    ap.add_argument("--simpy-ops", type=int, default=1_000_000, help="ops of the SimPy replay's trace")
    a = ap.parse_args(argv)
    args, kwargs = recorded_replay(a.workload, a.hardware, a.duration_s)
    print(f"recorded replay: {len(args[1]):,} ops ({a.workload} on {a.hardware})")

    (read, compute, write, unit, n_units), kw, (ptr, idx) = tiled(args, kwargs, a.simpy_ops)
    deps = as_lists(ptr, idx)
    t0 = time.perf_counter()
    ref = replay_mod.replay_simpy(read, compute, write, unit, deps, n_units, **kw)
    dt_simpy = time.perf_counter() - t0
    replay_compiled(read[:10], compute[:10], write[:10], unit[:10], deps[:10], n_units,
                    **{k: v[:10] for k, v in kw.items()})  # compile (or load the cache) outside the timing
    t0 = time.perf_counter()
    got = replay_compiled(read, compute, write, unit, deps, n_units, **kw)
    dt_list = time.perf_counter() - t0
    rel = max(float(np.max(np.abs(got[k] - ref[k]) / np.maximum(np.abs(ref[k]), 1e-300), initial=0.0,
                           where=np.isfinite(ref[k]))) for k in ref)
    same_inf = all(np.array_equal(np.isinf(got[k]), np.isinf(ref[k])) for k in ref)
    n = len(compute)
    print(f"simpy:    {n:,} ops in {dt_simpy:7.2f} s = {n / dt_simpy:12,.0f} ops/s")
    print(f"compiled: {n:,} ops in {dt_list:7.2f} s = {n / dt_list:12,.0f} ops/s (list-of-tuples deps, "
          f"incl. conversion); max relative difference to SimPy {rel:.1e}, infinities equal: {same_inf}")
    del ref, got, deps

    (read, compute, write, unit, n_units), kw, (ptr, idx) = tiled(args, kwargs, a.ops)
    rss0 = _peak_mib()
    t0 = time.perf_counter()
    out = replay_compiled_csr(read, compute, write, unit, ptr, idx, n_units, **kw)
    dt = time.perf_counter() - t0
    n = len(compute)
    print(f"compiled: {n:,} ops in {dt:7.2f} s = {n / dt:12,.0f} ops/s (CSR deps); simulated "
          f"{out['compute_end'].max():,.1f} s; peak RSS {_peak_mib():,.0f} MiB ({rss0:,.0f} MiB before)")
    deps = as_lists(ptr, idx)
    t0 = time.perf_counter()
    replay_compiled(read, compute, write, unit, deps, n_units, **kw)
    dt = time.perf_counter() - t0
    print(f"compiled: {n:,} ops in {dt:7.2f} s = {n / dt:12,.0f} ops/s (list-of-tuples deps, incl. conversion)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
