"""The offload tier: the PCIe link as measured, the NVMe SSD by request size and queue depth, energy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator.config.hardware import PCIE_GBPS_PER_LANE, load_hardware
from simulator.engine.memory import links
from simulator.engine.memory.offload import OffloadTier

SIZES = [512, 1024, 4096, 8192, 16384, 65536, 131072, 1 << 20]
DEPTHS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


@pytest.fixture(scope="module")
def ssd_cfg(root):
    return load_hardware(root / "hwconfigs" / "vrex8-edge.yaml").offload


@pytest.fixture(scope="module")
def ssd(ssd_cfg):
    return OffloadTier(ssd_cfg)


@pytest.fixture(scope="module")
def host(root):
    return OffloadTier(load_hardware(root / "hwconfigs" / "a100-80gb.yaml").offload)


def _with_qd(cfg, qd):
    return OffloadTier(dataclasses.replace(cfg, device=dataclasses.replace(cfg.device, queue_depth=qd)))


def test_link_runs_at_its_measured_efficiency_below_the_drive(ssd, ssd_cfg):
    raw = 4 * PCIE_GBPS_PER_LANE[3] * 1e9
    assert ssd.read_bytes_per_s == pytest.approx(raw * ssd_cfg.link.efficiency)
    assert 0.7 < ssd_cfg.link.efficiency < 0.95  # fitted (make calibrate), not the raw lane rate
    assert ssd.read_bytes_per_s < 6e9  # the BG6's own 6 GB/s is not reached through PCIe 3.0 x4


def test_a_512_byte_random_read_costs_at_least_a_page(ssd, ssd_cfg):
    # a 512-byte read reads a whole flash page (its read latency) and moves a whole 4 KiB block over the link:
    # it costs exactly a 4 KiB read, at any number of requests
    for n in (1, 7, 64, 1000):
        assert ssd.transfer_s(512 * n, runs=n) == pytest.approx(float(ssd.transfer_s(4096 * n, runs=n)))
        assert ssd.transfer_s(512 * n, runs=n) >= ssd.transfer_s(512 * n, runs=1)
    page_read = ssd_cfg.device.read_latency_us * 1e-6 + 4096 / ssd.read_bytes_per_s
    assert ssd.transfer_s(512, runs=1) == pytest.approx(page_read)


def test_throughput_never_rises_when_requests_shrink_at_equal_bytes(ssd_cfg):
    nbytes = 64 << 20
    for qd in DEPTHS:
        tier = _with_qd(ssd_cfg, qd)
        times = [float(tier.transfer_s(nbytes, runs=nbytes // s)) for s in sorted(SIZES, reverse=True)]
        assert all(b >= a * (1 - 1e-12) for a, b in zip(times, times[1:])), (qd, times)


def test_more_queue_depth_is_never_slower(ssd_cfg):
    for size in SIZES:
        for nbytes in (size, 64 * size, 4096 * size):
            times = [float(_with_qd(ssd_cfg, qd).transfer_s(nbytes, runs=nbytes // size)) for qd in DEPTHS]
            assert all(b <= a * (1 + 1e-12) for a, b in zip(times, times[1:])), (size, nbytes, times)


def test_random_small_reads_are_iops_bound_sequential_reads_bandwidth_bound(ssd_cfg, ssd):
    d = ssd_cfg.device
    lat, page = d.read_latency_us * 1e-6, d.page_kb * 1024
    qd1 = links.ssd_iops(4096, 1, page, d.parallel_units, lat, ssd.read_bytes_per_s)
    assert qd1 == pytest.approx(1 / (lat + 4096 / ssd.read_bytes_per_s))
    deep = links.ssd_iops(4096, 128, page, d.parallel_units, lat, ssd.read_bytes_per_s)
    assert 10 * qd1 < deep <= d.parallel_units / lat  # the flash units bound the random-read rate
    seq = links.ssd_iops(128 << 10, 32, page, d.parallel_units, lat, ssd.read_bytes_per_s) * (128 << 10)
    assert seq == pytest.approx(ssd.read_bytes_per_s)


def test_contiguous_fetch_beats_scattered_tokens(ssd):
    tokens, per_token = 4096, 512  # one KV head's K+V of 4096 tokens at BF16, head dim 128
    nbytes = tokens * per_token
    assert ssd.transfer_s(nbytes, runs=tokens) > 2 * ssd.transfer_s(nbytes, runs=tokens // 32)


def test_long_runs_split_at_the_largest_request(ssd):
    assert ssd.requests(10 * 2**20, runs=1) == 80  # 10 MiB in 128 KiB requests


def test_host_copies_pay_their_setup_each(host):
    one = float(host.transfer_s(1 << 20, runs=1))
    many = float(host.transfer_s(1 << 20, runs=64))
    assert many - one == pytest.approx(63 * host.setup_s, rel=1e-6)
    # gathered first, then one copy call (FlexGen, InfiniGen): the setup once
    assert float(host.transfer_s(1 << 20, runs=64, copies=1)) == pytest.approx(many - 63 * host.setup_s)
    assert host.read_bytes_per_s < host.write_bytes_per_s  # reads of host memory (HtoD) are the slower direction


def test_pageable_buffers_are_slower_than_pinned(root):
    cfg = load_hardware(root / "hwconfigs" / "a100-80gb.yaml").offload
    pageable = dataclasses.replace(cfg, link=dataclasses.replace(cfg.link, host_buffers="pageable",
                                                                 staging_read_gbps=80.0, staging_write_gbps=23.0))
    assert OffloadTier(pageable).transfer_s(1 << 24) > OffloadTier(cfg).transfer_s(1 << 24)


def test_energy_link_and_device(ssd):
    e = ssd.energy_pj(1e9) * 1e-12
    link = 1e9 / ssd.link_bytes_per_s * 4 * 3.0  # 4 lanes at 3 W while busy
    device = 1e9 / 6e9 * 4.5
    assert e == pytest.approx(link + device)


def test_calibrated_link_values_hold_a_fresh_fit(root):
    """make calibrate writes what it fits: configs, gpu_kernels.yaml and README may not drift (rerun make
    calibrate)."""
    from analysis.calibrate.links import CONFIGS, config_values, evaluate, fit_all, tables_markdown
    from simulator.config.gpu_kernels import gpu_kernels

    f = fit_all()
    for path, copies in CONFIGS:
        off = load_hardware(root / path).offload
        for key, want in config_values(f, path, copies).items():
            got = getattr(off.link, key) if hasattr(off.link, key) else getattr(off.device, key)
            assert got == pytest.approx(want), (path, key)
    assert {k: v.value for k, v in gpu_kernels().passes.items()} == f.passes
    assert tables_markdown(evaluate(f)) in (root / "docs" / "validation.md").read_text()


def test_fitted_link_and_ssd_points_within_3_percent():
    from analysis.calibrate.links import evaluate, fit_all

    for r in evaluate(fit_all()):
        if r.role == "fit":
            assert abs(r.error) <= 0.03, (r.name, r.error)


def test_busy_units_grow_with_outstanding_reads_and_saturate():
    b = links.busy_units(np.array([1, 2, 8, 64, 4096]), 32)
    assert b[0] == pytest.approx(1.0) and np.all(np.diff(b) > 0) and b[-1] == pytest.approx(32.0)


REKV = {"host_buffers": "pageable", "copies": "run", "copies_each": 2}
GATHERED = {"host_buffers": "pageable", "copies": "transfer", "copies_each": 2}


def test_rekv_more_smaller_blocks_cost_more_link_time_at_equal_bytes(host):
    rekv, gathered = host.with_transfer(REKV), host.with_transfer(GATHERED)
    nbytes = 64 << 20
    blocks = [1, 4, 16, 64, 256, 1024]
    t = [float(rekv.transfer_s(nbytes, runs=n, copies=rekv.copy_calls(n))) for n in blocks]
    assert all(b > a for a, b in zip(t, t[1:]))
    assert t[-1] - t[0] == pytest.approx(2 * (blocks[-1] - blocks[0]) * host.setup_s, rel=1e-6)  # K + V per block
    g = [float(gathered.transfer_s(nbytes, runs=n, copies=gathered.copy_calls(n))) for n in blocks]
    assert max(g) == pytest.approx(min(g))  # gathered first: two copies whatever the selection's runs
    assert g[0] == pytest.approx(t[0])


def test_software_patterns_change_only_the_gpu_copy_path(host, ssd):
    assert host.with_transfer(None) is host and float(host.copy_calls(7)) == 1.0
    pinned = host.with_transfer({**GATHERED, "host_buffers": "pinned"})
    assert float(pinned.transfer_s(1 << 24, copies=2)) == pytest.approx(float(host.transfer_s(1 << 24, copies=2)))
    if host.cfg.link.staging_read_gbps > 0:  # the fitted staging rates are in the config (make calibrate)
        assert host.with_transfer(GATHERED).transfer_s(1 << 24) > pinned.transfer_s(1 << 24)
    # the link's energy is the wire's: staging on the host adds time, not link energy
    assert float(host.with_transfer(GATHERED).energy_pj(1e9)) == pytest.approx(float(host.energy_pj(1e9)))
    # an SSD tier has no host buffers: the pattern only sets the copy calls (the Orin's setup is 0)
    s = ssd.with_transfer(REKV)
    assert float(s.transfer_s(1 << 20, runs=8, copies=s.copy_calls(8))) == pytest.approx(
        float(ssd.transfer_s(1 << 20, runs=8, copies=1)) + 15 * ssd.setup_s)


def test_policies_state_their_copy_patterns():
    from simulator.kvpolicy.flexgen import FlexgenPolicy
    from simulator.kvpolicy.full import FullPolicy
    from simulator.kvpolicy.infinigenp import InfinigenpPolicy
    from simulator.kvpolicy.rekv import RekvPolicy

    assert FullPolicy().transfer() is None
    assert FlexgenPolicy().transfer() == GATHERED
    assert InfinigenpPolicy().transfer() == GATHERED
    assert RekvPolicy().transfer() == REKV


# --------------------------------------------------------------- property tests of the SSD model (done-when, item 2)
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_sizes = st.sampled_from([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072])


@settings(max_examples=60, deadline=None)
@given(size=_sizes, n=st.integers(1, 4096), qd=st.integers(1, 256))
def test_property_a_small_read_costs_at_least_a_page_read(ssd_cfg, size, n, qd):
    tier = _with_qd(ssd_cfg, qd)
    d = ssd_cfg.device
    t = float(tier.transfer_s(size * n, runs=n))
    assert t >= d.read_latency_us * 1e-6  # at least one flash page read
    if size < 4096:  # a sub-block read costs what a whole 4 KiB block's read costs
        assert t == pytest.approx(float(tier.transfer_s(4096 * n, runs=n)))


@settings(max_examples=60, deadline=None)
@given(big=_sizes, small=_sizes, qd=st.integers(1, 256), mib=st.integers(1, 64))
def test_property_throughput_never_rises_when_requests_shrink(ssd_cfg, big, small, qd, mib):
    big, small = max(big, small), min(big, small)
    tier, nbytes = _with_qd(ssd_cfg, qd), mib << 20
    assert float(tier.transfer_s(nbytes, runs=nbytes // small)) >= float(tier.transfer_s(nbytes, runs=nbytes // big)) \
        * (1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(size=_sizes, n=st.integers(1, 4096), q1=st.integers(1, 256), q2=st.integers(1, 256))
def test_property_more_queue_depth_is_never_slower(ssd_cfg, size, n, q1, q2):
    lo, hi = min(q1, q2), max(q1, q2)
    assert float(_with_qd(ssd_cfg, hi).transfer_s(size * n, runs=n)) <= \
        float(_with_qd(ssd_cfg, lo).transfer_s(size * n, runs=n)) * (1 + 1e-12)


# --------------------------------------------------------------- MQSim oracle (item 2, optional part)
def _mqsim_points(root):
    import csv

    rows = [r for r in (root / "analysis" / "data" / "mqsim_oracle.csv").read_text().splitlines()
            if not r.startswith("#")]
    return [(int(r["request_kb"]), int(r["queue_depth"]), float(r["iops"])) for r in csv.DictReader(rows)]


# points where our model is more than 15% off MQSim (reported in the README; not tuned away): small requests at
# queue depths 4-32, where MQSim's dies serve fewer reads at once than our balls-into-bins count of busy units
MQSIM_MISSES = {(4, 16), (4, 32), (16, 4), (16, 16), (16, 32)}


def test_ssd_model_within_15_percent_of_mqsim(root, ssd_cfg, ssd):
    d = ssd_cfg.device
    pts = _mqsim_points(root)
    assert len(pts) == 12
    missed = set()
    for kb, qd, iops in pts:
        ours = links.ssd_iops(kb * 1024, qd, d.page_kb * 1024, d.parallel_units, d.read_latency_us * 1e-6,
                              ssd.read_bytes_per_s)
        if abs(ours / iops - 1) > 0.15:
            missed.add((kb, qd))
    assert missed == MQSIM_MISSES  # the known misses only: a new miss fails, and so does a fixed one (update it)
