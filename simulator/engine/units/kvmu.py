"""KVMU, V-Rex's KV memory unit (one per core), and the DMA role it plays for every KV transfer.

It moves KV between the tiers (``kv_write`` / ``kv_read`` ops) and decides how many requests a
transfer takes:

- with the cluster-wise layout (``dre.kvmu``), each cluster's tokens are stored contiguously, so a
  fetch is one request per selected cluster run (``kv_runs`` in the trace);
- without it (tokens in arrival order), one request per contiguous run of selected tokens
  (``kv_token_runs``);
- an op whose trace gives no runs (0: a plain stream such as a whole-cache read) is one stream,
  split only by the offload device's largest request.

How the KV sits on the offload tier (``dre.offload_layout``, open in the paper) and whether the KVMU
merges reads of adjacent addresses (``dre.merge_requests``) set the requests of those runs:

- ``head_rows`` (a row per layer and KV head, tokens one after another; the default): the runs above;
- ``token_rows`` (a row per token holding every KV head, as PyTorch stores a ``[tokens, heads, dim]`` cache):
  when every KV head selects the same tokens (ReSV with ``cluster_scope: shared``, or a whole-cache read), a
  run's rows hold all heads' slices side by side, so one request serves the layer's KV heads (each head's op
  carries 1/heads of it); when heads select apart (per-KV-head clusters), a head's slices are strided by the
  other heads' and each selected token is its own request;
- without merging, every token of a KV head is its own request whatever the layout (a loader that reads
  token by token). Merging never adds requests (a run holds at least one token).

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

    geometry: tuple[float, int, bool] | None = None  # (bytes per token and KV head, KV heads, heads share tokens)

    def for_trace(self, meta: dict) -> None:
        """The trace's KV geometry (what ``offload_layout`` and ``merge_requests`` need)."""
        bits = meta.get("kv_bits_stored") or meta["precision_bits"]["kv"]
        params = meta.get("kv_policy_params") or {}
        shared = params.get("cluster_scope") == "shared" or meta.get("kv_policy") in WHOLE_CACHE_POLICIES
        self.geometry = (2 * meta["head_dim"] * bits / 8, int(meta["kv_heads"]), shared)

    def requests(self, ops: OpArrays) -> np.ndarray:
        """Transfer requests per op (0 = one stream, to be split by the device's request size)."""
        runs = ops["kv_runs"] if self.cluster_layout else ops["kv_token_runs"]
        return layout_requests(runs, ops["bytes_kv_read"] + ops["bytes_kv_write"], self.cfg.offload_layout,
                               self.cfg.merge_requests, self.geometry)

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        cycles = np.where(mask, np.ceil(self.requests(ops) / self.cores), 0.0)
        return UnitCost(cycles / self.clock_hz, {"kvmu_request": np.where(mask, self.requests(ops), 0.0)})

    def prices(self) -> dict[str, Price]:
        return {"kvmu_request": Price("dre", self.request_pj, "kvmu address generation (area_model.kvmu)")}


# policies whose KV reads cover every KV head's same tokens (the whole cache)
WHOLE_CACHE_POLICIES = ("flexgen", "full")


def layout_requests(runs, nbytes, layout: str, merge: bool, geometry: tuple[float, int, bool] | None
                    ) -> np.ndarray:
    """Requests per KV transfer op of one KV head: ``runs`` contiguous runs (0: one stream) of ``nbytes`` bytes
    in the offload ``layout`` (see the module docstring); ``geometry``: (bytes per token and KV head, KV heads,
    whether the heads select the same tokens), from the trace (:meth:`Kvmu.for_trace`)."""
    runs = np.asarray(runs, dtype=np.float64)
    if layout == "head_rows" and merge:
        return runs
    if geometry is None:
        raise ValueError(f"offload_layout {layout!r} with merge_requests {merge}: the KVMU needs the trace's KV "
                         "geometry (Kvmu.for_trace)")
    token_bytes, heads, shared = geometry
    tokens = np.where(np.asarray(nbytes, dtype=np.float64) > 0,
                      np.ceil(np.asarray(nbytes, dtype=np.float64) / token_bytes), 0.0)
    if not merge:
        return tokens
    # token rows, merged: the heads' slices of a run sit side by side when the heads select the same tokens
    return runs / heads if shared else tokens
