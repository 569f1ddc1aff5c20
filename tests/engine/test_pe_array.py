"""PE-array cycle model: exact on hand-computed shapes, never faster than the ideal."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulator.config.hardware import PeArrayConfig
from simulator.config.tech import load_tech
from simulator.engine.pe_array import PeArray

TECH = load_tech().at("28nm")


def _pe(rows, cols, dataflow):
    return PeArray(PeArrayConfig(rows=rows, cols=cols, dataflow=dataflow, precision="int8"), 1e9, TECH)


def test_os_hand_computed():
    pe = _pe(4, 4, "output_stationary")
    # m=8, n=4, k=10: 2 x 1 tiles, each k + R + C - 2 = 16 cycles
    assert pe.cycles(1, 8, 4, 10) == 32


def test_ws_hand_computed():
    pe = _pe(4, 4, "weight_stationary")
    # k=8, n=4: 2 x 1 weight tiles, each m + 2R + C - 2 = 5 + 8 + 2 = 15 cycles
    assert pe.cycles(1, 5, 4, 8) == 30


@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 300), st.integers(1, 300), st.integers(1, 300),
       st.sampled_from(["output_stationary", "weight_stationary"]))
def test_never_faster_than_ideal(r, c, m, n, k, df):
    pe = _pe(r, c, df)
    assert pe.cycles(1, m, n, k) * r * c >= m * n * k


def test_empty_shape_costs_nothing():
    pe = _pe(8, 8, "output_stationary")
    assert (pe.cycles(np.array([1, 1]), np.array([0, 3]), np.array([3, 0]), np.array([3, 3])) == 0).all()
