"""One simulation path for every platform: trace -> op costs -> replay -> per-op results.

:func:`simulate` replays a whole trace and keeps every op's row. :class:`ChunkedSim` replays a stream chunk
by chunk (``StreamTracer.chunks``: runs of frames in order) with the same times, keeping per-phase and per-unit
aggregates instead of the ops (memory bounded by a chunk, whatever the stream's length) and writing the
per-op timeline to Parquet as it goes when asked; :func:`simulate` is its reference
(tests/engine/replay/test_chunked.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from simulator.config.hardware import AcceleratorConfig, GpuConfig
from simulator.config.tech import TechTable
from simulator.engine.contract import check_contract
from simulator.engine.memory.kv_memory import (
    KvCapacity,
    check_capacity,
    kv_bytes_held,
    offload_share_per_op,
    run_status,
    status_of,
)
from simulator.engine.ops import TRANSFER_KINDS
from simulator.engine.platform import Platform, names_column
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.engine.replay.aggregate import group_sums, op_spans
from simulator.engine.replay.chunks import ChunkReplay
from simulator.engine.replay.compiled import replay_compiled, replay_compiled_csr
from simulator.engine.replay.discrete_event import DEFAULT_ENGINE, REPLAY_ENGINES, Durations, replay_trace
from simulator.engine.replay.plan import CostRows, trace_plan
from simulator.engine.replay.schedule import run_ids
from simulator.engine.result import (
    PHASE_KEYS,
    SimResult,
    op_energy_col,
    op_energy_parts,
    phase_frame,
    phase_sum_columns,
    phase_sums,
)
from simulator.tracer.events import KINDS, PHASES, TIERS, Tier
from simulator.tracer.trace_file import MetaLike, Trace, TraceChunk, TraceMetaRecord, meta_record

PLATFORMS = {"accelerator": AcceleratorPlatform, "gpu": GpuPlatform}  # config kind -> platform
# the per-op timeline's columns (``vrex simulate --timeline``, ``vrex stream --timeline``; a GPU has no
# read_s / write_s)
TIMELINE_COLUMNS = ["phase", "frame", "question", "step", "layer", "op", "kind", "unit", "start_s", "end_s",
                    "compute_start_s", "compute_end_s", "compute_s", "read_s", "write_s", "link_read_s", "link_write_s",
                    "dram_bytes", "bound"]
UNIT_SUM_COLUMNS = ["compute_s", "dram_s", "link_read_s", "link_write_s"]  # summed per unit (+ e_<part>_pj)


def build_platform(hw: AcceleratorConfig | GpuConfig, tech: TechTable | None = None) -> Platform:
    return PLATFORMS[hw.kind](hw, tech)


def _platform(hw: AcceleratorConfig | GpuConfig | Platform, tech: TechTable | None, meta: TraceMetaRecord
              ) -> Platform:
    p = hw if isinstance(hw, Platform) else build_platform(hw, tech)
    check_contract(p, meta)
    if isinstance(p, GpuPlatform):
        p = p.for_trace(meta)
    elif isinstance(p, AcceleratorPlatform):
        p.for_trace(meta)  # the KVMU takes the trace's KV geometry
    return p


def _base(p: Platform) -> dict:
    """The run-level facts of a platform that every result carries."""
    return dict(hardware=p.name, kind=p.kind, area_mm2=p.area_mm2(), area_per_core_mm2=p.area_per_core_mm2(),
                peak_tflops=p.peak_flops / 1e12, cores=p.cores, leakage_mw_per_mm2=p.tech.leakage_mw_per_mm2()
                if p.kind == "accelerator" else 0.0, peak_power_per_core_w=p.peak_power_per_core_w(),
                block_charges=p.block_charges() if p.area_per_core_mm2() else {}, system_peak_w=p.system_peak_w(),
                io_area_mm2=p.io_area_mm2(), assumptions=p.assumptions())


def _weight_bytes(meta: TraceMetaRecord) -> float:
    return meta.weight_bytes_llm + meta.weight_bytes_vision


def _ops_table(ev: pd.DataFrame, costs: pd.DataFrame, t: dict[str, np.ndarray], share: np.ndarray) -> pd.DataFrame:
    """The per-op result rows: trace keys, costs and replayed times; ops moving evicted KV are capacity-bound."""
    ops = pd.concat([ev[["phase", "frame", "question", "step", "layer", "op", "kind"]].reset_index(drop=True),
                     costs.reset_index(drop=True)], axis=1)
    ops["compute_start_s"] = t["compute_start"]
    ops["compute_end_s"] = t["compute_end"]
    ops["start_s"] = np.minimum(t["read_start"], t["compute_start"])
    ops["end_s"] = np.maximum(t["compute_end"], t["write_end"])
    ops["mem_s"] = ops["dram_s"] + ops["link_read_s"] + ops["link_write_s"]
    bound = np.where(ops["compute_s"].to_numpy() >= ops["mem_s"].to_numpy(), 0, 1)
    bound[(np.asarray(share) > 0) & (ops["offload_bytes"].to_numpy() > 0)] = 2
    ops["bound"] = names_column(bound, ("compute", "bandwidth", "capacity"), str)
    return ops


def simulate(trace: Trace, hw: AcceleratorConfig | GpuConfig | Platform, tech: TechTable | None = None, *,
             engine: str = DEFAULT_ENGINE) -> SimResult:
    """Replay ``trace`` on a hardware config (or a built platform); per-op timing and energy, area, notes.
    ``engine``: ``compiled`` (default) or ``simpy`` (the reference model; the same times).

    A point that cannot run (weights or KV beyond memory, an offloading policy without an offload tier)
    comes back with its ``status`` and no ops."""
    if engine not in REPLAY_ENGINES:
        raise ValueError(f"unknown replay engine {engine!r}; known: {', '.join(REPLAY_ENGINES)}")
    meta = trace.record  # the typed metadata (validated)
    p = _platform(hw, tech, meta)
    ev = trace.events
    weight_bytes = _weight_bytes(meta)
    base = _base(p)
    status = run_status(ev, trace.kv_tokens, meta, p.dram.capacity_bytes, weight_bytes, p.has_offload)
    if status != "ok":
        return SimResult(ops=pd.DataFrame(), leakage_w=0.0, total_s=float("nan"), notes=[status], status=status,
                         **base)
    share = offload_share_per_op(ev, trace.kv_tokens, meta, p.dram.capacity_bytes - weight_bytes)
    costs = p.op_costs(ev, share)
    unit_idx = p.unit_index(costs["unit"])
    t = replay_trace(ev, p.durations(costs), unit_idx, p.n_executors, prefetch=p.prefetch,
                     engine=engine)
    ops = _ops_table(ev, costs, t, share)
    cap = check_capacity(trace.kv_tokens, meta, p.dram.capacity_bytes, weight_bytes)
    notes = []
    if cap.overflow_frame is not None:
        notes.append(p.overflow_note(cap, share))
    total = float(ops["end_s"].max()) if len(ops) else 0.0
    codes, names = pd.factorize(ops["unit"])
    sums = _unit_sums(codes, np.asarray(names, dtype=object), ops[UNIT_SUM_COLUMNS].to_numpy(np.float64))
    return SimResult(ops=ops, leakage_w=p.leakage_w(), total_s=total, notes=notes, capacity=cap.as_dict(),
                     utilisation=_utilisation_of(p, sums, total), n_ops=len(ops), **base)


def _unit_sums(unit_codes: np.ndarray, unit_names: np.ndarray, vals: np.ndarray, src: np.ndarray | None = None,
               columns: list[str] = UNIT_SUM_COLUMNS) -> pd.DataFrame:
    """``columns`` (the columns of ``vals``) summed per unit in op order (``replay.aggregate``), indexed by unit
    name (sorted)."""
    sums = group_sums(unit_codes, len(unit_names), vals, src)
    return pd.DataFrame(sums, index=pd.Index(unit_names, name="unit"), columns=columns).sort_index()


def _sum_columns(cols) -> list[str]:
    """The per-unit sums a result keeps: ``UNIT_SUM_COLUMNS`` and every energy part."""
    return UNIT_SUM_COLUMNS + [op_energy_col(p) for p in op_energy_parts(cols)]


def _utilisation_of(p: Platform, sums: pd.DataFrame, total_s: float) -> dict[str, float]:
    return utilisation(p, sums["compute_s"], float(sums["dram_s"].to_numpy().sum()),
                       float((sums["link_read_s"] + sums["link_write_s"]).to_numpy().sum()), total_s)


def _cost_rows(p: Platform, ev: pd.DataFrame, share: np.ndarray) -> CostRows:
    """The platform's costs per distinct cost row (``cost_rows``), or, for a platform that costs per op only,
    its per-op table as one row per op."""
    if hasattr(p, "cost_rows"):
        return p.cost_rows(ev, share)
    costs = p.op_costs(ev, share)
    codes, names = pd.factorize(costs["unit"])
    cols = {c: costs[c].to_numpy() for c in costs.columns if c != "unit"}
    return CostRows(inverse=np.arange(len(costs), dtype=np.int64), unit_codes=codes,
                    unit_names=np.asarray(names, dtype=object), cols=cols)


def evaluate_designs(trace: Trace, designs: Iterable[AcceleratorConfig | GpuConfig | Platform],
                     tech: TechTable | None = None, *, engine: str = DEFAULT_ENGINE) -> list[SimResult]:
    """:func:`simulate` of one trace on many designs, keeping aggregates only: per phase instance
    (``SimResult.phases``, as ``result.phase_sums``) and per unit (``SimResult.unit_sums``: ``UNIT_SUM_COLUMNS``),
    with the same figures as :func:`simulate` (``ops`` is empty; tests/engine/test_evaluate_designs.py).

    What depends on the trace alone (its plan: distinct rows, phase instances, the replay's schedule) is
    computed once for all designs; each design costs the trace's distinct cost rows (not every op), replays
    the ops in the compiled kernel and sums per phase and per unit in one compiled pass (``replay.aggregate``).
    Stages' CPU seconds accumulate in ``STAGE_TIMES`` (``make bench`` prints them)."""
    if engine not in REPLAY_ENGINES:
        raise ValueError(f"unknown replay engine {engine!r}; known: {', '.join(REPLAY_ENGINES)}")
    ev = trace.events
    clock = _StageClock()
    meta = trace.record  # typed and validated once
    with clock("plan"):
        plan = trace_plan(ev)
        run = plan.phase_runs.astype(np.int64) - 1
        n_runs = int(run[-1]) + 1 if len(run) else 0
        first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]]) if len(run) else np.zeros(0, dtype=np.int64)
        keys = ev[list(PHASE_KEYS)].iloc[first].reset_index(drop=True)
        offload_used = bool(np.isin("offload", plan.tier_names[np.unique(plan.tier_codes)])) if len(ev) else False
        held = kv_bytes_held(trace.kv_tokens, meta)
        held_max = float(held.max()) if held.size else 0.0
    weight_bytes = _weight_bytes(meta)
    run_in_program: dict[int, np.ndarray] = {}  # each op's phase instance in program order, per prefetch depth
    out = []
    for hw in designs:
        with clock("op costs"):
            p = _platform(hw, tech, meta)
            base = _base(p)
            status = status_of(held_max, offload_used, p.dram.capacity_bytes, weight_bytes, p.has_offload)
            if status != "ok":
                out.append(SimResult(ops=pd.DataFrame(), leakage_w=0.0, total_s=float("nan"), notes=[status],
                                     status=status, **base))
                continue
            share = offload_share_per_op(ev, trace.kv_tokens, meta, p.dram.capacity_bytes - weight_bytes)
            rows = _cost_rows(p, ev, share)
            d_rows = p.durations(rows.table())
            inv = rows.inverse
            unit_idx = np.asarray([p.executors[n] for n in rows.unit_names], dtype=np.int64)[rows.unit_codes[inv]]
        with clock("replay"):
            n_units = max(p.executors.values()) + 1
            if engine == "compiled" and REPLAY_ENGINES[engine] is replay_compiled and not _one_unit(unit_idx, d_rows):
                # the kernel fed in program order straight from the cost rows; the spans taken in that order
                sch = plan.schedule(p.prefetch)
                if p.prefetch not in run_in_program:
                    run_in_program[p.prefetch] = run[sch.order] if sch.reordered else run
                src = inv[sch.order] if sch.reordered else inv
                units = unit_idx[sch.order] if sch.reordered else unit_idx
                f = lambda k: getattr(d_rows, k)[src]  # noqa: E731
                t = replay_compiled_csr(f("read_s"), f("compute_s"), f("write_s"), units, sch.dep_ptr, sch.dep_idx,
                                        n_units, link_read_s=f("link_read_s"), link_write_s=f("link_write_s"),
                                        read_waits_deps=sch.waits, link_latency_s=f("link_latency_s"))
                spans_run = run_in_program[p.prefetch]
            else:
                d = Durations(*(getattr(d_rows, k)[inv] for k in Durations.__dataclass_fields__))
                t = replay_trace(ev, d, unit_idx, n_units, prefetch=p.prefetch, engine=engine)
                spans_run = run
        with clock("aggregates"):
            start, end = op_spans(spans_run, n_runs, t)
            cols = phase_sum_columns(rows.cols)
            sums = group_sums(run, n_runs, np.column_stack([rows.cols[c] for c in cols]), inv)
            phases = phase_frame(keys, np.arange(n_runs), sums, start, end, cols)
            ucols = _sum_columns(rows.cols)
            usums = _unit_sums(rows.unit_codes[inv], rows.unit_names,
                               np.column_stack([rows.cols[c] for c in ucols]), inv, ucols)
            total = float(end.max()) if n_runs else 0.0
            cap = check_capacity(trace.kv_tokens, meta, p.dram.capacity_bytes, weight_bytes)
            notes = [p.overflow_note(cap, share)] if cap.overflow_frame is not None else []
            out.append(SimResult(ops=pd.DataFrame(), leakage_w=p.leakage_w(), total_s=total, notes=notes,
                                 capacity=cap.as_dict(), phases=phases, unit_sums=usums,
                                 utilisation=_utilisation_of(p, usums, total), n_ops=len(ev), **base))
    clock.publish()
    return out


