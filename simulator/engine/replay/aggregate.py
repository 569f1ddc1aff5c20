"""Per-phase and per-unit aggregates of a replay, computed in one compiled pass over the ops.

A study needs a run's per-phase figures (each phase instance's summed energy and bytes, its first op's start
and last op's end) and per-unit sums (busy times, energy), not the per-op table. The sums run over the ops in
trace order, adding each op's value in turn (the same additions whether the values come from the per-op
table or from the distinct cost rows an op points to: ``src``), so the per-op path (``result.phase_sums``)
and the aggregate-only path (``simulate.evaluate_designs``) give the same figures bit for bit.

Only numpy and numba are imported.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _sums(group, src, vals, n_groups):
    """``out[g, p]``: the sum of ``vals[src[i], p]`` over the ops i with ``group[i] == g``, added in op order."""
    out = np.zeros((n_groups, vals.shape[1]))
    for i in range(group.shape[0]):
        g = group[i]
        s = src[i]
        for p in range(vals.shape[1]):
            out[g, p] += vals[s, p]
    return out


@njit(cache=True)
def _sums_two(group, n_groups, src, vals, row_key, n_keys, key_vals):
    """:func:`_sums` per group of ``vals`` and, in the same pass, per key ``row_key[src[i]]`` of ``key_vals``."""
    out = np.zeros((n_groups, vals.shape[1]))
    by_key = np.zeros((n_keys, key_vals.shape[1]))
    for i in range(group.shape[0]):
        g = group[i]
        s = src[i]
        k = row_key[s]
        for p in range(vals.shape[1]):
            out[g, p] += vals[s, p]
        for p in range(key_vals.shape[1]):
            by_key[k, p] += key_vals[s, p]
    return out, by_key


@njit(cache=True)
def _spans(group, start, end, n_groups):
    """Per group: the earliest ``start`` and the latest ``end`` of its ops (s)."""
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    for i in range(group.shape[0]):
        g = group[i]
        if start[i] < lo[g]:
            lo[g] = start[i]
        if end[i] > hi[g]:
            hi[g] = end[i]
    return lo, hi


@njit(cache=True)
def _op_spans(group, read_start, compute_start, compute_end, write_end, n_groups):
    """:func:`_spans` of the ops' start (first of read and compute start) and end (last of compute and write
    end), as the per-op table's ``start_s`` / ``end_s`` (``simulate._ops_table``), without building them."""
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    for i in range(group.shape[0]):
        g = group[i]
        s = min(read_start[i], compute_start[i])
        e = max(compute_end[i], write_end[i])
        if s < lo[g]:
            lo[g] = s
        if e > hi[g]:
            hi[g] = e
    return lo, hi


def group_sums(group: np.ndarray, n_groups: int, vals: np.ndarray, src: np.ndarray | None = None) -> np.ndarray:
    """Sums of the rows ``vals[src[i]]`` (``vals``: 2-D, one column per quantity; ``src`` None: the rows
    themselves) per group ``group[i]`` (0 .. n_groups - 1), added in op order."""
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    src = np.arange(len(group), dtype=np.int64) if src is None else np.ascontiguousarray(src)
    return _sums(np.ascontiguousarray(group), src, vals, int(n_groups))


def group_and_key_sums(group: np.ndarray, n_groups: int, src: np.ndarray, vals: np.ndarray, row_key: np.ndarray,
                       n_keys: int, key_vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_sums` of the rows ``vals[src[i]]`` per group ``group[i]``, and of the rows ``key_vals[src[i]]``
    per key ``row_key[src[i]]`` (e.g. each cost row's unit), in one pass, added in op order."""
    f = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    return _sums_two(np.ascontiguousarray(group), int(n_groups), np.ascontiguousarray(src), f(vals),
                     np.ascontiguousarray(row_key), int(n_keys), f(key_vals))


def group_spans(group: np.ndarray, n_groups: int, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the earliest start and latest end (s)."""
    f = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    return _spans(np.ascontiguousarray(group), f(start), f(end), int(n_groups))


def op_spans(group: np.ndarray, n_groups: int, t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the earliest start and latest end (s) of the ops' replayed times ``t`` (``replay_trace``)."""
    f = lambda k: np.ascontiguousarray(t[k], dtype=np.float64)  # noqa: E731
    return _op_spans(np.ascontiguousarray(group), f("read_start"), f("compute_start"), f("compute_end"),
                     f("write_end"), int(n_groups))
