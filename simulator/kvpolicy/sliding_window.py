"""``sliding_window``: StreamingLLM-style attention sinks plus the most recent ``window`` tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulator.config.schema import spec
from simulator.errors import ConfigError
from simulator.kvpolicy.base import KvPolicy


@dataclass(frozen=True, kw_only=True)
class SlidingWindowPolicy(KvPolicy):
    summary: ClassVar[str] = (
        "StreamingLLM: attention sinks + the most recent window; `window` must hold one phase's tokens")
    name: ClassVar[str] = "sliding_window"
    sink_tokens: int = spec("first tokens kept forever", ge=0, default=4)
    window: int = spec("most recent tokens kept", unit="tokens", ge=1)

    def max_slots(self) -> int:
        return self.sink_tokens + self.window

    def sinks(self) -> int:
        return self.sink_tokens

    def check_fits(self, largest_append: int, *, source: str) -> None:
        if self.window < largest_append:
            raise ConfigError(source, "kv_policy.params.window",
                              f"{self.window} is smaller than one phase's {largest_append} tokens; must be >= it")
