"""Op kinds and the trace's event table as numpy arrays, read once and shared by every unit's cost model.

The trace names each kernel's kind (``simulator.tracer.events.KINDS``); this module is the one place
that groups them for the engine. Which unit runs a kind is decided by the platform's units (each unit
declares the kinds it claims, see ``platform.py``); a kind that no unit claims is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulator.tracer.events import KINDS, Kind


def _names(*kinds: Kind) -> tuple[str, ...]:
    return tuple(k.value for k in kinds)  # plain strings: they key dicts and fill numpy arrays


MATRIX_KINDS = _names(Kind.GEMM, Kind.ATTN_SCORE, Kind.ATTN_VALUE)  # dense matrix products (DPE / tensor cores)
RETRIEVAL_SCORE_KINDS = _names(Kind.RETRIEVAL_SCORE)  # a matrix product that scores cached keys for retrieval
VECTOR_KINDS = _names(Kind.SOFTMAX, Kind.NORM, Kind.ELEMENTWISE, Kind.EMBEDDING, Kind.COPY, Kind.TOPK)  # element-wise
DRE_KINDS = _names(Kind.CLUSTER, Kind.WICSUM)  # ReSV's clustering and WiCSum (the DRE's HCU / WTU, or element ops)
TRANSFER_KINDS = _names(Kind.KV_WRITE, Kind.KV_READ)  # KV moves between tiers (the KVMU / DMA, a GPU copy engine)
ON_CHIP_KINDS = _names(Kind.ATTN_SCORE, Kind.SOFTMAX, Kind.ATTN_VALUE)  # fused attention: scores stay on chip

assert set(MATRIX_KINDS + RETRIEVAL_SCORE_KINDS + VECTOR_KINDS + DRE_KINDS + TRANSFER_KINDS) == set(KINDS), \
    "every trace kind belongs to one family"

_INT = ("batch", "m", "n", "k", "candidates", "selected")
_FLOAT = ("flops_matmul", "flops_vector", "bytes_weight_read", "bytes_act_read", "bytes_act_write", "bytes_kv_read",
          "bytes_kv_write", "hash_compares", "scores_processed", "kv_runs", "kv_token_runs", "bytes_hc_read",
          "bytes_hc_write", "weight_bits", "act_bits", "kv_bits")


@dataclass
class OpArrays:
    """One array per trace column (ints as int64, counts and bytes as float64), plus ``kind`` and ``tier``."""

    kind: np.ndarray
    tier: np.ndarray
    head_group: np.ndarray
    cols: dict[str, np.ndarray]

    INT_COLS = _INT
    FLOAT_COLS = _FLOAT

    @classmethod
    def from_events(cls, ev: pd.DataFrame, kind: np.ndarray | None = None, tier: np.ndarray | None = None
                    ) -> "OpArrays":
        """The columns of ``ev``; ``kind`` and ``tier``, if given, are its kind and tier columns already as
        arrays (saves converting the strings again)."""
        cols = {c: ev[c].to_numpy(np.int64) for c in _INT}
        cols.update({c: ev[c].to_numpy(np.float64) for c in _FLOAT})
        return cls(kind=ev["kind"].to_numpy() if kind is None else kind,
                   tier=ev["kv_tier"].to_numpy() if tier is None else tier, head_group=ev["head_group"].to_numpy(),
                   cols=cols)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def __len__(self) -> int:
        return len(self.kind)


@dataclass
class UnitCost:
    """What one unit charges per op: its time (s) and the actions it performed (name -> count per op), zero
    for ops it does not run. ``extra`` carries per-op columns a platform combines further (e.g. a GPU
    kernel's unpacking time) and reports."""

    time_s: np.ndarray
    actions: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
