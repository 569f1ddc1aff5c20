"""``infinigenp``: InfiniGen's speculative retrieval extended to frame processing (V-Rex's InfiniGenP).
See ``offloaded.py``. Default shares: the paper's measured read shares (V-Rex, arXiv 2512.12284)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.config.schema import spec
from simulator.kvpolicy.infinigen import InfinigenPolicy


@dataclass(frozen=True, kw_only=True)
class InfinigenpPolicy(InfinigenPolicy):
    summary: ClassVar[str] = (
        "InfiniGenP: InfiniGen's speculative token retrieval in frame processing too (`frame_share`)")
    name: ClassVar[str] = "infinigenp"
    frame_share: float = spec("share of the cached tokens read per step in frame processing (paper: 50.8%)",
                              gt=0, le=1, default=0.508)

    def selects(self, in_frame: bool) -> bool:
        return True
