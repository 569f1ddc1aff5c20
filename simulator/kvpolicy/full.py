"""``full``: keep every token and attend to all of them (until memory runs out)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.policies import FullParams
from simulator.kvpolicy.base import KvPolicy


@dataclass(frozen=True, kw_only=True)
class FullPolicy(FullParams, KvPolicy):
    """No parameters; the base's behaviour: an unbounded device cache."""
