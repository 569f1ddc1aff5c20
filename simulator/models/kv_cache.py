"""Per-layer KV cache with preallocated storage, so appends are in-place writes (as on hardware).

Slots hold tokens; ``positions[slot]`` is the token's position in the sequence (-1 = empty).
A cache may be bounded (``max_slots``) with ``sinks`` slots never evicted: when full, new tokens
overwrite the oldest non-sink slots (ring buffer), which is the StreamingLLM sliding window.
"""

from __future__ import annotations

import numpy as np
import torch

from simulator.tracer import context


class KVCache:
    """Keys and values of one layer: tensors of shape [batch, kv_heads, slots, head_dim]."""

    def __init__(self, batch: int, kv_heads: int, head_dim: int, *, device: str | torch.device,
                 dtype: torch.dtype, max_slots: int | None = None, sinks: int = 0, initial_slots: int = 256):
        self.batch, self.kv_heads, self.head_dim = batch, kv_heads, head_dim
        self.device, self.dtype = torch.device(device), dtype
        self.max_slots = max_slots
        self.sinks = sinks
        cap = initial_slots if max_slots is None else min(initial_slots, max_slots)
        self.k = self._alloc(cap)
        self.v = self._alloc(cap)
        self.positions = np.full(cap, -1, dtype=np.int64)
        self.used = 0  # slots holding a token
        self.next_ring = sinks  # next slot to overwrite once full
        self.tokens_seen = 0

    def _alloc(self, slots: int) -> torch.Tensor:
        with context.paused():
            t = torch.zeros(self.batch, self.kv_heads, slots, self.head_dim, device=self.device, dtype=self.dtype)
        return t

    def _grow(self, need: int) -> None:
        cap = self.k.shape[2]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap)
        if self.max_slots is not None:
            new_cap = min(new_cap, self.max_slots)
        with context.paused():
            k, v = self._alloc(new_cap), self._alloc(new_cap)
            if self.device.type != "meta":
                k[:, :, :cap].copy_(self.k)
                v[:, :, :cap].copy_(self.v)
        self.k, self.v = k, v
        self.positions = np.concatenate([self.positions, np.full(new_cap - cap, -1, dtype=np.int64)])

    def _plan(self, n: int) -> tuple[np.ndarray, int, int]:
        """Slots the next ``n`` tokens occupy (append, then ring-overwrite), and the state after."""
        limit = self.max_slots
        slots = []
        used, ring = self.used, self.next_ring
        for _ in range(n):
            if limit is None or used < limit:
                slots.append(used)
                used += 1
            else:
                slots.append(ring)
                ring = ring + 1 if ring + 1 < limit else self.sinks
        return np.asarray(slots, dtype=np.int64), used, ring

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor) -> None:
        """Write new keys/values [batch, kv_heads, n, head_dim]; recorded as one ``kv_write`` event."""
        n = k_new.shape[2]
        slots, used_after, ring_after = self._plan(n)
        self._grow(int(slots.max()) + 1)
        context.register(self.k, "kv")
        context.register(self.v, "kv")
        with context.region("kv_write", "kv_write"):
            if np.array_equal(slots, np.arange(slots[0], slots[0] + n)):
                self.k[:, :, slots[0]:slots[0] + n].copy_(k_new)
                self.v[:, :, slots[0]:slots[0] + n].copy_(v_new)
            else:  # wrapped ring: write each contiguous run
                start = 0
                for i in range(1, n + 1):
                    if i == n or slots[i] != slots[i - 1] + 1:
                        s0, s1 = int(slots[start]), int(slots[i - 1]) + 1
                        self.k[:, :, s0:s1].copy_(k_new[:, :, start:i])
                        self.v[:, :, s0:s1].copy_(v_new[:, :, start:i])
                        start = i
        pos = np.arange(self.tokens_seen, self.tokens_seen + n)
        self.positions[slots] = pos
        self.used, self.next_ring = used_after, ring_after
        self.tokens_seen += n

    def view(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Keys, values and token positions of the occupied slots."""
        context.register(self.k, "kv")
        context.register(self.v, "kv")
        return self.k[:, :, : self.used], self.v[:, :, : self.used], self.positions[: self.used]

    def bytes_stored(self, bits: int) -> int:
        """Bytes the occupied slots hold (K and V) at ``bits`` per element."""
        return 2 * self.batch * self.kv_heads * self.used * self.head_dim * bits // 8
