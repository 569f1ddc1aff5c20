"""``oaken``: online 4-bit KV-cache quantisation, no offloading (Oaken, Kim et al., ISCA 2025; V-Rex's
accelerator baseline).

Every token's K/V stays in device memory, quantised on write to 4 bits with one scale and one zero point
(16 bits each) per ``group`` elements, and dequantised on read. The trace carries the quantisation and
dequantisation as vector work (``kv_quant``, ``kv_dequant``) and the KV bytes at 4 bits plus the scales,
so a cache holds a quarter of BF16's bytes plus 2 x 16 / ``group`` bits per element. Attention itself is
the full attention of ``full``. When the cache no longer fits device memory the point is out of memory
(a platform without an offload tier).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.policies import OakenParams
from simulator.kvpolicy.base import CacheSpec, KvPolicy


@dataclass(frozen=True, kw_only=True)
class OakenPolicy(OakenParams, KvPolicy):

    def make_cache(self, spec: CacheSpec) -> "OakenStore":  # noqa: F821
        from simulator.kvpolicy.oaken_store import OakenStore  # torch only when a stream is traced

        return OakenStore(self, spec)

    def stored_bits(self, kv_bits: int) -> float:
        return 4 + 2 * 16 / self.group
