"""KV memory hierarchy: where the cache lives and when it outgrows its tier.

Tiers: the on-chip KV buffer (hot clusters), DRAM (shared with the weights) and the host/flash
tier behind a link. The tracer says which tier each KV access uses (``kv_tier``); this module checks
capacity: the KV bytes held after each phase against the DRAM left once the weights are resident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.tracer.events import Tier
from simulator.tracer.trace_file import MetaLike, meta_record


@dataclass
class KvCapacity:
    dram_for_kv_bytes: float
    peak_kv_bytes: float
    overflow_frame: int | None  # first frame after which the KV no longer fits DRAM (None: it fits)
    overflow_time_s: float | None

    def as_dict(self) -> dict:
        return {"dram_for_kv_gb": self.dram_for_kv_bytes / 2**30, "peak_kv_gb": self.peak_kv_bytes / 2**30,
                "overflow_frame": self.overflow_frame, "overflow_time_s": self.overflow_time_s}


def kv_bytes_held(kv_tokens: pd.DataFrame | None, meta: MetaLike, column: str = "kv_slots_all_layers") -> np.ndarray:
    """Bytes of KV held in all layers after each recorded phase (same rows as ``kv_tokens``): in device memory,
    or with ``column="offload_slots_all_layers"`` in the offload tier."""
    if kv_tokens is None or len(kv_tokens) == 0:
        return np.zeros(0)
    rec = meta_record(meta)
    # a quantising policy stores fewer bits (traces before schema 3 may not say: their elements' bits)
    bits = rec.kv_bits_stored if rec.kv_bits_stored is not None else rec.precision_bits.kv
    per_slot = 2 * rec.kv_heads * rec.head_dim * bits / 8 * rec.batch
    return kv_tokens[column].to_numpy(dtype=np.float64) * per_slot


def check_capacity(kv_tokens: pd.DataFrame | None, meta: MetaLike, dram_capacity_bytes: float,
                   weight_bytes: float) -> KvCapacity:
    held = kv_bytes_held(kv_tokens, meta)
    room = dram_capacity_bytes - weight_bytes
    peak = float(held.max()) if held.size else 0.0
    over = np.flatnonzero(held > room)
    if over.size:
        frame = int(kv_tokens["frame"].iloc[over[0]])
        return KvCapacity(room, peak, frame, frame / meta_record(meta).fps)
    return KvCapacity(room, peak, None, None)


def offload_share_per_op(ev: pd.DataFrame, kv_tokens: pd.DataFrame | None, meta: MetaLike, room_bytes: float
                      ) -> np.ndarray:
    """Capacity-triggered eviction: share of the held KV that lives in the offload tier (SSD or host memory),
    for each op.

    Once the KV held exceeds the DRAM left after the weights, the oldest KV is evicted to the offload
    tier; a read of the whole cache then finds that share of its bytes there. The share per frame is
    taken after that frame's phases (question phases carry the frame they follow).
    """
    held = kv_bytes_held(kv_tokens, meta)
    if held.size == 0 or held.max() <= room_bytes:
        return np.zeros(len(ev))
    share = np.where(held > 0, np.maximum(held - room_bytes, 0.0) / np.maximum(held, 1.0), 0.0)
    by_frame = pd.Series(share).groupby(kv_tokens["frame"].to_numpy()).max()
    return ev["frame"].map(by_frame).fillna(0.0).to_numpy(dtype=np.float64)


def run_status(ev: pd.DataFrame, kv_tokens: pd.DataFrame | None, meta: MetaLike, dram_capacity_bytes: float,
               weight_bytes: float, has_offload: bool) -> str:
    """"ok", or why the point cannot run on this platform: the weights alone do not fit DRAM, the KV outgrows
    DRAM with no offload tier to evict it to (out of memory), or the policy offloads KV and there is none."""
    held = kv_bytes_held(kv_tokens, meta)
    return status_of(float(held.max()) if held.size else 0.0, bool((ev["kv_tier"].to_numpy() == Tier.OFFLOAD).any()),
                     dram_capacity_bytes, weight_bytes, has_offload)


def status_of(held_max_bytes: float, offload_tier_used: bool, dram_capacity_bytes: float, weight_bytes: float,
              has_offload: bool) -> str:
    """:func:`run_status` from the run's aggregates: the most KV held (bytes) and whether any op uses the
    offload tier (a stream replayed in chunks keeps these, not the events)."""
    room = dram_capacity_bytes - weight_bytes
    if room < 0:
        return (f"out of memory: the weights ({weight_bytes / 2**30:.1f} GiB) exceed DRAM "
                f"({dram_capacity_bytes / 2**30:.1f} GiB)")
    if has_offload:
        return "ok"
    if held_max_bytes > room:
        return (f"out of memory: the KV cache reaches {held_max_bytes / 2**30:.2f} GiB, DRAM holds "
                f"{room / 2**30:.2f} GiB beside the weights, and there is no offload tier")
    if offload_tier_used:
        return "not runnable: the KV policy offloads KV but the platform has no offload tier"
    return "ok"