def _one_unit(unit_idx: np.ndarray, d_rows: Durations) -> bool:
    """Whether ``replay_trace`` takes its one-unit shortcut (every op on one unit, nothing on the channels)."""
    return (len(unit_idx) == 0 or bool((unit_idx == unit_idx[0]).all())) and not any(
        a.any() for a in (d_rows.read_s, d_rows.write_s, d_rows.link_read_s, d_rows.link_write_s))


STAGE_TIMES: dict[str, float] = {}  # CPU seconds per stage of evaluate_designs, accumulated (make bench)


class _StageClock:
    """CPU seconds per named stage (``with clock("name"):``), added to ``STAGE_TIMES`` by :meth:`publish`."""

    def __init__(self):
        self.times: dict[str, float] = {}

    def __call__(self, name: str):
        import contextlib
        import time

        @contextlib.contextmanager
        def block():
            c0 = time.process_time()
            try:
                yield
            finally:
                self.times[name] = self.times.get(name, 0.0) + time.process_time() - c0
        return block()

    def publish(self) -> None:
        for k, v in self.times.items():
            STAGE_TIMES[k] = STAGE_TIMES.get(k, 0.0) + v


def utilisation(p: Platform, compute_s_by_unit: pd.Series, dram_s: float, link_s: float, total_s: float
                ) -> dict[str, float]:
    """Busy share of the run for each compute unit (its summed compute time), DRAM and the offload link (their
    summed transfer time); units that only move KV are counted on the link."""
    if total_s <= 0:
        return {}
    movers = {u.name for u in p.units if set(u.kinds) <= set(TRANSFER_KINDS)}
    busy = compute_s_by_unit / total_s
    out = {u: float(v) for u, v in busy.items() if u not in movers}
    out["dram"] = float(dram_s / total_s)
    out["offload_link"] = float(link_s / total_s)
    return out


