"""Per-layer KV cache with preallocated storage, so appends are in-place writes (as on hardware).

Slots hold tokens; ``positions[slot]`` is the token's position in the sequence (-1 = empty).
A cache may be bounded (``max_slots``) with ``sinks`` slots never evicted: when full, new tokens
overwrite the oldest non-sink slots (ring buffer), which is the StreamingLLM sliding window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from simulator.tracer import context


def host_tensor(values, dtype: torch.dtype, device) -> torch.Tensor:
    """Bookkeeping values (indices, masks, cluster sizes) as a tensor on ``device``, not recorded.

    On the meta device only the shape is kept, so meta and real runs trace the same ops.
    """
    values = np.asarray(values)
    with context.paused():
        if torch.device(device).type == "meta":
            return torch.empty(values.shape, dtype=dtype, device="meta")
        return torch.as_tensor(values, dtype=dtype, device=device)


def causal_mask(q_pos: np.ndarray, k_pos: np.ndarray, device, dtype) -> torch.Tensor | None:
    """Additive mask [q_len, kv_len]: -inf where a key is later than the query. None if nothing masked."""
    if k_pos.size == 0 or (q_pos.size and k_pos.max() <= q_pos.min()):
        return None
    if torch.device(device).type == "meta":  # only the shape matters: skip the O(q x L) comparison
        with context.paused():
            return torch.empty(len(q_pos), len(k_pos), dtype=dtype, device="meta")
    blocked = k_pos[None, :] > q_pos[:, None]
    return host_tensor(np.where(blocked, -np.inf, 0.0), dtype, device)


def attend_over(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, q_pos: np.ndarray, k_pos: np.ndarray,
                *, bias: torch.Tensor | None = None, head_group: int = -1) -> torch.Tensor:
    """Grouped-query attention of q [b, kvh, g, n, d] over keys/values [b, kvh, L, d].

    ``bias`` [L] is added to the scores (e.g. log cluster sizes); ``k_pos`` gives each key's token
    position for the causal mask. Returns [b, kvh, g, n, d]. Records attn_score, softmax, attn_value.
    """
    b, kvh, g, n, d = q.shape
    with context.region("attn_score", "attn_score", head_group):
        qg = (q * (1.0 / math.sqrt(d))).reshape(b, kvh, g * n, d)
        scores = torch.matmul(qg, keys.transpose(-1, -2))  # [b, kvh, g*n, L]
    mask = causal_mask(q_pos, k_pos, q.device, scores.dtype)
    with context.region("softmax", "softmax", head_group):
        if mask is not None or bias is not None:
            s5 = scores.view(b, kvh, g, n, -1)
            if mask is not None:
                s5 = s5 + mask
            if bias is not None:
                s5 = s5 + bias
            scores = s5.view(b, kvh, g * n, -1)
        probs = torch.softmax(scores, dim=-1)
    with context.region("attn_value", "attn_value", head_group):
        out = torch.matmul(probs, values)  # [b, kvh, g*n, d]
    return out.view(b, kvh, g, n, d)


def merge_heads(parts: list[torch.Tensor]) -> torch.Tensor:
    """Per-group outputs [b, kvh_i, g, n, d] -> [b, n, kvh*g*d] (head-major, as the o_proj input)."""
    with context.region("attn_merge", "copy"):
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        b, kvh, g, n, d = out.shape
        return out.permute(0, 3, 1, 2, 4).reshape(b, n, kvh * g * d)


def longest_run(slots: np.ndarray) -> int:
    """Longest run of consecutive slots (an append writes each run as one copy)."""
    if len(slots) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(slots) != 1)
    edges = np.concatenate([[-1], breaks, [len(slots) - 1]])
    return int(np.diff(edges).max())


def attention_params(kv_len: int) -> dict[str, tuple[int, ...]]:
    """The attention events of :func:`attend_over` over ``kv_len`` keys: their columns are affine in it."""
    return {"attn_score": (kv_len,), "softmax": (kv_len,), "attn_value": (kv_len,)}


def plans_own_phases(cache: "KVCache") -> bool:
    """Whether the cache's class plans its phases itself: its ``meta_plan`` is as specific as its ``append``
    and ``attend`` (a store that changes them without planning them is traced, not templated)."""
    mro = type(cache).__mro__

    def where(name: str) -> int:
        return next(i for i, k in enumerate(mro) if name in k.__dict__)

    return where("meta_plan") <= min(where("append"), where("attend"))


@dataclass
class MetaPlan:
    """A phase planned in meta mode without tracing (templated tracing).

    ``struct``: what decides which events the phase has beyond its kind and length (e.g. whether a fetch
    happens); ``params``: per event (op name) whose columns depend on the cache, the integers those
    columns are affine in (events not named are the same in every phase of the same structure);
    ``apply``: changes the cache (and the policy's statistics) exactly as tracing the phase would.
    """

    struct: tuple
    params: dict[str, tuple[int, ...]]
    apply: Callable[[], None]


class RecallProbe:
    """Measures, on real tensors, how much of full attention's mass the attended tokens cover.

    Keeps a shadow copy of every key written to a layer (not recorded). For each attention step,
    attention probabilities over all tokens seen (causal) are averaged over the step's queries and
    the group's heads; the recall of a KV head is the mass on the token positions it attended.
    """

    def __init__(self, layer: int):
        self.layer = layer
        self.keys: list[torch.Tensor] = []
        self.pos: list[np.ndarray] = []
        self.rows: list[tuple] = []

    def add(self, k_new: torch.Tensor, positions: np.ndarray) -> None:
        with context.paused():
            self.keys.append(k_new.detach().clone())
            self.pos.append(np.asarray(positions))

    def measure(self, q: torch.Tensor, q_pos: np.ndarray, covered: list[np.ndarray], phase: dict) -> None:
        with context.paused():
            keys = torch.cat(self.keys, dim=2)  # [b, kvh, T, d]
            pos = np.concatenate(self.pos)
            b, kvh, g, n, d = q.shape
            scores = torch.einsum("bhgnd,bhtd->bhgnt", q, keys) / math.sqrt(d)
            blocked = torch.from_numpy(pos[None, :] > np.asarray(q_pos)[:, None])
            scores = scores.masked_fill(blocked, float("-inf"))
            mass = torch.softmax(scores, dim=-1).mean(dim=(0, 2, 3))  # [kvh, T]
            for h in range(kvh):
                hit = np.isin(pos, covered[h])
                self.rows.append((phase.get("phase"), phase.get("frame"), phase.get("question"), phase.get("step"),
                                  self.layer, h, float(mass[h, torch.from_numpy(hit)].sum()), int(hit.sum()),
                                  len(pos)))


class KVCache:
    """Keys and values of one layer: tensors of shape [batch, kv_heads, slots, head_dim]."""

    kv_class = "kv"  # tensor class of the stored K/V for the recorder (its bits per element)

    def __init__(self, batch: int, kv_heads: int, head_dim: int, *, device: str | torch.device,
                 dtype: torch.dtype, max_slots: int | None = None, sinks: int = 0, initial_slots: int = 256,
                 tier: str = "dram"):
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
        self.tier = tier
        self.phase: dict = {}
        self.probe: "RecallProbe | None" = None

    # ---- policy hooks (overridden by retrieval policies) ----
    def begin_phase(self, phase: dict) -> None:
        """Called before each LLM pass with the phase info (phase kind, frame, question, step)."""
        self.phase = phase

    def device_slots(self) -> int:
        """Token (or cluster) slots held in device memory."""
        return self.used

    def offload_slots(self) -> int:
        """Token slots held in the offload tier."""
        return 0

    def policy_stats(self) -> dict[str, float]:
        """Counters a policy reports for its whole store (summed over layers into the trace metadata)."""
        return {}

    def policy_cells(self) -> dict[tuple[str, int, int], float]:
        """Counters a policy reports per (statistic, layer, KV head) (a tidy table in the trace metadata)."""
        return {}

    def prefill(self, n_tokens: int, tokens_per_frame: int) -> None:
        """Start from a pre-computed cache of ``n_tokens`` frame tokens (positions 0 .. n-1), as the policy
        would hold them after those frames, without tracing their prefill (meta mode: shapes only)."""
        slots, used, ring = self._plan(n_tokens)
        self._grow(int(slots.max()) + 1 if n_tokens else 0)
        self.positions[slots] = np.arange(n_tokens)
        self.used, self.next_ring = used, ring
        self.tokens_seen = n_tokens

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
        used, ring = self.used, self.next_ring
        if limit is None or used + n <= limit:  # appends only
            return np.arange(used, used + n, dtype=np.int64), used + n, ring
        slots = []
        for _ in range(n):
            if limit is None or used < limit:
                slots.append(used)
                used += 1
            else:
                slots.append(ring)
                ring = ring + 1 if ring + 1 < limit else self.sinks
        return np.asarray(slots, dtype=np.int64), used, ring

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None) -> None:
        """Write new keys/values [batch, kv_heads, n, head_dim]; recorded as one ``kv_write`` event."""
        n = k_new.shape[2]
        slots, used_after, ring_after = self._plan(n)
        self._grow(int(slots.max()) + 1)
        context.register(self.k, self.kv_class)
        context.register(self.v, self.kv_class)
        with context.region("kv_write", "kv_write", kv_tier=self.tier):
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
        pos = self._advance(slots, used_after, ring_after)
        if self.probe is not None:
            self.probe.add(k_new, pos)

    def _advance(self, slots: np.ndarray, used_after: int, ring_after: int) -> np.ndarray:
        """Bookkeeping of an append: the new tokens' positions in their slots (returned), occupancy, ring."""
        pos = np.arange(self.tokens_seen, self.tokens_seen + len(slots))
        self.positions[slots] = pos
        self.used, self.next_ring = used_after, ring_after
        self.tokens_seen += len(slots)
        return pos

    # ---- meta mode without tracing (templated tracing, simulator.tracer.template) ----
    def meta_plan(self, n: int, q_group: int) -> "MetaPlan":
        """One phase of ``n`` tokens (append, then attend; ``q_group`` query heads per KV head) in meta mode,
        planned without tracing or changing the cache. See :class:`MetaPlan`."""
        slots, used_after, ring_after = self._plan(n)

        def apply() -> None:
            self._grow(int(slots.max()) + 1)
            self._advance(slots, used_after, ring_after)

        return MetaPlan((), {"kv_write": (longest_run(slots),), **attention_params(used_after)}, apply)

    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        """Attention of the phase's queries q [b, kvh, g, n, d] over every held token -> [b, n, heads*d]."""
        keys, values, k_pos = self.view()
        if self.probe is not None:
            self.probe.measure(q, q_pos, [k_pos] * self.kv_heads, self.phase)
        return merge_heads([attend_over(q, keys, values, q_pos, k_pos)])

    def view(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Keys, values and token positions of the occupied slots."""
        context.register(self.k, self.kv_class)
        context.register(self.v, self.kv_class)
        return self.k[:, :, : self.used], self.v[:, :, : self.used], self.positions[: self.used]

