"""Calibrate the GPUs' power model on published measurements of LLM inference power (part of ``make calibrate``).

The GPU's energy (``simulator/engine/gpu.py``, priced in one step by ``Platform.price``) is

* ``power.static_w`` over the whole run: the idle-but-awake power (clocks up, no kernel running). It is
  charged over wall time, so the time the compute stream waits on PCIe transfers (FlexGen, InfiniGen and
  ReKV fetching KV) costs exactly this power times the stall time; nothing else accrues while waiting;
* per action, only while kernels run: each tensor-core FLOP (``power.pj_per_flop_tensor``), each CUDA-core
  FLOP (``power.pj_per_flop_vector``), each DRAM bit (the technology table's ``dram_pj_per_bit.<type>``:
  the memory devices and their interface) and each bit moved through L2 to the SMs
  (``power.l2_pj_per_bit``: L2, crossbar and the SMs' load path; every DRAM byte passes it).

A run's average power is therefore ``static_w + (sum of action counts x prices) / T``. To judge the power
model apart from the speed model, ``T`` is the measured duration (the speed model is calibrated in
``calibrate_orin.py``); the action counts come from the simulator's own trace of the measured model and
shape, simulated on the GPU's config.

Fitted (``fit``): ``static_w`` and ``l2_pj_per_bit`` of the A100, by least squares on relative errors over
the fitted points below (A100, Hugging Face decode at batch size 1, ML.ENERGY leaderboard v1): decode
streams the weights, so its power is the static power plus a term per byte moved; two models of different
size give two byte rates. Not identifiable from the data found, kept as named assumptions: the tensor-core
FLOP energy (no A100 prefill power measurement with its shape was found), the CUDA-core FLOP energy (a
small share of decode), and every Orin power value (no published Jetson AGX Orin LLM power measurement with
its model, precision and rate was readable; the data-sheet and stress-test bounds are listed).

Fitted and held-out points were chosen before fitting, in code (``FIT_MODELS``): Meta's Llama-2-7B-chat
and Llama-2-13B-chat (the only rows whose weights' format is known: Meta's FP16 checkpoints), in all four
of the leaderboard's tasks, are fitted; the LLaMA-1 derivatives (LLaMA, Vicuna, Koala, Alpaca, Baize,
GPT4All-snoozy; the data do not state their weights' format, FP16 assumed) are held out.

``--write`` (what ``make calibrate`` runs) writes the fitted ``power:`` block into ``hwconfigs/a100-80gb.yaml``
and the tables into the README section between the ``calibrate-power`` markers.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import statistics
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from analysis.calibrate_orin import DECODE_CONTEXT, DECODE_STEPS, measurement_trace
from simulator.config.hardware import GpuConfig, load_hardware
from simulator.engine.gpu import GpuPlatform
from simulator.pipeline import resolve

DATA = "analysis/data/gpu_power.yaml"
A100_CONFIG = "hwconfigs/a100-80gb.yaml"

# chosen before fitting: Meta's own Llama-2 chat checkpoints (FP16 on the Hub) are fitted, in every task;
# every other model is held out
FIT_MODELS = ("metaai/Llama-2-7b-chat-hf", "metaai/Llama-2-13b-chat-hf")

# the simulator's shapes for the measured models: LLaMA-1 7B / 13B and their fine-tunes have the layer
# shapes of Llama-2 7B / 13B (hidden 4096 / 5120, 32 / 40 layers, FFN 11008 / 13824, vocab 32000)
SHAPES = {
    "metaai/Llama-2-7b-chat-hf": "llama-2-7b", "metaai/llama-7B": "llama-2-7b", "lmsys/vicuna-7B": "llama-2-7b",
    "BAIR/koala-7b": "llama-2-7b", "tatsu-lab/alpaca-7B": "llama-2-7b", "project-baize/baize-v2-7B": "llama-2-7b",
    "metaai/Llama-2-13b-chat-hf": "llama-2-13b", "metaai/llama-13B": "llama-2-13b",
    "lmsys/vicuna-13B": "llama-2-13b", "BAIR/koala-13b": "llama-2-13b",
    "nomic-ai/gpt4all-13b-snoozy": "llama-2-13b",
}
# assumption: the leaderboard's runs hold FP16 weights and activations (Hugging Face generation; the v1
# data do not state the format)
PRECISION = "fp16"
# assumption: each response's decode steps run at the per-token cost of a step at DECODE_CONTEXT tokens of
# context (calibrate_orin's 512); prompts are not published, and their prefill (one pass over the weights
# per prompt, like one decode step) is left out: under 1% of a response of 65-420 tokens


@dataclass(frozen=True)
class PowerPoint:
    """One published average power: a response of ``tokens`` decode steps in ``latency_s`` on ``gpu``."""

    task: str
    model: str          # as the source names it
    shape: str          # workloads/models/<shape>.yaml
    gpu: str            # the config it is compared on
    tokens: float       # decode steps (mean response length)
    latency_s: float
    energy_j: float
    role: str           # fit | held out
    source: str

    @property
    def measured_w(self) -> float:
        return self.energy_j / self.latency_s

    @property
    def name(self) -> str:
        return f"{self.model.split('/')[-1]} ({self.task})"


@cache
def load_data() -> dict:
    return yaml.safe_load(resolve(DATA).read_text())


def points() -> list[PowerPoint]:
    out = []
    for r in load_data()["a100_hf_decode"]:
        if r["batch_size"] != 1 or r["model"] not in SHAPES:
            continue
        out.append(PowerPoint(r["task"], r["model"], SHAPES[r["model"]], A100_CONFIG, float(r["response_tokens"]),
                              float(r["latency_s"]), float(r["energy_j"]),
                              "fit" if r["model"] in FIT_MODELS else "held out", "mlenergy-v1"))
    return out


def sources() -> dict[str, str]:
    return {k: " ".join(v.split()) for k, v in load_data()["sources"].items()}


def _with_power(gpu: GpuConfig, **values) -> GpuConfig:
    return dataclasses.replace(gpu, power=dataclasses.replace(gpu.power, **values))


def step_energy_j(shape: str, gpu: GpuConfig) -> float:
    """Dynamic energy (J) of one decode step of ``shape`` on ``gpu``, priced by the platform's table."""
    ev = measurement_trace(shape, PRECISION, "decode", 1, DECODE_CONTEXT).events
    costs = GpuPlatform(gpu).op_costs(ev, None, PRECISION)
    parts = [c for c in costs.columns if c.startswith("e_") and c.endswith("_pj")]
    return float(costs[parts].to_numpy().sum()) * 1e-12 / DECODE_STEPS


