"""``rekv``: frame-level KV retrieval for streaming video (ReKV, Di et al., ICLR 2025). See
``offloaded.py``. Default shares: the paper's measured read shares (V-Rex, arXiv 2512.12284).

GPU residency in ReKV's code (Becomebright/ReKV@63793f752be2a20bcc0ce24a213e9a1cffadb98c,
model/attention/kv_cache_manager.py): a local window of the ``n_local`` most recent tokens and ``n_init`` initial
tokens stay on the GPU (lines 192-206, 417; ``n_local`` 4000 for Flash-VStream, model/flash_vstream_rekv.py:141,
and the caller's choice for LLaVA-OneVision, model/llava_onevision_rekv.py:110), older blocks go to the CPU, and
up to ``max_cached_block`` recently loaded blocks per unit are kept on the GPU (lines 223-236, 362-371). Not
modelled: the local window and the block cache (every retrieved frame crosses PCIe, as the V-Rex paper's setup
states ReKV's read share over the whole cache); a best-residency ReKV rung is therefore not in the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.config.policies import RekvParams
from simulator.kvpolicy.offloaded import OffloadedPolicy


@dataclass(frozen=True, kw_only=True)
class RekvPolicy(RekvParams, OffloadedPolicy):
    scoring: ClassVar[str] = "frame_mean"
    # Becomebright/ReKV@63793f752be2a20bcc0ce24a213e9a1cffadb98c, model/attention/kv_cache_manager.py: each block
    # (a frame: block_size = n_frame_tokens, model/llava_onevision_rekv.py:121) is a MemoryUnit on the CPU with
    # pin_memory=False (line 39; rekv_attention.py:14); MemoryUnit.load issues copy_ for K and for V per block
    # (lines 84-85) and retrieved blocks are loaded one by one (lines 383-387), not merged. Its GPU cache of
    # recently loaded blocks (max_cached_block) is not modelled: every retrieved block crosses PCIe (docstring)
    host_buffers: ClassVar[str] = "pageable"
    copies: ClassVar[str] = "run"
    copies_each: ClassVar[int] = 2
