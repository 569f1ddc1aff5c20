"""The shipped co-design results (docs/codesign, written by make codesign) re-run from a fresh clone: one reported
design, from its committed configs, gives the committed figures; the committed report names what it ships."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.studies.explore import load_explore_spec, rerun

SHIPPED = "docs/codesign"


@pytest.fixture(autouse=True)
def _cwd(root, monkeypatch):
    monkeypatch.chdir(root)


def test_a_reported_design_reruns_to_its_reported_figures():
    table = pd.read_csv(f"{SHIPPED}/designs.csv")
    row = table[(table["design"].str.startswith("best chip only")) & (table["scenario"] == "kv10k")].iloc[0]
    again = rerun(SHIPPED, row["point_id"], "kv10k")
    for m in ("frame_latency_mean_s", "decode_step_s", "energy_per_frame_j", "fps_sustained"):
        assert again[f"kv10k.{m}"] == pytest.approx(row[m], rel=1e-6), m


def test_the_shipped_report_matches_its_table():
    table = pd.read_csv(f"{SHIPPED}/designs.csv")
    text = open(f"{SHIPPED}/codesign.md").read()
    sp = load_explore_spec(f"{SHIPPED}/spec.yaml")
    assert set(table["scenario"]) == {s.name for s in sp.scenarios}
    for pid in table["point_id"].unique():
        assert f"`{pid[:8]}`" in text or table.loc[table["point_id"] == pid, "levels"].iloc[0] == "reference"
    assert f"{SHIPPED}/configs/" in text and "results/codesign/configs" not in text
