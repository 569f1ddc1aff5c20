"""The Python API (simulator.api) and its example script in docs/."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from simulator import api as vrex


def test_api_example_runs(root):
    out = subprocess.run([sys.executable, str(root / "docs" / "api_example.py"), "--short"], capture_output=True,
                         text=True, cwd=root / "docs", timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "vrex16-edge [resv] vs orin-agx-32gb [flexgen]" in out.stdout
    assert "refused: AcceleratorConfig: key 'cores': got -3" in out.stdout


def test_configs_validate_on_construction_replace_and_override():
    hw = vrex.load_hardware("vrex8-edge")
    with pytest.raises(vrex.ConfigError, match="cores"):
        dataclasses.replace(hw, cores=-3)
    with pytest.raises(vrex.ConfigError, match="bandwidth_gbps"):
        dataclasses.replace(hw.dram, bandwidth_gbps=0.0)
    with pytest.raises(vrex.ConfigError, match="dram.bandwidth_gbps"):
        vrex.override(hw, {"dram.bandwidth_gbps": -1})
    assert vrex.override(hw, {"dram.bandwidth_gbps": 102.4}).dram.bandwidth_gbps == 102.4
    wl = vrex.load_workload("tiny")
    with pytest.raises(vrex.ConfigError, match="after the stream ends"):
        vrex.override(wl, {"stream.duration_s": 0.5})
    with pytest.raises(vrex.ConfigError, match="fps"):
        dataclasses.replace(wl.stream, fps=-1.0)
    assert vrex.override(wl, {"kv_prefill_tokens": 64}).kv_prefill_tokens == 64
