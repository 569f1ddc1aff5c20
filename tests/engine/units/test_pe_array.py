"""PE-array cycle model: exact on hand-computed shapes, never faster than the ideal."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulator.config.hardware import PeArrayConfig
from simulator.config.tech import load_tech
from simulator.engine.units.pe_array import PeArray

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


def _tree(trees, inputs):
    return PeArray(PeArrayConfig(kind="mac_tree", trees=trees, tree_inputs=inputs, precision="bf16"), 8e8, TECH)


def test_mac_tree_hand_computed():
    pe = _tree(64, 64)
    fill = 6 + 2  # log2(64) adder levels + multiplier stage + accumulator
    # GEMV 1 x 4096 @ 4096 x 4096: 64 column tiles x 64 k-slices, one cycle each
    assert pe.cycles(1, 1, 4096, 4096) == 64 * 64 + fill
    # m = 10 rows stream through each resident 64 x 64 weight tile
    assert pe.cycles(1, 10, 4096, 4096) == 64 * 64 * 10 + fill
    # k = 100 needs two 64-input slices; n = 65 needs two column tiles; batch 3 runs them 3 times
    assert pe.cycles(3, 2, 65, 100) == 3 * 2 * 2 * 2 + fill
    a, b, out = pe.operand_reads(1, 10, 128, 64)
    assert (a, b, out) == (10 * 64 * 2, 64 * 128, 10 * 128)  # weights read once, activations per column tile


def test_mac_tree_gemv_full_utilisation():
    """m = 1 keeps every tree busy when k and n fill the trees; idle trees or inputs otherwise."""
    pe = _tree(64, 64)
    for n, k in ((4096, 4096), (14336, 4096), (4096, 14336)):
        util = n * k / ((pe.cycles(1, 1, n, k) - pe.fill) * pe.macs)
        assert util == 1.0
    assert n * k / (pe.cycles(1, 1, 4096, 4096) * pe.macs) > 0.99  # the fill is negligible for a layer GEMV
    assert 32 * 4096 / ((pe.cycles(1, 1, 32, 4096) - pe.fill) * pe.macs) == 0.5  # half the trees idle
    assert 4096 * 32 / ((pe.cycles(1, 1, 4096, 32) - pe.fill) * pe.macs) == 0.5  # half of each tree's inputs


@given(st.integers(1, 128), st.integers(2, 128), st.integers(1, 300), st.integers(1, 300), st.integers(1, 300))
def test_mac_tree_never_faster_than_ideal(t, w, m, n, k):
    pe = _tree(t, w)
    assert pe.cycles(1, m, n, k) * t * w >= m * n * k
