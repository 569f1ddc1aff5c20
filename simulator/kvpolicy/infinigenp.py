"""``infinigenp``: InfiniGen's speculative retrieval extended to frame processing (V-Rex's InfiniGenP).
See ``offloaded.py``. Default shares: the paper's measured read shares (V-Rex, arXiv 2512.12284)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.policies import InfinigenpParams
from simulator.kvpolicy.infinigen import InfinigenPolicy


@dataclass(frozen=True, kw_only=True)
class InfinigenpPolicy(InfinigenpParams, InfinigenPolicy):

    def selects(self, in_frame: bool) -> bool:
        return True
