"""The command line: simulate end to end, JSON/Parquet output, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from simulator.cli import main


def test_simulate_tiny_json(capsys, root, tmp_path):
    out = tmp_path / "r.parquet"
    rc = main(["simulate", "--workload", str(root / "workloads" / "tiny.yaml"), "--json", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["accelerator"]["hardware"] == "vrex8-edge"
    assert data["baseline"]["hardware"] == "orin-agx-32gb"
    assert {c["phase"] for c in data["comparison"]} >= {"frame_prefill", "decode", "stream"}
    df = pd.read_parquet(out)
    assert list(df["role"]) == ["accelerator", "baseline"]
    assert df.loc[0, "fps_sustained"] == data["accelerator"]["fps_sustained"]


def test_simulate_vrex8_reports_chip_blocks(capsys, root):
    rc = main(["simulate", "--hw", str(root / "hwconfigs" / "vrex8-edge.yaml"), "--workload",
               str(root / "workloads" / "tiny.yaml"), "--json", "--no-progress"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    chip = data["chip"]
    assert abs(data["peak_tflops"] - 53.3) / 53.3 < 0.01
    # every block the platform derives from its registered units (and its memory), in every table
    from simulator.config.hardware import load_hardware
    from simulator.engine.platforms.accelerator import AcceleratorPlatform

    derived = set(AcceleratorPlatform(load_hardware(root / "hwconfigs" / "vrex8-edge.yaml")).area_per_core_mm2())
    assert {"dpe", "vpe", "sram", "dre_hcu", "dre_wtu", "dre_kvmu"} <= derived
    for blocks in (chip["area_breakdown_mm2"], chip["area_breakdown_mm2_per_core"], chip["power_breakdown_w"],
                   chip["power_breakdown_w_per_core"]):
        assert derived <= set(blocks)
    assert chip["area_breakdown_mm2"]["dpe"] == pytest.approx(8 * chip["area_breakdown_mm2_per_core"]["dpe"])
    assert chip["chip_area_mm2"] == pytest.approx(sum(chip["area_breakdown_mm2"].values()))
    assert chip["chip_power_w"] > 0 and 0 < chip["dre_area_share"] < 1
    # peak (every unit busy) beside the run's averages, per block and per chip
    peak = chip["peak_power_breakdown_w_per_core"]
    assert derived <= set(peak)
    assert chip["chip_peak_power_w"] == pytest.approx(8 * sum(peak.values()))
    assert chip["chip_peak_power_w"] > chip["chip_power_w"]
    parts = chip["system_peak_breakdown_w"]
    assert set(parts) == {"chip", "dram", "link", "offload_device"}
    assert chip["system_peak_power_w"] == pytest.approx(sum(parts.values()))
    assert parts["chip"] == pytest.approx(chip["chip_peak_power_w"])
    for block in derived:
        assert peak[block] >= chip["power_breakdown_w_per_core"][block], block


def test_simulate_text_report(capsys, root):
    assert main(["simulate", "--workload", str(root / "workloads" / "tiny.yaml"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    for needle in ("FPS sustained", "time to first token", "decode [tokens/s]", "energy per frame",
                   "area [mm^2]", "speedup", "DRE share"):
        assert needle in text


def test_output_changes_with_config(capsys, root, tmp_path):
    hw = yaml.safe_load((root / "hwconfigs" / "vrex8-edge.yaml").read_text())
    hw["clock_mhz"] = 250
    p = tmp_path / "slow.yaml"
    p.write_text(yaml.safe_dump(hw))
    wl = str(root / "workloads" / "tiny.yaml")
    main(["simulate", "--workload", wl, "--json", "--no-progress"])
    a = json.loads(capsys.readouterr().out)
    main(["simulate", "--workload", wl, "--hw", str(p), "--json", "--no-progress"])
    b = json.loads(capsys.readouterr().out)
    assert b["accelerator"]["frame_latency_mean_s"] > a["accelerator"]["frame_latency_mean_s"]
    assert b["baseline"] == a["baseline"]


def test_software_flag_switches_the_baseline_stack(capsys, root):
    """--software runs the baseline GPU on another stack: only the baseline's numbers change."""
    wl = str(root / "workloads" / "tiny.yaml")
    main(["simulate", "--workload", wl, "--json", "--no-progress"])
    hf = json.loads(capsys.readouterr().out)
    main(["simulate", "--workload", wl, "--json", "--no-progress", "--software", "tensorrt-llm"])
    trt = json.loads(capsys.readouterr().out)
    assert trt["accelerator"] == hf["accelerator"]
    assert trt["baseline"]["frame_latency_mean_s"] != hf["baseline"]["frame_latency_mean_s"]


def test_unknown_software_exit_2_one_line(root):
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "simulate", "--workload",
                           str(root / "workloads" / "tiny.yaml"), "--software", "onnx"], capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "--software" in err and "'hf-pytorch', 'tensorrt-llm'" in err
    assert "Traceback" not in proc.stderr


def test_trace_then_replay(capsys, root, tmp_path):
    t = tmp_path / "tiny.parquet"
    assert main(["trace", "--workload", str(root / "workloads" / "tiny.yaml"), "--out", str(t),
                 "--no-progress"]) == 0
    capsys.readouterr()
    main(["simulate", "--trace", str(t), "--workload", str(root / "workloads" / "tiny.yaml"), "--json",
          "--no-progress"])
    replayed = json.loads(capsys.readouterr().out)
    main(["simulate", "--workload", str(root / "workloads" / "tiny.yaml"), "--json", "--no-progress"])
    direct = json.loads(capsys.readouterr().out)
    assert replayed["accelerator"] == direct["accelerator"]


