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

import hashlib
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from simulator.engine.ops import OpArrays
from simulator.engine.replay.schedule import csr_take, dependencies_csr, prefetch_order_csr, run_ids

_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # a 64-bit odd constant (the golden ratio's bits) mixing the row hash


@dataclass
class Schedule:
    """The replay's program for one trace: ``order`` (trace indices in program order) and ``pos`` (each trace
    op's place in it), both None where the program is the trace's order; the dependencies as CSR arrays in
    program order (``dep_ptr``, ``dep_idx``); which reads wait for their op's dependencies (``waits``:
    fetches, in program order)."""

    order: np.ndarray | None
    pos: np.ndarray | None
    dep_ptr: np.ndarray
    dep_idx: np.ndarray
    waits: np.ndarray

    @property
    def reordered(self) -> bool:
        return self.order is not None


@dataclass
class TracePlan:
    """The trace-only quantities of one events table (see the module's docstring). Kinds and tiers are kept
    as codes (``kind_codes`` into ``kind_names``); :meth:`kind` and :meth:`tier` give the names."""

    n: int
    kind_codes: np.ndarray
    kind_names: np.ndarray  # object array
    tier_codes: np.ndarray
    tier_names: np.ndarray
    phase_runs: np.ndarray  # run id of each op's phase instance (schedule.run_ids)
    unique: OpArrays  # the distinct rows of the columns the units read
    inverse: np.ndarray  # each op's row in ``unique``
    _events: weakref.ref = field(repr=False)
    _schedules: dict = field(default_factory=dict, repr=False)
    _cost_keys: dict = field(default_factory=dict, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    def kind(self, rows: slice = slice(None)) -> np.ndarray:
        """The op kinds of ``rows`` (object array of names)."""
        return self.kind_names[self.kind_codes[rows]]

    def tier(self, rows: slice = slice(None)) -> np.ndarray:
        """The KV tiers of ``rows`` (object array of names)."""
        return self.tier_names[self.tier_codes[rows]]

    def schedule(self, prefetch: int) -> Schedule:
        """The replay's program with prefetch ``prefetch`` layers ahead (0/False: none; computed once each)."""
        if prefetch not in self._schedules:
            ev = self._events()
            if False in self._schedules:  # the program without prefetch holds the dependencies in trace order
                ptr, idx = self._schedules[False].dep_ptr, self._schedules[False].dep_idx
            else:
                ptr, idx = dependencies_csr(ev)
            order = None
            kind = self.kind()
            if prefetch:
                order, ptr, idx = prefetch_order_csr(ev, ptr, idx, inst=self.phase_runs, kind=kind,
                                                     depth=int(prefetch))
            self._schedules[prefetch] = _program(order, ptr, idx, kind == "kv_read")
        return self._schedules[prefetch]


    def memo(self, key: tuple, make: Callable[[], object]):
        """``make()``, computed once per ``key`` for this trace: a value derived from the trace alone (and the
        hashable ``key``, which must name everything else it depends on), e.g. a platform's unit of each
        distinct row."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def cost_keys(self, offload_share: np.ndarray | None,
                  working_set: Callable[["TracePlan", np.ndarray], np.ndarray]) -> "CostKeys":
        """The distinct cost rows of this trace for an evicted share per op (``offload_share``; None: none) and
        a platform's per-op working set ``working_set(plan, evicted)``: the ops that agree on their distinct
        trace row, evicted share and working set (compared by their bits) share a cost row. Kept per evicted
        share (the last one with a share, and the one without), so a sweep costs its distinct rows only."""
        n = self.n
        evicted = np.zeros(n) if offload_share is None else np.asarray(offload_share, dtype=np.float64)
        key = (getattr(working_set, "__qualname__", id(working_set)),
               hashlib.sha1(np.ascontiguousarray(evicted).view(np.uint8)).hexdigest() if evicted.any() else "")
        hit = self._cost_keys.get(key)
        if hit is not None:
            return hit
        ws = np.ascontiguousarray(working_set(self, evicted), dtype=np.float64)
        first, inverse = _distinct_rows([self.inverse, ws.view(np.int64), evicted.view(np.int64)])
        small = np.int32 if n < 2**31 else np.int64
        out = CostKeys(row=np.ascontiguousarray(self.inverse[first], dtype=np.int64), evicted=evicted[first],
                       working_set=ws[first], inverse=inverse.astype(small))
        if key[1]:  # one entry with a share besides the one without (a sweep rarely revisits a share)
            for k in [k for k in self._cost_keys if k[1]]:
                del self._cost_keys[k]
        self._cost_keys[key] = out
        return out


@dataclass
class CostKeys:
    """The distinct cost rows of a trace (see :meth:`TracePlan.cost_keys`): each row's distinct trace row
    (``row``, into ``TracePlan.unique``), evicted share and working set (bytes); ``inverse``: each op's cost
    row."""

    row: np.ndarray
    evicted: np.ndarray
    working_set: np.ndarray
    inverse: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


@dataclass
class CostRows:
    """A platform's costs of a trace's distinct cost rows: ``cols`` (cost column -> one value per cost row),
    each row's unit (``unit_names[unit_codes]``) and each op's cost row (``inverse``). :meth:`per_op` spreads
    them to the ops (the per-op cost table); a study that needs only aggregates never does."""

    inverse: np.ndarray
    unit_codes: np.ndarray
    unit_names: np.ndarray
    cols: dict[str, np.ndarray]
    keys: CostKeys | None = None

    def per_op(self, names_column: Callable) -> pd.DataFrame:
        """One row per op: ``unit`` (``names_column(codes, names)``: the platform's string column builder) and
        every cost column."""
        inv = self.inverse
        return pd.DataFrame({"unit": names_column(self.unit_codes[inv], self.unit_names),
                             **{c: a[inv] for c, a in self.cols.items()}}, copy=False)

    def table(self) -> pd.DataFrame:
        """One row per cost row: ``unit`` and every cost column (what ``Platform.durations`` reads)."""
        return pd.DataFrame({"unit": self.unit_names[self.unit_codes], **self.cols}, copy=False)


def _program(order: np.ndarray | None, ptr: np.ndarray, idx: np.ndarray, fetch: np.ndarray) -> Schedule:
    """The dependencies renumbered to program order (CSR arrays)."""
    n = len(fetch)
    if order is None or np.array_equal(order, np.arange(n)):
        return Schedule(order=None, pos=None, dep_ptr=ptr, dep_idx=idx, waits=fetch)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n, dtype=np.int64)
    p_ptr, vals = csr_take(ptr, idx, order)
    return Schedule(order=order, pos=pos, dep_ptr=p_ptr, dep_idx=pos[vals], waits=fetch[order])


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A string column as (codes, names): ``names[codes]`` is the column as an object array."""
    codes, names = pd.factorize(col)
    if len(names) == 0 or (codes < 0).any():  # empty, or missing values: each row its own name, as given
        return np.arange(len(col), dtype=np.int64), np.asarray(col.to_numpy(), dtype=object)
    return codes.astype(np.int8 if len(names) < 128 else np.int64), np.asarray(names, dtype=object)


def _distinct_rows(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(first index of each distinct row, each row's distinct row number) of equal-length integer columns:
    rows hashed to one 64-bit number, then checked exactly (a collision falls back to an exact sort)."""
    n = len(arrays[0])
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            h ^= np.ascontiguousarray(a, dtype=np.int64).view(np.uint64)
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
    kind_codes, kind_names = _codes(ev["kind"])
    tier_codes, tier_names = _codes(ev["kv_tier"])
    # the columns as the units see them (OpArrays' conversions), floats compared by their bits
    cols = [kind_codes, tier_codes, _int_view(ev["head_group"].to_numpy())]
    cols += [ev[c].to_numpy(np.int64) for c in OpArrays.INT_COLS]
    cols += [np.ascontiguousarray(ev[c].to_numpy(np.float64)).view(np.int64) for c in OpArrays.FLOAT_COLS]
    first, inverse = _distinct_rows(cols)
    del cols
    unique = OpArrays.from_events(ev.iloc[first], kind=kind_names[kind_codes[first]],
                                  tier=tier_names[tier_codes[first]])
    small = np.int32 if len(ev) < 2**31 else np.int64
    return TracePlan(n=len(ev), kind_codes=kind_codes, kind_names=kind_names, tier_codes=tier_codes,
                     tier_names=tier_names, phase_runs=run_ids(ev).astype(small), unique=unique,
                     inverse=inverse.astype(small), _events=weakref.ref(ev))


def _int_view(a: np.ndarray) -> np.ndarray:
    """A numeric column as 64-bit integers for hashing: integers as they are, floats by their bits."""
    if a.dtype.kind == "f":
        return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)
    return np.ascontiguousarray(a, dtype=np.int64)


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
