"""Arrival-driven streaming on one device: frames and questions arrive on a clock (SimPy).

The replay (``accelerator.py`` / ``gpu.py``) gives every phase's service time on the device when phases
run back to back. Here jobs arrive in stream time and queue for the device:

- a **frame job** (vision encoder + frame prefill of frame f) arrives at ``f / fps`` (+ uniform jitter of
  at most ``jitter_s``, seeded); each stream's frame queue holds at most ``max_queue`` waiting frames,
  and a frame arriving at a full queue is dropped under ``drop_policy``: ``drop_oldest`` (the oldest
  waiting frame makes room) or ``skip_new`` (the new frame is skipped);
- a **question** arrives at its time; its prefill is one job and each answer token one decode job, the
  next enqueued when the previous completes. ``question_policy``: ``answer_first`` (question and decode
  jobs go before waiting frames) or ``interleave`` (first come, first served with the frames, so decode
  steps and frames alternate);
- several **streams** share the device, each with its own KV cache (its own trace, so its own service
  times); the device serves one job at a time, first come first served within a priority class.

Service times are the back-to-back ones of a run in which every frame is processed; when frames are
dropped the real cache is a little smaller, so later service times are slight over-estimates (first
order, conservative). Deterministic for a seed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from simulator.engine.result import SimResult, phase_sums
from simulator.tracer.events import FRAME_PHASES, TEXT_PHASES, Phase
from simulator.tracer.trace_file import MetaLike, meta_record

QUESTION_POLICIES = ("answer_first", "interleave")
DROP_POLICIES = ("drop_oldest", "skip_new")


@dataclass(frozen=True)
class RealtimePolicy:
    max_queue: int = 4  # waiting frames per stream
    drop_policy: str = "drop_oldest"
    question_policy: str = "answer_first"
    jitter_s: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.drop_policy not in DROP_POLICIES:
            raise ValueError(f"drop_policy must be one of {DROP_POLICIES}")
        if self.question_policy not in QUESTION_POLICIES:
            raise ValueError(f"question_policy must be one of {QUESTION_POLICIES}")
        if self.max_queue < 1 or self.jitter_s < 0:
            raise ValueError("max_queue must be >= 1 and jitter_s >= 0")


@dataclass
class StreamJobs:
    """Service times (s) of one stream's jobs, from a back-to-back replay."""

    frame_s: np.ndarray  # per frame: vision + frame prefill
    question_s: list[float]  # per question: prefill (+ retrieval)
    decode_s: list[np.ndarray]  # per question: each answer token's decode step
    question_at_s: list[float]
    prompt_s: float = 0.0  # system prompt, before the first frame
    phase_window: dict = field(default_factory=dict)  # (kind, index[, step]) -> (start, end) in the replay


def stream_jobs(ops: pd.DataFrame, meta: MetaLike) -> StreamJobs:
    """Per-job service times from a replay's per-op table (``SimResult.ops``)."""
    return phase_jobs(phase_sums(ops), meta)


def stream_jobs_of(res: SimResult, meta: MetaLike) -> StreamJobs:
    """:func:`stream_jobs` of a result: from its ops, or from the per-phase sums a chunked replay keeps."""
    return phase_jobs(res.phases if res.ops.empty and res.phases is not None else phase_sums(res.ops), meta)


