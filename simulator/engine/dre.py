"""DRE: the dynamic KV-cache retrieval engine (bit-level scoring, early exit, top-k, clustering).

Retrieval scoring of C candidates of dimension d at b key bits is C*d*b lane bit-operations on
``bit_units x lanes_per_unit`` lanes resolving ``bits_per_cycle`` bits per cycle. Early exit skips a
fraction of those bit-operations (measured by the KV policy on real tensors and carried in the trace;
until a policy provides it, nothing is skipped). With the DRE disabled, scoring runs on the PE array.
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import DreConfig
from simulator.config.tech import TechPoint


class Dre:
    def __init__(self, cfg: DreConfig, clock_hz: float, tech: TechPoint):
        self.cfg = cfg
        self.clock_hz = clock_hz
        self.lanes = cfg.bit_units * cfg.lanes_per_unit
        self.bit_op_pj = tech.dre_bit_op_pj()
        self.compare_pj = tech.dre_compare_pj()
        self.area_mm2 = (self.lanes * tech.dre_lane_mm2()
                         + (cfg.early_exit_units + cfg.topk_per_cycle + cfg.cluster_units) * tech.dre_compare_mm2())

    def bit_ops(self, macs: np.ndarray, key_bits: np.ndarray, skipped_fraction: np.ndarray | float = 0.0):
        skip = skipped_fraction if self.cfg.early_exit else 0.0
        return np.asarray(macs, dtype=np.float64) * np.asarray(key_bits, dtype=np.float64) * (1.0 - skip)

    def score_cycles(self, bit_ops: np.ndarray) -> np.ndarray:
        return np.ceil(np.asarray(bit_ops) / (self.lanes * self.cfg.bits_per_cycle))

    def compare_cycles(self, comparisons: np.ndarray, per_cycle: int) -> np.ndarray:
        return np.ceil(np.asarray(comparisons, dtype=np.float64) / per_cycle)
