"""`make paper` on a reduced run: the results file's schema, identifiers and the figures it writes."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from analysis.paper.evaluation import COLUMNS, PaperRun, run_paper
from simulator.config.policies import KV_POLICIES

SYSTEMS = {"vrex8", "vrex8-kvpu", "vrex48", "vrex48-kvpu", "orin-agx-32gb", "a100-80gb", "oaken",
           "orin-agx-32gb+tensorrt-llm"}
# the registered KV policies (and FlexGen's best placement), then the accelerator's blocks of the area/power table
METHODS = set(KV_POLICIES) | {"flexgen-best", "core", "dpe", "vpe", "sram", "hcu", "wtu", "kvmu", "dre_sram",
                              "control", "chip"}
METRICS = {"frame_latency_ms", "tpot_ms", "fps", "speedup_vs_flexgen", "tpot_speedup_vs_flexgen",
           "energy_eff_vs_flexgen", "tpot_energy_eff_vs_flexgen", "e2e_speedup_vs_flexgen", "roofline_share",
           "retrieval_share", "area_mm2_per_core", "power_w_per_core", "area_mm2", "power_w",
           "peak_power_w_per_core", "chip_peak_power_w", "frame_speedup_of_vrex8", "tpot_speedup_of_vrex8",
           "step_speedup", "tpot_step_speedup", "kv_gpu_percent", "frame_speedup_vs_best_gpu",
           "tpot_speedup_vs_best_gpu"}


CFG = PaperRun(kv_sizes=(1_000, 40_000), edge_batches=(1,), server_batches=(1,), roofline_batch=1, frames=2,
               answer_tokens=2, map_kv_sizes=(1_000, 40_000), map_batches=(1,))


def _overlay(path):
    """A paper-fitted overlay of our own (not the fitted one): a 64K-token window, a queue depth of 8."""
    note = "inferred by vrex fit from vrex-fit.csv"
    path.write_text(yaml.safe_dump({"name": "paper-fitted", "set": [
        {"path": "workload.kv_policy.params.recent_window", "value": 65536, "note": note},
        {"path": "hw.offload.device.queue_depth", "value": 8, "note": note}]}))
    return path


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    run_paper(out, cfg=CFG, overlay=_overlay(out / "overlay.yaml"))
    return out


def _read(out, mode="as-stated"):
    df = pd.read_csv(out / "results.csv")
    return df[df["mode"] == mode]


def test_results_schema_and_identifiers(reduced):
    df = pd.read_csv(reduced / "results.csv")
    assert list(df.columns) == COLUMNS
    assert set(df["system"]) <= SYSTEMS and set(df["method"]) <= METHODS and set(df["metric"]) <= METRICS
    assert {"fig13a", "fig13b", "fig14", "fig15", "fig16", "fig18", "fig20", "table3", "ladder",
            "capacity_map"} <= set(df["figure"])
    assert set(df["kv_tokens"].dropna()) <= {1_000, 40_000}
    oom = df[df["unit"] == "oom"]
    assert oom["value"].isna().all()
    assert df.loc[df["unit"] != "oom", "value"].notna().all()
    pq = pd.read_parquet(reduced / "results.parquet")
    assert len(pq) == len(df)


def test_flexgen_is_the_reference_and_oom_appears(reduced):
    df = _read(reduced)
    ref = df[(df["method"] == "flexgen") & (df["metric"] == "speedup_vs_flexgen")]
    assert len(ref) and (ref["value"] == 1.0).all()
    fig15 = df[df["figure"] == "fig15"]
    # Orin keeps a 40K-token cache of 16 streams in DRAM without offloading: out of memory
    assert (fig15[(fig15["system"] == "orin-agx-32gb") & (fig15["kv_tokens"] == 40_000)]["unit"] == "oom").all()
    t3 = df[df["figure"] == "table3"]
    # one row per block the platform's units and memory make (derived, not listed), plus the core and the chip
    from simulator.config.hardware import load_hardware
    from simulator.engine.platforms.accelerator import AcceleratorPlatform
    from simulator.pipeline import ROOT

    blocks = AcceleratorPlatform(load_hardware(ROOT / "hwconfigs" / "vrex8-edge.yaml")).area_per_core_mm2()
    assert set(t3["method"]) == {b.removeprefix("dre_") if b != "dre_sram" else b for b in blocks} | {"core", "chip"}
    assert {"dpe", "vpe", "sram", "hcu", "wtu", "kvmu"} <= set(t3["method"])


def test_every_figure_written(reduced):
    for name in ("fig13a", "fig13b", "fig14", "fig15", "fig16", "fig17", "fig18", "fig20", "table3", "fig_stacks",
                 "ladder", "capacity_map"):
        assert (reduced / "figures" / f"{name}.png").is_file(), name
        assert (reduced / "figures" / "paper-fitted" / f"{name}.png").is_file(), name
    from analysis.paper.figures import FIGURES

    assert set(FIGURES) == {"fig13a", "fig13b", "fig14", "fig15", "fig16", "fig17", "fig18", "fig20", "table3",
                            "fig_stacks", "ladder", "capacity_map"}
    text = (reduced / "paper.md").read_text()
    for fig in FIGURES.values():  # each section titled as the registry says (written once)
        assert f"### {fig.title}\n" in text, fig.id
    assert "## Mode: as-stated" in text and "## Mode: paper-fitted" in text


def test_the_paper_fitted_mode_changes_vrex_and_keeps_the_gpu_baselines(reduced):
    """The overlay's window reaches ReSV runs and its SSD queue depth V-Rex8's drive; the GPU + FlexGen points
    are the same in both modes (the overlay applies to V-Rex and ReSV only)."""
    a, f = _read(reduced), _read(reduced, "paper-fitted")
    assert len(a) == len(f)
    key = ["figure", "system", "method", "kv_tokens", "batch", "metric"]
    both = a.merge(f, on=key, suffixes=("_a", "_f"))
    lat = both[(both["figure"] == "fig13a") & (both["metric"] == "frame_latency_ms")].set_index(
        ["system", "method", "kv_tokens"])
    assert lat.loc[("orin-agx-32gb", "flexgen", 40_000), "value_a"] == lat.loc[("orin-agx-32gb", "flexgen", 40_000),
                                                                              "value_f"]
    # a 64K window keeps the whole 40K cache in V-Rex8's DRAM: no SSD fetch, a shorter frame
    assert lat.loc[("vrex8", "resv", 40_000), "value_f"] < lat.loc[("vrex8", "resv", 40_000), "value_a"]


def test_a_bad_overlay_is_one_error(tmp_path):
    from simulator.errors import ConfigError

    bad = tmp_path / "o.yaml"
    bad.write_text(yaml.safe_dump({"set": [{"path": "workload.kv_policy.params.recent_window", "value": 9,
                                            "note": "chosen by hand"}]}))
    with pytest.raises(ConfigError, match="inferred by vrex fit"):
        run_paper(tmp_path / "p", cfg=CFG, overlay=bad)
    with pytest.raises(ConfigError, match="modes are"):
        run_paper(tmp_path / "p", cfg=CFG, modes=("fitted",))


def test_stack_figure_compares_vrex8_with_each_stack(reduced):
    """The stack figure: one row per (KV size, stack); the hf-pytorch speedup is Fig. 13a's FlexGen point's,
    and the compiled stack's shorter decode (no per-kernel launch gap) leaves V-Rex8 a smaller TPOT speedup."""
    df = _read(reduced)
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
    run_paper(reduced, cfg=CFG, overlay=reduced / "overlay.yaml")
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


