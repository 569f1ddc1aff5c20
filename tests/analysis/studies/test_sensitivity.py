"""vrex sensitivity's sampling to convergence, inputs whose range ends at each scenario's value (the window up to
the cache), snapped levels, labelled cases and the report's losses section, on a tiny ReSV stream."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from analysis.studies.sensitivity import decode, input_values, load_sensitivity_spec, resolve, run_sensitivity
from analysis.studies.sweep import load_results
from simulator.errors import ConfigError

SPEC = {
    "name": "tiny-window",
    "base": {"hw": "hwconfigs/vrex8-edge.yaml", "baseline": "hwconfigs/orin-agx-32gb.yaml",
             "workload": "workloads/tiny.yaml", "baseline_workload": "workloads/tiny.yaml"},
    "scenarios": [{"name": "c64", "set": {"workload.kv_prefill_tokens": 64}},
                  {"name": "c256", "set": {"workload.kv_prefill_tokens": 256}}],
    "outputs": ["c64.frame_speedup", "c256.frame_speedup"],
    "inputs": [
        {"name": "window", "paths": ["workload.kv_policy.params.recent_window"], "range": [16, 4096],
         "high_from": "workload.kv_prefill_tokens", "log": True, "integer": True, "levels": 3,
         "source": "test: up to each scenario's cache"},
        {"name": "dram_bw", "paths": ["hw.dram.bandwidth_gbps"], "range": [51.2, 409.6], "log": True,
         "source": "test"}],
    "cases": {"all_on_device": {"workload.kv_policy.params.recent_window": 4096}},
    "morris": {"trajectories": 2, "levels": 4},
    "sobol": {"top": 2, "samples": 2, "max_samples": 4, "target": 0.05},
}


@pytest.fixture(autouse=True)
def _cwd(root, monkeypatch):
    monkeypatch.chdir(root)


def _spec(tmp_path, **changes):
    d = yaml.safe_load(yaml.safe_dump(SPEC))
    d.update(changes)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.fixture
def resv_tiny(tmp_path, root):
    """workloads/tiny.yaml under ReSV with a 16-token window (the window input's low end)."""
    d = yaml.safe_load((root / "workloads" / "tiny.yaml").read_text())
    d["model"] = str(root / "workloads" / d["model"])
    d["kv_policy"] = {"name": "resv", "params": {"recent_window": 16}}
    p = tmp_path / "tiny-resv.yaml"
    p.write_text(yaml.safe_dump(d))
    return str(p)


def test_window_up_to_each_scenarios_cache(tmp_path, resv_tiny):
    spec = _spec(tmp_path, base={**SPEC["base"], "workload": resv_tiny})
    sp = load_sensitivity_spec(spec)
    win = sp.inputs[0]
    # positions snap to 3 levels (0, 1/2, 1) and resolve per scenario: 16 tokens up to the scenario's cache
    assert [decode(win, x) for x in (0.1, 0.4, 0.6, 0.99)] == [0.0, 0.5, 0.5, 1.0]
    c64, c256 = sp.scenarios
    assert resolve(win, 0.0, c64) == 16 and resolve(win, 1.0, c64) == 64 and resolve(win, 1.0, c256) == 256
    assert resolve(win, 0.5, c256) == round(math.sqrt(16 * 256))
    point = {"window": 1.0, "dram_bw": 204.8}
    assert input_values(sp, point, c64)["workload.kv_policy.params.recent_window"] == 64
    assert input_values(sp, {**point, "case": "all_on_device"}, c64)["workload.kv_policy.params.recent_window"] \
        == 4096  # a labelled case is set last


def test_saltelli_doubles_to_the_budget_and_says_so(tmp_path, resv_tiny):
    spec = _spec(tmp_path, base={**SPEC["base"], "workload": resv_tiny})
    out = tmp_path / "out"
    res = run_sensitivity(spec, out, workers=1, progress=False)
    # N = 2, then 4 (the budget): 4 x (2 + 2) points, the first 8 kept from N = 2
    assert len(load_results(out / "sobol")) == 16 and len(res["sobol"]) == 16
    assert len(res["cases"]) == 1 and res["cases"]["status"].iloc[0] == "ok"
    md = (out / "sensitivity.md").read_text()
    assert "up to each scenario's workload.kv_prefill_tokens" in md
    assert ("**did not converge** within the budget" in md) or ("**converged** at N = " in md)
    assert "## Labelled cases (not sampled)" in md and "| all_on_device |" in md
    assert "## Where the accelerator loses (speedup below 1)" in md
    idx = pd.read_csv(out / "indices.csv")
    assert idx["sobol_S1_conf"].notna().all()
    # another budget on resume: every point kept, the report at that budget's N
    res2 = run_sensitivity(spec, out, resume=True, workers=1, progress=False, max_samples=2)
    assert len(res2["sobol"]) == 8 and res2["sobol"]["c64.frame_speedup"].tolist() == \
        res["sobol"]["c64.frame_speedup"].tolist()[:8]
    assert "budget N = 2" in (out / "sensitivity.md").read_text()
    assert len(load_results(out / "sobol")) == 16  # the larger round's points kept, not set aside
    with pytest.raises(ConfigError, match="power of 2"):
        run_sensitivity(spec, out, resume=True, workers=1, progress=False, max_samples=3)


def test_high_from_needs_every_scenario(tmp_path, resv_tiny):

    scen = [{"name": "c64", "set": {"workload.kv_prefill_tokens": 64}}, {"name": "plain", "set": {}}]
    spec = _spec(tmp_path, base={**SPEC["base"], "workload": resv_tiny}, scenarios=scen)
    with pytest.raises(ConfigError, match="scenario 'plain' must set 'workload.kv_prefill_tokens'"):
        load_sensitivity_spec(spec)


def test_the_baseline_defaults_to_the_paper_s(tmp_path, resv_tiny, root):
    """Without base.baseline_workload the baseline runs the accelerator's stream under FlexGen: the stream's inputs
    reach both runs, the policy's only the accelerator's."""
    from analysis.studies.sensitivity import _configs

    base = {k: v for k, v in SPEC["base"].items() if k != "baseline_workload"}
    sp = load_sensitivity_spec(_spec(tmp_path, base={**base, "workload": resv_tiny}))
    assert sp.base.baseline_workload is None
    scen = sp.scenarios[1]
    vals = input_values(sp, {"window": 0.5, "dram_bw": 102.4}, scen)
    a, b = _configs(sp, vals, scen, root, tmp_path, "spec.yaml")
    assert a[2].kv_policy.name == "resv" and b[2].kv_policy.name == "flexgen" and not b[2].kv_policy.params
    assert a[2].kv_prefill_tokens == b[2].kv_prefill_tokens == 256 and a[2].stream == b[2].stream
    assert a[0].dram.bandwidth_gbps == pytest.approx(102.4)


def test_batched_points_equal_one_by_one_and_share_the_baseline(tmp_path, resv_tiny):
    """The stage's batched path (each distinct simulation once, evaluate_designs per trace) gives exactly the
    figures of one-by-one pipeline.run; points that differ only in an accelerator-only input share their baseline
    simulations; an out-of-memory point is reported as such."""
    from pathlib import Path

    import analysis.studies.sweep as sweep
    from analysis.studies.sensitivity import _configs, _run_stage, nominal, point_jobs
    from simulator.pipeline import run

    cases = {"all_on_device": {"workload.kv_policy.params.recent_window": 4096},
             "oom": {"hw.dram.capacity_gib": 0.00001}}
    spec = _spec(tmp_path, base={**SPEC["base"], "workload": resv_tiny}, cases=cases)
    sp = load_sensitivity_spec(spec)
    root, out = Path.cwd(), tmp_path / "out"
    nom = nominal(sp, root, str(spec))
    points = [nom, {**nom, "window": 1.0}, {**nom, "window": 0.5, "dram_bw": 409.6}, {**nom, "case": "oom"}]
    _, jobs, sims = point_jobs(sp, spec, root, out, "t", points, sweep.code_version())
    assert len(jobs) == 4 and len(sims) < 4 * 2 * 2  # the window moves no baseline: theirs are shared
    df = _run_stage(sp, spec, root, out, "t", points, workers=1, executor="local", scheduler=None, client=None,
                    bar=None).set_index("index")
    for i, p in enumerate(points[:3]):
        assert df.loc[i, "status"] == "ok"
        for scen in sp.scenarios:
            (hw, bl, wl, _), (_, _, bwl, _) = _configs(sp, input_values(sp, p, scen), scen, root, out, str(spec))
            r = run(hw=hw, baseline=bl, workload=wl, baseline_workload=bwl,  # the study's traces, reused
                    trace=sweep._trace_for(wl, out / "traces"), baseline_trace=sweep._trace_for(bwl, out / "traces"))
            acc, base = r.report.accel, r.report.baseline
            assert df.loc[i, f"{scen.name}.frame_latency_mean_s"] == acc.frame_latency_mean_s
            assert df.loc[i, f"{scen.name}.decode_step_s"] == acc.decode_step_s
            assert df.loc[i, f"{scen.name}.energy_per_frame_j"] == acc.energy_per_frame_j
            assert df.loc[i, f"{scen.name}.baseline_frame_latency_mean_s"] == base.frame_latency_mean_s
            assert df.loc[i, f"{scen.name}.frame_speedup"] == base.frame_latency_mean_s / acc.frame_latency_mean_s
    assert df.loc[3, "status"].startswith("c64: out of memory")
    assert math.isnan(df.loc[3, "c64.frame_latency_mean_s"])


def test_tornado_labels_in_the_factors_units(tmp_path, resv_tiny):
    from analysis.studies.sensitivity import value_label

    sp = load_sensitivity_spec(_spec(tmp_path, base={**SPEC["base"], "workload": resv_tiny}))
    win, bw = sp.inputs
    c64, c256 = sp.scenarios
    assert value_label(win, 1.0, c64) == "64 tokens" and value_label(win, 1.0, c256) == "256 tokens"
    assert value_label(win, 0.0, c256) == "16 tokens"
    assert value_label(bw, 409.6, c64) == "410"  # a name without a unit suffix: the value alone


def test_resume_guard_knows_every_registered_studys_stages(tmp_path):
    from analysis.studies.store import PointStore
    from analysis.studies.sweep import STUDY_STORES, check_resume

    spec = _spec(tmp_path)
    for stage in STUDY_STORES["sensitivity"]:
        out = tmp_path / f"o-{stage}"
        PointStore(out / stage).write("k", {"x": 1})
        with pytest.raises(ConfigError, match="--resume"):
            check_resume(out, spec, "sweep", resume=False)
