"""The trace's event table as numpy arrays, read once and shared by every unit's cost model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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

    @classmethod
    def from_events(cls, ev: pd.DataFrame) -> "OpArrays":
        cols = {c: ev[c].to_numpy(np.int64) for c in _INT}
        cols.update({c: ev[c].to_numpy(np.float64) for c in _FLOAT})
        return cls(kind=ev["kind"].to_numpy(), tier=ev["kv_tier"].to_numpy(), head_group=ev["head_group"].to_numpy(),
                   cols=cols)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def __len__(self) -> int:
        return len(self.kind)

    def is_kind(self, kinds: tuple[str, ...]) -> np.ndarray:
        return np.isin(self.kind, kinds)


@dataclass
class UnitCost:
    """What one unit charges per op: compute time (s) and dynamic energy (pJ), zero for ops it does not run."""

    compute_s: np.ndarray
    energy_pj: np.ndarray
