"""``full``: keep every token and attend to all of them (until memory runs out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.kvpolicy.base import KvPolicy


@dataclass(frozen=True, kw_only=True)
class FullPolicy(KvPolicy):
    summary: ClassVar[str] = (
        "keep every token in device DRAM and attend to all (until memory runs out; then the oldest KV is "
        "evicted to the offload tier)")
    name: ClassVar[str] = "full"