def predict_w(p: PowerPoint, gpu: GpuConfig) -> float:
    """The model's average power over the measured response: static power plus the steps' dynamic energy."""
    return gpu.power.static_w + step_energy_j(p.shape, gpu) * p.tokens / p.latency_s


def fit(gpu: GpuConfig) -> GpuConfig:
    """``static_w`` and ``l2_pj_per_bit`` by least squares on relative errors over the fitted points.

    Both enter linearly: P = static + (E0 + l2 x B) x n / T, with E0 the step energy at l2 = 0 and B the bits
    through L2 per step (the step energy's slope in ``l2_pj_per_bit``)."""
    fit_pts = [p for p in points() if p.role == "fit"]
    zero, one = _with_power(gpu, l2_pj_per_bit=0.0), _with_power(gpu, l2_pj_per_bit=1.0)
    rows, y = [], []
    for p in fit_pts:
        rate = p.tokens / p.latency_s
        e0, e1 = step_energy_j(p.shape, zero), step_energy_j(p.shape, one)
        rows.append([1.0, (e1 - e0) * rate])
        y.append(p.measured_w - e0 * rate)
    a, b = np.array(rows), np.array(y)
    w = np.array([1.0 / p.measured_w for p in fit_pts])  # relative errors
    (static, l2), *_ = np.linalg.lstsq(a * w[:, None], b * w, rcond=None)
    if l2 < 0:  # no per-bit term the data support: static power alone
        l2 = 0.0
        static = float((b * w * w).sum() / (w * w).sum())
    static = min(max(static, 0.0), gpu.power.mode_w * 0.99)
    return _with_power(gpu, static_w=round(float(static), 1), l2_pj_per_bit=round(float(l2), 2))


