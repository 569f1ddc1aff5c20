"""Compiled replay: the SimPy replay of ``replay.Replay`` as a numba list-scheduling kernel.

The SimPy replay is a set of in-order processes (one executor per unit; two channels, DRAM and the
offload link, each with the program R0, R1, W0, R2, W1, ..., Wn-1) whose every step waits for completion
flags set by other processes and then holds for a duration. A process that waits for a flag resumes at
the time the flag was set (at once if it was set earlier, at that time if later; SimPy processes the
events of equal times in scheduling order, which changes who runs first but never a time), so each
step's start is ``max(the process's own time, the times of the flags it waits for)`` and its end is
``start + duration`` computed by the same floating-point operations as SimPy's ``now + delay``. The
start/end times are therefore a max-plus recurrence over the processes' fixed programs, and any order
that evaluates each step after the steps it waits for gives SimPy's times bit for bit. When every op
depends on earlier ops only (the schedules the trace makes), one pass in program order is such an order
(``_kernel``: each op's reads, the previous op's write-backs, then its compute); for any other dependency
graph, ``_kernel_fixpoint`` advances every process in turn as far as its flags allow and repeats until no
process moves. Both end with all ops done, or (as SimPy's ``run`` returning with processes still waiting)
a deadlock, where the ops never reached keep SimPy's initial values.

Only numpy and numba are imported: the module is self-contained.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["deps_to_csr", "replay_compiled", "replay_compiled_csr", "replay_spans"]


def deps_to_csr(deps, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``deps`` (a list of ``n`` tuples of op indices, or ``None`` for "each op depends on the previous
    one") as CSR arrays ``(indptr, indices)`` of int64: op i's dependencies are
    ``indices[indptr[i]:indptr[i + 1]]``."""
    if deps is None:
        indptr = np.zeros(n + 1, dtype=np.int64)
        indptr[2:] = np.arange(1, n, dtype=np.int64)
        return indptr, np.arange(max(n - 1, 0), dtype=np.int64)
    if len(deps) != n:
        raise ValueError(f"deps has {len(deps)} entries for {n} ops")
    counts = np.fromiter(map(len, deps), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.fromiter((d for t in deps for d in t), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


@njit(cache=True)
def _deps_computed(i, dep_ptr, dep_idx, comp_done):
    """Whether every op that op ``i`` depends on has computed."""
    for k in range(dep_ptr[i], dep_ptr[i + 1]):
        if comp_done[dep_idx[k]] == 0:
            return False
    return True


@njit(cache=True)
def _after_deps(t, i, dep_ptr, dep_idx, c1):
    """``t`` or, if later, the time the last of op ``i``'s dependencies finished computing (s)."""
    for k in range(dep_ptr[i], dep_ptr[i + 1]):
        t = max(t, c1[dep_idx[k]])
    return t


@njit(cache=True)
def _kernel(rows, row_unit, src, n_units, waits_deps, dep_ptr, dep_idx, n_done, c1_done, cs0, ct0, ut0, final,
            group, n_groups, keep):
    """The replay's recurrence: durations (s) in, per-op times (s) out (read start and end, compute start
    and end, write end; both channels merged as the SimPy replay merges them). Each process (channel
    ``ch`` with clock ``ct[ch]``, executor ``u`` with clock ``ut[u]``) takes its next step once every flag
    it waits for is set, starting at the max of its clock and those flags' times.

    Op ``i``'s durations and executor are row ``src[i]`` of ``rows`` (one row per distinct cost row a sweep
    costs, or per op with ``src = arange(n)``; columns ``ROW_COLUMNS``: each row's data on one cache line) and
    of ``row_unit``. Every flag a step waits for belongs to an earlier
    op in program order (its dependencies, the channels' buffer slots, the previous op's compute before its
    write-back) or to the op's own reads, so one pass in program order evaluates each step after the steps
    it waits for: op i's reads on both channels, then the previous op's write-backs (each channel's program
    is R0, R1, W0, R2, W1, ...), then op i's compute. A process whose step waits for a flag that is not set
    by then waits forever (the flag's op is behind a process that waits forever, or never runs): it stops
    there, as the SimPy run returns with processes still waiting (a deadlock); ops never reached keep
    SimPy's initial values.

    Carried state (a replay in chunks, see ``chunks.py``): the first ``n_done`` ops have already run
    (computed at ``c1_done``, nothing left to load; their units must be outside ``[0, n_units)``), both
    channels start at op ``cs0[:, 0]`` (the same op, at its read) from clocks ``ct0``, and the executors
    from the clocks ``ut0``. Unless ``final``, each channel stops before the write-back of the last op (in
    the whole program it follows the next op's read). The processes' end states come back with the times.

    ``keep``: return the per-op times (else empty arrays). ``group`` (one id per op, ``-1`` for none; may
    be empty when ``n_groups`` is 0): per group, the earliest start (first of read and compute start) and
    the latest end (last of compute and write end) of its ops, as ``aggregate.op_spans`` of the times."""
    n = src.shape[0]
    m = n if keep else 0
    read_start = np.full(m, np.inf)
    read_end = np.zeros(m)
    c0 = np.zeros(m)
    write_end = np.zeros(m)
    c1 = np.zeros(n)
    comp_done = np.zeros(n, dtype=np.uint8)
    for i in range(n_done):  # ops run before: computed, loaded
        comp_done[i] = 1
        c1[i] = c1_done[i]
        if keep:
            read_start[i] = 0.0
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    ut = ut0.copy()  # each executor's clock (s)
    ublocked = np.zeros(n_units, dtype=np.bool_)
    # channel states: [next op, sub-step (0: its read, 1: the previous op's write), last reader, second-last]
    cs = cs0.copy()
    ct = ct0.copy()  # each channel's clock (s)
    blocked = np.zeros(2, dtype=np.bool_)
    stop = n + 1 if final else n  # not final: the last op's write-back waits for the next chunk's first read
    left = 0
    start_prev = 0.0  # the previous op's start (s)
    s_prev = src[cs[0, 0] - 1] if 0 < cs[0, 0] <= n else 0  # the previous op's cost row
    for i in range(cs[0, 0], stop):
        s = src[i] if i < n else 0
        rs_i = np.inf
        re_i = 0.0
        loaded = True
        we_prev = 0.0
        for ch in range(2):
            if i < n and rows[s, 2 * ch] > 0:
                if blocked[ch]:
                    loaded = False
                else:
                    second = cs[ch, 3]
                    # a free buffer slot: the second-last op this channel loaded has computed
                    if (second >= 0 and comp_done[second] == 0) or (
                            waits_deps[i] and not _deps_computed(i, dep_ptr, dep_idx, comp_done)):
                        blocked[ch] = True
                        cs[ch, 0], cs[ch, 1] = i, 0
                        loaded = False
                        continue
                    t = ct[ch]
                    if second >= 0:
                        t = max(t, c1[second])
                    if waits_deps[i]:
                        t = _after_deps(t, i, dep_ptr, dep_idx, c1)
                    cs[ch, 3] = cs[ch, 2]
                    cs[ch, 2] = i
                    rs = t
                    if rs < rs_i:
                        rs_i = rs
                    d = rows[s, 2 * ch]
                    if ch == 1 and rows[s, 4] > 0:
                        # the channel is held for the data time; the read completes ``latency`` after
                        # its issue at the earliest (SimPy: a ``finish`` process started at ``now``)
                        t = t + max(d - rows[s, 4], 0.0)
                        t_done = rs + d
                        re = t + (t_done - t) if t_done > t else t
                    else:
                        t = t + d
                        re = t
                    if re > re_i:
                        re_i = re
                    ct[ch] = t
            if i >= 1 and not blocked[ch]:
                w = rows[s_prev, 2 * ch + 1]
                if w > 0:
                    if comp_done[i - 1] == 0:
                        blocked[ch] = True
                        cs[ch, 0], cs[ch, 1] = i, 1
                        continue
                    t = max(ct[ch], c1[i - 1]) + w
                    ct[ch] = t
                    if t > we_prev:
                        we_prev = t
        if i >= 1:  # the previous op's times are final
            if keep:
                write_end[i - 1] = we_prev
            if n_groups > 0 and group[i - 1] >= 0:
                g = group[i - 1]
                e = max(c1[i - 1], we_prev)
                if start_prev < lo[g]:
                    lo[g] = start_prev
                if e > hi[g]:
                    hi[g] = e
        if i >= n:
            break
        c0_i = 0.0
        u = row_unit[s]
        if 0 <= u < n_units:
            t = ut[u]
            if rows[s, 0] > 0 or rows[s, 2] > 0:
                t = max(t, re_i)
            ready = not ublocked[u] and loaded
            if ready:
                for k in range(dep_ptr[i], dep_ptr[i + 1]):  # each dependency computed; the last one's end
                    j = dep_idx[k]
                    if comp_done[j] == 0:
                        ready = False
                        break
                    t = max(t, c1[j])
            if not ready:
                ublocked[u] = True
                left += 1
            else:
                c0_i = t
                if rows[s, 5] > 0:
                    t = t + rows[s, 5]
                c1[i] = t
                comp_done[i] = 1
                ut[u] = t
        start_prev = c0_i if c0_i < rs_i else rs_i
        s_prev = s
        if keep:
            read_start[i] = start_prev
            read_end[i] = re_i
            c0[i] = c0_i
    if not final and n > 0 and n_groups > 0 and group[n - 1] >= 0:  # the last op: no write-back yet
        g = group[n - 1]
        if start_prev < lo[g]:
            lo[g] = start_prev
        if c1[n - 1] > hi[g]:
            hi[g] = c1[n - 1]
    for ch in range(2):
        if not blocked[ch]:
            cs[ch, 0], cs[ch, 1] = max(stop, cs[ch, 0]), 0
    return read_start, read_end, c0, c1, write_end, cs, ct, ut, left, lo, hi


@njit(cache=True)
def _kernel_fixpoint(reads, writes, link_reads, link_writes, link_lat, compute, unit_idx, n_units, waits_deps,
                     dep_ptr, dep_idx, n_done, c1_done, cs0, ct0, ut0, final):
    """:func:`_kernel` for any dependency graph (an op may wait for a later op, or itself: the one-pass order
    no longer holds), on per-op durations: the replay's recurrence, durations (s) in, per-op times (s) out
    (read start and end, compute start and end, write end; both channels merged as the SimPy replay merges
    them). Each process (channel ``ch`` with clock ``ct[ch]``, executor ``u`` with clock ``ut[u]``) takes its
    next step once every flag it waits for is set, starting at the max of its clock and those flags' times,
    repeated over all processes until none moves.

    Carried state (a replay in chunks, see ``chunks.py``): the first ``n_done`` ops have already run
    (computed at ``c1_done``, nothing left to load; their units must be outside ``[0, n_units)``), the
    channels start from ``cs0`` / ``ct0`` and the executors from the clocks ``ut0``. Unless ``final``, each
    channel stops before the write-back of the last op (in the whole program it follows the next op's
    read). The processes' end states come back with the times."""
    n = compute.shape[0]
    read_start = np.full(n, np.inf)
    read_end = np.zeros(n)
    c0 = np.zeros(n)
    c1 = np.zeros(n)
    write_end = np.zeros(n)
    comp_done = np.zeros(n, dtype=np.uint8)
    dram_loaded = np.zeros(n, dtype=np.uint8)
    link_loaded = np.zeros(n, dtype=np.uint8)
    for i in range(n_done):  # ops run before: computed, loaded
        comp_done[i] = 1
        c1[i] = c1_done[i]
    for i in range(n):  # nothing to load on a channel counts as loaded
        if not reads[i] > 0:
            dram_loaded[i] = 1
        if not link_reads[i] > 0:
            link_loaded[i] = 1

    # ops of each unit in program order (a counting sort; units outside [0, n_units) never execute)
    ustart = np.zeros(n_units + 1, dtype=np.int64)
    for i in range(n):
        u = unit_idx[i]
        if 0 <= u < n_units:
            ustart[u + 1] += 1
    for u in range(n_units):
        ustart[u + 1] += ustart[u]
    order = np.empty(ustart[n_units], dtype=np.int64)
    fill = ustart[:n_units].copy()
    for i in range(n):
        u = unit_idx[i]
        if 0 <= u < n_units:
            order[fill[u]] = i
            fill[u] += 1
    upos = ustart[:n_units].copy()  # next op of each unit (position in ``order``)
    ut = ut0.copy()  # each executor's clock (s)

    # channel states: [next op, sub-step (0: its read, 1: the previous op's write), last reader, second-last]
    cs = cs0.copy()
    ct = ct0.copy()  # each channel's clock (s)
    stop = n + 1 if final else n  # not final: the last op's write-back waits for the next chunk's first read

    moved = True
    while moved:
        moved = False
        for ch in range(2):
            if ch == 0:
                rd, wr, loaded, use_lat = reads, writes, dram_loaded, False
            else:
                rd, wr, loaded, use_lat = link_reads, link_writes, link_loaded, True
            i, sub, last, second = cs[ch, 0], cs[ch, 1], cs[ch, 2], cs[ch, 3]
            t = ct[ch]
            while i < stop:
                if sub == 0:
                    if i < n and rd[i] > 0:
                        # a free buffer slot: the second-last op this channel loaded has computed
                        if second >= 0 and comp_done[second] == 0:
                            break
                        if waits_deps[i] and not _deps_computed(i, dep_ptr, dep_idx, comp_done):
                            break
                        if second >= 0:
                            t = max(t, c1[second])
                        if waits_deps[i]:
                            t = _after_deps(t, i, dep_ptr, dep_idx, c1)
                        second = last
                        last = i
                        rs = t
                        if rs < read_start[i]:
                            read_start[i] = rs
                        if use_lat and link_lat[i] > 0:
                            # the channel is held for the data time; the read completes ``latency`` after
                            # its issue at the earliest (SimPy: a ``finish`` process started at ``now``)
                            t = t + max(rd[i] - link_lat[i], 0.0)
                            t_done = rs + rd[i]
                            re = t + (t_done - t) if t_done > t else t
                        else:
                            t = t + rd[i]
                            re = t
                        if re > read_end[i]:
                            read_end[i] = re
                        loaded[i] = 1
                        moved = True
                    sub = 1
                else:
                    if i >= 1 and wr[i - 1] > 0:
                        if comp_done[i - 1] == 0:
                            break
                        t = max(t, c1[i - 1])
                        t = t + wr[i - 1]
                        if t > write_end[i - 1]:
                            write_end[i - 1] = t
                        moved = True
                    sub = 0
                    i += 1
            cs[ch, 0], cs[ch, 1], cs[ch, 2], cs[ch, 3] = i, sub, last, second
            ct[ch] = t
        for u in range(n_units):
            p = upos[u]
            end = ustart[u + 1]
            t = ut[u]
            while p < end:
                i = order[p]
                if dram_loaded[i] == 0 or link_loaded[i] == 0:
                    break
                if not _deps_computed(i, dep_ptr, dep_idx, comp_done):
                    break
                if reads[i] > 0 or link_reads[i] > 0:
                    t = max(t, read_end[i])
                t = _after_deps(t, i, dep_ptr, dep_idx, c1)
                c0[i] = t
                if compute[i] > 0:
                    t = t + compute[i]
                c1[i] = t
                comp_done[i] = 1
                p += 1
                moved = True
            upos[u] = p
            ut[u] = t
    for i in range(n):
        if c0[i] < read_start[i]:
            read_start[i] = c0[i]
    return read_start, read_end, c0, c1, write_end, cs, ct, ut, int((ustart[1:] - upos).sum())


@njit(cache=True)
def forward_deps(dep_ptr, dep_idx) -> bool:
    """Whether some op depends on itself or a later op (CSR dependencies)."""
    for i in range(dep_ptr.shape[0] - 1):
        for k in range(dep_ptr[i], dep_ptr[i + 1]):
            if dep_idx[k] >= i:
                return True
    return False


# the columns of the kernel's row table (one row per cost row or op): a channel's read and write are columns
# 2 ch and 2 ch + 1 (channel 0: DRAM, 1: the offload link)
ROW_COLUMNS = ("read_s", "write_s", "link_read_s", "link_write_s", "link_latency_s", "compute_s")


def row_table(read_s, write_s, link_read_s, link_write_s, link_latency_s, compute_s, n: int) -> np.ndarray:
    """The durations (s) as the kernel's row table (``n`` x ``ROW_COLUMNS``, float64); None: zeros."""
    out = np.zeros((n, len(ROW_COLUMNS)))
    for j, a in enumerate((read_s, write_s, link_read_s, link_write_s, link_latency_s, compute_s)):
        if a is not None:
            out[:, j] = a
    return out


def initial_state(n_units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel states, channel clocks and executor clocks before any op (see ``_kernel``)."""
    cs = np.zeros((2, 4), dtype=np.int64)
    cs[:, 2] = -1
    cs[:, 3] = -1
    return cs, np.zeros(2), np.zeros(int(n_units))


def replay_compiled_csr(read_s, compute_s, write_s, unit_idx, dep_ptr, dep_idx, n_units: int, *,
                        link_read_s=None, link_write_s=None, read_waits_deps=None, link_latency_s=None
                        ) -> dict[str, np.ndarray]:
    """:func:`replay_compiled` with the dependencies already as CSR arrays (see :func:`deps_to_csr`), so
    a caller holding millions of ops never builds the list of tuples."""
    n = len(compute_s)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    zeros = np.zeros(n)
    dep_ptr = np.ascontiguousarray(dep_ptr, dtype=np.int64)
    dep_idx = np.ascontiguousarray(dep_idx, dtype=np.int64)
    if len(dep_ptr) != n + 1 or (len(dep_idx) and (dep_idx.min() < 0 or dep_idx.max() >= n)):
        raise ValueError("dependencies must be CSR arrays of n + 1 offsets and op indices in [0, n)")
    cs0, ct0, ut0 = initial_state(n_units)
    if forward_deps(dep_ptr, dep_idx):  # an op waits for a later op: evaluated to the fixed point
        read_start, read_end, c0, c1, write_end, *_ = _kernel_fixpoint(
            f64(read_s), f64(write_s),
            zeros if link_read_s is None else f64(link_read_s),
            zeros if link_write_s is None else f64(link_write_s),
            zeros if link_latency_s is None else f64(link_latency_s),
            f64(compute_s), np.ascontiguousarray(unit_idx, dtype=np.int64), int(n_units),
            np.zeros(n, dtype=np.bool_) if read_waits_deps is None else np.ascontiguousarray(read_waits_deps,
                                                                                              dtype=np.bool_),
            dep_ptr, dep_idx, 0, np.zeros(0), cs0, ct0, ut0, True)
        return {"read_start": read_start, "read_end": read_end, "compute_start": c0, "compute_end": c1,
                "write_end": write_end}
    rows = row_table(read_s, write_s, link_read_s, link_write_s, link_latency_s, compute_s, n)
    read_start, read_end, c0, c1, write_end, *_ = _kernel(
        rows, np.ascontiguousarray(unit_idx, dtype=np.int64), np.arange(n, dtype=np.int64), int(n_units),
        np.zeros(n, dtype=np.bool_) if read_waits_deps is None else np.ascontiguousarray(read_waits_deps,
                                                                                          dtype=np.bool_),
        dep_ptr, dep_idx, 0, np.zeros(0), cs0, ct0, ut0, True, np.zeros(0, dtype=np.int64), 0, True)
    return {"read_start": read_start, "read_end": read_end, "compute_start": c0, "compute_end": c1,
            "write_end": write_end}


def replay_spans(rows: dict[str, np.ndarray], row_unit: np.ndarray, src: np.ndarray, dep_ptr: np.ndarray,
                 dep_idx: np.ndarray, waits: np.ndarray, n_units: int, group: np.ndarray, n_groups: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The replay of ops given by their cost rows, keeping only each group's span: ``rows`` maps ``read_s``,
    ``write_s``, ``link_read_s``, ``link_write_s``, ``link_latency_s`` and ``compute_s`` to one duration (s)
    per cost row, ``row_unit`` each row's executor; ``src`` each op's row, ``group`` its group (0 ..
    ``n_groups`` - 1), the dependencies (CSR) and ``waits`` in program order. Returns per group the
    earliest start and latest end (s), as ``aggregate.op_spans`` of :func:`replay_compiled_csr`'s times (no
    per-op arrays are built). The dependencies must all be on earlier ops (ValueError otherwise)."""
    if forward_deps(dep_ptr, dep_idx):
        raise ValueError("replay_spans needs every dependency on an earlier op (replay_compiled_csr takes any)")
    cs0, ct0, ut0 = initial_state(n_units)
    table = row_table(*(rows[k] for k in ROW_COLUMNS), n=len(row_unit))
    out = _kernel(table, np.ascontiguousarray(row_unit, dtype=np.int64), np.ascontiguousarray(src), int(n_units),
                  np.ascontiguousarray(waits, dtype=np.bool_), dep_ptr, dep_idx, 0, np.zeros(0), cs0,
                  ct0, ut0, True, np.ascontiguousarray(group), int(n_groups), False)
    return out[-2], out[-1]


def n_units_of(unit_idx: np.ndarray) -> int:
    """Executors a replay needs so that every op runs: ``max(unit_idx) + 1`` (1 for no ops)."""
    unit_idx = np.asarray(unit_idx)
    return int(unit_idx.max()) + 1 if len(unit_idx) else 1


def replay_compiled(read_s: np.ndarray, compute_s: np.ndarray, write_s: np.ndarray, unit_idx: np.ndarray,
                    deps: list[tuple[int, ...]] | None = None, n_units: int | None = None, *,
                    link_read_s: np.ndarray | None = None, link_write_s: np.ndarray | None = None,
                    read_waits_deps: np.ndarray | None = None, link_latency_s: np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
    """The SimPy replay (``simulator.engine.replay.discrete_event.replay_simpy``) compiled: same arguments, same result.

    ``read_s``, ``compute_s``, ``write_s``, ``link_read_s``, ``link_write_s`` and ``link_latency_s`` are
    per-op durations (s); ``unit_idx`` each op's executor (ops outside ``[0, n_units)`` never run; default
    ``n_units``: every executor ``unit_idx`` names, ``max(unit_idx) + 1``, as the SimPy replay's);
    ``deps`` each op's dependencies (op indices; default: the previous op); ``read_waits_deps`` marks the
    reads that wait for their op's dependencies. Returns float64 arrays (s): ``read_start`` (inf where
    the op neither read nor computed), ``read_end``, ``compute_start``, ``compute_end`` and ``write_end``
    (0 where nothing happened). Dependencies must be op indices in ``[0, n)`` (ValueError otherwise).
    Memory: O(n) numpy arrays, about 60 bytes per op besides the inputs.
    """
    n = len(compute_s)
    if n_units is None:
        n_units = n_units_of(unit_idx)
    dep_ptr, dep_idx = deps_to_csr(deps, n)
    return replay_compiled_csr(read_s, compute_s, write_s, unit_idx, dep_ptr, dep_idx, n_units,
                               link_read_s=link_read_s, link_write_s=link_write_s,
                               read_waits_deps=read_waits_deps, link_latency_s=link_latency_s)
