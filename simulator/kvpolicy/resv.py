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

import numpy as np

from simulator.config.policies import ResvParams
from simulator.kvpolicy.base import CacheSpec, KvPolicy


@dataclass(frozen=True, kw_only=True)
class ResvPolicy(ResvParams, KvPolicy):
    def hardware_contract(self) -> dict[str, int]:
        """The HCU compares ``hash_bits``-bit codes; the WTU's early exit walks ``wtu_buckets`` buckets."""
        return {"hash_bits": self.hash_bits, "wtu_buckets": self.wtu_buckets}

    def make_cache(self, spec: CacheSpec) -> "ResvStore":  # noqa: F821
        from simulator.kvpolicy.resv_store import ResvStore  # tensors: torch only when a stream is traced

        return ResvStore(self, spec)

    def meta_trace_groups(self, n_layers: int) -> list[list[int]]:
        return [g.tolist() for g in np.array_split(np.arange(n_layers), min(self.meta_layer_groups, n_layers))]
