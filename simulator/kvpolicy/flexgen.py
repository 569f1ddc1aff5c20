"""``flexgen``: FlexGen (Sheng et al., ICML 2023; V-Rex's reference baseline) with its KV placement.

FlexGen's ``--percent`` places weights, KV cache and activations on GPU / CPU / disk by percentages
(FMInference/FlexLLMGen@004ffef82b46e8dc8685c55d0cdda650bdaf1269, flexllmgen/flex_opt.py: ``Policy``,
lines 33-79; the flag, lines 1291-1299). Modelled here: the KV cache's share on the GPU,
``cache_gpu_percent``; the rest of the cache lives in the platform's one offload tier (FlexGen's "disk" on the
Orin's NVMe SSD, its "CPU" on the A100's host memory; on a Jetson the CPU's memory *is* the GPU's DRAM).
Weights and activations stay on the GPU (``--percent 100 0 <cache> .. 100 0``); not modelled yet: weights or
activations off the GPU. How FlexGen's code places and moves them (same commit, flexllmgen/flex_opt.py):
``init_weight_list`` (lines 92-130) gives each of a layer's weight tensors one home, by where the midpoint of
its bytes falls in the layer's cumulative size against ``w_disk / w_cpu / w_gpu`` percent, so a layer's
off-GPU share is whole tensors; ``load_weight`` (lines 309-318 for attention, 497-507 for the MLP) copies every
tensor to the GPU with ``smart_copy`` on the weight stream, one layer ahead (``OptLM.load_weight``, lines
653-666), every step: an off-GPU weight crosses the link once per layer per step for the whole batch, where an
off-GPU sequence's KV crosses once per layer per step per sequence. Activations have one home (lines 608-615:
``act_gpu_percent`` 100, or CPU or disk 100; a split raises ``NotImplementedError``); at 10 tokens per frame a
layer's hidden state is 80 KB per sequence, negligible either way. Where the weights' share would matter: once
the KV no longer fits, bytes moved per step are about weights + KV - GPU memory whatever the split, so the
only gain is the whole-sequence granularity of the cache. At 40K x batch 4 on the Orin 32 GB (alpha_g 0.8 of
32 GiB = 27.5 GB; 15.7 GB of weights, 5.3 GB of KV per sequence: two of four sequences fit), ``best_placement``'s
own arithmetic gives 10.6 GB streamed per step with two sequences on the GPU, 9.8 GB with three and 4.5 GB of
weights off the GPU (7% fewer), 10.0 GB with four and 10.0 GB of weights off: an estimate, not a simulated point.

FlexGen's mixed cache splits the ``gpu_batch_size x num_head`` axis and rounds the GPU's share down to a
multiple of ``num_head`` (flexllmgen/pytorch_backend.py: ``TorchMixedDevice.init_cache_one_gpu_batch``,
lines 738-754 of the file, ``SEG_DIM = 1``): whole sequences of the batch live on the GPU, so at batch 1 the
cache is either all on the GPU or all offloaded. ``cache_gpu_percent = 0`` is the V-Rex paper's setting (every
token's K/V in the offload tier, streamed back one run per layer; ``offloaded.py``), 100 keeps every sequence in
device DRAM and attends to it there, as policy ``full`` does (the tests check both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from simulator.config.policies import FlexgenParams
from simulator.kvpolicy.base import CacheSpec
from simulator.kvpolicy.offloaded import OffloadedPolicy


def gpu_sequences(batch: int, cache_gpu_percent: float) -> int:
    """Sequences of a batch whose KV FlexGen's mixed cache keeps on the GPU: the GPU's share of the
    ``batch x num_head`` rows, rounded down to whole sequences (``int(rows * p / 100) // num_head``)."""
    return math.floor(batch * cache_gpu_percent / 100 + 1e-9)


@dataclass(frozen=True, kw_only=True)
class FlexgenPolicy(FlexgenParams, OffloadedPolicy):
    scoring: ClassVar[str] = "none"
    # FMInference/FlexLLMGen@004ffef82b46e8dc8685c55d0cdda650bdaf1269, flexllmgen/pytorch_backend.py:
    # init_cache_one_gpu_batch allocates the host KV cache with pin_memory=False (lines 292-295); general_copy
    # from an unpinned CPU tensor pins a copy (src.pin_memory()) and issues one copy_ (lines 846-850); GPU to
    # unpinned CPU is relayed through a pinned buffer by copy threads. flexllmgen/flex_opt.py load_cache /
    # store_cache: one general_copy for K and one for V per layer (lines 397-398, 421-422)
    host_buffers: ClassVar[str] = "pageable"
    copies: ClassVar[str] = "transfer"
    copies_each: ClassVar[int] = 2

    def make_cache(self, spec: CacheSpec):
        on_gpu = gpu_sequences(spec.batch, self.cache_gpu_percent)
        if on_gpu == 0:
            return super().make_cache(spec)
        from simulator.kvpolicy.flexgen_store import MixedStore  # torch only when a stream is traced
        from simulator.models.kv_cache import KVCache

        if on_gpu == spec.batch:  # every sequence on the GPU: FlexGen's GPU cache, attention over all of it
            return KVCache(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype)
        return MixedStore(self, spec, on_gpu)
