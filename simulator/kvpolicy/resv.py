"""``resv``: ReSV-style dynamic KV-cache retrieval (after V-Rex, arXiv 2512.12284).

Storage: the cache holds *clusters*, each with a centroid key/value (running mean of its members),
a member count and the position of its first member.
- Temporal clustering: a frame token whose key before the rotary embedding (all KV heads, batch-mean)
  has cosine similarity above ``temporal_threshold`` with the previous frame's token at the same grid
  position joins that token's cluster (so a static region stays one cluster across frames).
- Spatial clustering: a remaining token joins its left or upper neighbour's new cluster in the same
  frame when their similarity is above ``spatial_threshold``.
- Text tokens (prompt, answer) are never merged.
Retrieval, per layer and per KV head: the phase's mean query scores every cluster centroid (with the
log of the cluster size added, so a cluster of n equal tokens gets n tokens' attention); clusters are
taken in descending estimated attention mass until ``attention_share`` of it is covered (a dynamic
count, not a fixed top-k). Clusters written in the current phase are always attended. Only the
selected clusters' K/V are read.

With real tensors every decision is taken on values, and the DRE's bit-serial early-exit statistics
are measured. In meta mode (shapes only) the decisions follow the profile parameters
(``meta_merge_ratio``, ``meta_select_ratio``, ``meta_bits_needed``), measured beforehand in real mode
(``vrex policies``) and written in the workload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from simulator.config.schema import spec
from simulator.kvpolicy.base import CacheSpec, KvPolicy
from simulator.kvpolicy.bitserial import bits_needed
from simulator.models.kv_cache import KVCache, attend_over, host_tensor, merge_heads
from simulator.tracer import context


@dataclass(frozen=True, kw_only=True)
class ResvPolicy(KvPolicy):
    name: ClassVar[str] = "resv"
    temporal_threshold: float = spec("cosine similarity to merge with the previous frame's token at the same "
                                     "position (strictly above)", gt=0, le=1, default=0.9)
    spatial_threshold: float = spec("cosine similarity to merge with a neighbour's cluster in the frame",
                                    gt=0, le=1, default=0.95)
    attention_share: float = spec("share of estimated attention mass the selected clusters cover", gt=0, le=1,
                                  default=0.9)
    score_bits: int = spec("key bits of the DRE's bit-serial scoring", ge=2, le=16, default=8)
    meta_merge_ratio: float = spec("meta mode: share of frame tokens merged into clusters", ge=0, lt=1,
                                   default=0.0)
    meta_select_ratio: float = spec("meta mode: share of clusters selected per head", gt=0, le=1, default=1.0)
    meta_bits_needed: float = spec("meta mode: mean key bits the DRE evaluates per candidate", gt=0,
                                   default=8.0)

    def make_cache(self, spec: CacheSpec) -> "ResvStore":
        return ResvStore(self, spec)


class ResvStore(KVCache):
    """Cluster store of one layer (see the module docstring)."""

    def __init__(self, policy: ResvPolicy, spec: CacheSpec):
        super().__init__(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype)
        self.pol, self.spec = policy, spec
        self.counts = np.zeros(0, dtype=np.int64)
        self.members: list[list[int]] = []  # token positions per cluster (real mode, for recall)
        self.grid_cluster: np.ndarray | None = None  # cluster id per grid position of the last frame
        self.touched: set[int] = set()  # clusters written in the current phase
        self.prev_feat: torch.Tensor | None = None  # last frame's normalised pre-RoPE keys [n, kvh*d]
        self.frame_tokens = 0  # frame tokens written
        self.frame_clusters = 0  # clusters those tokens opened
        self.bits_hist = np.zeros(policy.score_bits, dtype=np.int64)  # candidates by key bits needed

    def begin_phase(self, phase: dict) -> None:
        super().begin_phase(phase)
        self.touched = set()

    def policy_stats(self) -> dict[str, float]:
        stats = {"frame_tokens": self.frame_tokens, "frame_clusters_created": self.frame_clusters}
        stats.update({f"dre_bits_hist_{b + 1}": int(c) for b, c in enumerate(self.bits_hist)})
        return stats

    # ---- write: clustering ----
    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None,
               k_raw: torch.Tensor | None = None) -> None:
        n = k_new.shape[2]
        positions = np.arange(self.tokens_seen, self.tokens_seen + n)
        is_frame = self.phase.get("phase") == "frame_prefill"
        if is_frame:
            assign = self._cluster_frame(k_raw if k_raw is not None else k_new)
        else:
            assign = np.full(n, -1)
        new = assign < 0
        n_new = int(new.sum())
        first_new = self.used
        assign[new] = np.arange(first_new, first_new + n_new)
        self._grow(first_new + n_new)
        context.register(self.k, "kv")
        context.register(self.v, "kv")
        with context.region("kv_write", "kv_write", kv_tier=self.tier):
            if n_new:
                idx_new = np.flatnonzero(new)
                if n_new == n:
                    self.k[:, :, first_new:first_new + n].copy_(k_new)
                    self.v[:, :, first_new:first_new + n].copy_(v_new)
                else:
                    sel = self._index(idx_new)
                    self.k[:, :, first_new:first_new + n_new].copy_(k_new.index_select(2, sel))
                    self.v[:, :, first_new:first_new + n_new].copy_(v_new.index_select(2, sel))
            self.counts = np.concatenate([self.counts, np.ones(n_new, dtype=np.int64)])
            merged = np.flatnonzero(~new)
            if merged.size:
                self._merge_into(k_new, v_new, merged, assign[merged])
                np.add.at(self.counts, assign[merged], 1)
        self.positions[first_new:first_new + n_new] = positions[new]
        if self.spec.real:
            self.members.extend([] for _ in range(n_new))
            for p, c in zip(positions, assign):
                self.members[c].append(int(p))
        if is_frame:
            self.grid_cluster = assign.copy()
            self.frame_tokens += n
            self.frame_clusters += n_new
        self.used = first_new + n_new
        self.touched.update(int(c) for c in np.unique(assign))
        self.tokens_seen += n
        if self.probe is not None:
            self.probe.add(k_new, positions)

    def _index(self, idx: np.ndarray) -> torch.Tensor:
        return host_tensor(idx, torch.long, self.device)

    def _merge_into(self, k_new, v_new, tok: np.ndarray, clusters: np.ndarray) -> None:
        """Running-mean update of the centroids that absorb tokens ``tok``."""
        uniq, inv = np.unique(clusters, return_inverse=True)
        cl, inv_t = self._index(uniq), self._index(inv)
        old_n = host_tensor(self.counts[uniq], self.dtype, self.device)
        add_n = host_tensor(np.bincount(inv, minlength=len(uniq)), self.dtype, self.device)
        for store, new in ((self.k, k_new), (self.v, v_new)):
            old = store.index_select(2, cl)  # [b, kvh, U, d]
            sums = torch.zeros_like(old).index_add_(2, inv_t, new.index_select(2, self._index(tok)))
            upd = (old * old_n[:, None] + sums) / (old_n + add_n)[:, None]
            store.index_copy_(2, cl, upd)

    def _cluster_frame(self, k_new: torch.Tensor) -> np.ndarray:
        """Cluster id per new token (-1 = new cluster); the similarity work is recorded."""
        b, kvh, n, d = k_new.shape
        side = int(math.isqrt(n))
        grid = side if side * side == n else 0
        prev = self.grid_cluster if self.grid_cluster is not None and len(self.grid_cluster) == n else None
        with context.region("cluster", "cluster"):
            feat = k_new.mean(dim=0).permute(1, 0, 2).reshape(n, kvh * d)
            feat = feat / (feat.norm(dim=-1, keepdim=True) + 1e-6)
            sim_t = None
            if prev is not None and self.prev_feat is not None:
                sim_t = (feat * self.prev_feat).sum(-1)
            self.prev_feat = feat
            sim_l = (feat[1:] * feat[:-1]).sum(-1)
            sim_u = (feat[grid:] * feat[:-grid]).sum(-1) if grid else None
        if not self.spec.real:
            return self._meta_assign(n, prev)
        with context.paused():
            st = sim_t.numpy() if sim_t is not None else None
            sl = sim_l.numpy()
            su = sim_u.numpy() if sim_u is not None else None
        assign = np.full(n, -1)
        if st is not None:
            hit = st > self.pol.temporal_threshold
            assign[hit] = prev[hit]
        # spatial: greedy raster scan over tokens not merged in time; join a neighbour's *new* cluster
        label = np.full(n, -1)  # provisional new-cluster label
        next_label = 0
        for i in range(n):
            if assign[i] >= 0:
                continue
            cand = []
            if i >= 1 and (not grid or i % grid) and assign[i - 1] < 0 and sl[i - 1] > self.pol.spatial_threshold:
                cand.append((sl[i - 1], label[i - 1]))
            if grid and i >= grid and assign[i - grid] < 0 and su[i - grid] > self.pol.spatial_threshold:
                cand.append((su[i - grid], label[i - grid]))
            if cand:
                label[i] = max(cand)[1]
            else:
                label[i] = next_label
                next_label += 1
        # a spatial group becomes one new cluster: its first token opens it (stays -1, given the next free
        # id by append in token order), the group's other tokens merge into it
        first_of: dict[int, int] = {}
        for i, lab in enumerate(label):
            if lab >= 0 and lab not in first_of:
                first_of[lab] = i
        openers = np.array(sorted(first_of.values()), dtype=np.int64)
        new_id = dict(zip(openers.tolist(), range(self.used, self.used + len(openers))))
        for i, lab in enumerate(label):
            if lab >= 0 and first_of[lab] != i:
                assign[i] = new_id[first_of[lab]]
        return assign

    def _meta_assign(self, n: int, prev: np.ndarray | None) -> np.ndarray:
        """Meta mode: merge the profile's share of tokens (into the previous frame's clusters)."""
        merged = int(round(n * self.pol.meta_merge_ratio)) if prev is not None else 0
        assign = np.full(n, -1)
        if merged:
            assign[:merged] = prev[:merged]
        return assign

    # ---- read: dynamic retrieval per KV head ----
    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        b, kvh, g, n, d = q.shape
        c_all = self.used
        logn = host_tensor(np.log(self.counts[:c_all]), self.dtype, self.device)
        keys = self.k[:, :, :c_all]
        values = self.v[:, :, :c_all]
        own = np.array(sorted(self.touched), dtype=np.int64)
        parts, covered = [], []
        for h in range(kvh):
            with context.region("retrieval_score", "retrieval_score", h):
                qm = q[:, h].mean(dim=(1, 2))  # [b, d]
                scores = torch.matmul(qm.unsqueeze(1), keys[:, h].transpose(-1, -2)).squeeze(1) / math.sqrt(d)
                sel, bits = self._select(qm, keys[:, h], scores, logn, own)
                context.annotate(candidates=c_all, selected=len(sel), bits_needed_mean=bits,
                                 score_bits=self.pol.score_bits)
            with context.region("topk", "topk", h):
                mass = torch.softmax(scores + logn, dim=-1)
                ordered, _ = torch.sort(mass, dim=-1, descending=True)
                torch.cumsum(ordered, dim=-1)
                context.annotate(candidates=c_all, selected=len(sel))
            idx = self._index(sel)
            with context.region("kv_read", "kv_read", h, kv_tier=self.tier):
                ks = keys[:, h].index_select(1, idx)[:, None]
                vs = values[:, h].index_select(1, idx)[:, None]
            with context.paused():
                bias = logn.index_select(0, idx)
            parts.append(attend_over(q[:, h:h + 1], ks, vs, q_pos, self.positions[sel], bias=bias, head_group=h))
            if self.probe is not None:
                covered.append(np.concatenate([self.members[c] for c in sel]) if len(sel) else np.zeros(0))
        if self.probe is not None:
            self.probe.measure(q, q_pos, covered, self.phase)
        return merge_heads(parts)

    def _select(self, qm, keys_h, scores, logn, own) -> tuple[np.ndarray, float]:
        """Clusters to attend (descending estimated mass until the share is covered) and DRE bits."""
        c_all = self.used
        if not self.spec.real:
            k = min(c_all, max(len(own), math.ceil(self.pol.meta_select_ratio * c_all)))
            rest = np.setdiff1d(np.arange(c_all), own)[: max(0, k - len(own))]
            return np.union1d(own, rest), float(self.pol.meta_bits_needed)
        with context.paused():
            adj = (scores + logn).mean(dim=0).double().numpy()  # batch-mean estimate [C]
            order = np.argsort(-adj, kind="stable")
            mass = np.exp(adj[order] - adj[order[0]])
            cum = np.cumsum(mass) / mass.sum()
            k = int(np.searchsorted(cum, self.pol.attention_share - 1e-12) + 1)
            chosen = order[:k]
            # DRE: the boundary score is the threshold each candidate is decided against
            thr_adj = adj[order[k - 1]]
            qv = qm.mean(dim=0).double().numpy()
            kh = keys_h.mean(dim=0).double().numpy()
            raw_thr = (thr_adj - logn.double().numpy()) * math.sqrt(kh.shape[-1])
            need = bits_needed(qv, kh, raw_thr, self.pol.score_bits)
            self.bits_hist += np.bincount(need - 1, minlength=self.pol.score_bits)
            bits = float(need.mean()) if c_all else 0.0
        return np.union1d(chosen, own).astype(np.int64), bits

    def attention_mass_covered(self, qm: torch.Tensor, keys_h: torch.Tensor, sel: np.ndarray) -> float:
        """Estimated mass (the selection's own criterion) on ``sel``; used by tests."""
        with context.paused():
            d = keys_h.shape[-1]
            adj = (torch.matmul(qm.unsqueeze(1), keys_h.transpose(-1, -2)).squeeze(1) / math.sqrt(d)).mean(0).double()
            adj = adj + torch.log(torch.as_tensor(self.counts[: self.used], dtype=torch.float64))
            p = torch.softmax(adj, dim=-1).numpy()
        return float(p[sel].sum())
