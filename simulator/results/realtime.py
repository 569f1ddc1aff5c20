"""Metrics and the Chrome-trace timeline of an arrival-driven streaming run (``engine/replay/realtime.py``).

Definitions:
- **frame latency**: from a frame's arrival to the end of its frame prefill (queueing included), over the
  frames processed; p50, p95, p99 and max;
- **deadline miss**: a processed frame not done before the next frame of its stream arrives
  (latency > 1 / fps); **drops**: frames never processed (the queue was full);
- **TTFT** of a question: from its arrival to the end of answer token 0 (prefill + first decode step);
  **unloaded TTFT**: the same service alone (prefill + step 0, no queueing); **TPOT**: the mean time between
  consecutive answer tokens;
- **queue depth**: waiting frames per stream over time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.engine.replay.realtime import RealtimeRun, StreamJobs


def summary(run: RealtimeRun, streams: list[StreamJobs]) -> dict:
    j = run.jobs
    frames = j[j["kind"] == "frame"]
    done = frames[~frames["dropped"].astype(bool)]
    lat = (done["end_s"] - done["arrival_s"]).to_numpy()
    period = 1.0 / run.fps
    out = {
        "fps": run.fps, "streams": run.streams, "frames_arrived": int(len(frames)),
        "frames_processed": int(len(done)), "frames_dropped": int(frames["dropped"].astype(bool).sum()),
        "deadline_misses": int((lat > period).sum()),
        "frame_latency_p50_s": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "frame_latency_p95_s": float(np.percentile(lat, 95)) if lat.size else float("nan"),
        "frame_latency_p99_s": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "frame_latency_max_s": float(lat.max()) if lat.size else float("nan"),
        "queue_depth_max": int(run.queue["depth"].max()) if len(run.queue) else 0,
        "policy": {"max_queue": run.policy.max_queue, "drop_policy": run.policy.drop_policy,
                   "question_policy": run.policy.question_policy, "jitter_s": run.policy.jitter_s,
                   "seed": run.policy.seed},
    }
    answers = []
    for (s, qi), rows in j[j["kind"].isin(["question", "decode"])].groupby(["stream", "index"]):
        dec = rows[rows["kind"] == "decode"].sort_values("step")
        arrival = float(rows["arrival_s"].min())
        if not len(dec):
            continue
        jobs = streams[int(s)]
        ends = dec["end_s"].to_numpy()
        answers.append({
            "stream": int(s), "question": int(qi), "arrival_s": arrival, "ttft_s": float(ends[0] - arrival),
            "ttft_unloaded_s": float(jobs.question_s[int(qi)] + jobs.decode_s[int(qi)][0]),
            "tpot_s": float(np.diff(ends).mean()) if len(ends) > 1 else float("nan"),
            "answer_done_s": float(ends[-1]),
            "frames_dropped_meanwhile": int((frames["dropped"].astype(bool) & (frames["stream"] == s)
                                             & frames["arrival_s"].between(arrival, ends[-1])).sum()),
        })
    out["answers"] = answers
    return out


def chrome_trace(run: RealtimeRun, ops_by_stream: list[pd.DataFrame], streams: list[StreamJobs], *,
                 window_s: tuple[float, float] | None = None, device: str = "device") -> dict:
    """Chrome trace / Perfetto JSON: one track per unit (and DRAM, offload link) of the device, one slice per
    op or transfer of every job served in ``window_s`` (stream seconds), frame and question markers."""
    lo, hi = window_s or (0.0, float("inf"))
    events: list[dict] = [{"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": device}}]
    tids: dict[str, int] = {}

    def tid(name: str) -> int:
        if name not in tids:
            tids[name] = len(tids) + 1
            events.append({"ph": "M", "name": "thread_name", "pid": 0, "tid": tids[name], "args": {"name": name}})
        return tids[name]

    us = 1e6
    served = run.jobs[~run.jobs["dropped"].astype(bool) & (run.jobs["end_s"] >= lo) & (run.jobs["start_s"] <= hi)]
    for _, job in served.iterrows():
        s = int(job["stream"])
        key = {"frame": ("frame", int(job["index"])), "question": ("question", int(job["index"])),
               "decode": ("decode", int(job["index"]), int(job["step"]))}.get(job["kind"])
        win = streams[s].phase_window.get(key) if key else None
        if win is None:
            continue
        ops = ops_by_stream[s]
        sel = ops[(ops["end_s"] > win[0]) & (ops["start_s"] < win[1] + 1e-15)]
        shift = float(job["start_s"]) - win[0]
        for _, op in sel.iterrows():
            name = f"{op['op']} L{op['layer']}" if op["layer"] >= 0 else str(op["op"])
            args = {"stream": s, "job": f"{job['kind']} {int(job['index'])}", "phase": op["phase"]}
            if op["compute_e"] > op["compute_b"]:
                events.append({"ph": "X", "name": name, "cat": op["unit"], "pid": 0, "tid": tid(str(op["unit"])),
                               "ts": (op["compute_b"] + shift) * us, "dur": (op["compute_e"] - op["compute_b"]) * us,
                               "args": args})
            for track, col, start in (("DRAM", "read_s", op["start_s"]), ("offload link", "link_read_s", op["start_s"]),
                                      ("DRAM", "write_s", op["compute_e"]),
                                      ("offload link", "link_write_s", op["compute_e"])):
                dur = float(op.get(col, 0.0) or 0.0)
                if dur > 0:
                    events.append({"ph": "X", "name": f"{col.split('_')[-2]} {name}", "cat": track, "pid": 0,
                                   "tid": tid(track), "ts": (start + shift) * us, "dur": dur * us, "args": args})
    for _, job in run.jobs[(run.jobs["arrival_s"] >= lo) & (run.jobs["arrival_s"] <= hi)].iterrows():
        if job["kind"] in ("frame", "question") and job["step"] < 0:
            events.append({"ph": "i", "s": "g", "name": f"{job['kind']} {int(job['index'])} arrives"
                           + (" (dropped)" if job["dropped"] else ""), "pid": 0, "tid": tid("arrivals"),
                           "ts": float(job["arrival_s"]) * us})
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def ops_for_timeline(ops: pd.DataFrame) -> pd.DataFrame:
    """The per-op columns the timeline needs, with compute begin/end under short names."""
    out = ops[["phase", "op", "layer", "unit", "start_s", "end_s"]].copy()
    out["compute_b"] = ops["compute_start_s"] if "compute_start_s" in ops else ops["start_s"]
    out["compute_e"] = ops["compute_end_s"] if "compute_end_s" in ops else ops["end_s"]
    for c in ("read_s", "write_s", "link_read_s", "link_write_s"):
        out[c] = ops[c] if c in ops else 0.0
    return out


def write_json(obj: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, default=float))
    return path
