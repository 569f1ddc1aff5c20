"""vrex explore and vrex sensitivity on tiny specs: constraints before simulating, resume by replay, saved
configs that re-run to the same figures, the report and plots, Morris/Sobol indices, one-line spec errors."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

import analysis.studies.explore as explore
from analysis.studies.explore import load_explore_spec, rerun, run_explore, system_peak_power_w
from analysis.studies.sensitivity import decode, load_sensitivity_spec, resolve
from analysis.studies.sweep import load_results
from simulator.cli import main
from simulator.config.hardware import load_hardware
from simulator.errors import ConfigError

EXPLORE = {
    "name": "tiny-explore",
    "reference_name": "V-Rex8",
    "base": {"hw": "hwconfigs/vrex8-edge.yaml", "baseline": "hwconfigs/orin-agx-32gb.yaml",
             "workload": "workloads/tiny.yaml"},
    "scenarios": [{"name": "short", "set": {"workload.kv_prefill_tokens": 0}},
                  {"name": "tpf4", "set": {"model.tokens_per_frame": 4}}],
    "axes": [{"name": "cores", "level": "chip", "path": "hw.cores", "values": [4, 8, 16]},
             {"name": "dram", "level": "memory", "options": {
                 "lpddr5": {"hw.dram.type": "lpddr5", "hw.dram.bandwidth_gbps": 204.8},
                 "lpddr5x": {"hw.dram.type": "lpddr5x", "hw.dram.bandwidth_gbps": 273.0}}}],
    "optimizer": {"population": 4, "generations": 2, "seed": 1},
    "constraints": ["area_mm2 <= reference", "system_peak_power_w <= reference", "dram_headroom_gib >= 0"],
    "neighbours": False,
    "objectives": ["short.frame_latency_mean_s", "tpf4.decode_step_s", "area_mm2"],
}

SENS = {
    "name": "tiny-sens",
    "base": {"hw": "hwconfigs/vrex8-edge.yaml", "baseline": "hwconfigs/orin-agx-32gb.yaml",
             "workload": "workloads/tiny.yaml", "baseline_workload": "workloads/tiny.yaml"},
    "scenarios": [{"name": "short", "set": {}}],
    "outputs": ["short.frame_speedup"],
    "inputs": [
        {"name": "dram_bw", "paths": ["hw.dram.bandwidth_gbps"], "range": [51.2, 409.6], "log": True,
         "source": "test"},
        {"name": "ssd_latency", "paths": ["hw.offload.device.read_latency_us"], "range": [20, 200],
         "source": "test: the tiny stream never touches the SSD, so this input must not matter"},
        {"name": "tpf", "options": {"t4": {"model.tokens_per_frame": 4}, "t16": {"model.tokens_per_frame": 16}},
         "source": "test"}],
    "morris": {"trajectories": 2, "levels": 4},
    "sobol": {"top": 2, "samples": 4, "max_samples": 4},
}


def _write(tmp_path, base, name="spec.yaml", **changes):
    d = yaml.safe_load(yaml.safe_dump(base))
    d.update(changes)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.fixture(autouse=True)
def _cwd(root, monkeypatch):
    monkeypatch.chdir(root)


def test_explore_constraints_resume_and_rerun(tmp_path, monkeypatch):
    spec = _write(tmp_path, EXPLORE)
    out = tmp_path / "ex"
    df = run_explore(spec, out, workers=1, progress=False)
    ref = json.loads((out / "reference.json").read_text())
    vrex8 = load_hardware("hwconfigs/vrex8-edge.yaml")
    assert ref["params"] == {"cores": 8, "dram": "lpddr5"}
    assert ref["system_peak_power_w"] == pytest.approx(system_peak_power_w(vrex8))
    # 16 cores is twice V-Rex8's area: recorded as infeasible without being simulated
    big = df[df["axis:cores"] == 16]
    assert len(big) and (big["status"] == "infeasible").all() and big["short.frame_latency_mean_s"].isna().all()
    assert (big["area_mm2"] > ref["area_mm2"]).all()
    ok = df[df["status"] == "ok"]
    assert ref["point_id"] in set(ok["point_id"]) and len(ok) >= 2
    assert (ok["area_mm2"] <= ref["area_mm2"] + 1e-9).all()
    # the model override reaches the trace: fewer tokens per frame, a shorter frame
    assert (ok["tpf4.frame_latency_mean_s"] < ok["short.frame_latency_mean_s"]).all()
    # Pareto set files
    front = pd.read_parquet(out / "pareto.parquet")
    assert len(front) and set(front["point_id"]) <= set(ok["point_id"])
    assert len(pd.read_csv(out / "pareto.csv")) == len(front)
    # every simulated design re-runs from its saved configs to the same figures
    for pid in ok["point_id"]:
        row = ok.set_index("point_id").loc[pid]
        again = rerun(out, pid, "tpf4")
        assert again["tpf4.frame_latency_mean_s"] == pytest.approx(row["tpf4.frame_latency_mean_s"], rel=1e-12)
        assert again["tpf4.energy_per_frame_j"] == pytest.approx(row["tpf4.energy_per_frame_j"], rel=1e-12)

    # resume replays the seeded search: nothing is simulated again and the rows are identical
    calls = {"n": 0}
    monkeypatch.setattr(explore, "run_design", lambda *a: calls.__setitem__("n", calls["n"] + 1))
    with pytest.raises(ConfigError, match="--resume"):
        run_explore(spec, out, workers=1, progress=False)
    again = run_explore(spec, out, resume=True, workers=1, progress=False)
    assert calls["n"] == 0
    pd.testing.assert_frame_equal(again.sort_values("point_id").reset_index(drop=True),
                                  df.sort_values("point_id").reset_index(drop=True))


def test_explore_interrupted_then_resumed_matches(tmp_path, monkeypatch):
    spec = _write(tmp_path, EXPLORE)
    full = run_explore(spec, tmp_path / "a", workers=1, progress=False)
    real, calls = explore.run_design, {"n": 0}

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(explore, "run_design", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_explore(spec, tmp_path / "b", workers=1, progress=False)
    monkeypatch.setattr(explore, "run_design", real)
    resumed = run_explore(spec, tmp_path / "b", resume=True, workers=1, progress=False)
    cols = ["point_id", "status", "short.frame_latency_mean_s", "area_mm2"]
    a = full[cols].sort_values("point_id").reset_index(drop=True)
    b = resumed[cols].sort_values("point_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_levels_neighbours_and_fixed_levels(tmp_path):
    """The reference's one-knob neighbours are simulated whatever the budget; a search with the memory level
    fixed only moves the chip; every row says which levels it changes; worst-case objectives are ratios."""
    spec = _write(tmp_path, EXPLORE, neighbours=True, objectives=["worst.frame_latency_mean_s", "area_mm2"],
                  constraints=["area_mm2 <= reference", "system_peak_power_w <= reference"])
    out = tmp_path / "lv"
    df = run_explore(spec, out, workers=1, progress=False, fix_levels=("memory",))
    nb = df[df["stage"] == "reference and one-knob neighbours"]
    assert set(nb["levels"]) == {"reference", "chip", "memory"}
    assert len(nb) == 1 + 2 + 1  # V-Rex8, cores 4 and 16, LPDDR5X
    big = nb[nb["axis:cores"] == 16]
    assert (big["status"] == "infeasible").all() and big["short.frame_latency_mean_s"].notna().all()  # simulated
    # the search holds the memory at the reference: no design moves both levels (its chip designs are the
    # neighbours already simulated, so nothing new is run)
    assert "chip+memory" not in set(df["levels"]) and len(df) == 4
    ref = df[df["levels"] == "reference"].iloc[0]
    assert ref["worst.frame_latency_mean_s"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="unknown level"):
        run_explore(spec, tmp_path / "bad", workers=1, progress=False, fix_levels=("dram",))


def test_explore_cli_writes_report_and_plots(tmp_path, capsys):
    spec = _write(tmp_path, EXPLORE)
    out = tmp_path / "cli"
    assert main(["explore", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "Pareto set" in capsys.readouterr().out
    md = (out / "codesign.md").read_text()
    for section in ("## One-knob neighbours of V-Rex8", "## Pareto sets per level",
                    "## The best design of each level, on every scenario", "Stall breakdown", "vrex simulate --hw"):
        assert section in md, section
    assert "max relative difference 0.0e+00" in md
    for f in ("pareto.png", "pareto.pdf", "parallel.png", "parallel.pdf", "pareto.parquet", "pareto.csv"):
        assert (out / f).stat().st_size > 0


def test_sensitivity_cli_indices_and_tornado(tmp_path, capsys):
    spec = _write(tmp_path, SENS)
    out = tmp_path / "sens"
    assert main(["sensitivity", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "tornado" in capsys.readouterr().out
    idx = pd.read_csv(out / "indices.csv").set_index("input")
    # Morris: 2 trajectories x (3 inputs + 1); OAT: nominal + 2 ends + 1 other option; Sobol: 4 x (2 + 2)
    assert len(load_results(out / "morris")) == 8 and len(load_results(out / "oat")) == 6
    assert len(load_results(out / "sobol")) == 16
    # DRAM bandwidth moves the tiny stream's speedup; the SSD latency cannot (nothing is offloaded)
    assert idx.loc["dram_bw", "morris_mu_star"] > 0
    assert idx.loc["ssd_latency", "morris_mu_star"] == pytest.approx(0.0, abs=1e-9)
    assert idx.loc["ssd_latency", "oat_swing"] == pytest.approx(0.0, abs=1e-9)
    assert idx.loc["dram_bw", "oat_low"] < idx.loc["dram_bw", "oat_high"]
    assert not pd.isna(idx.loc["dram_bw", "sobol_ST"])  # carried to Sobol
    assert pd.isna(idx.loc["ssd_latency", "sobol_ST"])  # screened out by Morris
    md = (out / "sensitivity.md").read_text()
    assert "| ssd_latency | 20 - 200; base " in md and "test: the tiny stream never touches the SSD" in md
    assert (out / "tornado.png").stat().st_size > 0


@pytest.mark.parametrize("change, key, text", [
    ({"axes": [{"name": "x", "level": "chip", "path": "hw.pe_array.nope", "values": [1]}]}, "axes[0].path",
     "not a key"),
    ({"axes": [{"name": "x", "level": "chip", "path": "hw.cores", "values": [3, 5]}]}, "axes[0].values",
     "base configs' value 8"),
    ({"axes": [{"name": "x", "level": "chip", "path": "model.llm.nope", "values": [1]}]}, "axes[0].path",
     "allowed: arch"),
    ({"axes": [{"name": "x", "path": "hw.cores", "values": [8]}]}, "axes[0].level", "missing"),
    ({"axes": [{"name": "x", "level": "board", "path": "hw.cores", "values": [8]}]}, "axes[0].level", "chip"),
    ({"stages": [{"name": "s", "free": ["io"]}]}, "stages[0].free", "no axis belongs to io"),
    ({"scenarios": [{"name": "worst", "set": {}}]}, "scenarios[0].name", "worst case"),
    ({"objectives": ["short.frame_latency"]}, "objectives[0]", "unknown metric"),
    ({"constraints": ["area_mm2 <= lots"]}, "constraints[0]", "metric <op> number|reference"),
    ({"scenarios": []}, "scenarios", "empty"),
    ({"optimizer": {"population": 1}}, "optimizer.population", ">= 2"),
])
def test_explore_spec_errors_one_line(tmp_path, capsys, change, key, text):
    spec = _write(tmp_path, EXPLORE, **change)
    with pytest.raises(ConfigError) as exc:
        load_explore_spec(spec)
    assert f"key '{key}'" in str(exc.value) and text in str(exc.value)
    assert main(["explore", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"vrex: error: {spec}: key '{key}'")


@pytest.mark.parametrize("change, key", [
    ({"inputs": [{"name": "a", "paths": ["hw.cores"], "range": [2, 16], "source": ""},
                 {"name": "b", "paths": ["hw.clock_mhz"], "range": [400, 1600], "source": "x"}]}, "inputs[0].source"),
    ({"inputs": [{"name": "a", "paths": ["hw.cores"], "range": [9, 16], "source": "x"},
                 {"name": "b", "paths": ["hw.clock_mhz"], "range": [400, 1600], "source": "x"}]}, "inputs[0].paths[0]"),
    ({"outputs": ["other.frame_speedup"]}, "outputs[0]"),
    ({"sobol": {"samples": 6}}, "sobol.samples"),
])
def test_sensitivity_spec_errors(tmp_path, capsys, change, key):
    spec = _write(tmp_path, SENS, **change)
    with pytest.raises(ConfigError, match=re.escape(f"key '{key}'")):
        load_sensitivity_spec(spec)
    assert main(["sensitivity", str(spec), "--no-progress"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_shipped_specs_validate():
    sp = load_explore_spec("analysis/specs/codesign-edge.yaml")
    assert sp.reference_name == "V-Rex8" and len(sp.scenarios) == 3
    ss = load_sensitivity_spec("analysis/specs/open-choices.yaml")
    assert all(i.source for i in ss.inputs)
    win = next(i for i in ss.inputs if i.name == "kv_window")
    # the window runs from 1K tokens up to each scenario's cache (issue 32 item 6); everything on device is a
    # labelled case past every cache, not a level of the input
    k10, k40 = ss.scenarios
    assert resolve(win, decode(win, 0.0), k10) == 1024 and resolve(win, decode(win, 1.0), k40) == 40000
    assert resolve(win, decode(win, 1.0), k10) == 10000
    assert ss.cases["all_kv_on_device"]["workload.kv_policy.params.recent_window"] > 40000
