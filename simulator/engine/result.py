"""What a hardware model returns: per-op timing and energy, area, and run-level facts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.tracer.events import PHASE_KEYS

# The named energy parts. "offload" is the offload tier (PCIe link + SSD or host memory); "dre" the HCU, WTU
# and KVMU; "noc" the exchange between cores; "leakage" the static power (accelerator leakage, GPU idle,
# offload device idle), a rate charged over time. A unit may price its actions in a part of its own: a
# platform's parts are these and its units' (``Platform.energy_parts``).
ENERGY_PARTS = ("dpe", "sram", "dram", "offload", "vpe", "dre", "noc", "control", "leakage")
STATIC_PART = "leakage"
DYNAMIC_PARTS = tuple(p for p in ENERGY_PARTS if p != STATIC_PART)

# One naming scheme for energy (docs/architecture.md, "Energy names"): a column's name carries its part and its
# unit. In the engine (its per-op, per-unit and per-phase-instance tables) a part's dynamic energy is
# ``e_<part>_pj`` (pJ, the engine's unit); in the results, per phase, it is ``energy_<part>_j`` (J: the phase
# table, the report's energy breakdown). The names are built and parsed by the four functions below and nowhere
# else (tests/engine/test_result.py checks).
OP_ENERGY = ("e_", "_pj")  # (prefix, suffix) of a per-op energy column, pJ
PHASE_ENERGY = ("energy_", "_j")  # (prefix, suffix) of a per-phase energy column, J


def _parts(columns, scheme: tuple[str, str]) -> list[str]:
    pre, suf = scheme
    return [c[len(pre):-len(suf)] for c in columns if c.startswith(pre) and c.endswith(suf)
            and len(c) > len(pre) + len(suf)]


def op_energy_col(part: str) -> str:
    """The per-op column of a part's dynamic energy (pJ)."""
    return OP_ENERGY[0] + part + OP_ENERGY[1]


def phase_energy_col(part: str) -> str:
    """The per-phase column of a part's energy (J)."""
    return PHASE_ENERGY[0] + part + PHASE_ENERGY[1]


def op_energy_parts(columns) -> list[str]:
    """The energy parts of a per-op table's ``e_<part>_pj`` columns, in column order."""
    return _parts(columns, OP_ENERGY)


def phase_energy_parts(columns) -> list[str]:
    """The energy parts of a per-phase table's ``energy_<part>_j`` columns, in column order (the run total
    ``energy_j`` has no part and is not one)."""
    return _parts(columns, PHASE_ENERGY)


@dataclass(frozen=True)
class BlockCharge:
    """What a block of the chip is charged in the run's power (``results.metrics.chip_blocks``): the ops'
    energy in ``part`` (None: none, leakage only), of the ops of ``unit`` only, or (``unit`` None) of every
    op but those of the units in ``excluding`` (the blocks that share the part)."""

    part: str | None
    unit: str | None = None
    excluding: tuple[str, ...] = ()