def test_worker_processes_give_the_same_points(reduced, tmp_path):
    """compute_points over two spawned workers writes the same points as the serial run: the same names (configs
    and code) and the same figures."""
    import json

    from analysis.paper.evaluation import Points, compute_points, requests

    P = Points(tmp_path, CFG)
    reqs = [r for r in requests(P, CFG) if r[2] == 1_000][:6]  # a few traces (GPU and ReSV), small caches
    assert len({(r[1], r[3]) for r in reqs}) >= 2
    made = compute_points([(P, r) for r in reqs], jobs=2)
    assert made >= 2
    for system, method, kv, batch, hw_name, params, changes in reqs:
        tag, _ = P.tag(system, method, kv, batch, hw_name, params, **changes)
        mine = json.loads(P.store.path(tag).read_text())
        theirs = json.loads((reduced / "points" / f"{tag}.json").read_text())
        for key in ("status", "frame_latency_s", "tpot_s", "frame_energy_j", "token_energy_j", "frame_bytes"):
            assert mine.get(key) == theirs.get(key), (tag, key)


def test_paper_md_blocks_come_from_the_run(reduced, tmp_path):
    """PAPER.md's generated blocks quote the run's results.csv (both modes), and make docs fills the markers from
    a given run's file and refuses a missing file it was pointed at."""
    from analysis.devtools.docs import replace_blocks
    from analysis.paper import paper_md

    df = pd.read_csv(reduced / "results.csv")
    lad = paper_md.ladder_markdown(df)
    v = df[(df["mode"] == "paper-fitted") & (df["figure"] == "ladder") & (df["system"] == "vrex8")
           & (df["kv_tokens"] == 40_000) & (df["metric"] == "speedup_vs_flexgen")]["value"].iloc[0]
    assert f"| {paper_md._g(v)} |" in lad and "paper-fitted | edge, 1" in lad
    summary = paper_md.summary_markdown(df)
    fps = 1e3 / df[(df["mode"] == "as-stated") & (df["figure"] == "fig13a") & (df["system"] == "vrex8")
                   & (df["batch"] == 1) & (df["metric"] == "frame_latency_ms")]["value"]
    assert f"{fps.iloc[0]:.2g} / " in summary
    assert "as-stated | paper-fitted" in paper_md.figures_markdown(df)
    assert "vrex48 vs a100-80gb, batch 1" in paper_md.map_markdown(df)
    from analysis.paper.ladder import headline

    assert "| capacity map | vrex48 vs a100-80gb" in headline(reduced / "results.csv", mode="paper-fitted")
    text = "x\n<!-- paper-map:begin -->\nold\n<!-- paper-map:end -->\ny\n"
    assert "old" not in replace_blocks(text, reduced / "results.csv")
    with pytest.raises(SystemExit, match="not found"):
        replace_blocks(text, tmp_path / "none.csv")
