"""PE-array cycles vs SCALE-Sim side by side; skipped unless scalesim is installed (make validate-scalesim)."""

from __future__ import annotations

import pytest

pytest.importorskip("scalesim")


def test_within_5_percent_of_scalesim_on_traced_gemms():
    from analysis.validate.scalesim import compare, traced_shapes

    shapes = traced_shapes(max_macs=150_000_000)
    assert len(shapes) >= 10
    rows = compare(shapes)
    for df in ("output_stationary", "weight_stationary"):
        mine = [r for r in rows if r["dataflow"] == df]
        assert len(mine) >= 10
        assert all(abs(r["error"]) <= 0.05 for r in mine), [r for r in mine if abs(r["error"]) > 0.05]
