"""What simulating a trace needs that depends on the trace alone, computed once per events table.

A design-space sweep replays one trace on many hardware points. Everything here is a function of the
trace's events only, so it is computed on the first simulation of an events table and reused by every
later one (:func:`trace_plan`):

- the op kinds and KV tiers as numpy arrays, and each op's phase instance (run id);
- the distinct rows of the columns the units' cost models read, and each op's distinct row: a unit's cost
  of an op depends on that op's row alone (``platform.Unit``), so units cost each distinct row once (a
  2-minute VideoLLM-online stream has about 28,000 distinct rows among 780,000 ops);
- the replay's schedule: the data dependencies and, with next-layer prefetch, the reordered program
  (``schedule.py``), as CSR arrays in program order.

The cache holds one entry per live events table (keyed by the object; the entry goes when the table is
garbage-collected). It assumes the table is not modified in place after its first simulation: change a
trace by building a new table (``events.copy()`` then edit), as the project's code does.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.engine.ops import OpArrays
from simulator.engine.schedule import dependencies_csr, prefetch_order_csr, run_ids

# columns of the events table a unit's cost can read (OpArrays), besides the kind and the tier
_ROW_COLS = ("head_group",) + OpArrays.INT_COLS + OpArrays.FLOAT_COLS
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # a 64-bit odd constant (the golden ratio's bits) mixing the row hash


@dataclass
class Schedule:
    """The replay's program for one trace: ``order`` (trace indices in program order), ``pos`` (each trace op's
    place in it), the dependencies as CSR arrays in program order (``dep_ptr``, ``dep_idx``) and which reads
    wait for their op's dependencies (``waits``: fetches, in program order)."""

    order: np.ndarray
    pos: np.ndarray
    dep_ptr: np.ndarray
    dep_idx: np.ndarray
    waits: np.ndarray

    @property
    def reordered(self) -> bool:
        return not np.array_equal(self.order, np.arange(len(self.order)))


@dataclass
class TracePlan:
    """The trace-only quantities of one events table (see the module's docstring)."""

    n: int
    kind: np.ndarray  # op kind names (object array)
    tier: np.ndarray  # KV tier names (object array)
    phase_runs: np.ndarray  # run id of each op's phase instance (schedule.run_ids)
    unique: OpArrays  # the distinct rows of the columns the units read
    inverse: np.ndarray  # each op's row in ``unique``
    _events: weakref.ref = field(repr=False)
    _schedules: dict = field(default_factory=dict, repr=False)

    def schedule(self, prefetch: bool) -> Schedule:
        """The replay's program with or without next-layer prefetch (computed once each)."""
        if prefetch not in self._schedules:
            ev = self._events()
            ptr, idx = self._dependencies(ev)
            order = np.arange(self.n, dtype=np.int64)
            if prefetch:
                order, ptr, idx = prefetch_order_csr(ev, ptr, idx, inst=self.phase_runs, kind=self.kind)
            self._schedules[prefetch] = _program(order, ptr, idx, self.kind == "kv_read")
        return self._schedules[prefetch]

    def _dependencies(self, ev: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if "deps" not in self._schedules:
            self._schedules["deps"] = dependencies_csr(ev)
        return self._schedules["deps"]


def _program(order: np.ndarray, ptr: np.ndarray, idx: np.ndarray, fetch: np.ndarray) -> Schedule:
    """The dependencies renumbered to program order (CSR arrays)."""
    n = len(order)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n, dtype=np.int64)
    p_ptr, p_idx = ptr, idx
    if not np.array_equal(order, np.arange(n)):
        counts = np.diff(ptr)[order]
        p_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=p_ptr[1:])
        take = np.repeat(ptr[:-1][order] - p_ptr[:-1], counts) + np.arange(p_ptr[-1], dtype=np.int64)
        p_idx = pos[idx[take]]
    return Schedule(order=order, pos=pos, dep_ptr=p_ptr, dep_idx=p_idx, waits=fetch[order])


def _names(col: pd.Series) -> np.ndarray:
    """A string column as an object array whose equal values share one string object (fast to build)."""
    codes, names = pd.factorize(col)
    return np.asarray(names, dtype=object)[codes] if len(names) else np.asarray(col.to_numpy(), dtype=object)


def _distinct_rows(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(first index of each distinct row, each row's distinct row number) of equal-length integer columns:
    rows hashed to one 64-bit number, then checked exactly (a collision falls back to an exact sort)."""
    n = len(arrays[0])
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            h = (h ^ a.view(np.uint64) if a.dtype.itemsize == 8 else h ^ a.astype(np.int64).view(np.uint64))
            h *= _HASH_MULT
            h ^= h >> np.uint64(29)
    codes, _ = pd.factorize(h)
    first = np.flatnonzero(codes > np.r_[-1, np.maximum.accumulate(codes)[:-1]]) if n else np.zeros(0, np.int64)
    if all(np.array_equal(a[first][codes], a) for a in arrays):
        return first, codes.astype(np.int64)
    stacked = np.column_stack([a.astype(np.int64) for a in arrays])
    _, first, inv = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return first, inv.reshape(-1).astype(np.int64)


def _build(ev: pd.DataFrame) -> TracePlan:
    kind, tier = _names(ev["kind"]), _names(ev["kv_tier"])
    kind_codes, _ = pd.factorize(kind)
    tier_codes, _ = pd.factorize(tier)
    cols = [kind_codes, tier_codes] + [_int_view(ev[c].to_numpy()) for c in _ROW_COLS]
    first, inverse = _distinct_rows(cols)
    unique = OpArrays.from_events(ev.iloc[first], kind=kind[first], tier=tier[first])
    return TracePlan(n=len(ev), kind=kind, tier=tier, phase_runs=run_ids(ev), unique=unique, inverse=inverse,
                     _events=weakref.ref(ev))


def _int_view(a: np.ndarray) -> np.ndarray:
    """A numeric column as integers for hashing: integers as they are, floats by their bits."""
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)
    return np.ascontiguousarray(a)


_PLANS: dict[int, TracePlan] = {}


def trace_plan(ev: pd.DataFrame) -> TracePlan:
    """The plan of the events table ``ev``, computed on first use and kept while ``ev`` lives."""
    key = id(ev)
    plan = _PLANS.get(key)
    if plan is not None and plan._events() is ev and plan.n == len(ev):
        return plan
    plan = _build(ev)
    _PLANS[key] = plan
    weakref.finalize(ev, _PLANS.pop, key, None)
    return plan
