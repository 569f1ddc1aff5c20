"""Calibrate the Orin GPU model per precision on published Jetson AGX Orin measurements (``make calibrate``).

The GPU model (``simulator/engine/gpu.py``) times a kernel as ``max(compute, memory) + dequantisation +
launch`` with efficiencies per precision. This script fits them on published measurements of decode *and*
prefill, FP16 *and* 4-bit weights, on the Jetson AGX Orin 64GB, reports the error on the points it fitted
and on a held-out set it never fitted, and (``--write``, what ``make calibrate`` runs) writes the fitted
values with their sources into ``hwconfigs/orin-agx.yaml`` and ``hwconfigs/orin-agx-32gb.yaml`` and the
tables into the README's validation section.

Fit, in stages (each stage's parameters are identified by its points alone):

1. FP16 decode (memory-bound): ``fp16.bandwidth`` and ``kernel_launch_us`` by linear least squares on
   relative errors (``t = bytes / (peak x bandwidth) + kernels x launch``); a negative launch is refitted
   at zero.
2. W4A16 decode: ``w4a16.dequant_ps_per_weight`` (time to unpack a weight; decode's GEMV kernels unpack
   each weight once, a GEMM's row tiles each unpack theirs), with the memory
   stream at FP16's bandwidth: on decode alone the two cannot be told apart, so ``w4a16.bandwidth`` is tied
   to ``fp16.bandwidth``.
3. Prefill (compute-bound), per precision: ``gemm`` (fraction of the tensor peak) by golden-section search
   and ``gemm_tile_rows`` (rows per tile: a GEMM computes whole tiles) from {16, 32, 64, 128, 256}, least
   squares on log errors.

BF16 takes FP16's values (Ampere runs BF16 at the FP16 tensor rate; no published Orin BF16 LLM rates were
found); INT8 (W8A8) is not fitted (none found): FP16's fractions on the INT8 peak, labelled an assumption.

Which points are fitted and which held out was fixed before any fit (the Llama-family extremes fit,
everything else held out); rates from a different runtime (MLC) are reported apart, not in the held-out
median, because the model is calibrated for one software stack (PyTorch / TinyChat, as the baselines use).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from dataclasses import dataclass
from functools import cache
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
from simulator.engine.gpu import GpuPlatform
from simulator.errors import ConfigError
from simulator.pipeline import resolve
from simulator.stream import Trace, trace_workload

SOURCES = {
    "tinychat": "TinyChat README, 'Orin Results' (mit-han-lab/llm-awq, tinychat/README.md): per-token decode "
                "latency on Jetson Orin 64GB, Hugging Face FP16 vs TinyChat W4A16 (AWQ, group 128)",
    "tinychat-ttft": "TinyChat README, 'New Optimization of Context Stage', Orin results (Llama-3-8B): time "
                     "to first token for a 32-token question after 16-1024 history tokens; Hugging Face FP16 "
                     "and legacy TinyChat W4A16 process history + question",
    "tinychat-chunked": "the same table's new TinyChat (FlashAttention, chunked prefill): the 32-token "
                        "question against the cached history",
    "awq": "Lin et al., AWQ, MLSys 2024 (arXiv 2306.00978): TinyChat W4A16 decode on Jetson Orin 64GB "
           "(a later TinyChat than the README's table)",
    "mlc": "dusty-nv/jetson-containers, packages/llm/mlc/docs.md: MLC LLM q4f16_ft Llama-2-7B on Jetson "
           "AGX Orin, decode 46.9 tokens/s (input 16, output 128)",
    "trt-edge": "NVIDIA/TensorRT-Edge-LLM issue #60 (a user's measurement, 2026-03): Qwen2.5-VL-3B on Jetson AGX "
                "Orin 64GB, JetPack 6.2, decode 27.2 tokens/s W16A16 and 71.8 tokens/s W4A16",
}

QUESTION = 32      # TinyChat's TTFT question length (tokens)
DECODE_CONTEXT = 512  # README: LLaMA-2-7B needs a > 500-token prompt; no length for the others: 512 assumed
                      # for all (the KV read at 512 tokens is about 2% of the weight bytes)
DECODE_STEPS = 4   # decode steps traced per decode point (the per-token latency is their mean)
TILE_CHOICES = (16, 32, 64, 128, 256)
CALIBRATED_CONFIGS = ("hwconfigs/orin-agx.yaml", "hwconfigs/orin-agx-32gb.yaml")


@dataclass(frozen=True)
class Measurement:
    """One published latency: a decode step or a prefill (time to first token)."""

    label: str          # the model as the source names it
    model: str          # workloads/models/<model>.yaml with its shapes
    precision: str      # fp16 | w4a16
    phase: str          # decode | prefill
    tokens: int         # prefill: tokens processed; decode: 1
    context: int        # tokens already in the KV cache when the step starts
    measured_ms: float
    role: str           # fit | held out | other runtime
    source: str         # key into SOURCES

    @property
    def name(self) -> str:
        what = "decode" if self.phase == "decode" else f"prefill {self.tokens}"
        ctx = f" after {self.context}" if self.context and self.phase == "prefill" else ""
        return f"{self.label} {self.precision} {what}{ctx}"


def _decode(label, model, prec, ms, role, source="tinychat", context=DECODE_CONTEXT):
    return Measurement(label, model, prec, "decode", 1, context, ms, role, source)


def _prefill(prec, tokens, ms, role, context=0, source="tinychat-ttft"):
    return Measurement("Llama-3-8B", "llama-3-8b", prec, "prefill", tokens, context, ms, role, source)


_HISTORY = (16, 32, 64, 128, 256, 512, 1024)
_FP16_TTFT = (107.10, 108.81, 114.07, 224.78, 343.95, 582.54, 1048.11)
_LEGACY_TTFT = (92.04, 111.31, 106.60, 160.78, 278.47, 528.70, 1145.35)
_NEW_TTFT = (65.57, 65.40, 66.49, 67.15, 73.29, 84.67, 118.53)
_FIT_HISTORY = (128, 512, 1024)  # prefill points fitted (160, 544, 1056 tokens); the others are held out

MEASUREMENTS: tuple[Measurement, ...] = (
    # decode, FP16 (Hugging Face) and W4A16 (TinyChat), per-token latency in ms
    _decode("LLaMA-2-7B", "llama-2-7b", "fp16", 86.80, "fit"),
    _decode("LLaMA-3-8B", "llama-3-8b", "fp16", 96.24, "fit"),
    _decode("LLaMA-2-7B", "llama-2-7b", "w4a16", 32.14, "fit"),
    _decode("LLaMA-2-13B", "llama-2-13b", "w4a16", 58.20, "fit"),
    _decode("Vicuna-7B", "llama-2-7b", "fp16", 84.77, "held out"),     # Vicuna v1.5: LLaMA-2 shapes
    _decode("MPT-7B", "mpt-7b", "fp16", 89.85, "held out"),
    _decode("Falcon-7B", "falcon-7b", "fp16", 147.84, "held out"),
    _decode("VILA-7B", "llama-2-7b", "fp16", 86.95, "held out"),       # VILA's LLM: LLaMA-2-7B shapes
    _decode("LLaMA-3-8B", "llama-3-8b", "w4a16", 32.55, "held out"),
    _decode("Vicuna-7B", "llama-2-7b", "w4a16", 30.73, "held out"),
    _decode("Vicuna-13B", "llama-2-13b", "w4a16", 54.98, "held out"),
    _decode("MPT-7B", "mpt-7b", "w4a16", 31.22, "held out"),
    _decode("Falcon-7B", "falcon-7b", "w4a16", 45.10, "held out"),
    _decode("VILA-7B", "llama-2-7b", "w4a16", 28.09, "held out"),
    _decode("VILA-13B", "llama-2-13b", "w4a16", 57.14, "held out"),
    # AWQ paper: tokens/s -> ms per token; short prompts (16 tokens assumed)
    _decode("Llama-2-7B", "llama-2-7b", "w4a16", 1000 / 39.1, "held out", "awq", 16),
    _decode("Llama-2-13B", "llama-2-13b", "w4a16", 1000 / 21.2, "held out", "awq", 16),
    _decode("Llama-2-70B", "llama-2-70b", "w4a16", 1000 / 3.5, "held out", "awq", 16),
    _decode("LLaMA-30B", "llama-30b", "w4a16", 1000 / 8.8, "held out", "awq", 16),
    # prefill (time to first token), Llama-3-8B
    *(_prefill("fp16", h + QUESTION, ms, "fit" if h in _FIT_HISTORY else "held out")
      for h, ms in zip(_HISTORY, _FP16_TTFT)),
    *(_prefill("w4a16", h + QUESTION, ms, "fit" if h in _FIT_HISTORY else "held out")
      for h, ms in zip(_HISTORY, _LEGACY_TTFT)),
    *(_prefill("w4a16", QUESTION, ms, "held out", context=h, source="tinychat-chunked")
      for h, ms in zip(_HISTORY, _NEW_TTFT)),
    # other runtimes: reported, not in the held-out median
    _decode("Llama-2-7B", "llama-2-7b", "w4a16", 1000 / 46.9, "other runtime", "mlc", 16),
    _decode("Qwen2.5-VL-3B", "qwen2.5-3b", "fp16", 1000 / 27.2, "other runtime", "trt-edge"),
    _decode("Qwen2.5-VL-3B", "qwen2.5-3b", "w4a16", 1000 / 71.8, "other runtime", "trt-edge"),
)


@cache
def measurement_trace(model: str, precision: str, phase: str, tokens: int, context: int) -> Trace:
    """The trace of one measurement: a text-only stream with one question (meta mode, full KV)."""
    m = load_model(resolve(f"workloads/models/{model}.yaml"))
    weights = "int4" if precision == "w4a16" else "fp16"
    if phase == "decode":
        q, kv_pre = Question(at_s=0.0, prompt_tokens=context, answer_tokens=DECODE_STEPS), 0
    else:
        q, kv_pre = Question(at_s=0.0, prompt_tokens=tokens, answer_tokens=1), context
    wl = WorkloadConfig(name=f"calibrate-{model}-{precision}-{phase}", model=f"models/{model}.yaml",
                        stream=StreamConfig(fps=1.0, duration_s=1.0, questions=(q,)),
                        precision=PrecisionConfig(weights=weights, activations="fp16", kv="fp16"),
                        kv_policy=KvPolicyConfig(name="full"), kv_prefill_tokens=kv_pre)
    object.__setattr__(wl, "model_config", m)
    tr = trace_workload(wl)
    keep = "decode" if phase == "decode" else "question_prefill"
    ev = tr.events
    tr.events = ev[(ev["phase"] == keep) & (ev["question"] >= 0)].reset_index(drop=True)
    return tr


def _trace(meas: Measurement) -> Trace:
    return measurement_trace(meas.model, meas.precision, meas.phase, meas.tokens, meas.context)


def _costs(meas: Measurement, gpu: GpuConfig):
    return GpuPlatform(gpu).op_costs(_trace(meas).events, None, "fp16")


def predict_ms(meas: Measurement, gpu: GpuConfig) -> float:
    """The model's latency for ``meas`` (ms): kernels in stream order, no offloading (everything fits)."""
    total = float(_costs(meas, gpu)["dur_s"].sum())
    steps = DECODE_STEPS if meas.phase == "decode" else 1
    return total / steps * 1e3


