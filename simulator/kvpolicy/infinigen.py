"""``infinigen``: speculative KV retrieval in text generation (InfiniGen, Lee et al., OSDI 2024). See
``offloaded.py``. Default shares: the paper's measured read shares (V-Rex, arXiv 2512.12284).

GPU residency in InfiniGen's code (snu-comparch/InfiniGen@3754f52d131c30ab7a310e3c4cf356e8e3326ac3,
speedup/flexgen/infinigen/flex_opt.py): it is FlexGen with a speculation step, so its KV home is FlexGen's
``--percent`` placement (``Policy``, and ``init_cache_one_gpu_batch`` as in FlexGen); what it adds on the GPU is
the partial query weight and partial key cache of ``partial_weight_ratio`` of the dimensions (``SelfAttention``,
lines 269-290; default 0.2 there, ``--partial_weight_ratio``) and a prefetch buffer of at most ``max_num_kv``
tokens (line 269, default 400; ``alpha`` = 4 sets the speculation threshold). Modelled: the partial keys in
device memory (``partial_dim_ratio``) and every token's K/V in the offload tier (the V-Rex paper's setting). Not
modelled: InfiniGen with part of the cache on the GPU (FlexGen's ``cache_gpu_percent``, see ``flexgen.py``) and
the ``max_num_kv`` cap; a best-residency InfiniGen rung is therefore not in the ladder.
"""

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
