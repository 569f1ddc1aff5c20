"""The paper's baselines: Orin 32 GB and A100 running the offloading methods, Oaken, out of memory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulator.config.hardware import load_hardware
from simulator.config.policies import POLICY_PARAMS
from simulator.config.workload import KvPolicyConfig, load_workload
from simulator.engine.memory.offload import OffloadTier
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.engine.simulate import simulate
from simulator.results.metrics import stream_metrics
from simulator.stream import trace_workload

# every registered policy that runs without parameters (sliding_window needs its window)
METHODS = tuple(name for name, cls in POLICY_PARAMS.items()
                if all(f.default is not dataclasses.MISSING for f in dataclasses.fields(cls)))


@pytest.fixture(scope="module")
def wl8(root):
    """VideoLLM-online-8B, two frames and a short answer after a pre-computed cache."""
    wl = load_workload(root / "workloads" / "coin-videollm-online-8b.yaml")
    return wl.with_stream(duration_s=1.0, questions=(wl.stream.questions[0].__class__(
        at_s=0.9, prompt_tokens=8, answer_tokens=2),))


def _trace(wl, policy, kv_tokens, batch=1):
    return trace_workload(wl.replace(kv_policy=KvPolicyConfig(name=policy), kv_prefill_tokens=kv_tokens,
                                     batch=batch), mode="meta")


@pytest.mark.parametrize("gpu_name", ["orin-agx-32gb", "a100-80gb"])
def test_baseline_configs(root, gpu_name):
    gpu = load_hardware(root / "hwconfigs" / f"{gpu_name}.yaml")
    if gpu_name == "orin-agx-32gb":
        assert (gpu.sms, gpu.clock_mhz, gpu.dram.capacity_gib, gpu.power.mode_w) == (14, 930, 32, 40)
        assert gpu.tensor_tflops["fp16"] * 2 == pytest.approx(54, rel=0.02)  # the paper's sparse figure
        assert gpu.offload.tier == "ssd" and (gpu.offload.link.gen, gpu.offload.link.lanes) == (3, 4)
    else:
        assert (gpu.sms, gpu.tensor_tflops["bf16"], gpu.dram.bandwidth_gbps) == (108, 312, 1935)
        assert gpu.offload.tier == "host_memory" and (gpu.offload.link.gen, gpu.offload.link.lanes) == (4, 16)


def test_flexgen_frame_latency_bound_by_the_link(root, wl8):
    """At a 40K-token cache a FlexGen frame cannot be faster than its KV bytes over the PCIe 3.0 x4 link."""
    tr = _trace(wl8, "flexgen", 40_000)
    gpu = load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml")
    res = simulate(tr, gpu)
    m, pt = stream_metrics(res, tr.meta["fps"])
    ev = tr.events
    frame = ev["phase"] == "frame_prefill"
    kv_bytes = ev.loc[frame & (ev["frame"] == 1) & (ev["kv_tier"] == "offload"), "bytes_kv_read"].sum()
    assert kv_bytes >= 40_000 * 32 * 8 * 128 * 2 * 2  # every cached token, every layer, K and V
    link = OffloadTier(gpu.offload).read_bytes_per_s
    lat = pt[pt["phase"] == "frame_prefill"]["latency_s"].to_numpy()[-1]
    assert lat >= kv_bytes / link
    assert lat < 2 * kv_bytes / link  # and the compute hides behind the fetch (prefetch one layer ahead)


def test_infinigen_reads_less_in_text_generation_same_in_frames(wl8):
    flex, inf = _trace(wl8, "flexgen", 5_000), _trace(wl8, "infinigen", 5_000)

    def offload_reads(tr, phases):
        ev = tr.events
        return ev.loc[ev["phase"].isin(phases) & (ev["kv_tier"] == "offload"), "bytes_kv_read"].sum()

    assert offload_reads(inf, ["frame_prefill"]) == offload_reads(flex, ["frame_prefill"])
    text = ["question_prefill", "decode"]
    assert offload_reads(inf, text) < 0.1 * offload_reads(flex, text)
    assert (inf.events["op"] == "retrieval_score").any()  # the speculation is traced


def test_infinigenp_and_rekv_read_their_shares(wl8):
    flex = _trace(wl8, "flexgen", 5_000).events
    for pol, share in (("infinigenp", 0.508), ("rekv", 0.584)):
        ev = _trace(wl8, pol, 5_000).events
        f = (ev["phase"] == "frame_prefill") & (ev["kv_tier"] == "offload")
        ff = (flex["phase"] == "frame_prefill") & (flex["kv_tier"] == "offload")
        assert ev.loc[f, "bytes_kv_read"].sum() / flex.loc[ff, "bytes_kv_read"].sum() == pytest.approx(share, abs=0.02)


def test_oaken_kv_bytes_a_quarter_plus_scales(wl8):
    full, oak = _trace(wl8, "full", 2_000), _trace(wl8, "oaken", 2_000)

    def kv_written(tr):
        ev = tr.events
        return ev.loc[ev["phase"] == "frame_prefill", "bytes_kv_write"].sum()

    # 4-bit codes + a 16-bit scale and zero point per 128 elements for K and V: (4 + 32/128) / 16
    assert kv_written(oak) / kv_written(full) == pytest.approx((4 + 32 / 128) / 16, rel=1e-6)
    assert oak.meta["kv_bits_stored"] == pytest.approx(4.25)
    quant = oak.events[oak.events["op"].isin(["kv_quant", "kv_dequant"])]
    assert len(quant) and (quant["flops_vector"] > 0).all()


def test_out_of_memory_is_reported_not_simulated(root, wl8):
    tr = _trace(wl8, "oaken", 40_000, batch=16)
    oaken = load_hardware(root / "hwconfigs" / "oaken.yaml")
    res = simulate(tr, oaken)
    assert not res.ok and res.status.startswith("out of memory") and res.ops.empty
    m, _ = stream_metrics(res, 2.0)
    assert np.isnan(m.fps_sustained) and m.status == res.status
    # the same point with an offload tier runs (the oldest KV is evicted to the SSD)
    gpu = load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml")
    assert simulate(tr, gpu).ok
    no_off = dataclasses.replace(gpu, offload=None)
    assert simulate(tr, no_off).status.startswith("out of memory")
    # an offloading method on a platform without an offload tier cannot run at all
    assert simulate(_trace(wl8, "flexgen", 100), no_off).status.startswith("not runnable")


@pytest.mark.parametrize("gpu_name", ["orin-agx-32gb", "a100-80gb"])
def test_every_method_runs_on_the_baselines(root, wl8, gpu_name):
    gpu = load_hardware(root / "hwconfigs" / f"{gpu_name}.yaml")
    for pol in METHODS:
        res = simulate(_trace(wl8, pol, 1_000), gpu)
        assert res.ok and res.total_s > 0, pol


def test_resv_in_software_on_the_gpu(root, wl8):
    """Orin + ReSV: hashing as a GEMM, Hamming distances and WiCSum as CUDA-core work, no DRE."""
    tr = _trace(wl8, "resv", 5_000)
    gpu = GpuPlatform(load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml"))
    c = gpu.op_costs(tr.events)
    ev = tr.events
    assert (c.loc[(ev["kind"] == "cluster").to_numpy(), "compute_s"] > 0).all()
    assert (c.loc[(ev["kind"] == "wicsum").to_numpy(), "compute_s"] > 0).all()
    assert (c.loc[(ev["op"] == "hash_proj").to_numpy(), "unit"] == "tensor").all()
    assert (c["e_dre_pj"] == 0).all()


def test_gpu_overlaps_fetches_with_compute(root, wl8):
    tr = _trace(wl8, "flexgen", 20_000)
    gpu_hw = load_hardware(root / "hwconfigs" / "orin-agx-32gb.yaml")
    res = simulate(tr, gpu_hw)
    c = res.ops
    serial = (c["dur_s"] + c["link_read_s"] + c["link_write_s"]).sum()
    assert res.total_s < serial
    assert res.total_s >= max(c["dur_s"].sum(), (c["link_read_s"] + c["link_write_s"]).sum() * 0.999)


def test_each_method_moves_kv_as_its_code_does(root, wl8):
    """Item 3: the trace carries the policy's copy pattern (from its code) and the GPU prices it: ReKV copies K
    and V per retrieved frame, FlexGen and InfiniGen gather first; all three from pageable host memory."""
    pats = {pol: _trace(wl8, pol, 5_000) for pol in ("flexgen", "infinigen", "rekv", "full")}
    assert pats["full"].meta["kv_transfer"] is None
    for pol in ("flexgen", "infinigen", "rekv"):
        assert pats[pol].meta["kv_transfer"]["host_buffers"] == "pageable"
        assert pats[pol].meta["kv_transfer"]["copies_each"] == 2
    assert pats["rekv"].meta["kv_transfer"]["copies"] == "run"
    ev = pats["rekv"].events
    fetch = ev[(ev["op"] == "kv_fetch") & (ev["phase"] == "frame_prefill") & (ev["bytes_kv_read"] > 0)]
    frames = round(0.584 * 5_000 / pats["rekv"].meta["tokens_per_frame"])
    assert (fetch["kv_token_runs"] >= frames - 1).all()  # one request per retrieved frame, adjacent or not
    a100 = GpuPlatform(load_hardware(root / "hwconfigs" / "a100-80gb.yaml"))
    costs = a100.for_trace(pats["rekv"].meta).op_costs(ev)
    link = costs["link_read_s"].to_numpy()[fetch.index]
    setup = a100.offload.setup_s
    calls = 2 * fetch["kv_token_runs"].to_numpy()
    plain = a100.offload_cfg.transfer_s(fetch["bytes_kv_read"].to_numpy(), fetch["kv_token_runs"].to_numpy(),
                                        copies=1)
    # pageable staging and a setup per copy on top of the config's one pinned copy
    assert (link > plain + (calls - 1) * setup * 0.999).all()