def _with(gpu: GpuConfig, **precisions) -> GpuConfig:
    eff = gpu.efficiency
    changes = {}
    for key, val in precisions.items():
        if key in ("kernel_launch_us", "gemv_max_rows", "vector"):
            changes[key] = val
        else:
            changes[key] = dataclasses.replace(eff.at(key), **val)
    return dataclasses.replace(gpu, efficiency=dataclasses.replace(eff, **changes))


def _points(role: str, precision: str, phase: str) -> list[Measurement]:
    return [m for m in MEASUREMENTS if m.role == role and m.precision == precision and m.phase == phase]


def fit(gpu: GpuConfig) -> GpuConfig:
    """Fit the FP16 and W4A16 efficiencies in the three stages of the module docstring."""
    peak_bw = gpu.dram.bandwidth_gbps * 1e9
    # 1. FP16 decode: t = bytes/peak * (1/bandwidth) + kernels * launch
    rows, t = [], []
    for m in _points("fit", "fp16", "decode"):
        c = _costs(m, gpu)
        rows.append([c["dram_bytes"].sum() / DECODE_STEPS / peak_bw, len(c) / DECODE_STEPS * 1e-6])
        t.append(m.measured_ms * 1e-3)
    a, y = np.array(rows), np.array(t)
    (inv_bw, launch_us), *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)
    if launch_us < 0:
        x = a[:, 0] / y
        inv_bw, launch_us = float(x.sum() / (x * x).sum()), 0.0
    bw = float(min(1.0, 1.0 / inv_bw))
    gpu = _with(gpu, kernel_launch_us=round(float(launch_us), 2), fp16={"bandwidth": round(bw, 3)},
                w4a16={"bandwidth": round(bw, 3), "dequant_ps_per_weight": 0.0})
    # 2. W4A16 decode: the time beyond streaming the bytes, per unpacked weight element. The engine's
    # unpacking time at 1 ps per weight is the number of unpacked weights (in ps): t = base + x * that
    unit = _with(gpu, w4a16={"dequant_ps_per_weight": 1.0})
    xs, ys = [], []
    for m in _points("fit", "w4a16", "decode"):
        c = _costs(m, unit)
        t = m.measured_ms * 1e-3
        xs.append(float(c["dequant_s"].sum()) / DECODE_STEPS / t)
        ys.append(1.0 - float((c["dur_s"] - c["dequant_s"]).sum()) / DECODE_STEPS / t)
    x, y = np.array(xs), np.array(ys)
    deq_ps = max(0.0, float((x * y).sum() / (x * x).sum()))
    gpu = _with(gpu, w4a16={"dequant_ps_per_weight": round(deq_ps, 3)})
    # 3. prefill per precision: tile rows and GEMM fraction
    for prec in ("fp16", "w4a16"):
        pts = _points("fit", prec, "prefill")
        best = None
        for tile in TILE_CHOICES:
            def loss(g, tile=tile):
                trial = _with(gpu, **{prec: {"gemm": g, "gemm_tile_rows": tile}})
                return sum(math.log(predict_ms(m, trial) / m.measured_ms) ** 2 for m in pts)
            g = _golden(loss, 0.02, 1.0)
            cand = (loss(g), tile, g)
            best = cand if best is None or cand[0] < best[0] else best
        _, tile, g = best
        gpu = _with(gpu, **{prec: {"gemm": round(g, 3), "gemm_tile_rows": tile}})
    fp16 = gpu.efficiency.fp16
    gpu = _with(gpu, bf16=dataclasses.asdict(fp16), int8=dataclasses.asdict(fp16))
    return gpu


