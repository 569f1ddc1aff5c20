"""The KV policies' parameters: one typed record per policy, registered by the name a workload's ``kv_policy.name``
gives.

Each record owns its policy's hyperparameters (type, range, default, unit, documentation) and the checks between
them; :func:`policy_params` builds one from a workload's ``kv_policy.params`` with one-line errors naming the file
and ``kv_policy.params.<key>``. The behaviour built on a record (what a layer's store keeps, what a step reads) is
in ``simulator/kvpolicy/<name>.py``, whose policy class extends the record, so a parameter has one owner here.
The configuration reference (``simulator/config/reference.py``) documents the policies from this registry alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from simulator.config.schema import build, spec
from simulator.errors import ConfigError

PARAMS_PREFIX = "kv_policy.params"  # where a workload sets a policy's parameters (a sweep sets one by this path)


@dataclass(frozen=True, kw_only=True)
class PolicyParams:
    """Base: subclasses are dataclasses whose fields are one policy's hyperparameters."""

    name: ClassVar[str] = "base"
    summary: ClassVar[str] = ""  # one line for the policy tables of the docs

    def hyperparameters(self) -> dict[str, Any]:
        """Every hyperparameter, by name (defaults included)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, kw_only=True)
class FullParams(PolicyParams):
    name: ClassVar[str] = "full"
    summary: ClassVar[str] = (
        "keep every token in device DRAM and attend to all (until memory runs out; then the oldest KV is "
        "evicted to the offload tier)")


@dataclass(frozen=True, kw_only=True)
class SlidingWindowParams(PolicyParams):
    name: ClassVar[str] = "sliding_window"
    summary: ClassVar[str] = (
        "StreamingLLM: attention sinks + the most recent window; `window` must hold one phase's tokens")
    sink_tokens: int = spec("first tokens kept forever", ge=0, default=4)
    window: int = spec("most recent tokens kept", unit="tokens", ge=1)


@dataclass(frozen=True, kw_only=True)
class OakenParams(PolicyParams):
    name: ClassVar[str] = "oaken"
    summary: ClassVar[str] = (
        "Oaken: full attention over a KV cache quantised online to 4 bits (+ a scale and zero point per "
        "`group` elements), quantised on write and dequantised on read; no offloading")
    group: int = spec("elements per scale/zero-point pair (ours: one pair per token and head)", ge=1, default=128)


@dataclass(frozen=True, kw_only=True)
class OffloadedParams(PolicyParams):
    """Base of the offloading methods' parameters (the GPU baselines of V-Rex, arXiv 2512.12284)."""

    frame_share: ClassVar[float] = 1.0  # subclasses that select make these parameters
    text_share: ClassVar[float] = 1.0
    meta_token_run: float = spec("meta mode: mean contiguous run of selected tokens (token-granular fetches)",
                                 ge=1, default=1.0)


@dataclass(frozen=True, kw_only=True)
class FlexgenParams(OffloadedParams):
    name: ClassVar[str] = "flexgen"
    summary: ClassVar[str] = (
        "FlexGen: `cache_gpu_percent` of the batch's sequences keep their KV in device DRAM (FlexGen's "
        "--percent, whole sequences); the others' K/V live in the offload tier and each layer streams them back "
        "(one run), one layer ahead (0: the V-Rex paper's setting)")
    cache_gpu_percent: float = spec("FlexGen --percent's KV cache share on the GPU; whole sequences of the batch "
                                    "(rounded down), the rest in the offload tier (0: the V-Rex paper's setting)",
                                    unit="%", ge=0, le=100, default=0.0)


@dataclass(frozen=True, kw_only=True)
class InfinigenParams(OffloadedParams):
    name: ClassVar[str] = "infinigen"
    summary: ClassVar[str] = (
        "InfiniGen: in text generation, partial queries score a device copy of the partial keys and the best "
        "`text_share` tokens per KV head are fetched token by token; frame processing reads everything")
    text_share: float = spec("share of the cached tokens read per step in text generation (paper: 6.8%)", gt=0,
                             le=1, default=0.068)
    partial_dim_ratio: float = spec("share of each key's dimensions kept in device memory for the speculation "
                                    "(ours: InfiniGen's partial weight ratio 0.3)", gt=0, le=1, default=0.3)


@dataclass(frozen=True, kw_only=True)
class InfinigenpParams(InfinigenParams):
    name: ClassVar[str] = "infinigenp"
    summary: ClassVar[str] = (
        "InfiniGenP: InfiniGen's speculative token retrieval in frame processing too (`frame_share`)")
    frame_share: float = spec("share of the cached tokens read per step in frame processing (paper: 50.8%)",
                              gt=0, le=1, default=0.508)


@dataclass(frozen=True, kw_only=True)
class RekvParams(OffloadedParams):
    name: ClassVar[str] = "rekv"
    summary: ClassVar[str] = (
        "ReKV: every token's K/V in the offload tier; the mean query scores each frame's mean key and the best "
        "`frame_share` / `text_share` of the frames are fetched, a K and a V copy per frame (pageable)")
    frame_share: float = spec("share of the cached frames read per step in frame processing (paper: 58.4%)",
                              gt=0, le=1, default=0.584)
    text_share: float = spec("share of the cached frames read per step in text generation (paper: 31.2%)",
                             gt=0, le=1, default=0.312)


@dataclass(frozen=True, kw_only=True)
class ResvParams(PolicyParams):
    """ReSV (V-Rex, arXiv 2512.12284, its ReSV section): the algorithm is described in ``kvpolicy/resv.py``."""

    name: ClassVar[str] = "resv"
    summary: ClassVar[str] = (
        "ReSV (V-Rex): post-RoPE keys hashed on `hash_bits` random hyperplanes, clustered by Hamming distance"
        " < `hamming_threshold` against the open clusters (HC table: mean key, code, token count); closed "
        "clusters offloaded as contiguous runs; per layer, KV head and query row, clusters selected by WiCSum"
        " (`wicsum_threshold` of the token-count-weighted score sum, WTU early exit measured); attention over"
        " the selected members plus the phase's own and the text tokens. `meta_*`: the profile of meta-mode "
        "runs")
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


POLICY_PARAMS: dict[str, type[PolicyParams]] = {
    p.name: p for p in (FullParams, SlidingWindowParams, ResvParams, FlexgenParams, InfinigenParams,
                        InfinigenpParams, RekvParams, OakenParams)}
KV_POLICIES = tuple(POLICY_PARAMS)  # the one list of policy names (each has its behaviour in simulator/kvpolicy/)


def policy_params(name: str, params: dict[str, Any], *, source: str) -> PolicyParams:
    """Policy ``name``'s typed, validated record for the YAML's ``params``; a bad name or parameter is a one-line
    error naming ``source`` and the key (``kv_policy.name``, ``kv_policy.params.<key>``)."""
    cls = POLICY_PARAMS.get(name)
    if cls is None:
        raise ConfigError(source, "kv_policy.name", f"got {name!r}; allowed: {', '.join(POLICY_PARAMS)}")
    return build(cls, dict(params), source=source, prefix=PARAMS_PREFIX)
