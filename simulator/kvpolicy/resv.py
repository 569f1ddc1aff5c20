"""``resv``: ReSV, V-Rex's training-free KV retrieval (arXiv 2512.12284, its ReSV section).

Per layer and KV head (``cluster_scope: per_kv_head``; ``shared``: one clustering of the head-mean
keys serves every head):

1. **Hash bits.** Each new frame's keys (after RoPE) are projected on ``hash_bits`` (N_hp = 32)
   seeded random hyperplanes and binarised (> 0 -> 1). Traced as a GEMM (``hash_proj``) on the
   matrix engine.
2. **Clustering.** A token's code is compared (XOR + popcount: Hamming distance) with the codes of
   the *open* clusters (opened by a token still inside the recent window, including clusters opened
   earlier in the same frame); it joins the nearest one when the distance is below
   ``hamming_threshold`` (Th_hd = 7), otherwise it opens a cluster. A cluster's code is its opening
   token's code (our choice: a mean key would need another projection); its key is the mean of its
   members' keys and its token count TC is kept in the HC table (DRAM). Members keep their own K/V
   (retrieval, not merging). Traced: ``cluster`` (``hash_compares`` for the HCU) and ``hc_update``
   (the running-mean update of the touched cluster keys on the vector unit, HC-table bytes).
3. **Tiers.** A cluster is open while its opener is among the last ``recent_window`` tokens; when it
   closes, its members are written out to the offload tier as one contiguous run (the KVMU's
   cluster-wise layout), so device DRAM holds the open clusters plus the text tokens.
4. **Scoring.** Each query row (the head group's query heads x the phase's tokens) scores the cluster
   keys (Q x K_cluster^T / sqrt(d), ``retrieval_score``, a GEMM reading the HC table).
5. **WiCSum.** Per row i, with weights w_ij (the softmax of the row's scores when
   ``softmax_scores``, else the raw scores): Sum_i = sum_j w_ij TC_j; sorted by score, descending,
   clusters are taken until the accumulated w TC exceeds ``wicsum_threshold`` (Th_r = 0.3) x Sum_i.
   The WTU's early exit is measured as it works: scores are binned into ``wtu_buckets`` equal score
   ranges and walked from the top bucket; ``scores_processed`` counts the scores of every bucket
   visited up to the one where the threshold is passed.
6. The union over the rows (and streams) gives the head's clusters; attention runs over their member
   tokens, plus the phase's own tokens and the text tokens (prompts and answers are not clustered:
   they stay in device DRAM and are always attended, our choice). Members in closed clusters are
   fetched from the offload tier (``kv_fetch``: one request per selected cluster, ``kv_runs``; in
   arrival order they would be ``kv_token_runs`` requests); open ones are gathered from DRAM.

Real mode takes every decision on tensor values (streams in a batch are identical copies, so stream
0 decides for all). Meta mode follows a profile (the ``meta_*`` parameters): the paper's measured
statistics for VideoLLM-online (V-Rex, arXiv 2512.12284), spread over layers (see ``resv_store.layer_shares``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simulator.config.schema import spec
from simulator.errors import ConfigError
from simulator.kvpolicy.base import CacheSpec, KvPolicy


@dataclass(frozen=True, kw_only=True)
class ResvPolicy(KvPolicy):
    summary: ClassVar[str] = (
        "ReSV (V-Rex): post-RoPE keys hashed on `hash_bits` random hyperplanes, clustered by Hamming distance"
        " < `hamming_threshold` against the open clusters (HC table: mean key, code, token count); closed "
        "clusters offloaded as contiguous runs; per layer, KV head and query row, clusters selected by WiCSum"
        " (`wicsum_threshold` of the token-count-weighted score sum, WTU early exit measured); attention over"
        " the selected members plus the phase's own and the text tokens. `meta_*`: the profile of meta-mode "
        "runs")
    name: ClassVar[str] = "resv"
    hash_bits: int = spec("N_hp: random hyperplanes per hash code", ge=1, le=64, default=32)
    hamming_threshold: int = spec("Th_hd: a token joins a cluster at Hamming distance below this", ge=1,
                                  default=7)
    wicsum_threshold: float = spec("Th_r: share of the row's weighted score sum the selection must pass", gt=0,
                                   le=1, default=0.3)
    softmax_scores: bool = spec("(open) WiCSum weights are softmax-normalised scores (else raw scores)",
                                default=True)
    cluster_scope: str = spec("(open) cluster per KV head, or once on head-mean keys shared by all heads",
                              choices=("per_kv_head", "shared"), default="per_kv_head")
    recent_window: int = spec("(open) recent tokens whose clusters stay open and in device DRAM", unit="tokens",
                              ge=1, default=1024)
    wtu_buckets: int = spec("(open) score buckets of the WTU's bucket sorters", ge=1, default=16)
    seed: int = spec("seed of the random hyperplanes", ge=0, default=0)
    meta_frame_share: float = spec("meta mode: mean share of the cache read in frame processing", gt=0, le=1,
                                   default=0.327)
    meta_text_share: float = spec("meta mode: mean share of the cache read in text generation", gt=0, le=1,
                                  default=0.025)
    meta_layer_min: float = spec("meta mode: smallest per-layer frame share", gt=0, le=1, default=0.042)
    meta_layer_max: float = spec("meta mode: largest per-layer frame share", gt=0, le=1, default=0.44)
    meta_cluster_tokens: float = spec("meta mode: mean tokens per cluster", ge=1, default=32.0)
    meta_wtu_processed: float = spec("meta mode: share of a row's scores the WTU walks", gt=0, le=1, default=0.16)
    meta_token_run: float = spec("meta mode: mean contiguous run of selected tokens in arrival order", ge=1,
                                 default=1.0)
    meta_layer_groups: int = spec("meta mode: groups of consecutive layers, one traced per group with the "
                                  "group's mean share (tracing speed vs profile resolution)", ge=1, default=4)

    def validate(self, source: str, prefix: str) -> None:
        if self.hamming_threshold > self.hash_bits:
            raise ConfigError(source, f"{prefix}.hamming_threshold",
                              f"{self.hamming_threshold} exceeds hash_bits ({self.hash_bits}): a Hamming distance "
                              f"is at most the code width, so every token would join the first cluster")
        lo, mean, hi = self.meta_layer_min, self.meta_frame_share, self.meta_layer_max
        if not lo <= mean <= hi:
            raise ConfigError(source, f"{prefix}.meta_frame_share",
                              f"{mean} must lie between meta_layer_min ({lo}) and meta_layer_max ({hi})")

    def hardware_contract(self) -> dict[str, int]:
        """The HCU compares ``hash_bits``-bit codes; the WTU's early exit walks ``wtu_buckets`` buckets."""
        return {"hash_bits": self.hash_bits, "wtu_buckets": self.wtu_buckets}

    def make_cache(self, spec: CacheSpec) -> "ResvStore":  # noqa: F821
        from simulator.kvpolicy.resv_store import ResvStore  # tensors: torch only when a stream is traced

        return ResvStore(self, spec)

    def meta_trace_groups(self, n_layers: int) -> list[list[int]]:
        return [g.tolist() for g in np.array_split(np.arange(n_layers), min(self.meta_layer_groups, n_layers))]
