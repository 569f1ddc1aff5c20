"""Shared fixtures: paths, small configs and cached traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.config.hardware import load_hardware
from simulator.config.workload import load_workload
from simulator.stream import trace_workload

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_workload():
    return load_workload(ROOT / "workloads" / "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_trace(tiny_workload):
    return trace_workload(tiny_workload, mode="meta")


@pytest.fixture(scope="session")
def tiny_trace_real(tiny_workload):
    return trace_workload(tiny_workload, mode="real")


@pytest.fixture(scope="session")
def vrex_hw():
    return load_hardware(ROOT / "hwconfigs" / "vrex-edge.yaml")


@pytest.fixture(scope="session")
def orin_hw():
    return load_hardware(ROOT / "hwconfigs" / "orin-agx-64gb.yaml")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="session")
def tiny_resv_trace(tiny_workload):
    """ReSV on real tensors with a short recent window, so that clusters are offloaded and fetched."""
    from simulator.config.workload import KvPolicyConfig

    wl = tiny_workload.with_stream(duration_s=4.0).replace(
        kv_policy=KvPolicyConfig(name="resv", params={"recent_window": 32}))
    return trace_workload(wl, mode="real")


@pytest.fixture(scope="session")
def vrex8_hw():
    return load_hardware(ROOT / "hwconfigs" / "vrex8-edge.yaml")
