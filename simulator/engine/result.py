"""What a hardware model returns: per-op timing and energy, area, and run-level facts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# "offload" is the offload tier (PCIe link + SSD or host memory); "dre" the HCU and WTU; "noc" the
# exchange between cores; "leakage" the static power (accelerator leakage, GPU idle, offload device idle)
ENERGY_PARTS = ("dpe", "sram", "dram", "offload", "vpe", "dre", "noc", "control", "leakage")


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


PHASE_KEYS = ["phase", "frame", "question", "step"]


PHASE_SUM_COLUMNS = [f"e_{p}_pj" for p in ENERGY_PARTS if p != "leakage"] + ["dram_bytes", "offload_bytes"]


def phase_sums(ops: pd.DataFrame) -> pd.DataFrame:
    """One row per phase instance (a run of consecutive ops with the same ``PHASE_KEYS``; phases do not
    interleave): its keys, summed dynamic energy (``e_<part>_pj``), DRAM and offload bytes, its first op's
    start and last op's end (s). Sums are added in op order (``replay.aggregate``: the same figures as the
    aggregate-only path, ``phase_frame``)."""
    from simulator.engine.replay.aggregate import group_spans, group_sums
    from simulator.engine.replay.schedule import run_ids

    if ops.empty:
        return phase_frame(ops, np.zeros(0, dtype=np.int64), np.zeros((0, len(PHASE_SUM_COLUMNS))), np.zeros(0),
                           np.zeros(0))
    run = run_ids(ops, PHASE_KEYS) - 1
    n_runs = int(run[-1]) + 1
    sums = group_sums(run, n_runs, ops[PHASE_SUM_COLUMNS].to_numpy(np.float64))
    start, end = group_spans(run, n_runs, ops["start_s"].to_numpy(np.float64), ops["end_s"].to_numpy(np.float64))
    first = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    return phase_frame(ops, first, sums, start, end)


def phase_frame(keys: pd.DataFrame, first: np.ndarray, sums: np.ndarray, start: np.ndarray, end: np.ndarray
                ) -> pd.DataFrame:
    """The :func:`phase_sums` table from its parts: the phase keys of rows ``first`` of ``keys`` (each phase
    instance's first op), ``sums`` (one column per ``PHASE_SUM_COLUMNS``), starts and ends (s)."""
    out = keys[PHASE_KEYS].iloc[first].reset_index(drop=True) if len(keys.columns) else pd.DataFrame(
        columns=PHASE_KEYS)
    cols = dict(zip(PHASE_SUM_COLUMNS, np.asarray(sums, dtype=np.float64).T))
    parts = PHASE_SUM_COLUMNS[:-2]
    new = {**{c: cols[c] for c in parts}, "end_s": end, "dram_bytes": cols["dram_bytes"],
           "offload_bytes": cols["offload_bytes"], "start_s": start}
    return pd.concat([out, pd.DataFrame(new)], axis=1)
