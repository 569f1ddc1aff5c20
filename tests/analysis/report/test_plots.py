"""Figures and the Markdown report are drawn from saved runs and sweeps."""

from __future__ import annotations

from simulator.cli import main


def test_plot_and_report_from_saved_run(root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["simulate", "--workload", str(root / "workloads" / "tiny.yaml"), "--save", str(run),
                 "--no-progress"]) == 0
    assert main(["plot", str(run), "--out", str(tmp_path / "figs")]) == 0
    for name in ("latency_breakdown", "headline", "kv_over_time", "area_power", "roofline"):
        for ext in ("png", "pdf"):
            f = tmp_path / "figs" / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 1000
    assert main(["report", str(run), "--out", str(tmp_path / "rep" / "report.md")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "![headline](figures/headline.png)" in md and "FPS sustained" in md
    assert (tmp_path / "rep" / "figures" / "headline.png").is_file()


def test_plot_rejects_other_directories(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a saved run" in capsys.readouterr().err
