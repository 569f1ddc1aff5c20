"""Calibrate the GPU models per software stack on published measurements (``make calibrate``).

The GPU model (``simulator/engine/platforms/gpu.py``) times a kernel as ``max(compute, memory) + dequantisation +
launch`` with efficiencies per precision, per software stack (``GpuConfig.software`` names the stack a
config runs; ``efficiency.<stack>`` holds each stack's values). This script fits them per *component* --
a device and a stack: the Jetson AGX Orin running ``hf-pytorch`` (Hugging Face / TinyChat, what the
baselines use) and ``tensorrt-llm`` (compiled engines: TensorRT Edge-LLM, MLC as a held-out compiled
runtime), the A100 80GB running ``tensorrt-llm`` (TensorRT-LLM, LMDeploy TurboMind, gpt-fast's compiled
PyTorch) and ``hf-pytorch`` (eager PyTorch / transformers). It reports the error on the points it fitted and
on a held-out set it never fitted, per component, and (``--write``, what ``make calibrate`` runs) writes the
fitted values with their sources into the device's configs and the tables into the README's validation
section. (The module keeps its name so ``make calibrate`` and other branches keep working; it covers every
GPU config now.)

Fit, per component, in stages (each stage's parameters are identified by its points alone):

1. 16-bit decode (memory-bound): ``fp16.bandwidth`` and ``kernel_launch_us`` by linear least squares on
   relative errors (``t = bytes / (peak x bandwidth) + kernels x launch``); a negative launch is refitted
   at zero. With one point only the launch is fitted (the bandwidth is the device's first stack's).
2. W4A16 decode: ``w4a16.dequant_ps_per_weight`` (time to unpack a weight; decode's GEMV kernels unpack
   each weight once, a GEMM's row tiles each unpack theirs), with the memory stream at FP16's bandwidth: on
   decode alone the two cannot be told apart, so ``w4a16.bandwidth`` is tied to ``fp16.bandwidth``.
3. Prefill (compute-bound), per precision: ``gemm`` (fraction of the tensor peak) by golden-section search
   and ``gemm_tile_rows`` (rows per tile: a GEMM computes whole tiles) from {16, 32, 64, 128, 256}, least
   squares on log errors.

A stage without fitted points keeps the values of the device's first-fitted stack (``PRIMARY_STACK``;
on the first stack itself: the config's), and the written config says so (an assumption, not a fit).
BF16 takes FP16's values (Ampere runs BF16 at the FP16 tensor rate; BF16 points are fitted as 16-bit
points); INT8 (W8A8) is not fitted (no batch-1 W8A8 rates found): FP16's fractions on the INT8 peak,
labelled an assumption.

Which points are fitted and which held out was fixed in the lists below before any fit (per component:
the extremes of a family fit, everything else held out).
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

from analysis.calibrate.summary import component, record
from analysis.data import load_data, records
from simulator.config.hardware import SOFTWARE_STACKS, GpuConfig, GpuEfficiency, load_hardware
from simulator.config.workload import (
    KvPolicyConfig,
    PrecisionConfig,
    Question,
    StreamConfig,
    WorkloadConfig,
    load_model,
)
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.errors import ConfigError
from simulator.pipeline import resolve
from simulator.stream import Trace, trace_workload

# The components: a device (its configs) and the stacks fitted on it, the first one fitted first (``fit``)
DEVICE_CONFIGS = {"orin": ("hwconfigs/orin-agx-64gb.yaml", "hwconfigs/orin-agx-32gb.yaml"),
                  "a100": ("hwconfigs/a100-80gb.yaml",)}
DEVICE_NAMES = {"orin": "Jetson AGX Orin 64GB", "a100": "A100 80GB"}
# the stack with the most points is fitted first; a stage another stack has no points for keeps its values
PRIMARY_STACK = {"orin": "hf-pytorch", "a100": "tensorrt-llm"}
# The board the measurements ran on, where it differs from the config's: the A100 points are from SXM4 boards
# (optimum, gpt-fast's HCM node, TensorRT-LLM#281; LMDeploy's 'A100-80G(x8)' node assumed the same), whose HBM2e
# runs at 2,039 GB/s against the 80GB PCIe board's 1,935 GB/s (NVIDIA A100 data sheet, 'GPU Memory Bandwidth');
# the fractions of peak fitted on the SXM4 peak are written into the PCIe config (same GA100 and tensor peaks;
# batch-1 inference stays far below either board's power limit).
MEASURED_BOARD = {"a100": {"bandwidth_gbps": 2039.0}}

DECODE_CONTEXT = 512  # README: LLaMA-2-7B needs a > 500-token prompt; no length for the others: 512 assumed
                      # for all (the KV read at 512 tokens is about 2% of the weight bytes)
DECODE_STEPS = 4   # decode steps traced per decode point (the per-token latency is their mean)
TILE_CHOICES = (16, 32, 64, 128, 256)
SIXTEEN_BIT = ("fp16", "bf16")  # fitted together: Ampere runs both at one tensor rate, with the same bytes


@dataclass(frozen=True)
class Measurement:
    """One published latency: a decode step or a prefill (time to first token), of one device and stack."""

    label: str          # the model as the source names it
    model: str          # workloads/models/<model>.yaml with its shapes
    precision: str      # fp16 | bf16 | w4a16
    phase: str          # decode | prefill
    tokens: int         # prefill: tokens processed; decode: 1
    context: int        # tokens already in the KV cache when the step starts
    measured_ms: float
    role: str           # fit | held out
    source: str         # key into SOURCES (analysis/data/gpu_stacks.yaml)
    device: str = "orin"         # key into DEVICE_CONFIGS
    stack: str = "hf-pytorch"    # the software stack measured (a GpuConfig software stack)

    @property
    def name(self) -> str:
        what = "decode" if self.phase == "decode" else f"prefill {self.tokens}"
        ctx = f" after {self.context}" if self.context and self.phase == "prefill" else ""
        return f"{self.label} {self.precision} {what}{ctx}"

    @property
    def component(self) -> tuple[str, str]:
        return self.device, self.stack


def _measurement_entry(row: dict, where: str) -> dict:
    """A point as published: a decode step's ``tokens_per_s`` is its per-token latency (ms); a decode processes
    one token."""
    if "tokens_per_s" in row:
        row["measured_ms"] = 1000 / row.pop("tokens_per_s")
    elif "ms" in row:
        row["measured_ms"] = row.pop("ms")
    if row.get("phase") == "decode":
        row.setdefault("tokens", 1)
    return row


def load_measurements(path: str = "gpu_stacks.yaml") -> tuple[dict[str, str], tuple[Measurement, ...]]:
    """The sources and the measurements of analysis/data/``path``, in file order (grouped by device and stack)."""
    data, where = load_data(path)
    out: list[Measurement] = []
    for i, group in enumerate(data.get("measurements") or []):
        key = f"measurements[{i}]"
        if not isinstance(group, dict) or group.get("device") not in DEVICE_CONFIGS:
            raise ConfigError(where, f"{key}.device", f"must be one of {', '.join(DEVICE_CONFIGS)}")
        if not isinstance(group.get("stack"), str):
            raise ConfigError(where, f"{key}.stack", "missing; a GPU software stack name")
        sub = {"sources": data.get("sources", {}), "points": group.get("points")}
        pts = records(sub, "points", Measurement, where,
                      lambda row, w: _measurement_entry({**row, "device": group["device"], "stack": group["stack"]},
                                                        w))
        out += pts
    return dict(data.get("sources", {})), tuple(out)


SOURCES, MEASUREMENTS = load_measurements()


def components(meas=MEASUREMENTS) -> list[tuple[str, str]]:
    """The (device, stack) pairs with measurements, each device's primary stack first."""
    out: list[tuple[str, str]] = []
    for dev in DEVICE_CONFIGS:
        stacks = {m.stack for m in meas if m.device == dev}
        ordered = [PRIMARY_STACK[dev]] + sorted(stacks - {PRIMARY_STACK[dev]})
        out += [(dev, st) for st in ordered if st in stacks]
    return out


