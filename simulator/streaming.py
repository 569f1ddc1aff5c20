"""The streaming pipeline behind ``vrex stream``: a workload traced and replayed chunk by chunk on one device
(memory bounded by a chunk, whatever the stream's length), then its frames and questions arriving on a clock
(``engine/replay/realtime.py``), with the highest sustainable frame rate and the KV held at the end.

The command line only parses flags, calls :func:`run_stream` and prints or writes what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.config.hardware import HardwareConfig
from simulator.config.tech import TechTable
from simulator.config.workload import WorkloadConfig
from simulator.engine.memory.kv_memory import kv_bytes_held
from simulator.engine.replay.realtime import (
    RealtimePolicy,
    RealtimeRun,
    StreamJobs,
    max_sustainable_fps,
    run_realtime,
    stream_jobs_of,
)
from simulator.engine.result import SimResult
from simulator.engine.simulate import ChunkedSim
from simulator.results import realtime as rt
from simulator.safe_io import OutputError
from simulator.stream import StreamTracer


@dataclass
class StreamOutcome:
    """A streamed run: the replay (``result``; not ok: nothing else is set), the arrival-driven run, the per-
    stream jobs and the summary (``rt.summary`` plus the sustainable rate and the KV held at the end)."""

    result: SimResult
    meta: dict
    run: RealtimeRun | None = None
    streams: list[StreamJobs] | None = None
    summary: dict | None = None


def run_stream(wl: WorkloadConfig, hw: HardwareConfig, tech: TechTable, policy: RealtimePolicy, *,
               streams: int = 1, chunk_frames: int = 32, timeline: str | Path | None = None,
               bisect: bool = True, progress: bool = False, source: str = "") -> StreamOutcome:
    """Trace and replay ``wl`` on ``hw`` chunk by chunk (the per-op timeline to ``timeline`` as it goes), then
    serve ``streams`` copies of the stream arriving on the clock under ``policy``."""
    tracer = StreamTracer(wl, mode="meta", source=source)
    sim = ChunkedSim(tracer.meta_preview(), hw, tech, timeline=timeline)
    kv_rows = []
    try:
        for chunk in tracer.chunks(chunk_frames, progress=progress):
            sim.feed(chunk)
            kv_rows.append(chunk.kv_tokens)
        res = sim.finish()
    except OSError as exc:  # the timeline's file is written as the replay goes
        if timeline is None:
            raise
        raise OutputError(f"--timeline: {timeline}: {exc.strerror or type(exc).__name__}") from None
    if not res.ok:
        return StreamOutcome(result=res, meta=tracer.meta_preview())
    meta = tracer.meta
    jobs = stream_jobs_of(res, meta)
    copies = [jobs] * streams  # each stream its own cache: identical copies of the same stream
    run = run_realtime(copies, wl.stream.fps, policy)
    summ = rt.summary(run, copies)
    summ["label"] = f"{hw.name} / {wl.name} ({wl.kv_policy.name})"
    if bisect:
        summ["max_sustainable_fps"] = max_sustainable_fps(copies, policy, wl.stream.fps, wl.stream.duration_s)
    kv_tokens = pd.concat(kv_rows, ignore_index=True)
    device_b = kv_bytes_held(kv_tokens, meta)[-1]
    offload_b = kv_bytes_held(kv_tokens, meta, "offload_slots_all_layers")[-1]
    summ["kv_end_device_gib"] = float(device_b / 2**30)
    summ["kv_end_offload_gib"] = float(offload_b / 2**30)
    summ["kv_offload_share_end"] = float(offload_b / (device_b + offload_b)) if device_b + offload_b else 0.0
    summ["kv_notes"] = res.notes
    return StreamOutcome(result=res, meta=meta, run=run, streams=copies, summary=summ)
