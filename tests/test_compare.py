"""vrex compare: platforms (accelerators and GPUs) and policies on one stream, ratios against the first."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from simulator.cli import main
from simulator.compare import CompareEntry
from simulator.errors import ConfigError


def test_compare_accelerators_and_a_gpu_on_one_stream(capsys, root, tmp_path):
    tiny = str(root / "workloads" / "tiny.yaml")
    assert main(["compare", "vrex8-edge", "vrex8-edge", "orin-agx-32gb:flexgen", "--workload", tiny,
                 "--set", "hw2.cores=16", "--set", "hw2.name=vrex16", "--out", str(tmp_path), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "vrex8-edge [full]" in text and "vrex16 [full]" in text and "orin-agx-32gb [flexgen]" in text
    df = pd.read_csv(tmp_path / "compare.csv")
    assert list(df["kind"]) == ["accelerator", "accelerator", "gpu"]
    assert (df["frame_latency_mean_s_vs_first"].iloc[0]) == 1.0
    ratio = df["total_time_s"] / df["total_time_s"].iloc[0]
    assert ratio.tolist() == pytest.approx(df["total_time_s_vs_first"].tolist())
    assert df["area_mm2"].iloc[1] > 1.9 * df["area_mm2"].iloc[0]  # twice the cores
    assert (tmp_path / "compare.png").stat().st_size > 0 and (tmp_path / "compare.md").is_file()


def test_compare_policies_crosses_entries(capsys, root):
    tiny = str(root / "workloads" / "tiny.yaml")
    assert main(["compare", "vrex8-edge", "orin-agx-32gb", "--policy", "full", "--policy", "flexgen",
                 "--workload", tiny, "--no-progress"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.split() == ["vrex8-edge", "[full]", "vrex8-edge", "[flexgen]", "orin-agx-32gb", "[full]",
                              "orin-agx-32gb", "[flexgen]"]


def test_compare_bad_entries_one_line(root):
    with pytest.raises(ConfigError, match="unknown KV policy 'fast'"):
        CompareEntry.parse("vrex8-edge:fast")
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "compare", "vrex8-edge", "nochip"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "shipped" in proc.stderr