@cache
def measurement_trace(model: str, precision: str, phase: str, tokens: int, context: int) -> Trace:
    """The trace of one measurement: a text-only stream with one question (meta mode, full KV)."""
    m = load_model(resolve(f"workloads/models/{model}.yaml"))
    # BF16 moves the bytes FP16 does and runs at the same tensor rate (SIXTEEN_BIT): traced as FP16
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
    prec = "fp16" if meas.precision in SIXTEEN_BIT else meas.precision
    return measurement_trace(meas.model, prec, meas.phase, meas.tokens, meas.context)


def _costs(meas: Measurement, gpu: GpuConfig):
    return GpuPlatform(gpu).op_costs(_trace(meas).events, None, "fp16")


def predict_ms(meas: Measurement, gpu: GpuConfig) -> float:
    """The model's latency for ``meas`` (ms) on ``gpu`` running the measurement's stack: kernels in stream
    order, no offloading (everything fits)."""
    if gpu.software != meas.stack:
        gpu = gpu.with_software(meas.stack)
    total = float(_costs(meas, gpu)["dur_s"].sum())
    steps = DECODE_STEPS if meas.phase == "decode" else 1
    return total / steps * 1e3


def _with(gpu: GpuConfig, **precisions) -> GpuConfig:
    """``gpu`` with some efficiencies of the stack it runs changed."""
    eff = gpu.stack
    changes = {}
    for key, val in precisions.items():
        if key in ("kernel_launch_us", "gemv_max_rows", "vector"):
            changes[key] = val
        else:
            changes[key] = dataclasses.replace(eff.at(key), **val)
    return dataclasses.replace(gpu, efficiency={**gpu.efficiency,
                                                gpu.software: dataclasses.replace(eff, **changes)})


