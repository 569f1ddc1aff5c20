"""The offload tier: per-request latency, queue depth, link vs device bandwidth, energy."""

from __future__ import annotations

import pytest

from simulator.config.hardware import load_hardware
from simulator.engine.offload import OffloadTier


@pytest.fixture(scope="module")
def ssd(root):
    return OffloadTier(load_hardware(root / "hwconfigs" / "vrex8-edge.yaml").offload)


def test_link_bounds_a_fast_ssd(ssd):
    # BG6 reads 6 GB/s, but PCIe 3.0 x4 carries 3.94 GB/s
    assert ssd.read_bytes_per_s == pytest.approx(4 * 8e9 * 128 / 130 / 8)
    assert ssd.transfer_s(2**30) == pytest.approx(60e-6 + 2**30 / ssd.read_bytes_per_s)


def test_contiguous_fetch_amortises_latency(ssd):
    tokens, per_token = 4096, 512  # one KV head's K+V of 4096 tokens at BF16, head dim 128
    nbytes = tokens * per_token
    contiguous = ssd.transfer_s(nbytes, runs=tokens // 32)  # 32-token clusters
    scattered = ssd.transfer_s(nbytes, runs=tokens)  # one request per token
    assert scattered > 2 * contiguous
    # scattered: latency-bound, 4096 requests at 32 in flight, 60 us each
    assert scattered == pytest.approx(60e-6 + (4096 / 32 - 1) * 60e-6)
    # contiguous: bandwidth-bound
    assert contiguous == pytest.approx(60e-6 + nbytes / ssd.read_bytes_per_s)


def test_long_runs_split_at_the_largest_request(ssd):
    assert ssd.requests(10 * 2**20, runs=1) == 80  # 10 MiB in 128 KiB requests


def test_energy_link_and_device(ssd):
    e = ssd.energy_pj(1e9) * 1e-12
    link = 1e9 / ssd.link_bytes_per_s * 4 * 3.0  # 4 lanes at 3 W while busy
    device = 1e9 / 6e9 * 4.5
    assert e == pytest.approx(link + device)
