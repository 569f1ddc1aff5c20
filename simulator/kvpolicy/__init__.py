"""KV-cache policies, selectable by name in a workload's ``kv_policy``.

A policy decides which tokens a layer's cache keeps (capacity, sinks, eviction). Policies that
retrieve from slower tiers (ReKV, ReSV) emit their retrieval work into the trace as events.
"""

from __future__ import annotations

from simulator.config.workload import KvPolicyConfig
from simulator.errors import ConfigError
from simulator.kvpolicy.base import KvPolicy
from simulator.kvpolicy.full import FullPolicy
from simulator.kvpolicy.sliding_window import SlidingWindowPolicy

POLICIES: dict[str, type[KvPolicy]] = {"full": FullPolicy, "sliding_window": SlidingWindowPolicy}


def make_policy(cfg: KvPolicyConfig, *, source: str = "<workload>") -> KvPolicy:
    cls = POLICIES.get(cfg.name)
    if cls is None:
        raise ConfigError(source, "kv_policy.name", f"got {cfg.name!r}; allowed: {', '.join(POLICIES)}")
    return cls.from_params(cfg.params, source=source)


def check_policy_params(cfg: KvPolicyConfig, *, source: str) -> None:
    make_policy(cfg, source=source)