def _points(role: str, precision: str | tuple, phase: str, component: tuple[str, str]) -> list[Measurement]:
    precs = (precision,) if isinstance(precision, str) else precision
    return [m for m in MEASUREMENTS if m.role == role and m.precision in precs and m.phase == phase
            and m.component == component]


def _running(gpu: GpuConfig, stack: str, start: GpuEfficiency) -> GpuConfig:
    return dataclasses.replace(gpu, software=stack, efficiency={**gpu.efficiency, stack: start})


def fit_stack(gpu: GpuConfig, component: tuple[str, str], start: GpuEfficiency) -> tuple[GpuEfficiency, dict]:
    """Fit one component's efficiencies from ``start`` in the three stages of the module docstring; returns
    them and, per fitted value, the points it was fitted on (values not in it are kept from ``start``)."""
    stack = component[1]
    gpu = _running(gpu, stack, start)
    fitted: dict[str, str] = {}
    peak_bw = gpu.dram.bandwidth_gbps * 1e9
    # 1. 16-bit decode: t = bytes/peak * (1/bandwidth) + kernels * launch
    pts = _points("fit", SIXTEEN_BIT, "decode", component)
    if pts:
        rows, t = [], []
        for m in pts:
            c = _costs(m, gpu)
            rows.append([c["dram_bytes"].sum() / DECODE_STEPS / peak_bw, len(c) / DECODE_STEPS * 1e-6])
            t.append(m.measured_ms * 1e-3)
        a, y = np.array(rows), np.array(t)
        names = ", ".join(m.label for m in pts)
        if len(pts) >= 2:
            (inv_bw, launch_us), *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)
            if launch_us < 0:
                x = a[:, 0] / y
                inv_bw, launch_us = float(x.sum() / (x * x).sum()), 0.0
            bw = float(min(1.0, 1.0 / inv_bw))
            if bw < 1.0 / inv_bw:  # above the peak: the bandwidth at the peak, the launch refitted with it
                x, z = a[:, 1] / y, 1.0 - a[:, 0] / y
                launch_us = max(0.0, float((x * z).sum() / (x * x).sum()))
            fitted.update({"kernel_launch_us": f"16-bit decode ({names})", "fp16.bandwidth": f"({names})"})
        else:  # one point: the launch only, at the start's bandwidth
            bw = gpu.stack.fp16.bandwidth
            launch_us = max(0.0, float(((y - a[:, 0] / bw) / a[:, 1]).mean()))
            fitted["kernel_launch_us"] = f"16-bit decode ({names}), at fp16.bandwidth kept"
        gpu = _with(gpu, kernel_launch_us=round(float(launch_us), 2), fp16={"bandwidth": round(bw, 3)},
                    w4a16={"bandwidth": round(bw, 3)})
    # 2. W4A16 decode: the time beyond streaming the bytes, per unpacked weight element. The engine's
    # unpacking time at 1 ps per weight is the number of unpacked weights (in ps): t = base + x * that
    pts = _points("fit", "w4a16", "decode", component)
    if pts:
        base = _with(gpu, w4a16={"dequant_ps_per_weight": 0.0})
        unit = _with(gpu, w4a16={"dequant_ps_per_weight": 1.0})
        xs, ys = [], []
        for m in pts:
            c, c0 = _costs(m, unit), _costs(m, base)
            t = m.measured_ms * 1e-3
            xs.append(float(c["dequant_s"].sum()) / DECODE_STEPS / t)
            ys.append(1.0 - float(c0["dur_s"].sum()) / DECODE_STEPS / t)
        x, y = np.array(xs), np.array(ys)
        deq_ps = max(0.0, float((x * y).sum() / (x * x).sum()))
        gpu = _with(gpu, w4a16={"dequant_ps_per_weight": round(deq_ps, 3)})
        fitted["w4a16.dequant_ps_per_weight"] = f"W4A16 decode ({', '.join(m.label for m in pts)})"
    # 3. prefill per precision: tile rows and GEMM fraction
    for prec, precs in (("fp16", SIXTEEN_BIT), ("w4a16", ("w4a16",))):
        pts = _points("fit", precs, "prefill", component)
        if not pts:
            continue
        best = None
        # one point cannot tell the tile from the fraction: the fraction only, on the start's tiles
        tiles = TILE_CHOICES if len(pts) > 1 else (gpu.stack.at(prec).gemm_tile_rows,)
        for tile in tiles:
            def loss(g, tile=tile):
                trial = _with(gpu, **{prec: {"gemm": g, "gemm_tile_rows": tile}})
                return sum(math.log(predict_ms(m, trial) / m.measured_ms) ** 2 for m in pts)
            g = _golden(loss, 0.02, 1.0)
            cand = (loss(g), tile, g)
            best = cand if best is None or cand[0] < best[0] else best
        _, tile, g = best
        gpu = _with(gpu, **{prec: {"gemm": round(g, 3), "gemm_tile_rows": tile}})
        fitted[f"{prec}.gemm"] = (f"{prec} prefill of "
                                  + ", ".join(f"{m.tokens} tokens ({m.label})" for m in pts))
    fp16 = gpu.stack.fp16
    gpu = _with(gpu, bf16=dataclasses.asdict(fp16), int8=dataclasses.asdict(fp16))
    return gpu.stack, fitted


