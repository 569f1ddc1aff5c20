"""Oaken's KV store (``oaken.OakenPolicy``): K/V quantised to the policy's bits on write, dequantised on read."""

from __future__ import annotations

import numpy as np
import torch

from simulator.kvpolicy.base import CacheSpec, KvPolicy
from simulator.models.kv_cache import KVCache, MetaPlan, attend_over, merge_heads
from simulator.tracer import context

QUANT_OPS = 4  # per element on write: scale, add zero point, round, clamp (ours)
DEQUANT_OPS = 2  # per element on read: subtract zero point, scale (ours)


class OakenStore(KVCache):
    kv_class = "kv4"  # stored K/V are 4-bit codes

    def __init__(self, policy: KvPolicy, spec: CacheSpec):
        super().__init__(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype)
        self.pol = policy
        self.groups = max(1, -(-spec.head_dim // policy.group))
        self.scales = self._alloc_scales(self.k.shape[2])

    def _alloc_scales(self, slots: int) -> torch.Tensor:
        """(scale, zero point) per group for K and for V, 16 bits each."""
        with context.paused():
            t = torch.zeros(self.batch, self.kv_heads, slots, 4 * self.groups, device=self.device, dtype=self.dtype)
        return t

    def _grow(self, need: int) -> None:
        super()._grow(need)
        cap = self.k.shape[2]
        if self.scales.shape[2] < cap:
            old, self.scales = self.scales, self._alloc_scales(cap)
            if self.device.type != "meta":
                with context.paused():
                    self.scales[:, :, : old.shape[2]].copy_(old)

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None) -> None:
        n = k_new.shape[2]
        with context.region("kv_quant", "elementwise"):  # per-group range and the 4-bit codes
            lo = torch.minimum(k_new.amin(dim=-1, keepdim=True), v_new.amin(dim=-1, keepdim=True))
            hi = torch.maximum(k_new.amax(dim=-1, keepdim=True), v_new.amax(dim=-1, keepdim=True))
            pairs = torch.cat([lo, hi, lo, hi], dim=-1).repeat(1, 1, 1, self.groups)
            context.annotate(flops_vector=2 * k_new.numel() * QUANT_OPS)
        super().append(k_new, v_new, q_pos)  # the codes, at 4 bits
        context.register(self.scales, "kv")
        with context.region("kv_scale_write", "kv_write"):
            self.scales[:, :, self.used - n:self.used].copy_(pairs)

    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        keys, values, k_pos = self.view()  # 4-bit codes
        context.register(self.scales, "kv")
        with context.region("kv_dequant", "elementwise"):
            self.scales[:, :, : self.used].sum()  # the scales are read once per step
            context.annotate(flops_vector=2 * keys.numel() * DEQUANT_OPS)
        if self.probe is not None:
            self.probe.measure(q, q_pos, [k_pos] * self.kv_heads, self.phase)
        return merge_heads([attend_over(q, keys, values, q_pos, k_pos)])

    def meta_plan(self, n: int, q_group: int) -> MetaPlan:
        plan = super().meta_plan(n, q_group)  # the cache's write and attention; the scales grow with it
        plan.params["kv_dequant"] = plan.params["attn_score"]  # dequantises every held token
        return plan
