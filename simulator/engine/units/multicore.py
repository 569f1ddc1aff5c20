"""How one op is spread over the cores of a multi-core accelerator, and what the cores exchange.

The cores work in lock step, op after op:

- a matrix op is split over ``c <= N`` cores along one of three dimensions, whichever (c and
  dimension) finishes first, exchange included: ``batch`` (independent GEMMs: heads x streams),
  ``n`` (output columns: each core streams ``1/c`` of every weight matrix) or ``k`` (the reduction:
  each core produces a partial sum of the whole output). Each core gets ``ceil(dim / c)`` of the
  split dimension; a small op may stay on one core (no exchange). Cores left out of an op idle;
  the all-gather is among the cores that took part (first order: the others are assumed to pick
  the output up with the next exchange, off the critical path);
- after a batch or n split, the cores all-gather the output (each receives ``(N-1)/N`` of it) so
  that every core holds the next op's full input; after a k split they reduce the partial sums and
  then all-gather (``2 (N-1)/N`` of the output per core). The exchange runs over the NoC at
  ``noc.bandwidth_gbps`` per core plus ``noc.latency_ns`` per synchronisation and is on the critical
  path (it is added to the op's compute time);
- vector, HCU and WTU work is divided evenly (``1/N`` of the elements, rows or comparisons per
  core) and needs no exchange of its own: its results travel with the next matrix op's all-gather.

DRAM and the offload link are shared: the cores together move the op's bytes once, so an op bound
by weight streaming does not get faster with more cores, while a compute-bound op scales close
to ``1/N``.
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import NocConfig
from simulator.config.tech import TechPoint
from simulator.engine.units.pe_array import PeArray, ceil_div


class Noc:
    def __init__(self, cfg: NocConfig | None, cores: int, tech: TechPoint):
        self.cores = cores
        self.bytes_per_s = cfg.bandwidth_gbps * 1e9 if cfg is not None else float("inf")
        self.latency_s = cfg.latency_ns * 1e-9 if cfg is not None else 0.0
        self.pj_per_bit = tech.noc_pj_per_bit()

    def exchange_s(self, bytes_per_core: np.ndarray) -> np.ndarray:
        b = np.asarray(bytes_per_core, dtype=np.float64)
        return np.where(b > 0, self.latency_s + b / self.bytes_per_s, 0.0)


def split_matrix(pe: PeArray, noc: Noc, clock_hz: float, batch, m, n, k, out_bytes
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-op (compute seconds on the slowest core, NoC seconds, NoC bytes in total) for up to N cores.

    Each op takes the best of every split over ``c <= N`` cores (``c = 1``: one core, no exchange), so
    adding cores never makes an op slower; the cores left out idle for that op.
    """
    batch, m, n, k = (np.asarray(x, dtype=np.int64) for x in (batch, m, n, k))
    out_bytes = np.asarray(out_bytes, dtype=np.float64)
    best_t = pe.cycles(batch, m, n, k) / clock_hz
    best_noc = np.zeros(len(m))
    best_bytes = np.zeros(len(m))
    for c in range(2, noc.cores + 1):
        gather = out_bytes * (c - 1) / c
        for cyc, per_core in ((pe.cycles(ceil_div(batch, c), m, n, k), gather),
                              (pe.cycles(batch, m, ceil_div(n, c), k), gather),
                              (pe.cycles(batch, m, n, ceil_div(k, c)), 2 * gather)):
            t_noc = noc.exchange_s(per_core)
            better = cyc / clock_hz + t_noc < best_t + best_noc
            best_t = np.where(better, cyc / clock_hz, best_t)
            best_noc = np.where(better, t_noc, best_noc)
            best_bytes = np.where(better, per_core * c, best_bytes)
    return best_t, best_noc, best_bytes