def measured_board(gpu: GpuConfig, device: str) -> GpuConfig:
    """``gpu`` as the board its measurements ran on (``MEASURED_BOARD``)."""
    dram = MEASURED_BOARD.get(device)
    return dataclasses.replace(gpu, dram=dataclasses.replace(gpu.dram, **dram)) if dram else gpu


def fit_device(gpu: GpuConfig, device: str) -> tuple[GpuConfig, dict]:
    """Fit every stack measured on ``device``: the primary stack from the config's values, the others from
    the primary's fit. Returns the config (its ``software`` unchanged) and the fitted-on notes per stack."""
    config = gpu
    comps = [c for c in components() if c[0] == device]
    gpu = measured_board(gpu, device)
    effs: dict = {}
    notes: dict = {}
    primary = PRIMARY_STACK[device]
    for dev, stack in comps:
        start = gpu.efficiency.get(primary) if stack == primary else effs[primary]
        if start is None:
            start = next(iter(gpu.efficiency.values()))
        effs[stack], notes[stack] = fit_stack(gpu, (dev, stack), start)
    order = [s for s in SOFTWARE_STACKS if s in effs] + [s for s in gpu.efficiency if s not in effs]
    merged = {s: effs.get(s, gpu.efficiency.get(s)) for s in order}
    return dataclasses.replace(config, efficiency=merged), notes


def fit(gpu: GpuConfig, device: str = "orin") -> GpuConfig:
    """The device's configs as ``make calibrate`` writes them (see ``fit_device``)."""
    return fit_device(gpu, device)[0]


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


def evaluate(gpus: dict[str, GpuConfig] | GpuConfig) -> list[Row]:
    """Every measurement against its device's fitted config (a single config: the Orin's points only)."""
    if isinstance(gpus, GpuConfig):
        gpus = {"orin": gpus}
    boards = {dev: measured_board(g, dev) for dev, g in gpus.items()}
    return [Row(m, predict_ms(m, boards[m.device])) for m in MEASUREMENTS if m.device in gpus]


