"""KV-cache policies, selectable by name in a workload's ``kv_policy``.

A policy builds each layer's KV store: what it keeps (capacity, sinks, eviction, clusters), where
(device DRAM or the offload tier) and what each attention step reads. Retrieval policies (ReKV, ReSV)
emit their scoring, selection and fetch work into the trace as events.
"""

from __future__ import annotations

from typing import Any, Protocol

from simulator.errors import ConfigError
from simulator.kvpolicy.base import KvPolicy
from simulator.kvpolicy.flexgen import FlexgenPolicy
from simulator.kvpolicy.full import FullPolicy
from simulator.kvpolicy.infinigen import InfinigenPolicy
from simulator.kvpolicy.infinigenp import InfinigenpPolicy
from simulator.kvpolicy.oaken import OakenPolicy
from simulator.kvpolicy.rekv import RekvPolicy
from simulator.kvpolicy.resv import ResvPolicy
from simulator.kvpolicy.sliding_window import SlidingWindowPolicy

POLICIES: dict[str, type[KvPolicy]] = {
    "full": FullPolicy, "sliding_window": SlidingWindowPolicy, "resv": ResvPolicy, "flexgen": FlexgenPolicy,
    "infinigen": InfinigenPolicy, "infinigenp": InfinigenpPolicy, "rekv": RekvPolicy, "oaken": OakenPolicy}


class PolicyChoice(Protocol):
    """What a workload says about its policy (``simulator.config.workload.KvPolicyConfig``)."""

    name: str
    params: dict[str, Any]


def make_policy(cfg: PolicyChoice, *, source: str = "<workload>") -> KvPolicy:
    cls = POLICIES.get(cfg.name)
    if cls is None:
        raise ConfigError(source, "kv_policy.name", f"got {cfg.name!r}; allowed: {', '.join(POLICIES)}")
    return cls.from_params(cfg.params, source=source)


def check_policy_params(cfg: PolicyChoice, *, source: str) -> None:
    make_policy(cfg, source=source)
