"""``rekv``: frame-level KV retrieval for streaming video (ReKV, Di et al., ICLR 2025). See
``offloaded.py``. Default shares: the paper's measured read shares (vrex.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.config.schema import spec
from simulator.kvpolicy.offloaded import OffloadedPolicy


@dataclass(frozen=True, kw_only=True)
class RekvPolicy(OffloadedPolicy):
    summary: ClassVar[str] = (
        "ReKV: every token's K/V in the offload tier; the mean query scores each frame's mean key and the best "
        "`frame_share` / `text_share` of the frames are fetched, a frame per contiguous run")
    name: ClassVar[str] = "rekv"
    scoring: ClassVar[str] = "frame_mean"
    frame_share: float = spec("share of the cached frames read per step in frame processing (paper: 58.4%)",
                              gt=0, le=1, default=0.584)
    text_share: float = spec("share of the cached frames read per step in text generation (paper: 31.2%)",
                             gt=0, le=1, default=0.312)