def test_trace_and_policies_take_workload_overrides(capsys, root, tmp_path):
    """--set workload.<path> on vrex trace and vrex policies: applied before tracing, a bad path is one line."""
    from simulator.tracer.trace_file import read_trace

    t = tmp_path / "short.parquet"
    tiny = str(root / "workloads" / "tiny.yaml")
    assert main(["trace", "--workload", tiny, "--out", str(t), "--no-progress", "--set",
                 "workload.stream.duration_s=1.0", "--set", "workload.kv_policy.name=full"]) == 0
    tr = read_trace(t)
    assert tr.record.kv_policy == "full" and tr.record.frames == round(1.0 * tr.record.fps)
    for cmd in (["trace", "--out", str(tmp_path / "x.parquet")], ["policies", "--mode", "meta"]):
        proc = subprocess.run([sys.executable, "-m", "simulator.cli", *cmd, "--workload", tiny, "--no-progress",
                               "--set", "workload.stream.colour=3"], capture_output=True, text=True)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "stream.colour" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_config_exit_2_one_line(root, tmp_path):
    hw = yaml.safe_load((root / "hwconfigs" / "vrex-edge.yaml").read_text())
    hw["dram"]["bandwidth_gbps"] = 0
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(hw))
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "simulate", "--hw", str(p), "--workload",
                           str(root / "workloads" / "tiny.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1
    assert str(p) in err and "dram.bandwidth_gbps" in err and ">= 0.01" in err
    assert "Traceback" not in proc.stderr


def test_corrupt_trace_exit_2(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1garbage")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "simulate", "--trace", str(p)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and str(p) in proc.stderr


def test_validate_command(capsys, root):
    assert main(["validate", str(root / "hwconfigs" / "vrex-edge.yaml"), str(root / "workloads" / "tiny.yaml")]) == 0
    assert capsys.readouterr().out.count(": ok") == 2


def test_policies_report(capsys, root, tmp_path):
    out = tmp_path / "pol.parquet"
    assert main(["policies", "--workload", str(root / "workloads" / "tiny.yaml"), "--out", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    for name in ("full", "sliding_window", "rekv", "resv"):
        assert name in text
    df = pd.read_parquet(out).set_index("policy")
    assert df.loc["full", "recall_vs_full"] > 0.999
    assert df.loc["resv", "kv_device_mib"] <= df.loc["full", "kv_device_mib"]
    assert df.loc["rekv", "kv_offload_mib"] == df.loc["full", "kv_device_mib"]


def test_same_run_twice_writes_identical_parquet(capsys, root, tmp_path):
    """Determinism: results and the per-op timeline are identical row for row across two runs."""
    wl = str(root / "workloads" / "tiny.yaml")
    outs = []
    for i in range(2):
        res, tl = tmp_path / f"r{i}.parquet", tmp_path / f"t{i}.parquet"
        assert main(["simulate", "--workload", wl, "--out", str(res), "--timeline", str(tl), "--no-progress"]) == 0
        outs.append((pd.read_parquet(res), pd.read_parquet(tl)))
    capsys.readouterr()
    (a_res, a_tl), (b_res, b_tl) = outs
    pd.testing.assert_frame_equal(a_res, b_res)
    pd.testing.assert_frame_equal(a_tl, b_tl)
    assert len(a_tl) > 100


def test_default_comparison_runs_flexgen_on_the_baseline(capsys, root):
    """`make simulate`'s default: V-Rex8 + ReSV against the Orin 32 GB + FlexGen on the average COIN case."""
    from simulator.pipeline import run

    out = run(workload_path=str(root / "workloads" / "coin-avg-resv.yaml"))
    assert out.report.kv_policy == "resv" and out.report.baseline_policy == "flexgen"
    assert out.accel.hardware == "vrex8-edge" and out.baseline.hardware == "orin-agx-32gb"
    assert out.baseline.ops["offload_bytes"].sum() > 0  # FlexGen streams the cache from the SSD


def test_engines_agree_from_the_command_line(capsys, root):
    """--engine simpy (the reference model) and the compiled default print the same report."""
    import json

    wl = str(root / "workloads" / "tiny.yaml")
    outs = []
    for engine in ("simpy", "compiled"):
        assert main(["simulate", "--workload", wl, "--json", "--no-progress", "--engine", engine]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]


def test_json_lists_the_assumptions_a_run_rests_on(capsys, root):
    import json

    assert main(["simulate", "--hw", str(root / "hwconfigs" / "vrex8-edge.yaml"), "--workload",
                 str(root / "workloads" / "tiny.yaml"), "--json", "--no-progress"]) == 0
    rep = json.loads(capsys.readouterr().out)
    entries = {a["entry"]: a for a in rep["assumptions"]}
    assert entries and all(set(a) >= {"entry", "value", "source", "kind", "hardware"} for a in entries.values())
    assert all(a["kind"] in ("derived", "assumption") and a["source"] for a in entries.values())
    # the accelerator's node and DRAM are in, other nodes are not
    assert "nodes.14nm.leakage_mw_per_mm2" in entries and not any(e.startswith("nodes.7nm.") for e in entries)
    assert any("vrex8" in h.lower() for a in entries.values() for h in a["hardware"])