def _sel(rows: list[Row], role: str, component: tuple[str, str] | None = None) -> list[Row]:
    return [r for r in rows if r.meas.role == role and (component is None or r.meas.component == component)]


def median_abs_error(rows: list[Row], role: str, component: tuple[str, str] | None = None) -> float:
    errs = [abs(r.error) for r in _sel(rows, role, component)]
    return float(np.median(errs)) if errs else float("nan")


def median_by_source(rows: list[Row], role: str = "held out", component=None) -> dict[str, float]:
    """Median absolute error of ``role`` points, per source (a breakdown, not a target)."""
    out = {}
    for src in SOURCES:
        errs = [abs(r.error) for r in _sel(rows, role, component) if r.meas.source == src]
        if errs:
            out[src] = float(np.median(errs))
    return out


def _component_name(component: tuple[str, str]) -> str:
    return f"{DEVICE_NAMES[component[0]]}, {component[1]}"


def summary_markdown(rows: list[Row]) -> str:
    """One line per component: points and the fitted / held-out medians against the 10% target."""
    out = ["| component | fitted points | fitted median | held-out points | held-out median | <= 10%? |",
           "|---|---:|---:|---:|---:|---|"]
    for comp in components():
        fit_n, held_n = len(_sel(rows, "fit", comp)), len(_sel(rows, "held out", comp))
        held = median_abs_error(rows, "held out", comp)
        ok = "yes" if held <= 0.10 else "no (see below)"
        out.append(f"| {_component_name(comp)} | {fit_n} | {median_abs_error(rows, 'fit', comp):.1%} | {held_n} "
                   f"| {held:.1%} | {ok} |")
    return "\n".join(out) + "\n"


def tables_markdown(rows: list[Row]) -> str:
    """The per-component summary, then fit and held-out tables per component (Markdown), with sources."""
    out = ["**Held-out median per component** (the target: 10%)\n", summary_markdown(rows)]
    for comp in components():
        for role, title in (("fit", "fitted points"), ("held out", "held-out points (never fitted)")):
            sel = _sel(rows, role, comp)
            if not sel:
                continue
            med = median_abs_error(rows, role, comp)
            out.append(f"**{_component_name(comp)}: {title}** (median absolute error {med:.1%})\n")
            if role == "held out":
                by = ", ".join(f"`{k}` {v:.1%}" for k, v in median_by_source(rows, component=comp).items())
                out.append(f"By source: {by}.\n")
            out.append("| point | source | measured (ms) | model (ms) | error |")
            out.append("|---|---|---:|---:|---:|")
            for r in sel:
                out.append(f"| {r.meas.name} | {r.meas.source} | {r.meas.measured_ms:.1f} | {r.predicted_ms:.1f} "
                           f"| {r.error:+.1%} |")
            out.append("")
    out.append("Sources: " + "; ".join(f"`{k}`: {v}" for k, v in SOURCES.items()) + ".")
    return "\n".join(out)


def values_markdown(gpus: dict[str, GpuConfig]) -> str:
    """The fitted values, one line per component and precision."""
    lines = []
    for dev, gpu in gpus.items():
        for stack, e in gpu.efficiency.items():
            parts = [f"{DEVICE_NAMES[dev]} `{stack}` (`{DEVICE_CONFIGS[dev][0]}`): kernel launch "
                     f"{e.kernel_launch_us} us;"]
            for p in ("fp16", "w4a16"):
                v = e.at(p)
                parts.append(f"`{p}`: bandwidth {v.bandwidth:.3f} of peak, GEMM {v.gemm:.3f} of the tensor peak on "
                             f"{v.gemm_tile_rows}-row tiles, unpacking {v.dequant_ps_per_weight} ps per weight;")
            lines.append("- " + " ".join(parts).rstrip(";") + ".")
    lines.append("\n`bf16` = `fp16` everywhere; `int8`: assumption (FP16's fractions). Values a component has no "
                 "fitted points for are its device's first stack's (each config says which).")
    return "Fitted values:\n\n" + "\n".join(lines) + "\n"


