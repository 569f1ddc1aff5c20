"""KV-cache policies, selectable by name in a workload's ``kv_policy``.

Each policy's parameters (typed, validated, documented) are a record of ``simulator/config/policies.py``; the
policy class here extends that record with its behaviour, and :func:`make_policy` builds it from a workload's
validated record. A new policy: its record and one registry line there, its module and one line in ``POLICIES``.

A policy builds each layer's KV store: what it keeps (capacity, sinks, eviction, clusters), where
(device DRAM or the offload tier) and what each attention step reads. Retrieval policies (ReKV, ReSV)
emit their scoring, selection and fetch work into the trace as events.
"""

from __future__ import annotations

from typing import Protocol

from simulator.config.policies import PolicyParams
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

    def resolve(self, source: str = ...) -> PolicyParams: ...


def make_policy(cfg: PolicyChoice, *, source: str = "<workload>") -> KvPolicy:
    """The policy's behaviour for a workload's choice: its parameters' record (typed and validated by the config,
    a one-line error naming ``source`` and the key) extended with the policy's methods."""
    record = cfg.resolve(source)
    return POLICIES[cfg.name].from_record(record)
