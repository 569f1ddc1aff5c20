"""DRE: the dynamic KV-cache retrieval engine (bit-level scoring, early exit, top-k, clustering).

Retrieval scoring of C candidates of dimension d at b key bits is C*d*b lane bit-operations on
``bit_units x lanes_per_unit`` lanes resolving ``bits_per_cycle`` bits per cycle. With early exit, a
candidate stops after the bits it needed (``bits_needed_mean``, measured by the KV policy on real
tensors and carried in the trace), at the cost of one bound check per candidate and bit plane on the
early-exit units. Clustering similarities run on the clustering unit; the top-k/threshold unit
compares ``topk_per_cycle`` candidates per cycle. With the DRE disabled, scoring runs on the PE array
and clustering and selection on the vector unit.
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

    def bits_evaluated(self, score_bits: np.ndarray, bits_needed_mean: np.ndarray) -> np.ndarray:
        """Key bits evaluated per candidate: the measured early-exit mean, or all bits without early exit."""
        score_bits = np.asarray(score_bits, dtype=np.float64)
        needed = np.asarray(bits_needed_mean, dtype=np.float64)
        if not self.cfg.early_exit:
            return score_bits
        return np.where(needed > 0, np.minimum(needed, score_bits), score_bits)

    def bit_ops(self, macs: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Lane bit-operations of bit-serial scoring: one per MAC and evaluated key bit."""
        return np.asarray(macs, dtype=np.float64) * np.asarray(bits, dtype=np.float64)

    def cluster_cycles(self, element_ops: np.ndarray) -> np.ndarray:
        """Similarity element ops on the clustering unit's ``cluster_units x lanes_per_unit`` lanes."""
        return np.ceil(np.asarray(element_ops, dtype=np.float64) / (self.cfg.cluster_units * self.cfg.lanes_per_unit))

    def early_exit_checks(self, candidates: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Bound checks: one compare per candidate and evaluated bit plane (0 without early exit)."""
        if not self.cfg.early_exit:
            return np.zeros_like(np.asarray(candidates, dtype=np.float64))
        return np.asarray(candidates, dtype=np.float64) * np.asarray(bits, dtype=np.float64)

    def score_cycles(self, bit_ops: np.ndarray) -> np.ndarray:
        return np.ceil(np.asarray(bit_ops) / (self.lanes * self.cfg.bits_per_cycle))

    def compare_cycles(self, comparisons: np.ndarray, per_cycle: int) -> np.ndarray:
        return np.ceil(np.asarray(comparisons, dtype=np.float64) / per_cycle)