VOCABULARIES = {"phase": PHASES, "kind": KINDS, "kv_tier": TIERS}  # the trace's string columns' fixed values


def _categorical_strings(ev: pd.DataFrame) -> pd.DataFrame:
    """``ev`` with its phase, kind and tier columns as categoricals of their fixed vocabularies (the plan and the
    schedule factorize and compare them chunk after chunk: codes, not strings); a column with a value outside its
    vocabulary as numpy objects."""
    out = {}
    for c, vocab in VOCABULARIES.items():
        if c not in ev:
            continue
        codes, names = pd.factorize(ev[c])  # the distinct strings once (Arrow's dictionary encoding)
        where = {v: i for i, v in enumerate(vocab)}
        if len(names) and (codes >= 0).all() and all(n in where for n in names):
            fixed = np.asarray([where[n] for n in names], dtype=np.int8)[codes]
            cats = pd.Index(np.asarray(vocab, dtype=object), dtype=object)  # numpy-backed: cheap to take from
            out[c] = pd.Series(pd.Categorical.from_codes(fixed, categories=cats), index=ev.index)
        else:
            out[c] = pd.Series(ev[c].to_numpy(dtype=object), dtype=object, index=ev.index)
    return ev.assign(**out)


class ChunkedSim:
    """:func:`simulate` fed a stream chunk by chunk (:meth:`feed`, then :meth:`finish`), with memory bounded
    by a chunk: the result keeps per-phase sums (``SimResult.phases``) and per-unit sums
    (``SimResult.unit_sums``), not the ops (``SimResult.ops`` is empty). ``meta``: the trace's metadata
    (``StreamTracer.meta_preview()`` is enough); ``timeline``: a Parquet file the per-op timeline
    (``TIMELINE_COLUMNS``) is written to, chunk by chunk. The compiled replay only."""

    def __init__(self, meta: MetaLike, hw: AcceleratorConfig | GpuConfig | Platform, tech: TechTable | None = None,
                 *, timeline: str | Path | None = None):
        self.meta = meta = meta_record(meta)  # typed and validated once
        self.p = p = _platform(hw, tech, meta)
        self.weight_bytes = _weight_bytes(meta)
        self.room = p.dram.capacity_bytes - self.weight_bytes
        self.replay = ChunkReplay(p.n_executors, prefetch=p.prefetch)
        self.held_max, self.offload_tier_used, self.failed = 0.0, False, self.room < 0
        self.overflow_frame: int | None = None
        self.share_max = 0.0
        self.pending: tuple[pd.DataFrame, pd.DataFrame, np.ndarray] | None = None  # awaiting its times
        self.phases: list[pd.DataFrame] = []
        self.unit_sums: pd.DataFrame | None = None
        self.total_s, self.n_ops = 0.0, 0
        self.timeline = Path(timeline) if timeline is not None else None
        self._writer = None

    def feed(self, chunk: TraceChunk) -> None:
        """Cost and replay the next chunk (the previous chunk's ops are then final and aggregated)."""
        p, meta = self.p, self.meta
        ev = _categorical_strings(chunk.events)
        held = kv_bytes_held(chunk.kv_tokens, meta)
        if held.size:
            self.held_max = max(self.held_max, float(held.max()))
            over = np.flatnonzero(held > self.room)
            if over.size and self.overflow_frame is None:
                self.overflow_frame = int(chunk.kv_tokens["frame"].iloc[over[0]])
        self.offload_tier_used |= bool((ev["kv_tier"].to_numpy() == Tier.OFFLOAD).any())
        if not p.has_offload and (self.held_max > self.room or self.offload_tier_used):
            self.failed = True
        if self.failed or not len(ev):  # a point that cannot run: only its status is kept from here on
            return
        share = offload_share_per_op(ev, chunk.kv_tokens, meta, self.room)
        if len(share):
            self.share_max = max(self.share_max, float(share.max()))
        rows = _cost_rows(p, ev, share)
        inv = rows.inverse
        d_rows = p.durations(rows.table())
        unit_idx = np.asarray([p.executors[n] for n in rows.unit_names], dtype=np.int64)[rows.unit_codes[inv]]
        done = self.replay.feed(ev, Durations(*(getattr(d_rows, k)[inv] for k in Durations.__dataclass_fields__)),
                                unit_idx)
        self._close(done)
        self.pending = (ev[["phase", "frame", "question", "step", "layer", "op", "kind"]], rows, share)

    def _close(self, times: dict[str, np.ndarray] | None) -> None:
        """The pending chunk's ops with their final times: aggregated in one compiled pass
        (``replay.aggregate``: the figures of ``phase_sums``), and written to the timeline when asked."""
        if times is None or self.pending is None:
            return
        keys, rows, share = self.pending
        self.pending = None
        inv = rows.inverse
        run = run_ids(keys, list(PHASE_KEYS)) - 1
        n_runs = int(run[-1]) + 1
        start, end = op_spans(run, n_runs, times)
        cols = phase_sum_columns(rows.cols)
        sums = group_sums(run, n_runs, np.column_stack([rows.cols[c] for c in cols]), inv)
        self.phases.append(phase_frame(keys, np.flatnonzero(np.r_[True, run[1:] != run[:-1]]), sums, start, end,
                                       cols))
        ucols = _sum_columns(rows.cols)
        usums = _unit_sums(rows.unit_codes[inv], rows.unit_names, np.column_stack([rows.cols[c] for c in ucols]),
                           inv, ucols)
        self.unit_sums = usums if self.unit_sums is None else self.unit_sums.add(usums, fill_value=0.0)
        self.total_s = max(self.total_s, float(end.max()))
        self.n_ops += len(keys)
        if self.timeline is not None:
            ops = _ops_table(keys, rows.per_op(names_column), times, share)
            ops = ops.assign(**{c: ops[c].astype(object) for c in VOCABULARIES if c in ops})  # plain strings
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(ops[[c for c in TIMELINE_COLUMNS if c in ops]], preserve_index=False)
            if self._writer is None:  # written beside the output, renamed to it once complete (finish)
                self.timeline.parent.mkdir(parents=True, exist_ok=True)
                self._writer = pq.ParquetWriter(self._partial(), table.schema.remove_metadata(), compression="zstd")
            self._writer.write_table(table.cast(self._writer.schema))

    def finish(self) -> SimResult:
        """The run's result (aggregates only; see the class docstring)."""
        p = self.p
        base = _base(p)
        status = status_of(self.held_max, self.offload_tier_used, p.dram.capacity_bytes, self.weight_bytes,
                           p.has_offload)
        if status != "ok":
            self._close_writer(keep=False)  # no timeline for a point that cannot run
            return SimResult(ops=pd.DataFrame(), leakage_w=0.0, total_s=float("nan"), notes=[status], status=status,
                             **base)
        self._close(self.replay.finish())
        self._close_writer()
        cap = KvCapacity(self.room, self.held_max, self.overflow_frame,
                         None if self.overflow_frame is None else self.overflow_frame / self.meta.fps)
        notes = [] if cap.overflow_frame is None else [p.overflow_note(cap, np.array([self.share_max]))]
        phases = pd.concat(self.phases, ignore_index=True) if self.phases else phase_sums(pd.DataFrame())
        phases["phase"] = phases["phase"].astype("str")  # the trace's string dtype (fed as objects, see feed)
        unit_sums = self.unit_sums if self.unit_sums is not None else pd.DataFrame(columns=UNIT_SUM_COLUMNS)
        return SimResult(ops=pd.DataFrame(), leakage_w=p.leakage_w(), total_s=self.total_s, notes=notes,
                         capacity=cap.as_dict(), phases=phases,
                         utilisation=utilisation(p, unit_sums["compute_s"], unit_sums["dram_s"].sum(),
                                                 (unit_sums["link_read_s"] + unit_sums["link_write_s"]).sum(),
                                                 self.total_s),
                         unit_sums=unit_sums, n_ops=self.n_ops, **base)

    def _partial(self) -> Path:
        """The timeline while it is written: beside the output (a device or FIFO output: in the temporary
        directory; it is written into, never replaced, see simulator.safe_io)."""
        from simulator.safe_io import temporary_beside

        return temporary_beside(self.timeline)

    def _close_writer(self, keep: bool = True) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if keep:
                from simulator.safe_io import publish

                publish(self._partial(), self.timeline)
            else:
                self._partial().unlink()


def simulate_chunks(meta: MetaLike, chunks: Iterable[TraceChunk], hw: AcceleratorConfig | GpuConfig | Platform,
                    tech: TechTable | None = None, *, timeline: str | Path | None = None) -> SimResult:
    """:class:`ChunkedSim` over ``chunks`` (e.g. ``StreamTracer.chunks(n)``; ``meta`` its ``meta_preview()``)."""
    sim = ChunkedSim(meta, hw, tech, timeline=timeline)
    for chunk in chunks:
        sim.feed(chunk)
    return sim.finish()
