"""The GPU baselines' KV methods (V-Rex's baselines, V-Rex, arXiv 2512.12284: baselines and measurements), on one store.

Every token's K/V is written to the offload tier (an SSD or host memory: ``kv_tier = host``) as it is
computed; the phase's own tokens are attended from device memory. For each attention step a method
selects what it reads back from the offload tier, per layer:

- ``flexgen``: everything, streamed as one contiguous run per layer;
- ``infinigen``: in text generation, a speculative selection: the phase's queries, restricted to the
  ``partial_dim_ratio`` share of dimensions, score a partial copy of every key kept in device memory
  (``retrieval_score``), and the ``text_share`` best tokens per KV head are fetched (``topk``), token by
  token; frame processing reads everything as FlexGen does;
- ``infinigenp``: the same in frame processing too (``frame_share``);
- ``rekv``: frame-level retrieval: the mean query scores each cached frame's mean key (kept in device
  memory), and the best ``frame_share`` (frame processing) or ``text_share`` (text generation) of the
  frames are fetched, each frame one contiguous run.

The shares are parameters; their defaults are the paper's measured read shares on COIN with
Llama-3-8B (V-Rex, arXiv 2512.12284), chosen there to match each method's accuracy. Real mode takes the
selection on tensor values; meta mode takes the shares' count of tokens or frames. The engine issues
each layer's selection and fetch one layer ahead (the methods' prefetch).

How each method's code moves the bytes over PCIe (its ``transfer`` pattern, carried in the trace's
``kv_transfer`` and priced by ``simulator/engine/memory/offload.py``; facts in analysis/data/baseline_sources.yaml):
host buffers (``pageable``: a host staging copy in series with the DMA) and the copy calls per KV transfer
(``transfer``: the selection is gathered first, then ``copies_each`` copies per transfer; ``run``:
``copies_each`` copies per contiguous run, i.e. per retrieved block), each copy paying the link's setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from simulator.config.policies import OffloadedParams
from simulator.kvpolicy.base import CacheSpec, KvPolicy


@dataclass(frozen=True, kw_only=True)
class OffloadedPolicy(OffloadedParams, KvPolicy):
    """Base of the offloading methods: subclasses set how they select and at which granularity."""

    scoring: ClassVar[str] = "none"  # none | partial | frame_mean
    # how the method's code moves KV over PCIe (set per method with the file it was read from)
    host_buffers: ClassVar[str] = "pageable"  # pinned | pageable
    copies: ClassVar[str] = "transfer"  # transfer | run
    copies_each: ClassVar[int] = 2  # one copy call for K and one for V

    def make_cache(self, spec: CacheSpec) -> "OffloadedStore":  # noqa: F821
        from simulator.kvpolicy.offloaded_store import OffloadedStore  # torch only when a stream is traced

        return OffloadedStore(self, spec)

    def transfer(self) -> dict[str, Any]:
        return {"host_buffers": self.host_buffers, "copies": self.copies, "copies_each": self.copies_each}

    def selects(self, in_frame: bool) -> bool:
        """Whether a selection runs in this phase (else everything is read)."""
        return self.scoring != "none"

    def share(self, in_frame: bool) -> float:
        return self.frame_share if in_frame else self.text_share
