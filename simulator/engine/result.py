"""What a hardware model returns: per-op timing and energy, area, and run-level facts."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    assumptions: list[dict] = field(default_factory=list)  # table entries the numbers rest on (Platform.assumptions)
    status: str = "ok"  # "ok", or why the point cannot run (e.g. "out of memory"): then ``ops`` is empty

    @property
    def ok(self) -> bool:
        return self.status == "ok"
