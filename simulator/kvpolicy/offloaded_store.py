"""The offloading methods' KV store (``offloaded.OffloadedPolicy``): every token's K/V in the offload tier and,
per attention step, the method's selection fetched back. See ``offloaded.py`` for the methods."""

from __future__ import annotations

import bisect
import math

import numpy as np
import torch

from simulator.kvpolicy.base import CacheSpec, KvPolicy, contiguous_runs
from simulator.models.kv_cache import KVCache, MetaPlan, attend_over, attention_params, host_tensor, merge_heads
from simulator.tracer import context


class OffloadedStore(KVCache):
    """All KV in the offload tier; per attention step, the method's selection is fetched back."""

    def __init__(self, policy: KvPolicy, spec: CacheSpec):
        super().__init__(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype, tier="offload")
        self.pol, self.spec = policy, spec
        self.partial_dims = max(1, round(getattr(policy, "partial_dim_ratio", 0.0) * spec.head_dim))
        self.partial_k: torch.Tensor | None = None  # InfiniGen: partial keys in device memory [b, kvh, T, r]
        self.frame_keys: list[torch.Tensor] = []  # ReKV: per-frame mean keys [b, kvh, d]
        self.frame_span: list[tuple[int, int]] = []
        self._span_cum = [0]  # meta plans: tokens of the first i frames of frame_span
        self.stats: dict[str, float] = {}

    def device_slots(self) -> int:
        return 0  # the cache lives in the offload tier; device memory holds only what a step fetched

    def offload_slots(self) -> int:
        return self.used

    def policy_stats(self) -> dict[str, float]:
        return dict(self.stats)

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None) -> None:
        start = self.used
        super().append(k_new, v_new, q_pos)  # written to the offload tier (one run per layer)
        if self.pol.scoring == "partial":
            self._grow_partial(self.used)
            context.register(self.partial_k, "kv")
            with context.region("partial_key_write", "kv_write"):  # device copy of the key columns it scores with
                self.partial_k[:, :, start:self.used].copy_(k_new[..., : self.partial_dims])
        if self.pol.scoring == "frame_mean" and self.phase.get("phase") == "frame_prefill":
            with context.region("frame_key", "elementwise"):
                self.frame_keys.append(k_new.mean(dim=2))
            self.frame_span.append((start, self.used))

    def _grow_partial(self, need: int) -> None:
        cap = 0 if self.partial_k is None else self.partial_k.shape[2]
        if need <= cap:
            return
        with context.paused():
            new = torch.zeros(self.batch, self.kv_heads, max(need, 2 * cap, 256), self.partial_dims,
                              device=self.device, dtype=self.dtype)
            if cap and self.device.type != "meta":
                new[:, :, :cap].copy_(self.partial_k)
        self.partial_k = new

    def prefill(self, n_tokens: int, tokens_per_frame: int) -> None:
        super().prefill(n_tokens, tokens_per_frame)
        if self.pol.scoring == "partial":
            self._grow_partial(n_tokens)
        if self.pol.scoring == "frame_mean":
            for f0 in range(0, n_tokens, tokens_per_frame):
                with context.paused():
                    self.frame_keys.append(torch.zeros(self.batch, self.kv_heads, self.head_dim, device=self.device,
                                                       dtype=self.dtype))
                self.frame_span.append((f0, min(n_tokens, f0 + tokens_per_frame)))

    def _add(self, key: str, value: float) -> None:
        self.stats[key] = self.stats.get(key, 0.0) + value

    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        b, kvh, g, n, d = q.shape
        in_frame = self.phase.get("phase") == "frame_prefill"
        first_own = int(np.searchsorted(self.positions[: self.used], q_pos.min())) if self.used else 0
        cand = first_own  # earlier tokens: slots 0 .. first_own - 1 (arrival order)
        own = np.arange(first_own, self.used)
        sel, runs = self._select(q, cand, in_frame)
        phase = "frame" if in_frame else "text"
        self._add(f"{phase}_selected", float(sum(len(s) for s in sel)) / len(sel) * kvh if sel else 0.0)
        self._add(f"{phase}_available", float(cand) * kvh)
        context.register(self.k, "kv")
        context.register(self.v, "kv")
        keys, values, k_pos = [], [], []
        with context.region("kv_fetch", "kv_read", kv_tier="offload"):
            if len(sel) == 1 or self.device.type == "meta":  # one token set for every head
                idx = host_tensor(sel[0], torch.long, self.device)
                fk, fv = self.k.index_select(2, idx), self.v.index_select(2, idx)
            else:  # per-head sets of equal size (InfiniGen's top-k per head)
                idx = host_tensor(np.stack(sel), torch.long, self.device)[None, :, :, None].expand(
                    b, kvh, len(sel[0]), d)
                fk, fv = torch.gather(self.k, 2, idx), torch.gather(self.v, 2, idx)
            context.annotate(kv_runs=runs * b, kv_token_runs=runs * b)
        with context.region("kv_own", "kv_read", kv_tier="dram"):  # the phase's own tokens, just computed
            oidx = host_tensor(own, torch.long, self.device)
            ok, ov = self.k.index_select(2, oidx), self.v.index_select(2, oidx)
        with context.paused():
            keys = torch.cat([fk, ok], dim=2)
            values = torch.cat([fv, ov], dim=2)
        k_pos = np.concatenate([self.positions[sel[0]], self.positions[own]])  # causal mask: heads share positions
        if self.probe is not None:
            self.probe.measure(q, q_pos, [np.concatenate([self.positions[s], self.positions[own]]) for s in sel]
                               if len(sel) == kvh else [k_pos] * kvh, self.phase)
        return merge_heads([attend_over(q, keys, values, q_pos, k_pos)])

    def _select(self, q: torch.Tensor, cand: int, in_frame: bool) -> tuple[list[np.ndarray], int]:
        """Selected slots (one array for all heads, or one per KV head) and the transfer requests."""
        b, kvh, g, n, d = q.shape
        every = np.arange(cand)
        if cand == 0 or not self.pol.selects(in_frame) or self.pol.share(in_frame) >= 1.0:
            return [every], (1 if cand else 0)  # one contiguous stream of the layer's KV
        share = self.pol.share(in_frame)
        if self.pol.scoring == "partial":
            k_sel = max(1, round(share * cand))
            context.register(self.partial_k, "kv")
            with context.region("retrieval_score", "retrieval_score"):
                qp = q[..., : self.partial_dims].reshape(b, kvh, g * n, self.partial_dims)
                scores = torch.matmul(qp, self.partial_k[:, :, :cand].transpose(-1, -2))  # [b, kvh, rows, T]
            with context.region("topk", "topk"):
                top = torch.topk(scores.amax(dim=2), k_sel, dim=-1).indices  # [b, kvh, k]
                context.annotate(candidates=cand, selected=k_sel)
            if self.device.type == "meta":
                runs = math.ceil(k_sel / self.pol.meta_token_run) * kvh
                return [np.arange(k_sel)], runs
            with context.paused():
                per_head = [np.sort(top[0, h].numpy()) for h in range(kvh)]
            return per_head, sum(contiguous_runs(s) for s in per_head)
        # frame_mean (ReKV): whole frames, each one contiguous run in arrival order
        frames = [i for i, (a, e) in enumerate(self.frame_span) if e <= cand]
        if not frames:
            return [every], 1
        k_sel = max(1, round(share * len(frames)))
        with context.region("retrieval_score", "retrieval_score"):
            fk = torch.stack([self.frame_keys[i] for i in frames], dim=2)  # [b, kvh, F, d]
            qm = q.mean(dim=(2, 3))  # [b, kvh, d]
            fs = torch.matmul(qm.unsqueeze(2), fk.transpose(-1, -2)).squeeze(2).mean(dim=(0, 1))  # [F]
        with context.region("topk", "topk"):
            top = torch.topk(fs, k_sel).indices
            context.annotate(candidates=len(frames), selected=k_sel)
        if self.device.type == "meta":
            chosen = np.asarray(frames[-k_sel:])
        else:
            with context.paused():
                chosen = np.sort(np.asarray(frames)[top.numpy()])
        slots = np.concatenate([np.arange(*self.frame_span[f]) for f in chosen])
        return [slots], len(chosen)  # ReKV loads each retrieved block (a frame) on its own, adjacent or not

    def meta_plan(self, n: int, q_group: int) -> MetaPlan:
        """Meta mode without tracing: the append and the selection of :meth:`attend` (meta branches)."""
        start = self.used
        base = super().meta_plan(n, q_group)
        used = start + n  # unbounded: every token is appended
        in_frame = self.phase.get("phase") == "frame_prefill"
        cand = start  # the earlier tokens (arrival order: the phase's own tokens come last)
        kvh = self.kv_heads
        params: dict[str, tuple[int, ...]] = {}
        if cand == 0 or not self.pol.selects(in_frame) or self.pol.share(in_frame) >= 1.0:
            struct, n_sel, runs = "all", cand, (1 if cand else 0)
        elif self.pol.scoring == "partial":
            k_sel = max(1, round(self.pol.share(in_frame) * cand))
            struct, n_sel, runs = "partial", k_sel, math.ceil(k_sel / self.pol.meta_token_run) * kvh
            params["retrieval_score"], params["topk"] = (cand,), (cand, k_sel)
        else:
            frames = bisect.bisect_right(self.frame_span, cand, key=lambda span: span[1])  # spans ending <= cand
            if frames == 0:
                struct, n_sel, runs = "all", cand, 1
            else:
                k_sel = max(1, round(self.pol.share(in_frame) * frames))
                cum = self._span_tokens(frames)
                # the last k_sel frames, each loaded on its own (ReKV's per-block copies)
                struct, n_sel, runs = "frames", cum[frames] - cum[frames - k_sel], k_sel
                params["retrieval_score"], params["topk"] = (frames,), (frames, k_sel)
        params.update({"kv_write": base.params["kv_write"], "kv_fetch": (n_sel, runs), **attention_params(n_sel + n)})
        phase = "frame" if in_frame else "text"

        def apply() -> None:
            base.apply()
            if self.pol.scoring == "partial":
                self._grow_partial(used)
            if self.pol.scoring == "frame_mean" and in_frame:
                with context.paused():
                    self.frame_keys.append(torch.zeros(self.batch, kvh, self.head_dim, device=self.device,
                                                       dtype=self.dtype))
                self.frame_span.append((start, used))
            self._add(f"{phase}_selected", float(n_sel) / 1 * kvh)
            self._add(f"{phase}_available", float(cand) * kvh)

        return MetaPlan((struct,), params, apply)

    def _span_tokens(self, frames: int) -> list[int]:
        """Tokens of the first i cached frames, for i = 0 .. ``frames`` (kept and extended as frames arrive)."""
        cum = self._span_cum
        for a, e in self.frame_span[len(cum) - 1:frames]:
            cum.append(cum[-1] + e - a)
        return cum
