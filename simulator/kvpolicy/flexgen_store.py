"""FlexGen's mixed KV cache (``flexgen.FlexgenPolicy`` with 0 < GPU sequences < batch): the first ``on_gpu``
sequences of the batch keep their K/V in device DRAM, the others in the offload tier.

As FlexGen's code runs it without CPU attention (``cpu_cache_compute`` off: ``load_cache`` path 0, a direct
copy; FMInference/FlexLLMGen@004ffef82b46e8dc8685c55d0cdda650bdaf1269, flexllmgen/flex_opt.py lines 338-370):
each layer the mixed cache is copied to the attention's device segment by segment (``general_copy`` of a
``TorchMixedDevice`` tensor): the GPU segment is a copy within device memory (``kv_resident``), the offloaded
segment streams back over the link as one run per sequence (``kv_fetch``, one layer ahead as FlexGen
prefetches), and one attention runs over the whole batch. New tokens are written to each segment's home.
"""

from __future__ import annotations

import numpy as np
import torch

from simulator.kvpolicy.base import CacheSpec, KvPolicy
from simulator.models.kv_cache import KVCache, MetaPlan, attend_over, attention_params, host_tensor, merge_heads
from simulator.tracer import context


class MixedStore(KVCache):
    """KV of sequences ``0 .. on_gpu - 1`` in device DRAM, of the rest in the offload tier."""

    def __init__(self, policy: KvPolicy, spec: CacheSpec, on_gpu: int):
        super().__init__(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype)
        if not 0 < on_gpu < spec.batch:
            raise ValueError(f"a mixed cache keeps 1 .. {spec.batch - 1} sequences on the GPU, not {on_gpu}")
        self.pol, self.on_gpu = policy, on_gpu

    def device_slots(self) -> int:
        # slots count whole-batch tokens; the GPU holds on_gpu of the batch's sequences of each
        return round(self.used * self.on_gpu / self.batch)

    def offload_slots(self) -> int:
        return self.used - self.device_slots()

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None) -> None:
        n, s0, g = k_new.shape[2], self.used, self.on_gpu
        self._grow(s0 + n)
        context.register(self.k, self.kv_class)
        context.register(self.v, self.kv_class)
        for name, tier, rows in (("kv_write", "dram", slice(0, g)), ("kv_write_offload", "offload", slice(g, None))):
            with context.region(name, "kv_write", kv_tier=tier):
                self.k[rows, :, s0:s0 + n].copy_(k_new[rows])
                self.v[rows, :, s0:s0 + n].copy_(v_new[rows])
        pos = self._advance(np.arange(s0, s0 + n, dtype=np.int64), s0 + n, self.next_ring)
        if self.probe is not None:
            self.probe.add(k_new, pos)

    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        g = self.on_gpu
        cand = int(np.searchsorted(self.positions[: self.used], q_pos.min())) if self.used else 0
        context.register(self.k, self.kv_class)
        context.register(self.v, self.kv_class)
        with context.region("kv_fetch", "kv_read", kv_tier="offload"):  # the offloaded sequences' earlier tokens
            idx = host_tensor(np.arange(cand), torch.long, self.device)
            fk, fv = self.k[g:].index_select(2, idx), self.v[g:].index_select(2, idx)
            runs = (self.batch - g) if cand else 0  # one run per sequence and layer
            context.annotate(kv_runs=runs, kv_token_runs=runs)
        with context.region("kv_own", "kv_read", kv_tier="dram"):  # their own tokens, just computed
            oidx = host_tensor(np.arange(cand, self.used), torch.long, self.device)
            ok, ov = self.k[g:].index_select(2, oidx), self.v[g:].index_select(2, oidx)
        with context.region("kv_resident", "kv_read", kv_tier="dram"):  # the GPU segment's copy in device memory
            ridx = host_tensor(np.arange(self.used), torch.long, self.device)
            rk, rv = self.k[:g].index_select(2, ridx), self.v[:g].index_select(2, ridx)
        with context.paused():
            keys = torch.cat([rk, torch.cat([fk, ok], dim=2)], dim=0)
            values = torch.cat([rv, torch.cat([fv, ov], dim=2)], dim=0)
        k_pos = self.positions[: self.used]
        if self.probe is not None:
            self.probe.measure(q, q_pos, [k_pos] * self.kv_heads, self.phase)
        return merge_heads([attend_over(q, keys, values, q_pos, k_pos)])

    def meta_plan(self, n: int, q_group: int) -> MetaPlan:
        """Meta mode without tracing: :meth:`append` then :meth:`attend` (the phase's own tokens come last, so
        the earlier tokens are the first ``used`` slots)."""
        start, used = self.used, self.used + n
        runs = (self.batch - self.on_gpu) if start else 0

        def apply() -> None:
            self._grow(used)
            self._advance(np.arange(start, used, dtype=np.int64), used, self.next_ring)

        return MetaPlan((), {"kv_write": (n,), "kv_write_offload": (n,), "kv_fetch": (start, runs), "kv_own": (n,),
                             "kv_resident": (used,), **attention_params(used)}, apply)
