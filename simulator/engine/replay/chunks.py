"""The compiled replay of a trace in chunks (runs of frames, in stream order), with bounded memory.

:func:`replay.replay_trace` replays a whole trace at once. :class:`ChunkReplay` gives the same times chunk
by chunk, carrying from one chunk to the next only what the later ops can wait for:

- every executor's and channel's clock and each channel's buffer-slot state (the last two ops it loaded,
  with their compute-end times);
- the last phase instance of the previous chunk (its rows and compute-end times): a chunk boundary is a
  phase boundary, and an op's dependencies (``schedule.dependencies``, ``schedule.prefetch_order``) reach
  back at most into the phase before its own;
- the write-back of the previous chunk's last op, which in the channels' program (R0, R1, W0, R2, W1, ...)
  follows the next chunk's first read: so a chunk's times are final only once the next chunk (or
  :meth:`ChunkReplay.finish`) has run, and :meth:`ChunkReplay.feed` returns the previous chunk's.

The previously run ops enter each kernel call as a done prefix (see ``replay_compiled._kernel``); the
max-plus recurrence makes the result equal to the whole-trace replay's (tests/engine/replay/test_chunked.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.engine.replay.compiled import ROW_COLUMNS, _kernel, initial_state
from simulator.engine.replay.discrete_event import Durations
from simulator.engine.replay.schedule import csr_take, dependencies_csr, kind_mask, prefetch_order_csr, run_ids
from simulator.engine.result import PHASE_KEYS

DEP_COLS = ["phase", "frame", "question", "step", "layer", "head_group", "kind"]  # what the schedule reads
TIMES = ("read_start", "read_end", "compute_start", "compute_end", "write_end")


@dataclass
class _Pending:
    """A replayed chunk whose last op's write-back is still to come."""

    times: dict[str, np.ndarray]  # trace order
    last_op: int  # the chunk's last op in program order (a chunk row)
    tail_ev: pd.DataFrame  # its last phase instance (DEP_COLS), trace order
    tail_c1: np.ndarray  # their compute ends (s)
    tail_order: np.ndarray  # the tail's rows in program order
    last_write_s: tuple[float, float]  # the last op's DRAM and link write-back (s)