def plot(rows: list[Row], path: Path) -> Path:
    """Measured vs modelled latency, log-log, one panel per component, fitted and held-out points apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    from analysis.report.figures import save_png

    comps = components()
    fig, axes = plt.subplots(1, len(comps), figsize=(4.2 * len(comps), 4.4), squeeze=False)
    styles = {"fit": ("o", "tab:blue"), "held out": ("s", "tab:orange")}
    for ax, comp in zip(axes[0], comps):
        mine = [r for r in rows if r.meas.component == comp]
        for role, (marker, color) in styles.items():
            sel = _sel(mine, role)
            if sel:
                ax.scatter([r.meas.measured_ms for r in sel], [r.predicted_ms for r in sel], marker=marker,
                           color=color, label=f"{role} (median |err| {median_abs_error(mine, role):.1%})")
        lo = min(min(r.meas.measured_ms, r.predicted_ms) for r in mine) * 0.8
        hi = max(max(r.meas.measured_ms, r.predicted_ms) for r in mine) * 1.25
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        for f in (0.9, 1.1):
            ax.plot([lo, hi], [lo * f, hi * f], "k:", lw=0.6)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)",
               ylabel="model latency (ms)", title=_component_name(comp))
        ax.title.set_fontsize(9)
        for axis in (ax.xaxis, ax.yaxis):  # labels at 1, 2, 5 x 10^k only (all minor ones overlap)
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("GPU model vs published measurements (decode, prefill); dotted: +-10%", fontsize=10)
    return save_png(fig, path)


def _flow(p) -> str:
    return (f"{{bandwidth: {p.bandwidth}, gemm: {p.gemm}, gemm_tile_rows: {p.gemm_tile_rows}, "
            f"dequant_ps_per_weight: {p.dequant_ps_per_weight}}}")


_STACK_NOTE = {
    "hf-pytorch": "eager PyTorch / Hugging Face transformers (and TinyChat) kernels, launched one by one",
    "tensorrt-llm": "compiled engines with fused kernels (TensorRT-LLM, TensorRT Edge-LLM; MLC, LMDeploy "
                    "TurboMind and torch.compile'd gpt-fast as comparable compiled runtimes)",
}


def stack_block(stack: str, e: GpuEfficiency, fitted: dict, device: str, primary: str) -> list[str]:
    """One stack's lines of the ``efficiency:`` block, each value with what it was fitted on or where it is from."""
    kept = (f"kept from {primary} (no {stack} points for it: an assumption)" if stack != primary
            else "not fitted (no points): the config's value, an assumption")

    def why(key: str) -> str:
        return f"fitted on {fitted[key]}" if key in fitted else kept

    srcs = sorted({m.source for m in MEASUREMENTS if m.component == (device, stack)})
    return [
        f"  {stack}:   # {_STACK_NOTE.get(stack, stack)}",
        f"    # measured on the {DEVICE_NAMES[device]}; sources ({', '.join(srcs)}) and errors in the README's "
        "validation section",
        f"    gemv_max_rows: {e.gemv_max_rows}    # AWQ's WQLinear switches from its GEMV to its GEMM kernel at 8 "
        "tokens (llm-awq / AutoAWQ); assumed for all",
        f"    vector: {e.vector:.2f}    # assumption (not fitted: element-wise kernels are a small share here)",
        f"    kernel_launch_us: {e.kernel_launch_us}    # {why('kernel_launch_us')}",
        f"    fp16: {_flow(e.fp16)}",
        f"      # bandwidth: {why('fp16.bandwidth')}",
        f"      # gemm, gemm_tile_rows: {why('fp16.gemm')}",
        f"    bf16: {_flow(e.bf16)}",
        "      # FP16's values: Ampere tensor cores run BF16 at the FP16 rate",
        f"    w4a16: {_flow(e.w4a16)}",
        "      # bandwidth tied to FP16's (not separable from unpacking on decode)",
        f"      # dequant_ps_per_weight: {why('w4a16.dequant_ps_per_weight')}",
        f"      # gemm, gemm_tile_rows: {why('w4a16.gemm')}",
        f"    int8: {_flow(e.int8)}",
        "      # assumption (not fitted): no batch-1 W8A8 LLM rates found; FP16's fractions on the INT8 peak",
    ]


