"""Data dependencies between trace ops, for the discrete-event replay.

Ops run in program order except where data allow otherwise: within one layer of one phase, a run of
per-head-group ops (retrieval scoring, selection, fetch and attention of KV-head group h) forms a
fan-out: each head group's chain depends only on the op before the run (its queries are ready) and
on its own previous op, so the DRE can score group h+1 while the PE array attends for group h. The op
after the run joins all chains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PHASE_KEYS = ("phase", "frame", "question", "step")


def run_ids(ev: pd.DataFrame, cols=PHASE_KEYS) -> np.ndarray:
    """Id of each op's run of consecutive rows with equal ``cols`` (e.g. one phase instance), from 1."""
    n = len(ev)
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for c in cols:
        v = ev[c].to_numpy()
        change[1:] |= v[1:] != v[:-1]
    return np.cumsum(change)


def dependencies(ev: pd.DataFrame) -> list[tuple[int, ...]]:
    """For each op, the indices of the ops whose results it needs (all earlier in program order)."""
    n = len(ev)
    hg = ev["head_group"].to_numpy()
    grp = run_ids(ev, PHASE_KEYS + ("layer",))
    deps: list[tuple[int, ...]] = [()] * n
    join: dict[int, tuple[int, ...]] = {}
    i = 0
    while i < n:
        if hg[i] < 0:
            deps[i] = join.pop(i, (i - 1,) if i > 0 else ())
            i += 1
            continue
        j = i
        while j < n and hg[j] >= 0 and grp[j] == grp[i]:
            j += 1
        root = join.pop(i, (i - 1,) if i > 0 else ())
        last: dict[int, int] = {}
        for t in range(i, j):
            h = int(hg[t])
            deps[t] = (last[h],) if h in last else root
            last[h] = t
        if j < n:
            join[j] = tuple(sorted(last.values()))
        i = j
    return deps


PREDICTION_KINDS = ("retrieval_score", "wicsum", "topk", "kv_read")


def prefetch_order(ev: pd.DataFrame, deps: list[tuple[int, ...]]) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Program order with next-layer prediction and prefetch (V-Rex's DRE; InfiniGen-style).

    In each LLM pass, layer l's prediction block (the contiguous run of retrieval scoring, selection and
    KV fetch ops that precedes its attention) is issued right after layer l-1's KV write, i.e. as soon
    as layer l-1's QKV generation is done, so its scoring, selection and fetch overlap the rest of layer
    l-1. The block's ops then depend on that KV write instead of layer l's earlier ops; layer l's
    attention still waits for the block. Returns the new order (trace indices) and the updated
    dependencies (trace indices).
    """
    n = len(ev)
    kind = ev["kind"].to_numpy()
    layer = ev["layer"].to_numpy()
    inst = run_ids(ev)
    is_llm = (ev["phase"].to_numpy() != "vision") & (layer >= 0)
    pred = np.isin(kind, PREDICTION_KINDS) & is_llm
    writes = (kind == "kv_write") & is_llm
    # first op of each (instance, layer) prediction run, and the last KV write of each (instance, layer)
    starts = np.flatnonzero(pred & ~np.r_[False, pred[:-1]])
    last_write = {}
    for i in np.flatnonzero(writes):
        last_write[(int(inst[i]), int(layer[i]))] = int(i)
    moved_after: dict[int, np.ndarray] = {}
    moved = np.zeros(n, dtype=bool)
    deps = list(deps)
    seen_block: set[tuple[int, int]] = set()
    for s in starts:
        key = (int(inst[s]), int(layer[s]))
        if key in seen_block:
            continue  # one block per layer and pass: the run before attention
        seen_block.add(key)
        anchor = last_write.get((key[0], key[1] - 1))
        if anchor is None:
            continue
        e = s
        while e < n and pred[e] and inst[e] == inst[s] and layer[e] == layer[s]:
            e += 1
        block = np.arange(s, e)
        inside = set(block.tolist())
        for i in block:
            outside = tuple(d for d in deps[i] if d not in inside)
            if outside:
                deps[i] = tuple(sorted({*(d for d in deps[i] if d in inside), anchor}))
        moved[block] = True
        moved_after[anchor] = block
    if not moved_after:
        return np.arange(n), deps
    order = []
    for i in range(n):
        if moved[i]:
            continue
        order.append(i)
        if i in moved_after:
            order.extend(moved_after[i].tolist())
    return np.asarray(order, dtype=np.int64), deps
