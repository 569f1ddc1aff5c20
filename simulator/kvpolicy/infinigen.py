"""``infinigen``: speculative KV retrieval in text generation (InfiniGen, Lee et al., OSDI 2024). See
``offloaded.py``. Default shares: the paper's measured read shares (V-Rex, arXiv 2512.12284)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.config.policies import InfinigenParams
from simulator.kvpolicy.offloaded import OffloadedPolicy


@dataclass(frozen=True, kw_only=True)
class InfinigenPolicy(InfinigenParams, OffloadedPolicy):
    scoring: ClassVar[str] = "partial"
    # snu-comparch/InfiniGen@3754f52d131c30ab7a310e3c4cf356e8e3326ac3, speedup/flexgen/infinigen/flex_opt.py:
    # the selected tokens are gathered on the host (select_kv, F.embedding over FlexGen's pageable KV home,
    # pytorch_backend.py:296-299) into a pinned prefetch buffer (pin_memory=True, line 361), then one copy for
    # K and one for V (lines 457-465). The host gather is the staging copy in series with the DMA: priced as
    # pageable (the pinned buffer saves the driver's bounce copy but not the gather)
    host_buffers: ClassVar[str] = "pageable"
    copies: ClassVar[str] = "transfer"
    copies_each: ClassVar[int] = 2

    def selects(self, in_frame: bool) -> bool:
        return not in_frame