def efficiency_block(gpu: GpuConfig, device: str = "orin", notes: dict | None = None) -> str:
    """The ``efficiency:`` block of a device's calibrated configs, one section per stack, values with sources."""
    if notes is None:
        notes = fit_device(gpu, device)[1]
    lines = ["efficiency:                # written by `make calibrate` (analysis/calibrate/gpu_stacks.py); do not edit "
             "by hand."]
    for stack, e in gpu.efficiency.items():
        lines += stack_block(stack, e, notes.get(stack, {}), device, PRIMARY_STACK[device])
    return "\n".join(lines) + "\n"


def write_configs(gpu: GpuConfig, device: str = "orin", notes: dict | None = None, paths=None) -> list[Path]:
    """Replace the ``efficiency:`` block (up to the next top-level key) in each of the device's configs."""
    done = []
    block = efficiency_block(gpu, device, notes)
    for p in paths or DEVICE_CONFIGS[device]:
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


def readme_block(gpus: dict[str, GpuConfig], rows: list[Row]) -> str:
    return f"{values_markdown(gpus)}\n{tables_markdown(rows)}"


def write_readme(gpus: dict[str, GpuConfig], rows: list[Row], path: str = "docs/validation.md") -> bool:
    from analysis.report.markdown import write_between

    return write_between(resolve(path), README_BEGIN, README_END, readme_block(gpus, rows))


def _print_table(rows: list[Row]) -> None:
    for comp in components():
        print(f"\n== {_component_name(comp)}")
        for role in ("fit", "held out"):
            sel = _sel(rows, role, comp)
            print(f"\n{role} ({len(sel)} points, median |error| {median_abs_error(rows, role, comp):.1%}):")
            if role == "held out":
                print("  by source: " + ", ".join(f"{k} {v:.1%}"
                                                  for k, v in median_by_source(rows, component=comp).items()))
            print(f"  {'point':44s} {'source':14s} {'measured ms':>11s} {'model ms':>9s} {'error':>7s}")
            for r in sel:
                print(f"  {r.meas.name:44s} {r.meas.source:14s} {r.meas.measured_ms:11.1f} {r.predicted_ms:9.1f} "
                      f"{r.error:+7.1%}")
    print("\nheld-out median per component (target <= 10%):")
    for comp in components():
        print(f"  {_component_name(comp):40s} {median_abs_error(rows, 'held out', comp):6.1%}")


def load_gpu(path: str) -> GpuConfig:
    try:
        gpu = load_hardware(resolve(path))
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    if not isinstance(gpu, GpuConfig):
        raise SystemExit(f"error: {path}: kind: got '{gpu.kind}'; make calibrate fits a GPU config (kind: gpu)")
    return gpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plot", default="results/calibrate/gpu-calibration.png", help="measured-vs-model figure")
    ap.add_argument("--write", action="store_true",
                    help="write the fitted values into the GPU configs and the tables into docs/validation.md")
    args = ap.parse_args(argv)
    print("sources:")
    for k, v in SOURCES.items():
        print(f"  {k}: {v}")
    fitted, notes = {}, {}
    for dev, paths in DEVICE_CONFIGS.items():
        n_fit = sum(m.role == "fit" and m.device == dev for m in MEASUREMENTS)
        n_held = sum(m.role == "held out" and m.device == dev for m in MEASUREMENTS)
        print(f"\n{DEVICE_NAMES[dev]}: fitting on {n_fit} points ({n_held} held out) ...")
        fitted[dev], notes[dev] = fit_device(load_gpu(paths[0]), dev)
        print("fitted efficiency block:\n" + efficiency_block(fitted[dev], dev, notes[dev]))
    rows = evaluate(fitted)
    _print_table(rows)
    print(f"\nfigure: {plot(rows, resolve(args.plot))}")
    record("calibrate_orin", [component(_component_name(c), len(_sel(rows, "fit", c)), median_abs_error(rows, "fit", c),
                                        len(_sel(rows, "held out", c)), median_abs_error(rows, "held out", c))
                              for c in components()])
    if args.write:
        for dev in DEVICE_CONFIGS:
            for p in write_configs(fitted[dev], dev, notes[dev]):
                print(f"wrote {p}")
        if write_readme(fitted, rows):
            print("wrote docs/validation.md (validation tables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
