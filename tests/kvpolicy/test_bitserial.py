"""Bit-serial early exit: decisions are exact, and far-away thresholds need few bits."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.kvpolicy.bitserial import bits_needed, quantise


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), bits=st.integers(2, 12), c=st.integers(1, 40), d=st.integers(1, 32))
def test_decision_after_needed_bits_is_exact(seed, bits, c, d):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=d)
    keys = rng.normal(size=(c, d))
    kq, scale = quantise(keys, bits)
    exact = (kq @ q) * scale
    thr = np.quantile(exact, 0.5)
    need = bits_needed(q, keys, thr, bits)
    assert ((need >= 1) & (need <= bits)).all()
    # replay the bounds at the needed depth: the decided side matches the exact comparison
    u = kq & ((1 << bits) - 1)
    for i in range(c):
        t = need[i]
        partial = 0.0
        for j in range(t):
            plane = bits - 1 - j
            w = -(1 << plane) if plane == bits - 1 else (1 << plane)
            partial += w * (((u[i] >> plane) & 1) @ q)
        rest = (1 << (bits - t)) - 1
        hi = partial + rest * q.clip(min=0).sum()
        lo = partial + rest * q.clip(max=0).sum()
        t_int = thr / scale
        eps = 1e-9 * max(1.0, abs(t_int))
        accept, reject = lo >= t_int - eps, hi < t_int - eps
        assert accept or reject
        assert accept == (kq[i] @ q >= t_int - eps)


def test_far_threshold_exits_early():
    rng = np.random.default_rng(1)
    q = rng.normal(size=64)
    keys = rng.normal(size=(200, 64))
    kq, scale = quantise(keys, 8)
    exact = (kq @ q) * scale
    assert bits_needed(q, keys, exact.max() * 10 + 100, 8).mean() <= 2
    assert bits_needed(q, keys, exact.min() - abs(exact.min()) * 10 - 100, 8).mean() <= 2
    assert bits_needed(q, keys, np.median(exact), 8).mean() > 2
