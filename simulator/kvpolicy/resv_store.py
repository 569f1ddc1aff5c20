"""ReSV's KV store (the tensors and decisions of ``resv.ResvPolicy``): hashing, clustering, the HC table,
WiCSum selection and selective fetch. See ``resv.py`` for the algorithm and its parameters."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from simulator.kvpolicy.base import CacheSpec, KvPolicy, contiguous_runs
from simulator.models.kv_cache import KVCache, MetaPlan, attend_over, attention_params, host_tensor, merge_heads
from simulator.tracer import context

HC_ENTRY_META_BYTES = 4 + 4 + 8  # per cluster besides its key: hash code (<= 32 bits), token count, start address


def layer_shares(n_layers: int, mean: float, lo: float, hi: float) -> np.ndarray:
    """Per-layer read shares from ``lo`` (layer 0) rising to ``hi`` (last layer) with the given mean.

    Shape (our choice; the paper gives the range and the mean, V-Rex, arXiv 2512.12284): s(x) = lo +
    (hi - lo) (1 - (1 - x)^a), x = layer / (layers - 1), with a >= 0 solved by bisection so that the
    mean over the layers equals ``mean`` (early layers read little, as the range's low end suggests).
    """
    if n_layers == 1:
        return np.array([mean])
    x = np.arange(n_layers) / (n_layers - 1)

    def shares(a: float) -> np.ndarray:
        return lo + (hi - lo) * (1 - (1 - x) ** a)

    a_lo, a_hi = 1e-6, 1e3
    for _ in range(200):  # mean of shares(a) rises with a
        mid = math.sqrt(a_lo * a_hi)
        if shares(mid).mean() < mean:
            a_lo = mid
        else:
            a_hi = mid
    return shares(math.sqrt(a_lo * a_hi))


def wicsum_select(scores: np.ndarray, counts: np.ndarray, threshold: float, softmax: bool = True,
                  buckets: int = 16) -> tuple[np.ndarray, int]:
    """WiCSum on one row: (selected cluster indices, scores the WTU walks before its early exit).

    Sorted by score, descending, clusters are accumulated (weight x token count) until the sum exceeds
    ``threshold`` x the row's total; the fewest such clusters in score order are selected. The WTU walks
    score buckets (``buckets`` equal ranges between the row's min and max score) from the top; every
    score in a visited bucket is processed, up to the bucket that holds the last selected score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    c = len(scores)
    if c == 0:
        return np.zeros(0, dtype=np.int64), 0
    w = np.exp(scores - scores.max()) if softmax else scores
    wt = w * counts
    total = wt.sum()
    order = np.argsort(-scores, kind="stable")
    cum = np.cumsum(wt[order])
    passed = np.flatnonzero(cum > threshold * total)
    k = int(passed[0]) + 1 if passed.size else c
    chosen = order[:k]
    lo, hi = scores.min(), scores.max()
    if hi > lo:
        b = np.minimum(((scores - lo) / (hi - lo) * buckets).astype(np.int64), buckets - 1)
        processed = int((b >= b[order[k - 1]]).sum())
    else:
        processed = c
    return np.sort(chosen), processed


def _popcount(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)


@dataclass
class _Head:
    """Clusters of one scope head (a KV head, or all heads when shared)."""

    code: list = field(default_factory=list)  # opener's hash code per cluster (int)
    opener: list = field(default_factory=list)  # opener's token position per cluster
    members: list = field(default_factory=list)  # token positions per cluster
    closed: list = field(default_factory=list)  # written out to the offload tier
    n_open_from: int = 0  # clusters before this index are all closed


class ResvStore(KVCache):
    """Token store of one layer plus ReSV's HC table (see the module docstring)."""

    def __init__(self, policy: KvPolicy, spec: CacheSpec):
        super().__init__(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype)
        self.pol, self.spec = policy, spec
        self.scope = spec.kv_heads if policy.cluster_scope == "per_kv_head" else 1
        gen = torch.Generator().manual_seed(policy.seed * 100003 + spec.layer)
        planes = torch.randn(spec.head_dim, policy.hash_bits, generator=gen)
        with context.paused():
            self.planes = planes.to(spec.device, spec.dtype)
        context.register(self.planes, "weight")
        self.heads = [_Head() for _ in range(self.scope)]
        self.hc_keys = self._alloc_hc(64)  # [b, scope, clusters, d]: cluster mean keys (HC table, DRAM)
        self.frame_pos: list[int] = []  # positions of frame tokens (clustered)
        self.text_pos: list[int] = []  # positions of text tokens (always attended, device DRAM)
        group = list(spec.layer_group) or [spec.layer]
        self.share = float(layer_shares(spec.layers, policy.meta_frame_share, policy.meta_layer_min,
                                        policy.meta_layer_max)[group].mean())  # meta mode
        self.text_share = policy.meta_text_share * self.share / policy.meta_frame_share
        self.stats: dict[str, float] = {}
        self.cells: dict[tuple[str, int, int], float] = {}  # (statistic, layer, KV head) -> count
        self.meta_clusters = 0  # meta mode: clusters per scope head so far
        self.meta_closed_tokens = 0

    # ---- bookkeeping ----
    def _alloc_hc(self, clusters: int) -> torch.Tensor:
        with context.paused():
            return torch.zeros(self.batch, self.scope, clusters, self.head_dim, device=self.device, dtype=self.dtype)

    def _grow_hc(self, need: int) -> None:
        cap = self.hc_keys.shape[2]
        if need <= cap:
            return
        new = self._alloc_hc(max(need, 2 * cap))
        if self.device.type != "meta":
            with context.paused():
                new[:, :, :cap].copy_(self.hc_keys)
        self.hc_keys = new

    def _add(self, key: str, value: float) -> None:
        self.stats[key] = self.stats.get(key, 0.0) + value

    def _add_cell(self, stat: str, head: int, value: float) -> None:
        """A per-(layer, KV head) counter of this store's layer."""
        key = (stat, self.spec.layer, head)
        self.cells[key] = self.cells.get(key, 0.0) + value

    def policy_cells(self) -> dict[tuple[str, int, int], float]:
        return dict(self.cells)

    def policy_stats(self) -> dict[str, float]:
        out = dict(self.stats)
        n_clusters = self.meta_clusters * self.scope if not self.spec.real else sum(len(h.code) for h in self.heads)
        entry = self.head_dim * self._kv_bytes_per_elem() + HC_ENTRY_META_BYTES
        out["clusters"] = n_clusters
        out["hc_table_bytes"] = n_clusters * entry * self.batch
        out["kv_bytes"] = 2 * self.batch * self.kv_heads * self.tokens_seen * self.head_dim * self._kv_bytes_per_elem()
        return out

    def _kv_bytes_per_elem(self) -> float:
        return self.spec.kv_bits / 8

    def device_slots(self) -> int:
        return self.tokens_seen - self.offload_slots()

    def offload_slots(self) -> int:
        if not self.spec.real:
            return self.meta_closed_tokens
        closed = [sum(len(m) for m, c in zip(h.members, h.closed) if c) for h in self.heads]
        return int(round(sum(closed) / len(closed)))

    def _host_bytes_per_token(self, heads: float) -> float:
        return 2 * self.batch * heads * self.head_dim * self._kv_bytes_per_elem()

    def prefill(self, n_tokens: int, tokens_per_frame: int) -> None:
        if self.spec.real:
            raise ValueError("a pre-computed ReSV cache needs meta mode (its clusters come from the profile)")
        super().prefill(n_tokens, tokens_per_frame)
        self.frame_pos = list(range(n_tokens))
        self.meta_clusters = math.ceil(n_tokens / self.pol.meta_cluster_tokens)
        self.meta_closed_tokens = max(0, n_tokens - self.pol.recent_window)

    # ---- write: hash, cluster, store, close ----
    def append(self, k_new: torch.Tensor, v_new: torch.Tensor, q_pos: np.ndarray | None = None) -> None:
        n = k_new.shape[2]
        positions = np.arange(self.tokens_seen, self.tokens_seen + n)
        super().append(k_new, v_new, q_pos)  # every token's own K/V, in device DRAM first
        if self.phase.get("phase") == "frame_prefill":
            self._cluster_frame(k_new, positions)
            self.frame_pos.extend(positions.tolist())
        else:
            self.text_pos.extend(positions.tolist())
        self._close_clusters()

    def _cluster_frame(self, k_new: torch.Tensor, positions: np.ndarray) -> None:
        n = k_new.shape[2]
        with context.region("hash_proj", "gemm"):
            keys = k_new if self.scope == self.kv_heads else k_new.mean(dim=1, keepdim=True)
            bits = torch.matmul(keys, self.planes) > 0  # [b, scope, n, N_hp]
        if self.spec.real:
            with context.paused():
                b0 = bits[0].numpy().astype(np.uint64)  # stream 0 decides (streams are identical copies)
            codes = (b0 << np.arange(self.pol.hash_bits, dtype=np.uint64)).sum(axis=-1, dtype=np.uint64)  # [scope, n]
            assign, compares = self._assign_real(codes, positions)
        else:
            assign, compares = self._assign_meta(n)
        touched = sorted({int(c) for row in assign for c in row})
        self._grow_hc(max([len(h.code) for h in self.heads] + [self.meta_clusters]))
        context.emit(op="cluster", kind="cluster", hash_compares=int(compares) * self.batch,
                     candidates=int(compares), selected=len(touched),
                     bytes_hc_write=len(touched) * self.scope * HC_ENTRY_META_BYTES * self.batch)
        self._update_keys(keys, assign, touched)
        self._add("hash_compares", compares)
        self._add("frame_tokens", n * self.scope)

    def _assign_real(self, codes: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, int]:
        """Cluster index per (scope head, new token); Hamming distances computed."""
        n = codes.shape[1]
        assign = np.zeros((self.scope, n), dtype=np.int64)
        compares = 0
        lowest_open = positions[0] - self.pol.recent_window  # openers at or after this position are open
        for s, head in enumerate(self.heads):
            start = head.n_open_from
            for t in range(n):
                cand = np.arange(start, len(head.code))
                cand = cand[np.asarray(head.opener, dtype=np.int64)[cand] >= lowest_open] if cand.size else cand
                best = -1
                if cand.size:
                    dist = _popcount(np.asarray(head.code, dtype=np.uint64)[cand] ^ codes[s, t])
                    compares += cand.size
                    j = int(np.argmin(dist))
                    if dist[j] < self.pol.hamming_threshold:
                        best = int(cand[j])
                if best < 0:
                    head.code.append(int(codes[s, t]))
                    head.opener.append(int(positions[t]))
                    head.members.append([])
                    head.closed.append(False)
                    best = len(head.code) - 1
                head.members[best].append(int(positions[t]))
                assign[s, t] = best
        return assign, compares

    def _assign_meta(self, n: int) -> tuple[np.ndarray, int]:
        """Meta mode: clusters of ``meta_cluster_tokens`` tokens on average; each token is compared with
        the open clusters (those opened within the recent window)."""
        seen = len(self.frame_pos)
        before = self.meta_clusters
        after = max(before, math.ceil((seen + n) / self.pol.meta_cluster_tokens))
        window_clusters = math.ceil(min(seen, self.pol.recent_window) / self.pol.meta_cluster_tokens)
        compares = n * window_clusters * self.scope
        self.meta_clusters = after
        new = list(range(before, after))
        old = [before - 1] if before else []
        ids = (new + old) or [0]
        assign = np.array([[ids[t % len(ids)] for t in range(n)]] * self.scope, dtype=np.int64)
        return assign, compares

    def _update_keys(self, keys: torch.Tensor, assign: np.ndarray, touched: list[int]) -> None:
        """Running-mean update of the touched clusters' keys in the HC table (vector unit, DRAM bytes).

        The traced region reads the touched entries and the new keys and writes the entries back; in real
        mode the exact member means are then set (not recorded).
        """
        if not touched:
            return
        context.register(self.hc_keys, "hc")
        idx = host_tensor(np.asarray(touched, dtype=np.int64), torch.long, self.device)
        with context.region("hc_update", "elementwise"):
            old = self.hc_keys.index_select(2, idx)  # [b, scope, U, d]
            upd = old + keys.sum(dim=2, keepdim=True)
            self.hc_keys.index_copy_(2, idx, upd)
        if not self.spec.real:
            return
        with context.paused():
            src = self.k[:, :, : self.used] if self.scope == self.kv_heads else self.k[:, :, : self.used].mean(
                dim=1, keepdim=True)
            for sc in range(self.scope):
                head = self.heads[sc]
                for c in {int(x) for x in assign[sc]}:
                    sel = torch.as_tensor(head.members[c], dtype=torch.long)
                    self.hc_keys[:, sc, c] = src[:, sc].index_select(1, sel).mean(dim=1)

    def _close_clusters(self) -> None:
        """Write out clusters whose opener left the recent window: one contiguous run each."""
        lowest_open = self.tokens_seen - self.pol.recent_window
        if self.spec.real:
            runs = token_runs = tokens = 0
            for h in self.heads:
                while h.n_open_from < len(h.code) and h.opener[h.n_open_from] < lowest_open:
                    c = h.n_open_from
                    h.closed[c] = True
                    runs += 1
                    tokens += len(h.members[c])
                    token_runs += contiguous_runs(np.asarray(h.members[c]))
                    h.n_open_from += 1
            heads_per_scope = self.kv_heads / self.scope
        else:
            closed_tokens = int(np.searchsorted(np.asarray(self.frame_pos), lowest_open))
            new_tokens = closed_tokens - self.meta_closed_tokens
            self.meta_closed_tokens = max(self.meta_closed_tokens, closed_tokens)
            tokens = max(0, new_tokens) * self.scope
            runs = math.ceil(tokens / self.pol.meta_cluster_tokens) if tokens else 0
            token_runs = math.ceil(tokens / self.pol.meta_token_run) if tokens else 0
            heads_per_scope = self.kv_heads / self.scope
        if tokens:
            nbytes = int(tokens * self._host_bytes_per_token(heads_per_scope))
            context.emit(op="kv_offload", kind="kv_write", kv_tier="offload", bytes_kv_write=nbytes,
                         kv_runs=runs * self.batch, kv_token_runs=token_runs * self.batch)
            self._add("offloaded_tokens", tokens)

    # ---- read: score, WiCSum, fetch, attend ----
    def attend(self, q: torch.Tensor, q_pos: np.ndarray) -> torch.Tensor:
        """Prediction for every head (score, WiCSum, fetch, gather), then attention for every head."""
        b, kvh, g, n, d = q.shape
        own = set(int(p) for p in q_pos)
        text = np.asarray([p for p in self.text_pos if p not in own], dtype=np.int64)
        frame_text = "frame" if self.phase.get("phase") == "frame_prefill" else "text"
        own_pos = np.asarray(sorted(own), dtype=np.int64)
        context.register(self.hc_keys, "hc")
        # meta mode: every head makes the same decisions, so head 0 is traced and repeated for the others
        traced = kvh if self.spec.real else 1
        self._head_weight = kvh // traced  # aggregate statistics count every head
        gathered = []
        start = context.row_count()
        for h in range(traced):
            s = h if self.scope == kvh else 0
            sel_host, sel_dev, runs, token_runs, available = self._select(q, h, s, own)
            self._add(f"{frame_text}_selected", (len(sel_host) + len(sel_dev)) * self._head_weight)
            self._add(f"{frame_text}_available", available * self._head_weight)
            self._add_cell(f"{frame_text}_selected", h, len(sel_host) + len(sel_dev))
            self._add_cell(f"{frame_text}_available", h, available)
            ks, vs = [], []
            if len(sel_host):
                with context.region("kv_fetch", "kv_read", h, kv_tier="offload"):
                    idx = host_tensor(sel_host, torch.long, self.device)
                    ks.append(self.k[:, h].index_select(1, idx))
                    vs.append(self.v[:, h].index_select(1, idx))
                    context.annotate(kv_runs=runs * b, kv_token_runs=token_runs * b)
            dev = np.concatenate([sel_dev, text, own_pos]).astype(np.int64)
            with context.region("kv_gather", "kv_read", h, kv_tier="dram"):
                idx = host_tensor(dev, torch.long, self.device)
                ks.append(self.k[:, h].index_select(1, idx))
                vs.append(self.v[:, h].index_select(1, idx))
            with context.paused():
                keys = torch.cat(ks, dim=1)[:, None]
                values = torch.cat(vs, dim=1)[:, None]
            gathered.append((keys, values, np.concatenate([sel_host, dev]).astype(np.int64)))
        self._repeat_heads(start, kvh, traced)
        parts = []
        start = context.row_count()
        for h, (keys, values, k_pos) in enumerate(gathered):
            parts.append(attend_over(q[:, h:h + 1], keys, values, q_pos, k_pos, head_group=h))
        self._repeat_heads(start, kvh, traced)
        if self.probe is not None:
            self.probe.measure(q, q_pos, [k_pos for _, _, k_pos in gathered], self.phase)
        return merge_heads(parts * (kvh // traced))

    def _repeat_heads(self, start: int, kvh: int, traced: int) -> None:
        """Meta mode: repeat head 0's events (and per-head statistics) for the other heads."""
        if traced == kvh:
            return
        end = context.row_count()
        for h in range(1, kvh):
            context.repeat_rows(start, end, head_group=h)
            for stat, layer, head in [k for k in self.cells if k[2] == 0]:
                self.cells[(stat, layer, h)] = self.cells[(stat, layer, 0)]

    def _select(self, q: torch.Tensor, h: int, s: int, own: set[int]):
        """Score the clusters, run WiCSum; returns the selected tokens by tier and the transfer runs."""
        b, kvh, g, n, d = q.shape
        head = self.heads[s]
        n_c = len(head.code) if self.spec.real else self.meta_clusters
        in_frame = self.phase.get("phase") == "frame_prefill"
        avail_pos = self.frame_pos[: len(self.frame_pos) - n] if in_frame else self.frame_pos
        available = len(avail_pos)
        empty = np.zeros(0, dtype=np.int64)
        if n_c == 0:
            return empty, empty, 0, 0, 0
        rows = g * n
        with context.region("retrieval_score", "retrieval_score", h):
            qr = q[:, h].reshape(b, rows, d)
            scores = torch.matmul(qr, self.hc_keys[:, s, :n_c].transpose(-1, -2)) / math.sqrt(d)  # [b, rows, C]
        if self.spec.real:
            with context.paused():
                sc = scores[0].double().numpy()
            counts = np.array([len(m) for m in head.members], dtype=np.float64)
            chosen: set[int] = set()
            processed = 0
            for r in range(rows):
                sel, p = wicsum_select(sc[r], counts, self.pol.wicsum_threshold, self.pol.softmax_scores,
                                       self.pol.wtu_buckets)
                chosen.update(sel.tolist())
                processed += p
            picked = np.asarray(sorted(chosen), dtype=np.int64)
            members = [p for c in picked for p in head.members[c] if p not in own]
            closed = [c for c in picked if head.closed[c]]
            host = np.asarray(sorted(p for c in closed for p in head.members[c] if p not in own), dtype=np.int64)
            dev = np.asarray(sorted(set(members) - set(host.tolist())), dtype=np.int64)
            runs = contiguous_runs(np.asarray(closed))  # closed clusters are stored one after another
            token_runs = contiguous_runs(host)
        else:
            share = self.share if in_frame else self.text_share
            want = int(round(share * available))
            processed = int(math.ceil(self.pol.meta_wtu_processed * n_c)) * rows
            picked = np.arange(min(n_c, max(1, math.ceil(want / self.pol.meta_cluster_tokens))))
            offload_share = min(1.0, self.meta_closed_tokens / max(1, available))
            n_host = int(round(want * offload_share))
            host = np.arange(n_host, dtype=np.int64)
            dev = np.asarray(avail_pos[available - (want - n_host):], dtype=np.int64) \
                if want > n_host else np.zeros(0, dtype=np.int64)
            runs = math.ceil(n_host / self.pol.meta_cluster_tokens) if n_host else 0
            token_runs = math.ceil(n_host / self.pol.meta_token_run) if n_host else 0
        with context.region("wicsum", "wicsum", h):
            context.annotate(batch=b, m=rows, candidates=n_c, selected=len(picked), scores_processed=processed * b)
        self._add("wtu_scores", rows * n_c * self._head_weight)
        self._add("wtu_processed", processed * self._head_weight)
        return host, dev, runs, token_runs, available

    # ---- meta mode without tracing (templated tracing) ----
    def meta_plan(self, n: int, q_group: int) -> MetaPlan:
        """One phase as :meth:`append` then :meth:`attend` take it in meta mode, planned without tracing."""
        pol, kvh, scope = self.pol, self.kv_heads, self.scope
        base = super().meta_plan(n, q_group)
        in_frame = self.phase.get("phase") == "frame_prefill"
        seen_after = self.tokens_seen + n
        frame_before = len(self.frame_pos)
        frame_after = frame_before + n if in_frame else frame_before
        params = {"kv_write": base.params["kv_write"]}
        adds: list[tuple[str, float]] = []
        clusters = self.meta_clusters
        hc_need = 0
        if in_frame:  # _cluster_frame with _assign_meta
            after = max(clusters, math.ceil((frame_before + n) / pol.meta_cluster_tokens))
            window_clusters = math.ceil(min(frame_before, pol.recent_window) / pol.meta_cluster_tokens)
            compares = n * window_clusters * scope
            ids = max(1, (after - clusters) + (1 if clusters else 0))  # new clusters and the last open one
            touched = min(n, ids)
            clusters = hc_need = after
            cap = self.hc_keys.shape[2]
            hc_cap = max(hc_need, 2 * cap) if hc_need > cap else cap
            params["cluster"], params["hc_update"] = (compares, touched), (touched, hc_cap)
            adds += [("hash_compares", compares), ("frame_tokens", n * scope)]
        # _close_clusters: frame tokens that left the recent window
        lowest_open = seen_after - pol.recent_window
        closed = bisect.bisect_left(self.frame_pos, lowest_open)
        if in_frame and closed == frame_before:  # the new frame's own positions may lie below lowest_open
            closed += sum(1 for p in range(self.tokens_seen, seen_after) if p < lowest_open)
        closed_after = max(self.meta_closed_tokens, closed)
        off = max(0, closed - self.meta_closed_tokens) * scope
        if off:
            params["kv_offload"] = (off, math.ceil(off / pol.meta_cluster_tokens), math.ceil(off / pol.meta_token_run))
            adds.append(("offloaded_tokens", off))
        # attend (head 0 traced, repeated) with _select's meta branch
        frame_text = "frame" if in_frame else "text"
        text = len(self.text_pos)  # text tokens held, not counting the phase's own
        if clusters == 0:
            n_host = n_dev = available = 0
        else:
            rows = q_group * n
            available = frame_after - n if in_frame else frame_after
            want = int(round((self.share if in_frame else self.text_share) * available))
            processed = int(math.ceil(pol.meta_wtu_processed * clusters)) * rows
            picked = min(clusters, max(1, math.ceil(want / pol.meta_cluster_tokens)))
            offload_share = min(1.0, closed_after / max(1, available))
            n_host = int(round(want * offload_share))
            n_dev = len(range(available)[available - (want - n_host):]) if want > n_host else 0
            runs = math.ceil(n_host / pol.meta_cluster_tokens) if n_host else 0
            token_runs = math.ceil(n_host / pol.meta_token_run) if n_host else 0
            params["retrieval_score"], params["wicsum"] = (clusters,), (clusters, picked, processed)
            if n_host:
                params["kv_fetch"] = (n_host, runs, token_runs)
            adds += [("wtu_scores", rows * clusters * kvh), ("wtu_processed", processed * kvh)]
        selected = n_host + n_dev
        adds += [(f"{frame_text}_selected", selected * kvh), (f"{frame_text}_available", available * kvh)]
        cells = [(f"{frame_text}_selected", selected), (f"{frame_text}_available", available)]
        params["kv_gather"] = (n_dev + text + n,)
        params.update(attention_params(n_host + n_dev + text + n))
        struct = (in_frame, clusters > 0, n_host > 0, off > 0)

        def apply() -> None:
            base.apply()
            positions = range(seen_after - n, seen_after)
            if in_frame:
                self.meta_clusters = clusters
                self._grow_hc(max([len(h.code) for h in self.heads] + [hc_need]))
                self.frame_pos.extend(positions)
            else:
                self.text_pos.extend(positions)
            self.meta_closed_tokens = closed_after
            self._head_weight = kvh
            for key, val in adds:
                self._add(key, val)
            for stat, val in cells:
                self._add_cell(stat, 0, val)
            for h in range(1, kvh):  # _repeat_heads: the other heads' cells are copies of head 0's
                for stat, _ in cells:
                    self.cells[(stat, self.spec.layer, h)] = self.cells[(stat, self.spec.layer, 0)]

        return MetaPlan(struct, params, apply)
