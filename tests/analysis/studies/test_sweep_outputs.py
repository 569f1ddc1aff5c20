"""Sweep output people use: typed axis columns (an int/float axis reads back as one Parquet dataset), CSV and
Markdown tables, line plots per objective and axis, the baseline named in every row; vrex sweep prints a table."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from analysis.studies.sweep import Axis, axis_kind, run_sweep, typed
from simulator.cli import main

SPEC = {"name": "mixed", "base": {"hw": "hwconfigs/vrex-edge.yaml", "workload": "workloads/tiny.yaml"},
        "axes": [{"path": "hw.dram.bandwidth_gbps", "values": [10, 100.5]},  # an int and a float
                 {"path": "hw.pe_array.rows", "values": [16, 32]}]}


@pytest.fixture(autouse=True)
def _cwd(root, monkeypatch):
    monkeypatch.chdir(root)


def test_axis_kinds():
    assert axis_kind(Axis(path="a.b", values=[1, 2.5])) is float
    assert axis_kind(Axis(path="a.b", values=[1, 2])) is int
    assert axis_kind(Axis(path="a.b", values=[True, False])) is bool
    assert axis_kind(Axis(path="a.b", values=["x", 1])) is str
    assert axis_kind(Axis(path="a.b", range=[1, 9], integer=True)) is int
    assert typed(10, float) == 10.0 and isinstance(typed(10, float), float)


def test_sweep_writes_tables_and_line_plots(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "axis:hw.dram.bandwidth_gbps" in printed and "flexgen" in printed and "points.csv" in printed
    ds = pd.read_parquet(out / "points")  # one dataset: the mixed axis has one type
    assert ds["axis:hw.dram.bandwidth_gbps"].dtype == float and len(ds) == 4
    assert (ds["baseline_policy"] == "flexgen").all()
    csv = pd.read_csv(out / "points.csv")
    assert sorted(csv["axis:hw.dram.bandwidth_gbps"].unique()) == [10.0, 100.5]
    md = (out / "points.md").read_text()
    assert md.startswith("| point_id | axis:hw.dram.bandwidth_gbps") and md.count("\n") == 6
    assert (out / "pareto.csv").is_file()
    lines = sorted(p.name for p in (out / "lines").glob("*.png"))
    assert "frame_latency_mean_s_vs_hw_dram_bandwidth_gbps.png" in lines
    assert "speedup_vs_hw_pe_array_rows.png" in lines


def test_sweep_spec_takes_the_baseline_keys(tmp_path):
    d = dict(SPEC, base=dict(SPEC["base"], baseline_workload="same"), axes=SPEC["axes"][:1])
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(d))
    df = run_sweep(spec, tmp_path / "o", workers=1, progress=False)
    assert (df["baseline_policy"] == "full").all()


def test_validate_checks_every_point_as_sweep_does(tmp_path, capsys):
    bad = dict(SPEC, axes=[{"path": "hw.dram.bandwidth_gbps", "values": [10, -5]}])
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(bad))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "-5" in err and "dram.bandwidth_gbps" in err and len(err.strip().splitlines()) == 1
