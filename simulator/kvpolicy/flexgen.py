"""``flexgen``: the whole KV cache in the offload tier, streamed back for every attention step (FlexGen,
Sheng et al., ICML 2023; V-Rex's reference baseline). See ``offloaded.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.kvpolicy.offloaded import OffloadedPolicy


@dataclass(frozen=True, kw_only=True)
class FlexgenPolicy(OffloadedPolicy):
    summary: ClassVar[str] = (
        "FlexGen: every token's K/V in the offload tier; each layer streams the whole cache back (one run), "
        "one layer ahead")
    name: ClassVar[str] = "flexgen"
    scoring: ClassVar[str] = "none"
    # FMInference/FlexLLMGen@004ffef82b46e8dc8685c55d0cdda650bdaf1269, flexllmgen/pytorch_backend.py:
    # init_cache_one_gpu_batch allocates the host KV cache with pin_memory=False (lines 292-295); general_copy
    # from an unpinned CPU tensor pins a copy (src.pin_memory()) and issues one copy_ (lines 846-850); GPU to
    # unpinned CPU is relayed through a pinned buffer by copy threads. flexllmgen/flex_opt.py load_cache /
    # store_cache: one general_copy for K and one for V per layer (lines 397-398, 421-422)
    host_buffers: ClassVar[str] = "pageable"
    copies: ClassVar[str] = "transfer"
    copies_each: ClassVar[int] = 2
