"""Dependencies: head-group chains fan out and join; the replay honours them and overlaps units."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.replay import Durations, Replay
from simulator.engine.schedule import dependencies


def _ev(head_groups, layers=None):
    n = len(head_groups)
    return pd.DataFrame({"phase": "frame_prefill", "frame": 0, "question": -1, "step": -1,
                         "layer": layers if layers is not None else [0] * n, "head_group": head_groups})


def test_fan_out_and_join():
    deps = dependencies(_ev([-1, -1, 0, 0, 1, 1, -1, -1]))
    assert deps == [(), (0,), (1,), (2,), (1,), (4,), (3, 5), (6,)]


def test_consecutive_layers_do_not_share_a_fan_out():
    deps = dependencies(_ev([0, 1, 0, 1], layers=[0, 0, 1, 1]))
    assert deps == [(), (), (0, 1), (0, 1)]


@settings(max_examples=40, deadline=None)
@given(hg=st.lists(st.integers(-1, 2), min_size=1, max_size=30), seed=st.integers(0, 1000),
       factor=st.floats(1.0, 6.0))
def test_replay_respects_deps_and_is_monotone(hg, seed, factor):
    rng = np.random.default_rng(seed)
    n = len(hg)
    deps = dependencies(_ev(hg))
    read, comp, write = (rng.exponential(1.0, n) * (rng.random(n) < 0.7) for _ in range(3))
    unit = rng.integers(0, 4, n)
    t = Replay(Durations.of(comp, read, write), unit, 4, deps).run()
    for i, ds in enumerate(deps):
        for d in ds:
            assert t["compute_start"][i] >= t["compute_end"][d] - 1e-12
        assert t["compute_start"][i] >= t["read_end"][i] - 1e-12
    fast = Replay(Durations.of(comp, read / factor, write / factor), unit, 4, deps).run()
    assert (fast["compute_end"] <= t["compute_end"] + 1e-9).all()
