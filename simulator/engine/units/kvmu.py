"""KVMU, V-Rex's KV memory unit (one per core), and the DMA role it plays for every KV transfer.

It moves KV between the tiers (``kv_write`` / ``kv_read`` ops) and decides how many requests a
transfer takes:

- with the cluster-wise layout (``dre.kvmu``), each cluster's tokens are stored contiguously, so a
  fetch is one request per selected cluster run (``kv_runs`` in the trace);
- without it (tokens in arrival order), one request per contiguous run of selected tokens
  (``kv_token_runs``);
- an op whose trace gives no runs (0: a plain stream such as a whole-cache read) is one stream,
  split only by the offload device's largest request.

Prefetch (``dre.prefetch``) is a scheduling decision, see ``schedule.prefetch_order``. Generating
request addresses costs one cycle per request on the core's KVMU (spread over the cores).
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import DreConfig
from simulator.config.tech import TechPoint
from simulator.engine.ops import TRANSFER_KINDS, OpArrays, UnitCost
from simulator.engine.physical.area_model import kvmu
from simulator.engine.platform import Price


class Kvmu:
    name = "kvmu"
    block = "dre_kvmu"  # its name in the area and power breakdown
    kinds = TRANSFER_KINDS

    def __init__(self, cfg: DreConfig, clock_hz: float, tech: TechPoint, cores: int):
        self.cfg, self.clock_hz, self.cores = cfg, clock_hz, cores
        self.cluster_layout = cfg.enabled and cfg.kvmu
        logic = kvmu(tech)  # address generators + request queue (area_model.py)
        self.area_mm2 = logic.area_mm2 if cfg.enabled else 0.0  # per core
        self.request_pj = logic.pj if cfg.enabled else 0.0  # generating one request's address

    def requests(self, ops: OpArrays) -> np.ndarray:
        """Transfer requests per op (0 = one stream, to be split by the device's request size)."""
        return ops["kv_runs"] if self.cluster_layout else ops["kv_token_runs"]

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        cycles = np.where(mask, np.ceil(self.requests(ops) / self.cores), 0.0)
        return UnitCost(cycles / self.clock_hz, {"kvmu_request": np.where(mask, self.requests(ops), 0.0)})

    def peak_actions_per_cycle(self) -> dict[str, float]:
        """One request's address per cycle."""
        return {"kvmu_request": 1.0}

    def prices(self) -> dict[str, Price]:
        return {"kvmu_request": Price("dre", self.request_pj, "kvmu address generation (area_model.kvmu)")}
