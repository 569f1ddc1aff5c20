"""The offload tier (host memory or flash behind a link) used by KV policies that offload."""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import HostLinkConfig


class HostLink:
    def __init__(self, cfg: HostLinkConfig):
        self.cfg = cfg
        self.bytes_per_s = cfg.bandwidth_gbps * 1e9
        self.latency_s = cfg.latency_us * 1e-6
        self.capacity_bytes = cfg.capacity_gb * 2**30

    def transfer_s(self, nbytes: np.ndarray) -> np.ndarray:
        nbytes = np.asarray(nbytes, dtype=np.float64)
        return np.where(nbytes > 0, self.latency_s + nbytes / self.bytes_per_s, 0.0)

    def energy_pj(self, nbytes: np.ndarray) -> np.ndarray:
        return np.asarray(nbytes, dtype=np.float64) * 8 * self.cfg.energy_pj_per_bit