class ChunkReplay:
    """The compiled replay fed chunk by chunk; ``n_units`` executors, next-layer ``prefetch`` or not."""

    def __init__(self, n_units: int, *, prefetch: int):
        self.n_units, self.prefetch = int(n_units), prefetch
        self.cs, self.ct, self.ut = initial_state(n_units)
        self.ref_c1 = np.zeros(4)  # compute ends of the channels' last two loaded ops (see cs[:, 2:])
        self.pending: _Pending | None = None

    def feed(self, ev: pd.DataFrame, d: Durations, unit_idx: np.ndarray, runs: np.ndarray | None = None
             ) -> dict[str, np.ndarray] | None:
        """Replay the next chunk (``ev`` its events, ``d`` their durations, ``unit_idx`` their executors, in
        trace order; ``runs``: its phase instances' run ids, ``schedule.run_ids(ev)``, if at hand); returns the
        previous chunk's times (trace order, as ``replay_trace``), None for the first."""
        if not len(ev):
            return None
        return self._run(ev[DEP_COLS].reset_index(drop=True), d, np.asarray(unit_idx, dtype=np.int64), final=False,
                         runs=runs)

    def finish(self) -> dict[str, np.ndarray] | None:
        """The last chunk's times (its last write-back done)."""
        if self.pending is None:
            return None
        empty = Durations.of(np.zeros(0))
        return self._run(pd.DataFrame({c: [] for c in DEP_COLS}), empty, np.zeros(0, dtype=np.int64), final=True)

    def _run(self, ev: pd.DataFrame, d: Durations, unit_idx: np.ndarray, final: bool, runs: np.ndarray | None = None):
        prev = self.pending
        m = len(ev)
        # the ops the chunk may wait for: the channels' buffer slots (4 extras), the previous phase instance
        tail = prev.tail_ev if prev is not None else ev.iloc[:0]
        n_tail, n_extra = len(tail), (4 if prev is not None else 0)
        both = pd.concat([tail, ev], ignore_index=True) if n_tail else ev
        if m:
            dptr, didx = dependencies_csr(both)
        else:
            dptr, didx = np.zeros(n_tail + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        order = np.arange(n_tail + m) if m or prev is None else prev.tail_order  # the tail as it was run
        if self.prefetch and m:
            order, dptr, didx = prefetch_order_csr(both, dptr, didx, depth=int(self.prefetch))
        if not np.array_equal(np.sort(order[:n_tail]), np.arange(n_tail)):
            raise RuntimeError("a chunk's program order reaches into the previous chunk's ops")
        n_done = n_extra + n_tail
        n = n_done + m
        kpos = np.empty(n_tail + m, dtype=np.int64)
        kpos[order] = n_extra + np.arange(n_tail + m)
        new = order[n_tail:] - n_tail  # the chunk's rows in program order
        # the chunk's dependency lists in program order (CSR), renumbered to kernel positions
        ptr, vals = csr_take(dptr, didx, new + n_tail)
        idx = kpos[vals]
        if len(idx) and idx.min() < n_extra:
            raise RuntimeError("an op depends on an op before the previous phase instance")
        dep_ptr = np.concatenate([np.zeros(n_done, dtype=np.int64), ptr])
        # the kernel's row table, one row per op in kernel order (the done prefix: nothing to run, but the
        # previous chunk's last write-back)
        rows = np.zeros((n, len(ROW_COLUMNS)))
        for j, k in enumerate(ROW_COLUMNS):
            rows[n_done:, j] = np.asarray(getattr(d, k), dtype=np.float64)[new]
        if prev is not None:
            rows[n_done - 1, 1], rows[n_done - 1, 3] = prev.last_write_s
        units = np.full(n, -1, dtype=np.int64)
        units[n_done:] = unit_idx[new]
        waits = np.zeros(n, dtype=np.bool_)
        waits[n_done:] = kind_mask(ev["kind"], ("kv_read",))[new]
        c1_done = np.zeros(n_done)
        cs = self.cs.copy()
        if prev is not None:
            c1_done[:4] = self.ref_c1
            c1_done[4:] = prev.tail_c1[order[:n_tail]]
            for ch in range(2):
                cs[ch] = (n_done, 0, -1 if cs[ch, 2] < 0 else 2 * ch, -1 if cs[ch, 3] < 0 else 2 * ch + 1)
        rs, re, c0, c1, we, cs, ct, ut, left, _, _ = _kernel(
            rows, units, np.arange(n, dtype=np.int64), self.n_units, waits, dep_ptr, idx, n_done, c1_done, cs,
            self.ct, self.ut,
            final, np.zeros(0, dtype=np.int64), 0, True)
        stop = n + 1 if final else n
        if left or (cs[:, 0] != stop).any():
            raise RuntimeError("the replay deadlocked inside a chunk (ops never ran)")
        self.cs, self.ct, self.ut = cs, ct, ut
        self.ref_c1 = np.array([c1[r] if r >= 0 else 0.0 for r in cs[:, 2:].ravel()])
        done = None
        if prev is not None:
            prev.times["write_end"][prev.last_op] = we[n_done - 1]
            done = prev.times
        self.pending = None
        if m:
            times = {}
            for key, arr in zip(TIMES, (rs, re, c0, c1, we)):
                times[key] = np.empty(m)
                times[key][new] = arr[n_done:]
            rid = run_ids(ev, list(PHASE_KEYS)) if runs is None else runs
            first = int(np.searchsorted(rid, rid[-1]))
            last = int(new[-1])
            if last < first:
                raise RuntimeError("a chunk's last op is outside its last phase instance")
            self.pending = _Pending(times, last, ev.iloc[first:].reset_index(drop=True),
                                    times["compute_end"][first:].copy(), new[new >= first] - first,
                                    (float(d.write_s[last]), float(d.link_write_s[last])))
        return done