def phase_jobs(ph: pd.DataFrame, meta: MetaLike) -> StreamJobs:
    """Per-job service times from the phase instances of a replay (``result.phase_sums``: keys, start_s,
    end_s in order). A phase's service time is what it adds to the back-to-back timeline."""
    ph = ph.rename(columns={"start_s": "start", "end_s": "end"})
    end = ph["end"].to_numpy(np.float64)
    prev = np.concatenate([[0.0], np.maximum.accumulate(end)[:-1]])
    ph = ph.assign(service=np.maximum(end - prev, 0.0))
    rec = meta_record(meta)
    n_frames = rec.frames
    frame_s = np.zeros(n_frames)
    window: dict = {}
    frames = ph[ph["phase"].isin(FRAME_PHASES)]
    if len(frames):
        by = frames.groupby("frame").agg(service=("service", "sum"), start=("start", "min"), end=("end", "max"))
        frame_s[by.index.to_numpy(np.int64)] = by["service"].to_numpy()
        window.update({("frame", int(f)): (float(a), float(e))
                       for f, a, e in zip(by.index, by["start"].to_numpy(), by["end"].to_numpy())})
    questions = rec.questions
    q_s, d_s = [], []
    text = ph[ph["phase"].isin(TEXT_PHASES)]
    for qi in range(len(questions)):
        pre = text[(text["question"] == qi) & (text["phase"] == Phase.QUESTION_PREFILL)]
        dec = text[(text["question"] == qi) & (text["phase"] == Phase.DECODE)].sort_values("step")
        q_s.append(float(pre["service"].sum()))
        d_s.append(dec["service"].to_numpy())
        if len(pre):
            window[("question", qi)] = (float(pre["start"].min()), float(pre["end"].max()))
        for st, a, e in zip(dec["step"].to_numpy(), dec["start"].to_numpy(), dec["end"].to_numpy()):
            window[("decode", qi, int(st))] = (float(a), float(e))
    prompt = text[(text["phase"] == Phase.QUESTION_PREFILL) & (text["question"] < 0)]
    return StreamJobs(frame_s=frame_s, question_s=q_s, decode_s=d_s,
                      question_at_s=[float(q.at_s) for q in questions], prompt_s=float(prompt["service"].sum()),
                      phase_window=window)


@dataclass(slots=True)
class Job:
    """One job for the device: the system prompt, a frame (vision + prefill), a question's prefill or one
    answer token's decode step of ``stream``. Times in seconds of stream time; NaN where it never ran."""

    stream: int
    kind: str  # prompt | frame | question | decode
    index: int  # frame or question number (-1: the prompt)
    step: int  # answer token of a decode job (-1 otherwise)
    arrival_s: float
    ready_s: float  # when it may start (a decode step: when the previous step ended)
    service: float  # s on the device
    start_s: float = float("nan")
    end_s: float = float("nan")
    dropped: bool = False


JOB_COLUMNS = ("stream", "kind", "index", "step", "arrival_s", "start_s", "end_s", "service", "dropped")


@dataclass
class RealtimeRun:
    """What happened to every job: ``jobs`` (one row per job served or dropped) and queue depth over time."""

    jobs: pd.DataFrame  # one row per Job (JOB_COLUMNS)
    queue: pd.DataFrame  # t_s, stream, depth (waiting frames)
    fps: float
    streams: int
    policy: RealtimePolicy


def run_realtime(streams: list[StreamJobs], fps: float, policy: RealtimePolicy = RealtimePolicy()) -> RealtimeRun:
    """Simulate frames and questions of every stream arriving on the clock and sharing one device."""
    env = simpy.Environment()
    rng = np.random.default_rng(policy.seed)
    rows: list[Job] = []
    qrows: list[tuple] = []
    waiting: list[list[Job]] = [[] for _ in streams]  # per stream: frames waiting, oldest first
    ready: list[tuple] = []  # heap of (priority, ready time, seq, job)
    seq = [0]
    wake = [env.event()]
    frame_prio = 1
    text_prio = 0 if policy.question_policy == "answer_first" else 1

    def push(job: Job, prio: int) -> None:
        seq[0] += 1
        heapq.heappush(ready, (prio, job.ready_s, seq[0], job))
        if not wake[0].triggered:
            wake[0].succeed()

    def frames(s: int, jobs: StreamJobs):
        n = len(jobs.frame_s)
        times = np.arange(n) / fps
        if policy.jitter_s > 0:
            times = np.maximum(0.0, times + rng.uniform(-policy.jitter_s, policy.jitter_s, n))
            times = np.maximum.accumulate(times)
        for f in range(n):
            if times[f] > env.now:
                yield env.timeout(times[f] - env.now)
            job = Job(s, "frame", f, -1, env.now, env.now, float(jobs.frame_s[f]))
            q = waiting[s]
            if len(q) >= policy.max_queue:
                victim = q.pop(0) if policy.drop_policy == "drop_oldest" else job
                victim.dropped = True
                rows.append(victim)
                if victim is job:
                    qrows.append((env.now, s, len(q)))
                    continue
            q.append(job)
            qrows.append((env.now, s, len(q)))
            push(job, frame_prio)

    def questions(s: int, jobs: StreamJobs):
        for qi in np.argsort(jobs.question_at_s, kind="stable"):
            at = jobs.question_at_s[qi]
            if at > env.now:
                yield env.timeout(at - env.now)
            push(Job(s, "question", int(qi), -1, env.now, env.now, jobs.question_s[qi]), text_prio)

    def device():
        while True:
            while not ready:
                wake[0] = env.event()
                yield wake[0]
            _, _, _, job = heapq.heappop(ready)
            if job.kind == "frame":
                if job.dropped:
                    continue  # made room for a newer frame while waiting
                waiting[job.stream].remove(job)
                qrows.append((env.now, job.stream, len(waiting[job.stream])))
            job.start_s = env.now
            yield env.timeout(job.service)
            job.end_s = env.now
            rows.append(job)
            s, jobs = job.stream, streams[job.stream]
            nxt = None
            if job.kind == "question" and len(jobs.decode_s[job.index]):
                nxt = 0
            elif job.kind == "decode" and job.step + 1 < len(jobs.decode_s[job.index]):
                nxt = job.step + 1
            if nxt is not None:
                push(Job(s, "decode", job.index, nxt, job.arrival_s, env.now, float(jobs.decode_s[job.index][nxt])),
                     text_prio)

    for s, jobs in enumerate(streams):
        if jobs.prompt_s > 0:
            push(Job(s, "prompt", -1, -1, 0.0, 0.0, jobs.prompt_s), text_prio)
        env.process(frames(s, jobs))
        env.process(questions(s, jobs))
    env.process(device())
    env.run()
    df = pd.DataFrame([tuple(getattr(j, c) for c in JOB_COLUMNS) for j in rows], columns=list(JOB_COLUMNS))
    df = df.sort_values(["arrival_s", "stream", "kind", "step"], kind="stable").reset_index(drop=True)
    queue = pd.DataFrame(qrows, columns=["t_s", "stream", "depth"])
    return RealtimeRun(jobs=df, queue=queue, fps=fps, streams=len(streams), policy=policy)


