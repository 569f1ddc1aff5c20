"""Policy interface and parameter validation shared by all KV-cache policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.config.policies import PolicyParams


@dataclass(frozen=True)
class CacheSpec:
    """What a policy needs to build one layer's store."""

    batch: int
    kv_heads: int
    head_dim: int
    device: Any
    dtype: Any
    layer: int
    tokens_per_frame: int
    real: bool  # real tensors (decisions from values) or meta (decisions from profile parameters)
    layers: int = 1  # LLM layers in the model (for per-layer profiles)
    kv_bits: int = 16  # bits per stored KV element (workload precision)
    layer_group: tuple[int, ...] = ()  # meta mode: the layers this traced layer stands for


@dataclass(frozen=True, kw_only=True)
class KvPolicy(PolicyParams):
    """Base of a policy's behaviour. A policy class extends its parameters' record
    (``simulator/config/policies.py``, which owns the hyperparameters) and this base:
    ``class ResvPolicy(ResvParams, KvPolicy)``; it is built from a validated record (:meth:`from_record`)."""

    @classmethod
    def from_record(cls, record: PolicyParams) -> "KvPolicy":
        """The behaviour for a validated parameters record (the record's fields are this class's fields)."""
        return cls(**record.hyperparameters())

    def meta_trace_groups(self, n_layers: int) -> list[list[int]]:
        """Meta mode: groups of layers, one representative traced per group (default: one group)."""
        return [list(range(n_layers))]

    def stored_bits(self, kv_bits: int) -> float:
        """Bits a stored KV element takes in memory (a quantising policy stores fewer, plus scales)."""
        return kv_bits

    def max_slots(self) -> int | None:
        """Slots a layer's device cache may hold (None = unbounded)."""
        return None

    def sinks(self) -> int:
        return 0

    def hardware_contract(self) -> dict[str, int]:
        """The hyperparameters a hardware unit is built for (the trace's ``hw_contract``, checked against the
        platform's units when the trace is simulated): none by default."""
        return {}

    def transfer(self) -> dict[str, Any] | None:
        """How the method's own software moves KV over PCIe on a GPU (the trace's ``kv_transfer``: host buffers
        and copy calls), or None: the platform's offload config decides."""
        return None

    def make_cache(self, spec: CacheSpec) -> "KVCache":  # noqa: F821
        from simulator.models.kv_cache import KVCache  # tensors: torch only when a stream is traced

        return KVCache(spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype,
                       max_slots=self.max_slots(), sinks=self.sinks())

    def check_fits(self, largest_append: int, *, source: str) -> None:
        """Raise ConfigError if the policy cannot hold one phase's tokens."""

def contiguous_runs(positions: np.ndarray) -> int:
    """Runs of consecutive integers in ``positions`` (sorted or not)."""
    if len(positions) == 0:
        return 0
    p = np.sort(np.asarray(positions))
    return int(1 + np.count_nonzero(np.diff(p) != 1))
