"""SIMD vector / special-function unit: softmax, norms, elementwise ops, data movement."""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import VectorUnitConfig
from simulator.config.tech import TechPoint


class VectorUnit:
    def __init__(self, cfg: VectorUnitConfig, clock_hz: float, tech: TechPoint):
        self.cfg = cfg
        self.clock_hz = clock_hz
        self.ops_per_cycle = cfg.lanes * cfg.ops_per_lane_per_cycle
        self.peak_ops = self.ops_per_cycle * clock_hz
        self.op_pj = tech.vector_op_pj()
        self.area_mm2 = cfg.lanes * tech.vector_lane_mm2()

    def cycles(self, element_ops: np.ndarray) -> np.ndarray:
        return np.ceil(np.asarray(element_ops, dtype=np.float64) / self.ops_per_cycle)
