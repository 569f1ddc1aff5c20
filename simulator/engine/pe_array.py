"""Systolic PE array: cycles and on-chip operand traffic of GEMMs, by dataflow.

Output stationary (OS): each R x C tile of the output accumulates over the k dimension; a tile takes
``k + R + C - 2`` cycles (k MACs per PE plus fill and drain of the skewed wavefront), and there are
``ceil(m/R) * ceil(n/C)`` tiles per GEMM.
Weight stationary (WS): each R x C tile of the (k x n) weight matrix is loaded (R cycles), then the m
rows stream through (``m + R + C - 2`` cycles); there are ``ceil(k/R) * ceil(n/C)`` tiles.
These are the fold formulas of analytical systolic models (SCALE-Sim's compute model, Samajdar et al.
2018/2020) without SRAM-bandwidth stalls, which the engine models separately.
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import PeArrayConfig
from simulator.config.tech import TechPoint


def _ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -(-a // b)


class PeArray:
    def __init__(self, cfg: PeArrayConfig, clock_hz: float, tech: TechPoint):
        self.cfg = cfg
        self.clock_hz = clock_hz
        self.macs = cfg.rows * cfg.cols
        self.peak_flops = 2.0 * self.macs * clock_hz
        self.mac_pj = tech.mac_pj(cfg.precision)
        self.area_mm2 = self.macs * tech.mac_mm2(cfg.precision)

    def cycles(self, batch: np.ndarray, m: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Cycles of GEMMs [batch x (m x k) @ (k x n)]; zero where the shape is empty."""
        r, c = self.cfg.rows, self.cfg.cols
        batch, m, n, k = (np.asarray(x, dtype=np.int64) for x in (batch, m, n, k))
        if self.cfg.dataflow == "output_stationary":
            tiles = _ceil_div(m, r) * _ceil_div(n, c)
            per_tile = k + r + c - 2
        else:
            tiles = _ceil_div(k, r) * _ceil_div(n, c)
            per_tile = m + 2 * r + c - 2
        cyc = batch * tiles * per_tile
        return np.where((m > 0) & (n > 0) & (k > 0), cyc, 0)

    def operand_reads(self, batch, m, n, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Element counts read from SRAM for A (m x k), B (k x n) and written for C (m x n)."""
        r, c = self.cfg.rows, self.cfg.cols
        batch, m, n, k = (np.asarray(x, dtype=np.int64) for x in (batch, m, n, k))
        if self.cfg.dataflow == "output_stationary":
            a = batch * m * k * _ceil_div(n, c)
            b = batch * k * n * _ceil_div(m, r)
            out = batch * m * n
        else:
            a = batch * m * k * _ceil_div(n, c)
            b = batch * k * n
            out = batch * m * n * _ceil_div(k, r)  # partial sums leave the array once per k-fold
        return a, b, out
