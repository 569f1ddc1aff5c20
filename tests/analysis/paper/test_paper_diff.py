import pandas as pd
import pytest

from analysis.paper import diff as paper_diff


def _run(tmp_path, name, values):
    rows = [dict(figure="fig13a", system="orin", method=m, kv_tokens=k, batch=1, metric="frame_latency_ms",
                 value=v, unit="ms", layer=None, head=None) for (m, k), v in values.items()]
    d = tmp_path / name
    d.mkdir()
    pd.DataFrame(rows).to_csv(d / "results.csv", index=False)
    return d


def test_changes_are_paired_and_measured(tmp_path):
    old = _run(tmp_path, "old", {("flexgen", 1000): 100.0, ("flexgen", 5000): 200.0, ("rekv", 1000): 50.0})
    new = _run(tmp_path, "new", {("flexgen", 1000): 110.0, ("flexgen", 5000): 200.0, ("resv", 1000): 1.0})
    t = paper_diff.compare(paper_diff.load(old), paper_diff.load(new))
    assert len(t) == 1
    r = t.iloc[0]
    assert r["points"] == 2
    assert r["largest_change"] == pytest.approx(0.10)
    assert r["median_abs_change"] == pytest.approx(0.05)
    assert "1000 tokens" in r["largest_at"]
    assert t.attrs["only_old"] == 1 and t.attrs["only_new"] == 1


def test_missing_run_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match="no results.csv"):
        paper_diff.load(tmp_path)