def _golden(f, lo: float, hi: float, tol: float = 1e-4) -> float:
    """Minimise a unimodal ``f`` on [lo, hi] by golden-section search."""
    r = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = f(d)
    return (a + b) / 2


@dataclass(frozen=True)
class Row:
    meas: Measurement
    predicted_ms: float

    @property
    def error(self) -> float:
        return self.predicted_ms / self.meas.measured_ms - 1.0


def evaluate(gpu: GpuConfig) -> list[Row]:
    return [Row(m, predict_ms(m, gpu)) for m in MEASUREMENTS]


def median_abs_error(rows: list[Row], role: str) -> float:
    errs = [abs(r.error) for r in rows if r.meas.role == role]
    return float(np.median(errs)) if errs else float("nan")


def median_by_source(rows: list[Row], role: str = "held out") -> dict[str, float]:
    """Median absolute error of ``role`` points, per source (a breakdown, not a target)."""
    out = {}
    for src in SOURCES:
        errs = [abs(r.error) for r in rows if r.meas.role == role and r.meas.source == src]
        if errs:
            out[src] = float(np.median(errs))
    return out


def tables_markdown(rows: list[Row]) -> str:
    """The fit, held-out and other-runtime tables (Markdown), with their sources."""
    out = []
    for role, title in (("fit", "Fitted points"), ("held out", "Held-out points (never fitted)"),
                        ("other runtime", "Other runtimes (reported, not in the held-out median)")):
        sel = [r for r in rows if r.meas.role == role]
        if not sel:
            continue
        med = median_abs_error(rows, role)
        out.append(f"**{title}** (median absolute error {med:.1%})\n")
        if role == "held out":
            by = ", ".join(f"`{k}` {v:.1%}" for k, v in median_by_source(rows).items())
            out.append(f"By source: {by}.\n")
        out.append("| point | source | measured (ms) | model (ms) | error |")
        out.append("|---|---|---:|---:|---:|")
        for r in sel:
            out.append(f"| {r.meas.name} | {r.meas.source} | {r.meas.measured_ms:.1f} | {r.predicted_ms:.1f} "
                       f"| {r.error:+.1%} |")
        out.append("")
    out.append("Sources: " + "; ".join(f"`{k}`: {v}" for k, v in SOURCES.items()) + ".")
    return "\n".join(out)


