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


def dependencies(ev: pd.DataFrame) -> list[tuple[int, ...]]:
    """For each op, the indices of the ops whose results it needs (all earlier in program order)."""
    n = len(ev)
    hg = ev["head_group"].to_numpy()
    keys = ev[["phase", "frame", "question", "step", "layer"]]
    grp = np.cumsum((keys != keys.shift()).any(axis=1).to_numpy())
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
