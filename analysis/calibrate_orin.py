"""Calibrate the Orin-like baseline on published Jetson AGX Orin decode measurements (``make calibrate``).

Measurements: TinyChat, W4A16 (AWQ INT4 weights, FP16 activations), batch 1, on Jetson Orin 64GB, from
J. Lin et al., "AWQ: Activation-aware Weight Quantization for On-Device LLM Compression and
Acceleration", MLSys 2024 (arXiv 2306.00978), figure of TinyChat decode speed on Jetson Orin.

Single-stream decode is memory-bound: per token, time ~ DRAM bytes / (peak x efficiency) + kernels x
launch overhead. The two free parameters (``efficiency.gemv_bandwidth`` and
``efficiency.kernel_launch_us``) are fitted by least squares on three measurements; the fourth is held
out and reported. The fitted values are written by hand into ``hwconfigs/orin-agx.yaml`` (with this
command named there), and a test checks the config still predicts the calibration points within 25%.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from simulator.config.hardware import GpuConfig, load_hardware
from simulator.config.workload import (
    KvPolicyConfig,
    PrecisionConfig,
    Question,
    StreamConfig,
    WorkloadConfig,
    load_model,
)
from simulator.engine.gpu import simulate_gpu
from simulator.pipeline import resolve
from simulator.stream import Trace, trace_workload

SOURCE = "Lin et al., AWQ, MLSys 2024 (arXiv 2306.00978): TinyChat W4A16 decode on Jetson Orin 64GB"
# (model file, measured decode tokens/s, role)
MEASUREMENTS = [
    ("llama-2-7b", 39.1, "calibration"),
    ("llama-2-13b", 21.2, "calibration"),
    ("llama-2-70b", 3.5, "calibration"),
    ("llama-30b", 8.8, "held out"),
]
ANSWER_TOKENS = 16


def decode_trace(model: str) -> Trace:
    """A batch-1 decode of ``ANSWER_TOKENS`` tokens after a 16-token prompt, INT4 weights."""
    m = load_model(resolve(f"workloads/models/{model}.yaml"))
    wl = WorkloadConfig(name=f"decode-{model}", model=f"models/{model}.yaml",
                        stream=StreamConfig(fps=1.0, duration_s=1.0, questions=(
                            Question(at_s=0.0, prompt_tokens=16, answer_tokens=ANSWER_TOKENS),)),
                        precision=PrecisionConfig(weights="int4", activations="fp16", kv="fp16"),
                        kv_policy=KvPolicyConfig(name="full"))
    object.__setattr__(wl, "model_config", m)
    tr = trace_workload(wl)
    tr.events = tr.events[tr.events["phase"] == "decode"].reset_index(drop=True)
    return tr


def predict_tokens_per_s(tr: Trace, gpu: GpuConfig) -> float:
    res = simulate_gpu(tr, gpu)
    return ANSWER_TOKENS / res.total_s


def fit(gpu: GpuConfig, traces: dict[str, Trace]) -> GpuConfig:
    """Least-squares fit (relative errors) of (1 / bandwidth efficiency, launch overhead) on the calibration points."""
    rows, y = [], []
    peak = gpu.dram.bandwidth_gbps * 1e9
    for model, tps, role in MEASUREMENTS:
        if role != "calibration":
            continue
        ev = traces[model].events
        per_tok_bytes = (ev["bytes_weight_read"] + ev["bytes_kv_read"] + ev["bytes_kv_write"]).sum() / ANSWER_TOKENS
        kernels = len(ev) / ANSWER_TOKENS
        rows.append([per_tok_bytes / peak, kernels * 1e-6])
        y.append(1.0 / tps)
    a, t = np.array(rows), np.array(y)
    # minimise relative errors: each row divided by its measured time
    (inv_eff, launch_us), *_ = np.linalg.lstsq(a / t[:, None], np.ones_like(t), rcond=None)
    if launch_us < 0:  # overhead cannot be negative: refit the efficiency alone with no overhead
        x = a[:, 0] / t
        inv_eff, launch_us = float(x.sum() / (x * x).sum()), 0.0
    eff = float(np.clip(1.0 / inv_eff, 0.05, 1.0))
    launch = float(launch_us)
    return dataclasses.replace(gpu, efficiency=dataclasses.replace(gpu.efficiency, gemv_bandwidth=eff,
                                                                   kernel_launch_us=launch))


def table(gpu: GpuConfig, traces: dict[str, Trace]) -> list[tuple[str, str, float, float, float]]:
    out = []
    for model, tps, role in MEASUREMENTS:
        pred = predict_tokens_per_s(traces[model], gpu)
        out.append((model, role, tps, pred, pred / tps - 1.0))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gpu", default="hwconfigs/orin-agx.yaml")
    args = ap.parse_args(argv)
    gpu = load_hardware(resolve(args.gpu))
    traces = {m: decode_trace(m) for m, _, _ in MEASUREMENTS}
    print(f"source: {SOURCE}")
    print(f"\nwith {Path(args.gpu).name} as it is (gemv_bandwidth={gpu.efficiency.gemv_bandwidth}, "
          f"kernel_launch_us={gpu.efficiency.kernel_launch_us}):")
    for row in table(gpu, traces):
        print(f"  {row[0]:12s} {row[1]:11s} measured {row[2]:6.1f} tok/s  predicted {row[3]:6.1f}  ({row[4]:+.0%})")
    fitted = fit(gpu, traces)
    e = fitted.efficiency
    print(f"\nfitted: gemv_bandwidth={e.gemv_bandwidth:.3f}, kernel_launch_us={e.kernel_launch_us:.2f}")
    for row in table(fitted, traces):
        print(f"  {row[0]:12s} {row[1]:11s} measured {row[2]:6.1f} tok/s  predicted {row[3]:6.1f}  ({row[4]:+.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