@dataclass
class SimResult:
    """Per-op results (``ops``: one row per trace event, same order) and run totals.

    ``ops`` columns: trace keys (phase, frame, question, step, layer, op, kind), ``unit``,
    ``start_s``/``end_s`` (simulated time), ``compute_s``, ``mem_s`` (DRAM + host transfer time),
    ``dram_bytes``, ``offload_bytes``, ``bound`` (compute | bandwidth | capacity: after the KV cache
outgrew DRAM) and ``e_<part>_pj`` for each
    dynamic energy part. Leakage is a rate (``leakage_w``) charged over time by the metrics.
    """

    hardware: str
    kind: str  # accelerator | gpu
    ops: pd.DataFrame
    area_mm2: dict[str, float]
    leakage_w: float
    total_s: float
    notes: list[str] = field(default_factory=list)
    capacity: dict = field(default_factory=dict)
    utilisation: dict[str, float] = field(default_factory=dict)  # busy share of the run per unit
    area_per_core_mm2: dict[str, float] = field(default_factory=dict)  # accelerator blocks of one core
    peak_tflops: float = 0.0  # dense peak at the matrix precision (whole chip)
    cores: int = 1
    leakage_mw_per_mm2: float = 0.0  # on-chip leakage density (accelerator)
    peak_power_per_core_w: dict[str, float] = field(default_factory=dict)  # blocks at rated activity (peak_power.py)
    block_charges: dict[str, BlockCharge] = field(default_factory=dict)  # accelerator blocks: their energy part
    system_peak_w: dict[str, float] = field(default_factory=dict)  # chip, DRAM, link, offload device (physical/io.py)
    io_area_mm2: dict[str, float] = field(default_factory=dict)  # DRAM and PCIe PHYs on the die (physical/io.py)
    assumptions: list[dict] = field(default_factory=list)  # table entries the numbers rest on (Platform.assumptions)
    status: str = "ok"  # "ok", or why the point cannot run (e.g. "out of memory"): then ``ops`` is empty
    # a stream replayed in chunks (``simulate.ChunkedSim``) keeps aggregates instead of ``ops`` (then empty):
    phases: pd.DataFrame | None = None  # phase_sums of every phase instance, in order
    unit_sums: pd.DataFrame | None = None  # per unit: summed compute_s, dram_s, link_*_s and e_<part>_pj
    n_ops: int = 0  # ops replayed

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def phase_sum_columns(columns) -> list[str]:
    """The columns a phase instance sums: every ``e_<part>_pj`` the per-op table (or cost columns) holds, in
    their order (a registered unit may add a part), then DRAM and offload bytes."""
    return [op_energy_col(p) for p in (op_energy_parts(columns) or DYNAMIC_PARTS)] + ["dram_bytes", "offload_bytes"]


def phase_sums(ops: pd.DataFrame) -> pd.DataFrame:
    """One row per phase instance (a run of consecutive ops with the same ``PHASE_KEYS``; phases do not
    interleave): its keys, summed dynamic energy (``e_<part>_pj``: the table's own parts), DRAM and offload
    bytes, its first op's start and last op's end (s). Sums are added in op order (``replay.aggregate``: the
    same figures as the aggregate-only path, ``phase_frame``)."""
    from simulator.engine.replay.aggregate import group_spans, group_sums
    from simulator.engine.replay.schedule import run_ids

    cols = phase_sum_columns(ops.columns)
    if ops.empty:
        return phase_frame(ops, np.zeros(0, dtype=np.int64), np.zeros((0, len(cols))), np.zeros(0), np.zeros(0),
                           cols)
    run = run_ids(ops, list(PHASE_KEYS)) - 1
    n_runs = int(run[-1]) + 1
    sums = group_sums(run, n_runs, ops[cols].to_numpy(np.float64))
    start, end = group_spans(run, n_runs, ops["start_s"].to_numpy(np.float64), ops["end_s"].to_numpy(np.float64))
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    return phase_frame(ops, first, sums, start, end, cols)


def phase_frame(keys: pd.DataFrame, first: np.ndarray, sums: np.ndarray, start: np.ndarray, end: np.ndarray,
                columns: list[str]) -> pd.DataFrame:
    """The :func:`phase_sums` table from its parts: the phase keys of rows ``first`` of ``keys`` (each phase
    instance's first op), ``sums`` (one column per ``columns``, from :func:`phase_sum_columns`), starts and
    ends (s)."""
    out = keys[list(PHASE_KEYS)].iloc[first].reset_index(drop=True) if len(keys.columns) else pd.DataFrame(
        columns=list(PHASE_KEYS))
    cols = dict(zip(columns, np.asarray(sums, dtype=np.float64).T))
    parts = columns[:-2]
    new = {**{c: cols.get(c, np.zeros(len(first))) for c in parts}, "end_s": end,
           "dram_bytes": cols.get("dram_bytes", np.zeros(len(first))),
           "offload_bytes": cols.get("offload_bytes", np.zeros(len(first))), "start_s": start}
    return pd.concat([out, pd.DataFrame(new)], axis=1)
