"""``sliding_window``: StreamingLLM-style attention sinks plus the most recent ``window`` tokens."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.policies import SlidingWindowParams
from simulator.errors import ConfigError
from simulator.kvpolicy.base import KvPolicy


@dataclass(frozen=True, kw_only=True)
class SlidingWindowPolicy(SlidingWindowParams, KvPolicy):

    def max_slots(self) -> int:
        return self.sink_tokens + self.window

    def sinks(self) -> int:
        return self.sink_tokens

    def check_fits(self, largest_append: int, *, source: str) -> None:
        if self.window < largest_append:
            raise ConfigError(source, "kv_policy.params.window",
                              f"{self.window} is smaller than one phase's {largest_append} tokens; must be >= it")