@dataclass(frozen=True)
class Row:
    point: PowerPoint
    predicted_w: float

    @property
    def error(self) -> float:
        return self.predicted_w / self.point.measured_w - 1.0


def evaluate(gpu: GpuConfig) -> list[Row]:
    return [Row(p, predict_w(p, gpu)) for p in points()]


def median_abs_error(rows: list[Row], role: str) -> float:
    errs = [abs(r.error) for r in rows if r.point.role == role]
    return statistics.median(errs) if errs else math.nan


def median_by_model(rows: list[Row], role: str = "held out") -> dict[str, float]:
    """Median absolute error per measured model (a breakdown, not a target)."""
    out: dict[str, list[float]] = {}
    for r in rows:
        if r.point.role == role:
            out.setdefault(r.point.model.split("/")[-1], []).append(abs(r.error))
    return {k: statistics.median(v) for k, v in out.items()}


def bounds_markdown() -> str:
    lines = [f"{b['what']}: {b['value_w']:g} W (`{b['source']}`)" for b in load_data()["bounds"]]
    return "Bounds (not fitted, not modelled): " + "; ".join(lines) + "."


def tables_markdown(rows: list[Row]) -> str:
    out = []
    for role, title in (("fit", "Fitted points"), ("held out", "Held-out points (never fitted)")):
        sel = [r for r in rows if r.point.role == role]
        out.append(f"**{title}**, A100 (median absolute error {median_abs_error(rows, role):.1%})\n")
        if role == "held out":
            out.append("By model: " + ", ".join(f"{k} {v:.1%}" for k, v in median_by_model(rows).items()) + ".\n")
        out.append("| point | source | tokens/s | measured (W) | model (W) | error |")
        out.append("|---|---|---:|---:|---:|---:|")
        for r in sel:
            p = r.point
            out.append(f"| {p.name} | `{p.source}` | {p.tokens / p.latency_s:.1f} | {p.measured_w:.1f} | "
                       f"{r.predicted_w:.1f} | {r.error:+.1%} |")
        out.append("")
    out.append(bounds_markdown())
    out.append("")
    out.append("Sources: " + "; ".join(f"`{k}`: {v}" for k, v in sources().items()) + ".")
    return "\n".join(out)


def values_markdown(gpu: GpuConfig) -> str:
    p = gpu.power
    return (f"Fitted values (`{A100_CONFIG}`): idle-but-awake power `static_w` {p.static_w} W (charged over the "
            f"whole run, PCIe waits included), on-chip data movement `l2_pj_per_bit` {p.l2_pj_per_bit} pJ per bit "
            f"through L2 (on top of the HBM's {GpuPlatform(gpu).dram.pj_per_bit} pJ/bit from the technology "
            f"table); assumptions (not identifiable from the data found): `pj_per_flop_tensor` "
            f"{p.pj_per_flop_tensor}, `pj_per_flop_vector` {p.pj_per_flop_vector}; the Orin configs' `power:` "
            "blocks are all assumptions (no published Orin LLM power measurement was readable).\n")


def power_block(gpu: GpuConfig) -> str:
    """The A100 config's ``power:`` block, values with their sources."""
    p = gpu.power
    fitted = " and ".join(m.split("/")[-1] for m in FIT_MODELS)
    return "\n".join([
        "power:                     # written by `make calibrate` (analysis/calibrate_power.py); do not edit by hand.",
        f"  mode_w: {p.mode_w:g}              # data sheet: 300 W (80GB PCIe)",
        f"  static_w: {p.static_w}           # fitted: idle-but-awake power (clocks up, no kernel), charged over the "
        "whole run,",
        "                           # PCIe waits included; with l2_pj_per_bit on A100 Hugging Face decode at batch 1",
        f"                           # ({fitted}, ML.ENERGY leaderboard v1; A100-SXM4-40GB assumed)",
        f"  pj_per_flop_tensor: {p.pj_per_flop_tensor}  # assumption: no A100 prefill power measurement with its "
        "shape found",
        f"  pj_per_flop_vector: {p.pj_per_flop_vector}  # assumption (CUDA-core work is a small share of decode)",
        f"  l2_pj_per_bit: {p.l2_pj_per_bit}      # fitted with static_w: on-chip data movement per bit through L2 "
        "(L2,",
        "                           # crossbar, SM load path), beyond the HBM's own energy (technology table)",
    ]) + "\n"