def drop_share(jobs: list[StreamJobs], fps: float, policy: RealtimePolicy) -> float:
    """Share of frames dropped at ``fps`` (service times do not depend on the arrival rate)."""
    run = run_realtime(jobs, fps, policy)
    frames = run.jobs[run.jobs["kind"] == "frame"]
    return float(frames["dropped"].mean()) if len(frames) else 0.0


def at_rate(jobs: StreamJobs, traced_fps: float, fps: float, duration_s: float) -> StreamJobs:
    """The same stream at another frame rate: its length and its questions (placed by stream time) kept, frames
    arriving every 1/fps for ``duration_s``, each with the service time of the traced frame nearest in stream
    time (first order: at a higher rate the cache grows faster than in the trace, so later frames' service times
    are slight under-estimates there and over-estimates below the traced rate)."""
    if not len(jobs.frame_s):
        return jobs
    n = max(1, int(round(duration_s * fps)))
    idx = np.minimum(np.round(np.arange(n) * traced_fps / fps).astype(np.int64), len(jobs.frame_s) - 1)
    return StreamJobs(frame_s=jobs.frame_s[idx], question_s=jobs.question_s, decode_s=jobs.decode_s,
                      question_at_s=jobs.question_at_s, prompt_s=jobs.prompt_s)


def max_sustainable_fps(jobs: list[StreamJobs], policy: RealtimePolicy, traced_fps: float, duration_s: float, *,
                        max_drop_share: float = 0.01, lo: float = 0.01, hi: float = 240.0, iters: int = 18) -> float:
    """Largest frame rate with under ``max_drop_share`` of frames dropped (0 if even ``lo`` drops).

    Each candidate rate replays the stream's content at that rate (:func:`at_rate`: the same length, questions
    at the same times), so a higher rate only adds load and the drop share grows with the rate. The search scans
    rates upward (a factor of 2 a step) until one drops, then bisects between the last rate that held and it:
    the answer is a rate below which every scanned rate held."""
    def ok(f: float) -> bool:
        return drop_share([at_rate(j, traced_fps, f, duration_s) for j in jobs], f, policy) < max_drop_share

    if not ok(lo):
        return 0.0
    good = lo
    while good < hi:
        nxt = min(good * 2.0, hi)
        if not ok(nxt):
            hi = nxt
            break
        good = nxt
    else:
        return hi
    for _ in range(iters):
        mid = (good * hi) ** 0.5
        if ok(mid):
            good = mid
        else:
            hi = mid
    return good
