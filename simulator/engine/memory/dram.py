"""Off-chip DRAM: time and energy of transfers.

A transfer of B bytes takes ``latency + B / (peak x efficiency)`` seconds on the shared DRAM
(channels are interleaved, so one stream sees the aggregate bandwidth). Energy is per bit moved.
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import DramConfig
from simulator.config.tech import TechPoint


class Dram:
    def __init__(self, cfg: DramConfig, tech: TechPoint):
        self.cfg = cfg
        self.peak_bytes_per_s = cfg.bandwidth_gbps * 1e9
        self.bytes_per_s = self.peak_bytes_per_s * cfg.efficiency
        self.latency_s = cfg.latency_ns * 1e-9
        self.pj_per_bit = tech.dram_pj_per_bit(cfg.type)
        self.capacity_bytes = cfg.capacity_gib * 2**30

    def transfer_s(self, nbytes: np.ndarray) -> np.ndarray:
        """Seconds per transfer; zero bytes take no time (no access is made)."""
        nbytes = np.asarray(nbytes, dtype=np.float64)
        return np.where(nbytes > 0, self.latency_s + nbytes / self.bytes_per_s, 0.0)

    def energy_pj(self, nbytes: np.ndarray) -> np.ndarray:
        return np.asarray(nbytes, dtype=np.float64) * 8 * self.pj_per_bit