def write_configs(gpu: GpuConfig, path: str = A100_CONFIG) -> list[Path]:
    """Replace the ``power:`` block (up to the next top-level key) of the A100 config."""
    p = resolve(path)
    text = p.read_text()
    new, n = re.subn(r"^power:.*?(?=^\S)", power_block(gpu), text, count=1, flags=re.M | re.S)
    if n != 1:
        raise SystemExit(f"{p}: no top-level 'power:' block to replace")
    if new != text:
        p.write_text(new)
        return [p]
    return []


README_BEGIN, README_END = "<!-- calibrate-power:begin -->", "<!-- calibrate-power:end -->"


def write_readme(gpu: GpuConfig, rows: list[Row], path: str = "README.md") -> bool:
    from analysis.docs import write_between

    return write_between(resolve(path), README_BEGIN, README_END, f"{values_markdown(gpu)}\n{tables_markdown(rows)}")


def plot(rows: list[Row], path: Path) -> Path:
    """Measured vs modelled average power, fitted and held-out points apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    for role, (marker, color) in {"fit": ("o", "tab:blue"), "held out": ("s", "tab:orange")}.items():
        sel = [r for r in rows if r.point.role == role]
        ax.scatter([r.point.measured_w for r in sel], [r.predicted_w for r in sel], marker=marker, color=color,
                   label=f"{role} (median |err| {median_abs_error(rows, role):.1%})")
    lo = min(min(r.point.measured_w, r.predicted_w) for r in rows) * 0.8
    hi = max(max(r.point.measured_w, r.predicted_w) for r in rows) * 1.15
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    for k in (0.9, 1.1):
        ax.plot([lo, hi], [lo * k, hi * k], "k:", lw=0.6)
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured average power (W)", ylabel="model (W)",
           title="GPU power model vs A100 LLM decode (ML.ENERGY v1)")
    ax.legend(fontsize=8, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plot", default="results/calibrate/power-calibration.png", help="measured-vs-model figure")
    ap.add_argument("--write", action="store_true", help="write the fitted power block into the A100 config and "
                    "the tables into README.md")
    args = ap.parse_args(argv)
    print("sources:")
    for k, v in sources().items():
        print(f"  {k}: {v}")
    pts = points()
    print(f"\nfitting on {sum(p.role == 'fit' for p in pts)} points ({sum(p.role == 'held out' for p in pts)} "
          "held out) ...")
    fitted = fit(load_hardware(resolve(A100_CONFIG)))
    print("\nfitted power block:\n" + power_block(fitted))
    rows = evaluate(fitted)
    for role in ("fit", "held out"):
        sel = [r for r in rows if r.point.role == role]
        print(f"\n{role} ({len(sel)} points, median |error| {median_abs_error(rows, role):.1%}):")
        print(f"  {'point':40s} {'tokens/s':>8s} {'measured W':>10s} {'model W':>8s} {'error':>7s}")
        for r in sel:
            p = r.point
            print(f"  {p.name:40s} {p.tokens / p.latency_s:8.1f} {p.measured_w:10.1f} {r.predicted_w:8.1f} "
                  f"{r.error:+7.1%}")
    print("\n" + bounds_markdown())
    print(f"\nfigure: {plot(rows, resolve(args.plot))}")
    if args.write:
        for p in write_configs(fitted):
            print(f"wrote {p}")
        if write_readme(fitted, rows):
            print("wrote README.md (power validation tables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