def values_markdown(gpu: GpuConfig) -> str:
    """The fitted values, one line per precision."""
    e = gpu.efficiency
    lines = [f"Fitted values (`hwconfigs/orin-agx.yaml`): kernel launch {e.kernel_launch_us} us;"]
    for p in ("fp16", "w4a16"):
        v = e.at(p)
        lines.append(f"`{p}`: bandwidth {v.bandwidth:.3f} of peak, GEMM {v.gemm:.3f} of the tensor peak on "
                     f"{v.gemm_tile_rows}-row tiles, unpacking {v.dequant_ps_per_weight} ps per weight;")
    lines.append("`bf16` = `fp16`; `int8`: assumption (FP16's fractions).")
    return " ".join(lines) + "\n"


def plot(rows: list[Row], path: Path) -> Path:
    """Measured vs modelled latency, log-log, fitted and held-out points apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    styles = {"fit": ("o", "tab:blue"), "held out": ("s", "tab:orange"), "other runtime": ("^", "tab:gray")}
    for role, (marker, color) in styles.items():
        sel = [r for r in rows if r.meas.role == role]
        if sel:
            ax.scatter([r.meas.measured_ms for r in sel], [r.predicted_ms for r in sel], marker=marker,
                       color=color, label=f"{role} (median |err| {median_abs_error(rows, role):.1%})")
    lo = min(min(r.meas.measured_ms, r.predicted_ms) for r in rows) * 0.8
    hi = max(max(r.meas.measured_ms, r.predicted_ms) for r in rows) * 1.25
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    for f in (0.9, 1.1):
        ax.plot([lo, hi], [lo * f, hi * f], "k:", lw=0.6)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)",
           ylabel="model latency (ms)", title="GPU model vs Jetson AGX Orin 64GB (decode, prefill)")
    ax.legend(fontsize=8, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _fitted_on(precision: str, phase: str) -> str:
    """The fitted points of one precision and phase, as the config comments name them."""
    pts = _points("fit", precision, phase)
    if phase == "decode":
        return ", ".join(m.label for m in pts)
    return f"{'/'.join(str(m.tokens) for m in pts)} tokens ({pts[0].label})"


def efficiency_block(gpu: GpuConfig) -> str:
    """The ``efficiency:`` block of the calibrated configs, values with their sources."""
    e = gpu.efficiency

    def flow(p) -> str:
        return (f"{{bandwidth: {p.bandwidth}, gemm: {p.gemm}, gemm_tile_rows: {p.gemm_tile_rows}, "
                f"dequant_ps_per_weight: {p.dequant_ps_per_weight}}}")

    return "\n".join([
        "efficiency:                # written by `make calibrate` (analysis/calibrate_orin.py); do not edit by hand.",
        "  # Fitted on Jetson AGX Orin 64GB measurements: TinyChat README (mit-han-lab/llm-awq, tinychat/README.md),",
        "  # decode per-token latency (HF FP16, TinyChat W4A16) and Llama-3-8B time to first token; errors on the",
        "  # fitted and held-out points are in the README's validation section.",
        f"  gemv_max_rows: {e.gemv_max_rows}          # AWQ's WQLinear switches from its GEMV to its GEMM kernel at "
        "8 tokens",
        "                            # (llm-awq / AutoAWQ); assumed for cuBLAS FP16 kernels too",
        f"  vector: {e.vector:.2f}              # assumption (not fitted: element-wise kernels are a small share here)",
        f"  kernel_launch_us: {e.kernel_launch_us}     # fitted with fp16.bandwidth on FP16 decode "
        f"({_fitted_on('fp16', 'decode')})",
        f"  fp16: {flow(e.fp16)}",
        f"    # bandwidth: FP16 decode; gemm and gemm_tile_rows: FP16 prefill of {_fitted_on('fp16', 'prefill')}",
        f"  bf16: {flow(e.bf16)}",
        "    # FP16's values: Ampere tensor cores run BF16 at the FP16 rate; no published Orin BF16 LLM rates found",
        f"  w4a16: {flow(e.w4a16)}",
        "    # bandwidth tied to FP16's (not separable from unpacking on decode); dequant_ps_per_weight: W4A16",
        f"    # decode ({_fitted_on('w4a16', 'decode')}); gemm and gemm_tile_rows: legacy TinyChat prefill of",
        f"    # {_fitted_on('w4a16', 'prefill')}",
        f"  int8: {flow(e.int8)}",
        "    # assumption (not fitted): no published Orin W8A8 LLM rates found; FP16's fractions on the INT8 peak",
    ]) + "\n"


def write_configs(gpu: GpuConfig, paths=CALIBRATED_CONFIGS) -> list[Path]:
    """Replace the ``efficiency:`` block (up to the next top-level key) in each calibrated config."""
    done = []
    block = efficiency_block(gpu)
    for p in paths:
        path = resolve(p)
        text = path.read_text()
        new, n = re.subn(r"^efficiency:.*?(?=^\S)", block, text, count=1, flags=re.M | re.S)
        if n != 1:
            raise SystemExit(f"{path}: no top-level 'efficiency:' block to replace")
        if new != text:
            path.write_text(new)
            done.append(path)
    return done


README_BEGIN, README_END = "<!-- calibrate:begin -->", "<!-- calibrate:end -->"


def write_readme(gpu: GpuConfig, rows: list[Row], path: str = "README.md") -> bool:
    from analysis.docs import write_between

    return write_between(resolve(path), README_BEGIN, README_END, f"{values_markdown(gpu)}\n{tables_markdown(rows)}")


def _print_table(rows: list[Row]) -> None:
    for role in ("fit", "held out", "other runtime"):
        sel = [r for r in rows if r.meas.role == role]
        print(f"\n{role} ({len(sel)} points, median |error| {median_abs_error(rows, role):.1%}):")
        if role == "held out":
            print("  by source: " + ", ".join(f"{k} {v:.1%}" for k, v in median_by_source(rows).items()))
        print(f"  {'point':44s} {'source':14s} {'measured ms':>11s} {'model ms':>9s} {'error':>7s}")
        for r in sel:
            print(f"  {r.meas.name:44s} {r.meas.source:14s} {r.meas.measured_ms:11.1f} {r.predicted_ms:9.1f} "
                  f"{r.error:+7.1%}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpu", default="hwconfigs/orin-agx.yaml", help="the config to start from")
    ap.add_argument("--plot", default="results/calibrate/orin-calibration.png", help="measured-vs-model figure")
    ap.add_argument("--write", action="store_true",
                    help="write the fitted values into the Orin configs and the tables into README.md")
    args = ap.parse_args(argv)
    try:
        gpu = load_hardware(resolve(args.gpu))
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    if not isinstance(gpu, GpuConfig):
        raise SystemExit(f"error: {args.gpu}: kind: got '{gpu.kind}'; make calibrate fits a GPU config (kind: gpu)")
    print("sources:")
    for k, v in SOURCES.items():
        print(f"  {k}: {v}")
    print(f"\nfitting on {sum(m.role == 'fit' for m in MEASUREMENTS)} points "
          f"({sum(m.role == 'held out' for m in MEASUREMENTS)} held out) ...")
    fitted = fit(gpu)
    print("\nfitted efficiency block:\n" + efficiency_block(fitted))
    rows = evaluate(fitted)
    _print_table(rows)
    print(f"\nfigure: {plot(rows, resolve(args.plot))}")
    if args.write:
        for p in write_configs(fitted):
            print(f"wrote {p}")
        if write_readme(fitted, rows):
            print("wrote README.md (validation tables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
