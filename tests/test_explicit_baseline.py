"""Explicit baselines (issue 34 item 1): the default baseline is the paper's, FlexGen on the accelerator's stream
and cache, whatever the accelerator's workload; 'same' opts in to the accelerator's own policy; streams that differ
in more than the policy are not compared unless forced. And --set overrides, checked by the config's schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from simulator.cli import main
from simulator.config.workload import KvPolicyConfig
from simulator.errors import ConfigError
from simulator.kvpolicy import POLICIES
from simulator.pipeline import run

# the 16-core example of issue 34, shortened to 3 s of stream (one question at 2.9 s) to keep the test fast
SHORT = ["--set", "workload.stream.duration_s=3", "--set", "workload.stream.questions.0.at_s=2.9",
         "--set", "hw.cores=16", "--set", "workload.kv_prefill_tokens=40000"]


def _json(capsys, argv):
    assert main(["simulate", "--json", "--no-progress", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_default_baseline_is_flexgen_for_any_accelerator_workload(tiny_workload, policy):
    params = {"window": 16} if policy == "sliding_window" else {}
    wl = tiny_workload.replace(kv_policy=KvPolicyConfig(name=policy, params=params))
    out = run(workload=wl)
    assert out.report.kv_policy == policy
    assert out.report.baseline_policy == "flexgen" and out.baseline_trace.meta["kv_policy"] == "flexgen"
    assert out.baseline_trace.meta["kv_prefill_tokens"] == wl.kv_prefill_tokens
    assert "the paper's baseline" in out.report.baseline_description


def test_same_is_the_explicit_opt_in(tiny_workload):
    wl = tiny_workload.replace(kv_policy=KvPolicyConfig(name="resv"))
    out = run(workload=wl, baseline_workload="same")
    assert out.report.baseline_policy == "resv" and out.baseline_trace is out.trace


def test_16_core_example_same_speedup_with_a_copied_default_workload(capsys, root, tmp_path):
    """`--workload` pointing at a copy of the default workload changes nothing (the copy's `model:` path resolves
    from the project; the baseline stays FlexGen)."""
    copy = tmp_path / "copy.yaml"
    shutil.copy(root / "workloads" / "coin-avg-resv.yaml", copy)
    default = _json(capsys, SHORT)
    copied = _json(capsys, ["--workload", str(copy), *SHORT])
    assert default["baseline_policy"] == copied["baseline_policy"] == "flexgen"
    sd = {c["phase"]: c["speedup"] for c in default["comparison"]}
    sc = {c["phase"]: c["speedup"] for c in copied["comparison"]}
    assert sd == sc and sd["stream"] > 1


def test_a_baseline_stream_that_differs_is_an_error_unless_forced(tiny_workload):
    other = tiny_workload.replace(kv_prefill_tokens=100, kv_policy=KvPolicyConfig(name="flexgen"))
    with pytest.raises(ConfigError, match="kv_prefill_tokens.*force"):
        run(workload=tiny_workload, baseline_workload=other)
    out = run(workload=tiny_workload, baseline_workload=other, force=True)
    assert out.baseline_trace.meta["kv_prefill_tokens"] == 100


def test_cli_mismatch_and_bad_set_are_one_line_errors(root, tmp_path):
    wl = yaml.safe_load((root / "workloads" / "tiny.yaml").read_text())
    wl["stream"]["fps"] = 2.0
    wl["model"] = "tiny"  # a shipped model by name
    p = tmp_path / "other.yaml"
    p.write_text(yaml.safe_dump(wl))
    tiny = str(root / "workloads" / "tiny.yaml")
    for argv, needles in (
            (["--workload", tiny, "--baseline-workload", str(p)], ["other.yaml", "frames: 4 vs 8", "--force-baseline"]),
            (["--workload", tiny, "--set", "hw.cores=-3"], ["--set hw.cores=-3", "cores", ">= 1"]),
            (["--workload", tiny, "--set", "workload.kv_prefill_tokens=lots"], ["kv_prefill_tokens", "integer"]),
            (["--workload", tiny, "--set", "gpu.cores=4"], ["--set", "hw, baseline, workload"]),
            (["--workload", tiny, "--set", "workload.model=llama-9"], ["model", "llama-3-8b", "videollm-online-8b"]),
            (["--hw", "vrex9-edge"], ["vrex9-edge", "vrex8-edge", "orin-agx-32gb"])):
        proc = subprocess.run([sys.executable, "-m", "simulator.cli", "simulate", *argv], capture_output=True,
                              text=True)
        assert proc.returncode == 2, argv
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert all(n in err for n in needles), err


def test_set_changes_the_config_and_the_baseline_follows(capsys, root):
    tiny = str(root / "workloads" / "tiny.yaml")
    out = _json(capsys, ["--workload", tiny, "--hw", "vrex8-edge", "--set", "workload.kv_prefill_tokens=300"])
    forced = _json(capsys, ["--workload", tiny, "--set", "workload.kv_prefill_tokens=300", "--baseline-workload",
                            tiny, "--force-baseline"])
    assert out["baseline_policy"] == "flexgen" and forced["baseline_policy"] == "full"
    assert out["accelerator"] == forced["accelerator"]
    assert out["baseline"] != forced["baseline"]  # 300 prefilled tokens on the baseline vs none
