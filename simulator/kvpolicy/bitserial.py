"""MSB-first bit-serial scoring with running bounds: how many key bits decide each candidate.

The DRE evaluates score_c = sum_i q_i * k_ci with keys quantised to ``bits``-bit two's complement,
one bit plane at a time from the most significant. After t planes the partial score S_t is known and
the unprocessed lower planes (unsigned, each element in [0, 2^(bits-t) - 1]) can add at most
R_t * sum(max(q_i, 0)) and at least R_t * sum(min(q_i, 0)). A candidate is *rejected* once
S_t + upper < threshold and *accepted* once S_t + lower >= threshold; the early-exit unit then stops
evaluating it. This module measures, on real tensors, how many planes each candidate needed.
"""

from __future__ import annotations

import numpy as np


def quantise(keys: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Symmetric per-tensor quantisation to signed ``bits``-bit integers; returns (ints, scale)."""
    qmax = 2 ** (bits - 1) - 1
    amax = float(np.abs(keys).max()) if keys.size else 0.0
    scale = amax / qmax if amax > 0 else 1.0
    return np.clip(np.rint(keys / scale), -qmax - 1, qmax).astype(np.int64), scale


def bits_needed(query: np.ndarray, keys: np.ndarray, thresholds: np.ndarray | float, bits: int = 8) -> np.ndarray:
    """Bit planes each candidate needs before it is accepted or rejected against its threshold.

    ``query`` [d], ``keys`` [C, d] (real values), ``thresholds`` scalar or [C] in the real score
    domain (query . key). Returns an int array [C] with values in 1..bits.
    """
    kq, scale = quantise(np.asarray(keys, dtype=np.float64), bits)
    q = np.asarray(query, dtype=np.float64)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (kq.shape[0],)) / scale
    u = kq & ((1 << bits) - 1)  # two's complement bit pattern, unsigned
    pos_q, neg_q = q.clip(min=0).sum(), q.clip(max=0).sum()
    eps = 1e-9 * np.maximum(1.0, np.abs(thr))  # a candidate scoring exactly the threshold is accepted
    partial = np.zeros(kq.shape[0])
    needed = np.full(kq.shape[0], bits, dtype=np.int64)
    undecided = np.ones(kq.shape[0], dtype=bool)
    for t in range(1, bits + 1):
        plane = bits - t
        bit = (u >> plane) & 1
        weight = -(1 << plane) if plane == bits - 1 else (1 << plane)
        partial += weight * (bit @ q)
        rest = (1 << plane) - 1  # max value of the unprocessed lower planes
        hi = partial + rest * pos_q
        lo = partial + rest * neg_q
        decided = undecided & ((hi < thr - eps) | (lo >= thr - eps))
        needed[decided] = t
        undecided &= ~decided
        if not undecided.any():
            break
    return needed
