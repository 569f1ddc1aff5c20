"""The paper table: ours beside the paper's claims, with ratios computed from the runs."""

from __future__ import annotations

import pandas as pd

from analysis.paper import PAPER, summarise


def test_summary_ranges_and_ratios():
    runs = pd.DataFrame([
        {"model": "a", "policy": "full", "accel_fps": 1.0, "accel_s": 20.0, "base_s": 40.0, "accel_j": 10.0,
         "base_j": 50.0, "dre_area_pct": 2.0, "dre_power_pct": 1.0},
        {"model": "a", "policy": "resv", "accel_fps": 2.0, "accel_s": 10.0, "base_s": 30.0, "accel_j": 5.0,
         "base_j": 40.0, "dre_area_pct": 2.0, "dre_power_pct": 1.1},
        {"model": "b", "policy": "resv", "accel_fps": 4.0, "accel_s": 5.0, "base_s": 5.0, "accel_j": 2.0,
         "base_j": 2.0, "dre_area_pct": 4.0, "dre_power_pct": 3.3},
    ])
    s = summarise(runs).set_index("metric")
    assert s.loc["real-time FPS (V-Rex, ReSV)", "ours"] == "2-4"
    # V-Rex with ReSV (model a: 10 s, 5 J) against the baseline's full (40 s, 50 J) and resv (30 s, 40 J)
    assert s.loc["speedup over Orin", "ours"] == "1-4"
    assert s.loc["energy efficiency over Orin", "ours"] == "1-10"
    assert s.loc["DRE share of area [%]", "ours/paper"] == f"{3.0 / PAPER['dre_area_pct']:.2f}"
