"""`make paper` on a reduced run: the results file's schema, identifiers and the figures it writes."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.paper.evaluation import COLUMNS, PaperRun, run_paper

SYSTEMS = {"vrex8", "vrex8-kvpu", "vrex48", "orin-agx-32gb", "a100-80gb", "oaken", "orin-agx-32gb+tensorrt-llm"}
METHODS = {"resv", "flexgen", "infinigen", "infinigenp", "rekv", "full", "oaken",
           "core", "dpe", "vpe", "sram", "hcu", "wtu", "kvmu", "chip"}
METRICS = {"frame_latency_ms", "tpot_ms", "fps", "speedup_vs_flexgen", "tpot_speedup_vs_flexgen",
           "energy_eff_vs_flexgen", "tpot_energy_eff_vs_flexgen", "e2e_speedup_vs_flexgen", "roofline_share",
           "retrieval_share", "area_mm2_per_core", "power_w_per_core", "area_mm2", "power_w",
           "peak_power_w_per_core", "chip_peak_power_w", "frame_speedup_of_vrex8", "tpot_speedup_of_vrex8"}


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    cfg = PaperRun(kv_sizes=(1_000, 40_000), edge_batches=(1,), server_batches=(1,), roofline_batch=1, frames=2,
                   answer_tokens=2)
    run_paper(out, cfg=cfg)
    return out


def test_results_schema_and_identifiers(reduced):
    df = pd.read_csv(reduced / "results.csv")
    assert list(df.columns) == COLUMNS
    assert set(df["system"]) <= SYSTEMS and set(df["method"]) <= METHODS and set(df["metric"]) <= METRICS
    assert {"fig13a", "fig13b", "fig14", "fig15", "fig16", "fig18", "fig20", "table3"} <= set(df["figure"])
    assert set(df["kv_tokens"].dropna()) <= {1_000, 40_000}
    oom = df[df["unit"] == "oom"]
    assert oom["value"].isna().all()
    assert df.loc[df["unit"] != "oom", "value"].notna().all()
    pq = pd.read_parquet(reduced / "results.parquet")
    assert len(pq) == len(df)


def test_flexgen_is_the_reference_and_oom_appears(reduced):
    df = pd.read_csv(reduced / "results.csv")
    ref = df[(df["method"] == "flexgen") & (df["metric"] == "speedup_vs_flexgen")]
    assert len(ref) and (ref["value"] == 1.0).all()
    fig15 = df[df["figure"] == "fig15"]
    # Orin keeps a 40K-token cache of 16 streams in DRAM without offloading: out of memory
    assert (fig15[(fig15["system"] == "orin-agx-32gb") & (fig15["kv_tokens"] == 40_000)]["unit"] == "oom").all()
    t3 = df[df["figure"] == "table3"]
    assert set(t3["method"]) == {"core", "dpe", "vpe", "sram", "hcu", "wtu", "kvmu", "chip"}


def test_every_figure_written(reduced):
    for name in ("fig13a", "fig13b", "fig14", "fig15", "fig16", "fig17", "fig18", "fig20", "table3", "fig_stacks"):
        assert (reduced / "figures" / f"{name}.png").is_file(), name
    text = (reduced / "paper.md").read_text()
    assert "Fig. 16" in text and "Table III" in text


def test_stack_figure_compares_vrex8_with_each_stack(reduced):
    """The stack figure: one row per (KV size, stack); the hf-pytorch speedup is Fig. 13a's FlexGen point's,
    and the compiled stack's shorter decode (no per-kernel launch gap) leaves V-Rex8 a smaller TPOT speedup."""
    df = pd.read_csv(reduced / "results.csv")
    st = df[df["figure"] == "fig_stacks"]
    assert set(st["system"]) == {"orin-agx-32gb", "orin-agx-32gb+tensorrt-llm"}
    assert set(st["kv_tokens"]) == {1_000, 40_000}
    f13 = df[(df["figure"] == "fig13a") & (df["method"] == "flexgen")].set_index(["kv_tokens", "metric"])["value"]
    v13 = df[(df["figure"] == "fig13a") & (df["system"] == "vrex8")].set_index(["kv_tokens", "metric"])["value"]
    hf = st[st["system"] == "orin-agx-32gb"].set_index(["kv_tokens", "metric"])["value"]
    trt = st[st["system"] == "orin-agx-32gb+tensorrt-llm"].set_index(["kv_tokens", "metric"])["value"]
    for kv in (1_000, 40_000):
        assert hf[(kv, "frame_speedup_of_vrex8")] == pytest.approx(
            f13[(kv, "frame_latency_ms")] / v13[(kv, "frame_latency_ms")], rel=1e-9)
    assert trt[(1_000, "tpot_speedup_of_vrex8")] < hf[(1_000, "tpot_speedup_of_vrex8")]
    assert "Software stacks (edge)" in (reduced / "paper.md").read_text()


def test_resumes_from_saved_points(reduced):
    points = sorted((reduced / "points").glob("*.json"))
    assert points
    stamp = {p: p.stat().st_mtime_ns for p in points}
    run_paper(reduced, cfg=PaperRun(kv_sizes=(1_000, 40_000), edge_batches=(1,), server_batches=(1,),
                                    roofline_batch=1, frames=2, answer_tokens=2))
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())  # nothing recomputed


def test_a_changed_config_or_code_never_reuses_a_point(tmp_path, monkeypatch):
    from analysis.paper import evaluation as paper

    P = paper.Points(tmp_path, PaperRun(frames=2, answer_tokens=2))
    hw = P.hardware("vrex8-edge")
    key = P.point_key(hw, "resv", 1_000, 1)
    assert key == P.point_key(P.hardware("vrex8-edge"), "resv", 1_000, 1)  # stable
    assert key != P.point_key(P.hardware("vrex8-edge", clock_mhz=hw.clock_mhz / 2), "resv", 1_000, 1)
    assert key != P.point_key(hw, "resv", 5_000, 1) != P.point_key(hw, "flexgen", 1_000, 1)
    P.code = "another version"
    assert key != P.point_key(hw, "resv", 1_000, 1)
