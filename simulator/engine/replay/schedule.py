"""Data dependencies between trace ops, for the discrete-event replay.

Ops run in program order except where data allow otherwise: within one layer of one phase, a run of
per-head-group ops (retrieval scoring, selection, fetch and attention of KV-head group h) forms a
fan-out: each head group's chain depends only on the op before the run (its queries are ready) and
on its own previous op, so the DRE can score group h+1 while the PE array attends for group h. The op
after the run joins all chains.

Both steps work on whole columns (numpy) and give the dependencies as CSR arrays ``(indptr, indices)``:
op i's dependencies are ``indices[indptr[i]:indptr[i + 1]]``, in increasing order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.tracer.events import PHASE_KEYS, Phase


def run_ids(ev: pd.DataFrame, cols=PHASE_KEYS) -> np.ndarray:
    """Id of each op's run of consecutive rows with equal ``cols`` (e.g. one phase instance), from 1."""
    n = len(ev)
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for c in cols:
        col = ev[c]
        # strings compared by their factorized codes (equal codes iff equal strings; faster than objects)
        v = col.to_numpy() if pd.api.types.is_numeric_dtype(col.dtype) else pd.factorize(col)[0]
        change[1:] |= v[1:] != v[:-1]
    return np.cumsum(change)


def _sort_pairs(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """``np.lexsort((minor, major))`` (stable: ties keep their order) for non-negative integers, as one stable
    sort of a combined key (fast on the nearly sorted keys a program has)."""
    major = np.asarray(major, dtype=np.int64)
    minor = np.asarray(minor, dtype=np.int64)
    if not len(major):
        return np.zeros(0, dtype=np.int64)
    span = int(minor.max()) + 1
    if major.min() < 0 or minor.min() < 0 or int(major.max()) >= np.iinfo(np.int64).max // span - 1:
        return np.lexsort((minor, major))
    return np.argsort(major * span + minor, kind="stable")


def _gather_segments(ptr: np.ndarray, segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR offsets ``ptr`` and segment numbers ``segs``: the positions of every element of those segments,
    in order, and each segment's length."""
    counts = ptr[segs + 1] - ptr[segs]
    total = int(counts.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(ptr[segs], counts) + within, counts


def csr_take(ptr: np.ndarray, idx: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR lists of ``rows`` (in that order) as new CSR arrays: offsets, and the listed values."""
    pos, counts = _gather_segments(ptr, np.asarray(rows, dtype=np.int64))
    new_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    return new_ptr, idx[pos]


def csr_to_lists(ptr: np.ndarray, idx: np.ndarray) -> list[tuple[int, ...]]:
    """CSR dependencies as one tuple of op indices per op."""
    vals = idx.tolist()
    bounds = ptr.tolist()
    return [tuple(vals[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]


def dependencies_csr(ev: pd.DataFrame, grp: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each op, the ops whose results it needs (all earlier in program order), as CSR arrays.

    An op outside a head-group run depends on the op before it, or, right after a run, on the last op of
    each of the run's head groups (the join). In a run (consecutive ops with ``head_group >= 0`` in one
    phase instance and layer), a head group's first op depends on what the op before the run would (the op
    before it, or the previous run's join), its later ops on its own previous op. ``grp``: the run ids of
    (phase keys, layer), if already computed."""
    hg = ev["head_group"].to_numpy().astype(np.int64)
    if grp is None:
        grp = run_ids(ev, PHASE_KEYS + ("layer",))
    n = len(hg)
    if n == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ar = np.arange(n, dtype=np.int64)
    inrun = hg >= 0
    prev_in = np.r_[False, inrun[:-1]]
    start = inrun & (~prev_in | np.r_[True, grp[1:] != grp[:-1]])
    rid = np.cumsum(start) - 1  # run number (meaningful where inrun)
    run_start = np.flatnonzero(start)
    # each head group's chain in its run: ops of a run sorted by (run, head group), program order kept
    sel = np.flatnonzero(inrun)
    s = sel[_sort_pairs(rid[sel], hg[sel])]
    same = (rid[s][1:] == rid[s][:-1]) & (hg[s][1:] == hg[s][:-1])
    chain = np.full(n, -1, dtype=np.int64)
    chain[s[1:][same]] = s[:-1][same]
    is_last = np.zeros(n, dtype=bool)
    if len(s):
        is_last[s[:-1][~same]] = True
        is_last[s[-1]] = True
    join = np.flatnonzero(is_last)  # the last op of each head group of each run, grouped by run, in order
    jptr = np.zeros(len(run_start) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rid[join], minlength=len(run_start)), out=jptr[1:])
    # what an op that does not continue a chain waits for: the entry of its run (or of itself, outside runs)
    entry = np.where(inrun, run_start[np.where(inrun, rid, 0)], ar) if len(run_start) else ar
    before = entry - 1
    after_run = (entry > 0) & inrun[np.maximum(before, 0)]
    joined = (chain < 0) & after_run
    single = (chain < 0) & ~after_run & (entry > 0)
    counts = np.where(chain >= 0, 1, 0) + single
    jo = np.flatnonzero(joined)
    join_runs = rid[before[jo]]
    jpos, jcounts = _gather_segments(jptr, join_runs)
    counts[jo] = jcounts
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    idx = np.empty(int(ptr[-1]), dtype=np.int64)
    ch = np.flatnonzero(chain >= 0)
    idx[ptr[ch]] = chain[ch]
    sg = np.flatnonzero(single)
    idx[ptr[sg]] = before[sg]
    idx[np.repeat(ptr[jo], jcounts) + (np.arange(len(jpos), dtype=np.int64)
                                       - np.repeat(np.cumsum(jcounts) - jcounts, jcounts))] = join[jpos]
    return ptr, idx


def dependencies(ev: pd.DataFrame) -> list[tuple[int, ...]]:
    """:func:`dependencies_csr` as one tuple of op indices per op."""
    return csr_to_lists(*dependencies_csr(ev))


PREDICTION_KINDS = ("retrieval_score", "wicsum", "topk", "kv_read")


def kind_mask(col: pd.Series, names) -> np.ndarray:
    """Which rows of a string column hold one of ``names`` (a categorical column compared by its codes)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        return np.isin(np.asarray(col.cat.categories, dtype=object), names)[codes] & (codes >= 0)
    return np.isin(col.to_numpy(), names)


def prefetch_order_csr(ev: pd.DataFrame, ptr: np.ndarray, idx: np.ndarray, inst: np.ndarray | None = None,
                       kind: np.ndarray | None = None, depth: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Program order with next-layer prediction and prefetch (V-Rex's DRE; InfiniGen-style).

    In each LLM pass, layer l's prediction block (the contiguous run of retrieval scoring, selection and
    KV fetch ops that precedes its attention) is issued right after layer l-1's KV write, i.e. as soon
    as layer l-1's QKV generation is done, so its scoring, selection and fetch overlap the rest of layer
    l-1. The block's ops then depend on that KV write instead of layer l's earlier ops; layer l's
    attention still waits for the block. With ``depth`` d > 1 (``dre.prefetch_layers``), the block is issued
    after layer l-d's KV write instead (layers below d after layer 0's), d layers ahead.
    ``ptr``, ``idx``: the dependencies (CSR, trace indices);
    ``inst``, ``kind``: the phase instances' run ids and the kinds as an array, if already at hand.
    Returns the new order (trace indices) and the updated dependencies (CSR in trace order, trace indices).
    """
    n = len(ev)
    layer = ev["layer"].to_numpy().astype(np.int64)
    if inst is None:
        inst = run_ids(ev)
    inst = np.asarray(inst, dtype=np.int64)
    is_llm = (ev["phase"] != Phase.VISION).to_numpy(dtype=bool) & (layer >= 0)
    if kind is None:
        pred = kind_mask(ev["kind"], PREDICTION_KINDS) & is_llm
        writes = kind_mask(ev["kind"], ("kv_write",)) & is_llm
    else:
        pred = np.isin(kind, PREDICTION_KINDS) & is_llm
        writes = (kind == "kv_write") & is_llm
    no_change = np.arange(n, dtype=np.int64), ptr, idx
    if n == 0 or not pred.any() or not writes.any():
        return no_change
    width = int(layer.max()) + 2
    key = inst * width + (layer + 1)  # (instance, layer) as one number; layer -1 -> offset 0
    # first op of each prediction run; one block per (instance, layer): the first such run
    starts = np.flatnonzero(pred & ~np.r_[False, pred[:-1]])
    _, first = np.unique(key[starts], return_index=True)
    starts = starts[np.sort(first)]
    # the last KV write of each (instance, layer), looked up for (instance, layer - 1)
    w = np.flatnonzero(writes)
    wk = key[w]
    uk, uw = np.unique(wk[::-1], return_index=True)  # first in reverse: the last write
    uw = w[::-1][uw]
    b_layer = layer[starts]
    want = key[starts] - np.where(b_layer >= 1, np.minimum(int(depth), b_layer), 1)
    at = np.minimum(np.searchsorted(uk, want), len(uk) - 1)
    found = uk[at] == want
    starts, anchors = starts[found], uw[at[found]]
    if not len(starts):
        return no_change
    # each block runs while the ops stay prediction ops of the same instance and layer
    same_prev = np.r_[False, pred[:-1] & (key[1:] == key[:-1])] & pred
    seg = np.cumsum(pred & ~same_prev)
    seg_len = np.bincount(seg, weights=pred.astype(np.float64)).astype(np.int64)
    lens = seg_len[seg[starts]]
    ends = starts + lens
    block_ops = np.repeat(starts, lens) + (np.arange(int(lens.sum()), dtype=np.int64)
                                           - np.repeat(np.cumsum(lens) - lens, lens))
    b_start, b_end, b_anchor = (np.repeat(a, lens) for a in (starts, ends, anchors))
    # the block ops' dependencies: those inside the block stay; any outside are replaced by the anchor
    epos, ecount = _gather_segments(ptr, block_ops)
    owner = np.repeat(np.arange(len(block_ops)), ecount)
    vals = idx[epos]
    inside = (vals >= b_start[owner]) & (vals < b_end[owner])
    changed = np.bincount(owner, weights=(~inside).astype(np.float64), minlength=len(block_ops)) > 0
    keep = np.ones(len(idx), dtype=bool)
    keep[epos[changed[owner]]] = False  # the changed ops' lists are rebuilt
    old_op = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))[keep]
    old_key = np.flatnonzero(keep)  # untouched lists keep their order
    sel = changed[owner] & inside
    ch_ops = block_ops[changed]
    new_op = np.concatenate([block_ops[owner[sel]], ch_ops])
    new_val = np.concatenate([vals[sel], b_anchor[changed]])
    ops_all = np.concatenate([old_op, new_op])
    val_all = np.concatenate([idx[keep], new_val])
    key_all = np.concatenate([old_key, new_val])
    o = _sort_pairs(ops_all, key_all)
    ops_all, val_all = ops_all[o], val_all[o]
    is_new = np.concatenate([np.zeros(len(old_op), dtype=bool), np.ones(len(new_op), dtype=bool)])[o]
    dup = np.r_[False, (ops_all[1:] == ops_all[:-1]) & (val_all[1:] == val_all[:-1])] & is_new
    ops_all, val_all = ops_all[~dup], val_all[~dup]
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ops_all, minlength=n), out=new_ptr[1:])
    # the order: every op not moved in place, each block right after its anchor
    primary = np.arange(n, dtype=np.int64)
    secondary = np.zeros(n, dtype=np.int64)
    primary[block_ops] = b_anchor
    secondary[block_ops] = 1
    order = _sort_pairs(primary, secondary)  # ties in trace order
    return order.astype(np.int64), new_ptr, val_all


def prefetch_order(ev: pd.DataFrame, deps: list[tuple[int, ...]]) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """:func:`prefetch_order_csr` with the dependencies as one tuple per op (in and out)."""
    from simulator.engine.replay.compiled import deps_to_csr

    order, ptr, idx = prefetch_order_csr(ev, *deps_to_csr(deps, len(ev)))
    return order, csr_to_lists(ptr, idx)
