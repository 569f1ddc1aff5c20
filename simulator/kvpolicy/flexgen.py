"""``flexgen``: the whole KV cache in the offload tier, streamed back for every attention step (FlexGen,
Sheng et al., ICML 2023; V-Rex's reference baseline). See ``offloaded.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.kvpolicy.offloaded import OffloadedPolicy


@dataclass(frozen=True, kw_only=True)
class FlexgenPolicy(OffloadedPolicy):
    summary: ClassVar[str] = (
        "FlexGen: every token's K/V in the offload tier; each layer streams the whole cache back (one run), "
        "one layer ahead")
    name: ClassVar[str] = "flexgen"
    scoring: ClassVar[str] = "none"
