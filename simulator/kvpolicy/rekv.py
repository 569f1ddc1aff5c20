"""``rekv``: ReKV-style offload and question-time retrieval (Di et al., ICLR 2025, "Streaming Video
Question-Answering with In-context Video KV-Cache Retrieval").

- Frames are encoded with sliding-window attention: the device keeps ``sink_tokens`` + the most
  recent ``window`` tokens.
- Every token's K/V is also written to the offload tier (host memory / flash: ``kv_tier = host``),
  and each frame's mean key per KV head is kept on the device as its retrieval key.
- At a question, per layer, the question's mean query scores the frame keys (averaged over KV heads);
  the ``top_k_frames`` best frames are fetched back from the offload tier and attended together with
  the local window for the question prefill and every decode step of that answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from simulator.config.schema import spec
from simulator.errors import ConfigError
from simulator.kvpolicy.base import CacheSpec, KvPolicy
from simulator.models.kv_cache import KVCache, attend_over, host_tensor, merge_heads
from simulator.tracer import context


@dataclass(frozen=True, kw_only=True)
class RekvPolicy(KvPolicy):
    summary: ClassVar[str] = (
        "ReKV: sliding-window encoding; every token also written to the offload tier; per question and layer,"
        " frames scored by the mean query against frame-mean keys, the top-k frames fetched back and attended"
        " with the window")
    name: ClassVar[str] = "rekv"
    window: int = spec("local attention window kept on the device", unit="tokens", ge=1)
    sink_tokens: int = spec("first tokens kept on the device", ge=0, default=4)
    top_k_frames: int = spec("frames retrieved per question and layer", ge=1, default=8)

    def make_cache(self, spec: CacheSpec) -> "RekvStore":
        return RekvStore(self, spec)

    def device_budget_slots(self, spec: CacheSpec, largest_phase: int) -> int:
        return self.sink_tokens + self.window + self.top_k_frames * spec.tokens_per_frame

    def check_fits(self, largest_append: int, *, source: str) -> None:
        if self.window < largest_append:
            raise ConfigError(source, "kv_policy.params.window",
                              f"{self.window} is smaller than one phase's {largest_append} tokens; must be >= it")


class RekvStore(KVCache):
    """Local window on the device + full offloaded cache + per-frame retrieval keys."""

    def __init__(self, policy: RekvPolicy, spec: CacheSpec):
        super().__init__(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype,
                         max_slots=policy.sink_tokens + policy.window, sinks=policy.sink_tokens)
        self.pol, self.spec = policy, spec
        self.host = KVCache(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype,
                            tier="host")
        self.frame_keys: list[torch.Tensor] = []  # [b, kvh, d] per frame (device)
        self.frame_span: list[tuple[int, int]] = []  # host slot range of each frame
        self.retrieved: tuple[torch.Tensor, torch.Tensor, np.ndarray] | None = None
        self.retrieved_for: object = None

    def device_slots(self) -> int:
        extra = 0 if self.retrieved is None else len(self.retrieved[2])
        return self.used + extra

    def host_slots(self) -> int:
        return self.host.used

    def begin_phase(self, phase: dict) -> None:
        super().begin_phase(phase)
        if phase.get("phase") == "frame_prefill" or phase.get("question") != self.retrieved_for:
            self.retrieved, self.retrieved_for = None, None

    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None,
               k_raw: torch.Tensor | None = None) -> None:
        probe, self.probe = self.probe, None  # the probe sees each token once, below
        super().append(k_new, v_new, q_pos)
        self.probe = probe
        start = self.host.used
        self.host.append(k_new, v_new)  # offload: kv_write on the host tier
        if self.phase.get("phase") == "frame_prefill":
            with context.region("frame_key", "elementwise"):
                self.frame_keys.append(k_new.mean(dim=2))
            self.frame_span.append((start, self.host.used))
        if self.probe is not None:
            self.probe.add(k_new, self.host.positions[start:self.host.used])

    def _retrieve(self, q: torch.Tensor) -> None:
        n_frames = len(self.frame_keys)
        k = min(self.pol.top_k_frames, n_frames)
        with context.region("retrieval_score", "retrieval_score"):
            fk = torch.stack(self.frame_keys, dim=2)  # [b, kvh, F, d]
            qm = q.mean(dim=(2, 3))  # [b, kvh, d]
            scores = torch.matmul(qm.unsqueeze(2), fk.transpose(-1, -2)).squeeze(2).mean(dim=(0, 1))  # [F]
            context.annotate(candidates=n_frames, selected=k)
        with context.region("topk", "topk"):
            _, top = torch.topk(scores, k)
            context.annotate(candidates=n_frames, selected=k)
        with context.paused():
            frames = np.sort(top.numpy()) if self.device.type != "meta" else np.arange(k)
        slots = np.concatenate([np.arange(*self.frame_span[f]) for f in frames]) if k else np.zeros(0, np.int64)
        idx = host_tensor(slots, torch.long, self.device)
        context.register(self.host.k, "kv")
        context.register(self.host.v, "kv")
        with context.region("kv_fetch", "kv_read", kv_tier="host"):
            rk = self.host.k.index_select(2, idx)
            rv = self.host.v.index_select(2, idx)
        self.retrieved = (rk, rv, self.host.positions[slots])
        self.retrieved_for = self.phase.get("question")

    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        keys, values, k_pos = self.view()
        if self.phase.get("phase") in ("question_prefill", "decode") and self.frame_keys:
            if self.retrieved is None:
                self._retrieve(q)
            rk, rv, rpos = self.retrieved
            keep = ~np.isin(rpos, k_pos)  # a retrieved frame may still be in the local window
            if not keep.all():
                kt = host_tensor(np.flatnonzero(keep), torch.long, self.device)
                with context.paused():
                    rk, rv = rk.index_select(2, kt), rv.index_select(2, kt)
                rpos = rpos[keep]
            with context.region("kv_gather", "copy"):
                keys = torch.cat([rk, keys], dim=2)
                values = torch.cat([rv, values], dim=2)
            k_pos = np.concatenate([rpos, k_pos])
        if self.probe is not None:
            self.probe.measure(q, q_pos, [k_pos] * self.kv_heads, self.phase)
        return merge_heads([attend_over(q, keys, values, q_pos, k_pos)])
