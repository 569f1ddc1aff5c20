"""The KVMU's offload layout (dre.offload_layout, dre.merge_requests): requests per KV transfer."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.hardware import load_hardware
from simulator.engine.simulate import build_platform
from simulator.engine.units.kvmu import layout_requests
from simulator.pipeline import resolve

TOKEN_BYTES = 512.0  # K and V of one token of one KV head: 2 x 128 x 2 bytes
HEADS = 8


@st.composite
def transfers(draw):
    """Ops of one KV head: tokens moved and the contiguous runs they form (1 <= runs <= tokens, or 0: a stream)."""
    tokens = np.array(draw(st.lists(st.integers(0, 5000), min_size=1, max_size=20)), dtype=np.float64)
    frac = np.array(draw(st.lists(st.floats(0, 1), min_size=len(tokens), max_size=len(tokens))))
    runs = np.where(tokens > 0, np.maximum(1, np.floor(frac * tokens)), 0.0)
    stream = np.array(draw(st.lists(st.booleans(), min_size=len(tokens), max_size=len(tokens))))
    return np.where(stream, 0.0, runs), tokens * TOKEN_BYTES


@settings(max_examples=60, deadline=None)
@given(transfers(), st.sampled_from(["head_rows", "token_rows"]), st.booleans())
def test_merging_never_adds_requests(t, layout, shared):
    runs, nbytes = t
    geo = (TOKEN_BYTES, HEADS, shared)
    merged = layout_requests(runs, nbytes, layout, True, geo)
    apart = layout_requests(runs, nbytes, layout, False, geo)
    assert (merged <= apart).all()
    assert (apart == nbytes / TOKEN_BYTES).all()  # unmerged: a request per token of the head


def test_head_rows_merged_is_the_trace_runs_and_token_rows_share_runs_across_heads():
    runs, nbytes = np.array([3.0, 0.0, 10.0]), np.array([64, 640, 320]) * TOKEN_BYTES
    assert np.array_equal(layout_requests(runs, nbytes, "head_rows", True, None), runs)  # today's behaviour
    shared = layout_requests(runs, nbytes, "token_rows", True, (TOKEN_BYTES, HEADS, True))
    assert np.allclose(shared, runs / HEADS)  # one request serves the layer's 8 heads
    apart = layout_requests(runs, nbytes, "token_rows", True, (TOKEN_BYTES, HEADS, False))
    assert np.array_equal(apart, nbytes / TOKEN_BYTES)  # strided slices: a request per token
    with pytest.raises(ValueError, match="geometry"):
        layout_requests(runs, nbytes, "token_rows", True, None)


def test_kvmu_geometry_from_the_trace_meta():
    hw = load_hardware(resolve("hwconfigs/vrex8-edge.yaml"))
    dre = dataclasses.replace(hw.dre, offload_layout="token_rows")
    p = build_platform(dataclasses.replace(hw, dre=dre))
    k = p.kvmu
    meta = {"head_dim": 128, "kv_heads": 8, "precision_bits": {"kv": 16}, "kv_bits_stored": 16,
            "kv_policy": "resv", "kv_policy_params": {"cluster_scope": "shared"}}
    p.for_trace(meta)
    assert k.geometry == (512.0, 8, True)
    p.for_trace({**meta, "kv_policy_params": {"cluster_scope": "per_kv_head"}})
    assert k.geometry == (512.0, 8, False)
