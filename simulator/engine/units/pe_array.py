"""Matrix engine of one core: a systolic array or MAC trees (the LPU-style DPE of V-Rex).

All formulas are per core for GEMMs ``batch x [(m x k) @ (k x n)]``; the multi-core split is in
``multicore.py``.

Systolic, output stationary (OS): each R x C output tile accumulates over k; a tile takes
``k + R + C - 2`` cycles (k MACs per PE plus fill and drain of the skewed wavefront) and there are
``ceil(m/R) * ceil(n/C)`` tiles. Weight stationary (WS): each R x C tile of the (k x n) weights is
loaded (R cycles), then the m rows stream through (``m + R + C - 2``): ``ceil(k/R) * ceil(n/C)``
tiles of ``m + 2R + C - 2`` cycles. These are SCALE-Sim's fold formulas (Samajdar et al. 2018/2020).

MAC tree (LPU, Moon et al., IEEE Micro 2024; V-Rex DPE): T trees of W inputs. Each tree multiplies
W (activation, weight) pairs and reduces them through a ``log2 W``-level adder tree into an
accumulator, so one tree finishes W MACs of one output element per cycle. The T trees take T
output columns and share (broadcast) the same W-element slice of an activation row. A weight tile
of W x T elements sits at the tree inputs (double-buffered tile registers, so the next tile loads
while this one computes) while the m activation rows stream through, one per cycle:

    cycles = batch * ceil(n / T) * ceil(k / W) * m + fill,   fill = ceil(log2 W) + 2

(the fill is paid once per op: multiplier stage, adder levels, accumulator). A GEMV (m = 1) with
n >= T and k >= W keeps every tree busy every cycle; utilisation falls only where n < T or k < W
leave trees or inputs idle. Weights are read from SRAM once per op (each tile once, reused across
the m rows); activations once per output-column tile; outputs written once.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.config.hardware import PeArrayConfig
from simulator.config.tech import TechPoint
from simulator.engine.physical.area_model import matrix_engine


def ceil_div(a, b) -> np.ndarray:
    return -(-np.asarray(a, dtype=np.int64) // np.asarray(b, dtype=np.int64))


class PeArray:
    """One core's matrix engine: cycles, SRAM operand traffic, MAC energy and area."""

    def __init__(self, cfg: PeArrayConfig, clock_hz: float, tech: TechPoint):
        self.cfg = cfg
        self.clock_hz = clock_hz
        self.macs = cfg.macs
        self.peak_flops = 2.0 * self.macs * clock_hz  # per core
        self.area_mm2, self.mac_pj = matrix_engine(tech, cfg)  # per core; pJ per MAC (area_model.py)
        self.fill = math.ceil(math.log2(cfg.tree_inputs)) + 2 if cfg.kind == "mac_tree" else 0

    def cycles(self, batch, m, n, k) -> np.ndarray:
        """Cycles of GEMMs [batch x (m x k) @ (k x n)] on one core; zero where the shape is empty."""
        batch, m, n, k = (np.asarray(x, dtype=np.int64) for x in (batch, m, n, k))
        c = self.cfg
        if c.kind == "mac_tree":
            cyc = batch * ceil_div(n, c.trees) * ceil_div(k, c.tree_inputs) * m + self.fill
        elif c.dataflow == "output_stationary":
            cyc = batch * ceil_div(m, c.rows) * ceil_div(n, c.cols) * (k + c.rows + c.cols - 2)
        else:
            cyc = batch * ceil_div(k, c.rows) * ceil_div(n, c.cols) * (m + 2 * c.rows + c.cols - 2)
        return np.where((batch > 0) & (m > 0) & (n > 0) & (k > 0), cyc, 0)

    def operand_reads(self, batch, m, n, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Element counts read from SRAM for A (m x k), B (k x n) and written for C (m x n)."""
        batch, m, n, k = (np.asarray(x, dtype=np.int64) for x in (batch, m, n, k))
        c = self.cfg
        if c.kind == "mac_tree":
            return batch * m * k * ceil_div(n, c.trees), batch * k * n, batch * m * n
        if c.dataflow == "output_stationary":
            return batch * m * k * ceil_div(n, c.cols), batch * k * n * ceil_div(m, c.rows), batch * m * n
        # WS: partial sums leave the array once per k-fold
        return batch * m * k * ceil_div(n, c.cols), batch * k * n, batch * m * n * ceil_div(k, c.rows)
