"""WTU, the WiCSum threshold unit of V-Rex's KVPU (one per core).

``wtu_cores`` cores each take one query row at a time (rows spread over all cores' WTUs). For a
row of C cluster scores a WTU core (1) bins every score into its bucket sorters while multiplying
it by the cluster's token count and accumulating the weighted sum Sum_i (C scores at ``wtu_lanes``
per cycle), then (2) walks the buckets from the highest down, accumulating Score x TC until the sum
passes Th_r x Sum_i, and exits early there. The walk's length is what ReSV measured
(``scores_processed`` of its ``wicsum`` ops: the scores in the buckets visited); without early exit
every bucket is walked. Each binned or walked score costs one WTU lane operation.
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import DreConfig
from simulator.config.tech import TechPoint
from simulator.engine.ops import OpArrays, UnitCost
from simulator.engine.physical.area_model import wtu_core
from simulator.engine.platform import Price


class Wtu:
    name = "wtu"
    block = "dre_wtu"  # its name in the area and power breakdown
    kinds = ("wicsum",)

    def __init__(self, cfg: DreConfig, clock_hz: float, tech: TechPoint, cores: int):
        self.cfg, self.clock_hz, self.cores = cfg, clock_hz, cores
        # MAC tree + bucket sorter (area_model.py); pJ per score
        core, self.pj = wtu_core(tech, cfg.wtu_lanes, cfg.wtu_buckets)
        self.area_mm2 = cfg.wtu_cores * core.area_mm2  # per core

    def work(self, ops: OpArrays, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, scores binned, scores walked) of each op."""
        rows = np.where(mask, np.maximum(ops["batch"], 1) * np.maximum(ops["m"], 1), 0).astype(np.float64)
        binned = rows * ops["candidates"]
        walked = np.minimum(ops["scores_processed"], binned) if self.cfg.early_exit else binned
        return rows, binned, np.where(mask, walked, 0.0)

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        rows, binned, walked = self.work(ops, mask)
        lanes = self.cfg.wtu_lanes
        per_row = np.ceil(ops["candidates"] / lanes) + np.ceil(np.divide(walked, rows, out=np.zeros_like(rows),
                                                                          where=rows > 0) / lanes)
        waves = np.ceil(rows / (self.cfg.wtu_cores * self.cores))  # rows each WTU core handles in turn
        cycles = np.where(mask, waves * per_row, 0.0)
        return UnitCost(cycles / self.clock_hz, {"wtu_score": binned + walked})

    def contract(self) -> dict[str, int]:
        """What the trace's selection must agree on with this WTU: the buckets its early exit walks."""
        return {"wtu_buckets": self.cfg.wtu_buckets}

    def peak_actions_per_cycle(self) -> dict[str, float]:
        """Every lane of every WTU core one score per cycle."""
        return {"wtu_score": float(self.cfg.wtu_cores * self.cfg.wtu_lanes)}

    def prices(self) -> dict[str, Price]:
        return {"wtu_score": Price("dre", self.pj, "base.wtu_score_energy_pj")}
