"""The discrete-event replay shared by every platform: in-order units, two in-order channels, dependencies.

A platform turns each op into durations (``Durations``: the time its unit computes, the DRAM channel
reads and writes, the offload link reads and writes, the link's request latency) and names its unit;
:class:`Replay` then overlaps them in SimPy:

- each unit executes its ops in program order, an op once its inputs are loaded and the ops it depends on
  (``deps``; default: the previous op) have computed;
- each channel (DRAM, offload link) serves, in the fixed order R0, R1, W0, R2, W1, ..., its reads (a read
  waits for a free buffer slot: the second-last op whose inputs the channel loaded has computed; and,
  where ``read_waits_deps[i]``, for op i's dependencies, because its addresses come from them) and its
  write-backs (after the op computed); a channel with nothing to move for an op does not wait for it;
- offload-link reads overlap their request latency with the transfers before them (a device with a
  command queue).

Fixed orders make the result deterministic and monotone in every duration (more bandwidth, cores or clock
never make a run slower). :func:`replay_trace` adds the trace's data dependencies and the next-layer
prefetch order (``schedule.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from simulator.engine.replay.compiled import replay_compiled, replay_compiled_csr
from simulator.engine.replay.plan import trace_plan
from simulator.engine.replay.schedule import csr_to_lists


@dataclass
class Durations:
    """Per-op durations (s) in program order; arrays of equal length."""

    compute_s: np.ndarray
    read_s: np.ndarray
    write_s: np.ndarray
    link_read_s: np.ndarray
    link_write_s: np.ndarray
    link_latency_s: np.ndarray

    @classmethod
    def of(cls, compute_s, read_s=None, write_s=None, link_read_s=None, link_write_s=None,
           link_latency_s=None) -> "Durations":
        compute_s = np.asarray(compute_s, dtype=np.float64)
        rest = [np.zeros(len(compute_s)) if a is None else np.asarray(a, dtype=np.float64)
                for a in (read_s, write_s, link_read_s, link_write_s, link_latency_s)]
        return cls(compute_s, *rest)

    def take(self, order: np.ndarray) -> "Durations":
        return Durations(*(getattr(self, k)[order] for k in self.__dataclass_fields__))


class _Flags:
    """Completion flags of one kind (computed, loaded by DRAM, loaded by the link). A SimPy event is made
    only when a process has to wait for a flag that is not set yet (saves memory)."""

    def __init__(self, env: simpy.Environment, n: int, unset: np.ndarray | None = None):
        self.env = env
        self.is_set = bytearray(n) if unset is None else bytearray((~unset).astype(np.uint8).tobytes())
        self.waiting: dict[int, simpy.Event] = {}

    def wait_all(self, items):
        """Generator: wait until every flag in ``items`` is set."""
        for i in items:
            if self.is_set[i]:
                continue
            ev = self.waiting.get(i)
            if ev is None:
                ev = self.waiting[i] = self.env.event()
            yield ev

    def mark(self, i: int) -> None:
        self.is_set[i] = 1
        ev = self.waiting.pop(i, None)
        if ev is not None:
            ev.succeed()


class Replay:
    """One replay of ``durations`` on ``n_units`` in-order units (``unit_idx[i]``: op i's unit)."""

    def __init__(self, d: Durations, unit_idx: np.ndarray, n_units: int, deps: list[tuple[int, ...]] | None = None,
                 read_waits_deps: np.ndarray | None = None):
        n = len(d.compute_s)
        self.n, self.d = n, d
        self.deps = deps if deps is not None else [(i - 1,) if i else () for i in range(n)]
        self.read_waits_deps = (np.zeros(n, dtype=bool) if read_waits_deps is None
                                else np.asarray(read_waits_deps, dtype=bool))
        self.unit_idx, self.n_units = np.asarray(unit_idx), n_units
        self.env = simpy.Environment()
        # results (s): compute start/end per op; per channel the read issue (inf: nothing read) and end,
        # the write-back end
        self.compute_start, self.compute_end = np.zeros(n), np.zeros(n)
        self.dram_read_issue, self.dram_read_end, self.dram_write_end = np.full(n, np.inf), np.zeros(n), np.zeros(n)
        self.link_read_issue, self.link_read_end, self.link_write_end = np.full(n, np.inf), np.zeros(n), np.zeros(n)
        self.computed = _Flags(self.env, n)
        self.dram_loaded = _Flags(self.env, n, d.read_s > 0)  # ops with nothing to load count as loaded
        self.link_loaded = _Flags(self.env, n, d.link_read_s > 0)

    @staticmethod
    def channel_program(reads: np.ndarray, writes: np.ndarray) -> list[tuple[bool, int]]:
        """(is_read, op) in the order R0, R1, W0, R2, W1, ..., over the ops with something to move."""
        n = len(reads)
        program = []
        for i in np.flatnonzero((reads > 0) | (np.r_[0.0, writes[:-1]] > 0)).tolist():
            if reads[i] > 0:
                program.append((True, i))
            if i >= 1 and writes[i - 1] > 0:
                program.append((False, i - 1))
        if n and writes[n - 1] > 0:
            program.append((False, n - 1))
        return program

    def channel(self, reads, writes, latency, loaded: _Flags, issue, read_end, write_end):
        """SimPy process: the in-order controller of one channel (DRAM or the offload link).

        A read waits for a free buffer slot and, where ``read_waits_deps``, for the op's dependencies. With a
        ``latency`` (the offload link) a read holds the channel only for its data time (duration - latency)
        and completes ``latency`` after its issue at the earliest: requests of consecutive ops overlap their
        latencies. A write-back waits for its op to compute.
        """
        env, timeout, computed = self.env, self.env.timeout, self.computed
        reads_l, writes_l, lat = reads.tolist(), writes.tolist(), latency.tolist()

        def finish(i, t_done):
            if t_done > env.now:
                yield timeout(t_done - env.now)
            read_end[i] = env.now
            loaded.mark(i)

        loaded_ops: list[int] = []  # ops this channel has loaded: two buffer slots
        for is_read, i in self.channel_program(reads, writes):
            if not is_read:
                yield from computed.wait_all((i,))
                yield timeout(writes_l[i])
                write_end[i] = env.now
                continue
            yield from computed.wait_all(loaded_ops[-2:-1] if len(loaded_ops) >= 2 else ())
            loaded_ops.append(i)
            if self.read_waits_deps[i]:
                yield from computed.wait_all(self.deps[i])
            issue[i] = env.now
            if lat[i] > 0:
                yield timeout(max(reads_l[i] - lat[i], 0.0))
                env.process(finish(i, issue[i] + reads_l[i]))
            else:
                yield timeout(reads_l[i])
                read_end[i] = env.now
                loaded.mark(i)

    def executor(self, ops: list[int]):
        """SimPy process: one unit running ``ops`` in program order."""
        env, compute = self.env, self.d.compute_s.tolist()
        for i in ops:
            yield from self.dram_loaded.wait_all((i,))
            yield from self.link_loaded.wait_all((i,))
            yield from self.computed.wait_all(self.deps[i])
            self.compute_start[i] = env.now
            if compute[i] > 0:
                yield env.timeout(compute[i])
            self.compute_end[i] = env.now
            self.computed.mark(i)

    def run(self) -> dict[str, np.ndarray]:
        """Start/end arrays (s) of each op's read, compute and write."""
        d, env = self.d, self.env
        env.process(self.channel(d.read_s, d.write_s, np.zeros(self.n), self.dram_loaded, self.dram_read_issue,
                                 self.dram_read_end, self.dram_write_end))
        env.process(self.channel(d.link_read_s, d.link_write_s, d.link_latency_s, self.link_loaded,
                                 self.link_read_issue, self.link_read_end, self.link_write_end))
        for u in range(self.n_units):
            ops = np.flatnonzero(self.unit_idx == u).tolist()
            if ops:
                env.process(self.executor(ops))
        env.run()
        first_issue = np.minimum(self.dram_read_issue, self.link_read_issue)
        return {"read_start": np.minimum(first_issue, self.compute_start),
                "read_end": np.maximum(self.dram_read_end, self.link_read_end),
                "compute_start": self.compute_start, "compute_end": self.compute_end,
                "write_end": np.maximum(self.dram_write_end, self.link_write_end)}


def replay_simpy(read_s, compute_s, write_s, unit_idx, deps: list[tuple[int, ...]] | None = None,
                 n_units: int | None = None, *, link_read_s=None, link_write_s=None, read_waits_deps=None,
                 link_latency_s=None) -> dict[str, np.ndarray]:
    """:class:`Replay` with the arrays as arguments (the signature the compiled replay shares); ``n_units``
    defaults to the highest unit index + 1."""
    unit_idx = np.asarray(unit_idx)
    if n_units is None:
        n_units = int(unit_idx.max()) + 1 if len(unit_idx) else 1
    d = Durations.of(compute_s, read_s, write_s, link_read_s, link_write_s, link_latency_s)
    return Replay(d, unit_idx, n_units, deps, read_waits_deps).run()


# The replay implementations: SimPy is the reference model; the compiled kernel (``replay_compiled.py``, numba)
# gives the same times (tests/engine/replay/test_replay_compiled.py) about 50x faster, and is the default.
REPLAY_ENGINES = {"simpy": replay_simpy, "compiled": replay_compiled}
DEFAULT_ENGINE = "compiled"


def replay_trace(ev: pd.DataFrame, d: Durations, unit_idx: np.ndarray, n_units: int, *, prefetch: int,
                 engine: str = DEFAULT_ENGINE) -> dict[str, np.ndarray]:
    """:func:`replay` of a trace's ops (``d`` in trace order): data dependencies from the trace, the program
    reordered for next-layer prefetch when ``prefetch``, fetches (``kv_read``) waiting for their selection, by the
    ``engine`` of :data:`REPLAY_ENGINES`;
    the times come back in trace order. Ops all on one in-order unit with nothing on the channels runs its ops back to
    back whatever their dependencies, so its times are summed directly (the same times, faster). The schedule
    (dependencies, program order) depends on the trace alone and is computed once per events table
    (``plan.trace_plan``)."""
    unit_idx = np.asarray(unit_idx)
    one_unit = len(unit_idx) == 0 or bool((unit_idx == unit_idx[0]).all())
    if one_unit and not any(a.any() for a in (d.read_s, d.write_s, d.link_read_s, d.link_write_s)):
        # back to back in program order (prefetch may move a prediction block ahead of its layer's ops)
        sch = trace_plan(ev).schedule(prefetch) if prefetch else None  # the cached program, as below
        order = sch.order if sch is not None and sch.reordered else np.arange(len(ev))
        end, start = np.empty(len(ev)), np.empty(len(ev))
        end[order] = np.cumsum(d.compute_s[order])
        start[order] = end[order] - d.compute_s[order]
        return {"read_start": start, "read_end": np.zeros(len(end)), "compute_start": start,
                "compute_end": end, "write_end": np.zeros(len(end))}
    sch = trace_plan(ev).schedule(prefetch)
    order, pos, reordered = sch.order, sch.pos, sch.reordered
    o = d.take(order) if reordered else d
    units = unit_idx[order] if reordered else unit_idx
    kw = dict(link_read_s=o.link_read_s, link_write_s=o.link_write_s, read_waits_deps=sch.waits,
              link_latency_s=o.link_latency_s)
    if engine == "compiled" and REPLAY_ENGINES[engine] is replay_compiled:
        t = replay_compiled_csr(o.read_s, o.compute_s, o.write_s, units, sch.dep_ptr, sch.dep_idx, n_units, **kw)
    else:
        deps = csr_to_lists(sch.dep_ptr, sch.dep_idx)
        t = REPLAY_ENGINES[engine](o.read_s, o.compute_s, o.write_s, units, deps, n_units, **kw)
    if not reordered:
        return t
    return {key: arr[pos] for key, arr in t.items()}  # back to trace order
