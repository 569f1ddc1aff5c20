"""Calibrate the GPUs' power model on published measurements of LLM inference power (part of ``make calibrate``).

The GPU's energy (``simulator/engine/platforms/gpu.py``, priced in one step by ``Platform.price``) is

* ``power.static_w`` over the whole run: the idle-but-awake power (a CUDA context, clocks up, no kernel
  running). It is charged over wall time, so the time the compute stream waits on PCIe transfers (FlexGen,
  InfiniGen and ReKV fetching KV) costs exactly this power times the stall time;
* ``power.busy_w`` over each kernel's time (the action ``kernel_ps``, part ``control``): what a running kernel
  draws whatever it moves or computes (clocks, schedulers, the SMs issuing);
* per action, only while kernels run: each tensor-core FLOP (``power.pj_per_flop_tensor``), each CUDA-core
  FLOP (``power.pj_per_flop_vector``), each DRAM bit (the technology table's ``dram_pj_per_bit.<type>``) and
  each bit moved through L2 to the SMs (``power.l2_pj_per_bit``).

What is measured, derived and fitted (A100):

* ``static_w``: set, not fitted, from nvidia-smi readings of A100 80GB PCIe boards at P0 with a process
  holding memory and no kernel running (``a100_idle`` in the data file: their mean);
* ``l2_pj_per_bit``: derived, not fitted, from the technology table at the GPU's node: a read of a 1 MB SRAM
  (Horowitz 2014's largest array, the L2 slice size assumed) plus the table's on-chip wire and router
  energy per bit (``noc_pj_per_bit``), both scaled to the node (Stillmaker & Baas 2017);
* ``busy_w``: fitted, by least squares on relative errors, on the fitted points below (A100, Hugging Face decode
  at batch size 1, ML.ENERGY leaderboard v1), with the other terms fixed. Assumption (``HF_KERNEL_SHARE``):
  eager Hugging Face decode keeps the GPU in its running state for the whole measured time: its gaps between
  kernels are microseconds of CPU launch overhead, far shorter than the GPU's clocks and power management
  react to, so ``busy_w`` is charged over the whole measured latency, not over the model's kernel time;
* not identifiable from the data found, kept as named assumptions: the tensor-core and CUDA-core FLOP energies
  (no A100 prefill power measurement with its shape was found), and every Orin power value.

A run's average power on a fitted point is therefore ``static_w + busy_w + (action counts x prices) / T``, with
``T`` the measured duration (the power model is judged apart from the speed model); the action counts come from
the simulator's own trace of the measured model and shape, simulated on the GPU's config.

Fitted and held-out points were chosen before fitting, in code (``FIT_MODELS``): Meta's Llama-2-7B-chat
and Llama-2-13B-chat (the only rows whose weights' format is known: Meta's FP16 checkpoints), in all four
of the leaderboard's tasks, are fitted; the LLaMA-1 derivatives (LLaMA, Vicuna, Koala, Alpaca, Baize,
GPT4All-snoozy; the data do not state their weights' format, FP16 assumed) are held out. A bound, not a fit:
gpt-fast's Llama-2-7B decode at 104.9 tokens/s ran on an A100 capped at 330 W, so the model's power at that
rate may not exceed 330 W.

``--write`` (what ``make calibrate`` runs) writes the ``power:`` block into ``hwconfigs/a100-80gb.yaml``
and the tables into docs/validation.md between the ``calibrate-power`` markers.
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

from analysis.calibrate.gpu_stacks import DECODE_CONTEXT, DECODE_STEPS, measurement_trace
from analysis.calibrate.summary import component, record
from simulator.config.hardware import GpuConfig, load_hardware
from simulator.config.tech import load_tech
from simulator.engine.platforms.gpu import GpuPlatform
from simulator.engine.result import op_energy_col, op_energy_parts
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
# assumption: eager Hugging Face decode keeps the GPU in its running state for the whole measured time (the
# share of the measured latency over which busy_w is charged); see the module docstring
HF_KERNEL_SHARE = 1.0
# assumption: an L2 read costs as a 1 MB SRAM array's (Horowitz 2014's largest; the A100's 40 MB L2 is built of
# slices of this order), through the technology table's SRAM energy rule
L2_BANK_KB = 1024.0
# the plausible range of idle-but-awake power shown in the README (the bare-idle readings to above the
# readings with a context plus the parking-tax paper's largest context step)
STATIC_RANGE_W = (40.0, 67.5, 90.0)
# assumption: each response's decode steps run at the per-token cost of a step at DECODE_CONTEXT tokens of
# context (gpu_stacks's 512); prompts are not published, and their prefill (one pass over the weights
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


def static_w_measured() -> float:
    """The A100's idle-but-awake power: the mean of the nvidia-smi readings with a process holding memory."""
    vals = [float(r["value_w"]) for r in load_data()["a100_idle"] if r["state"] == "context"]
    return round(statistics.mean(vals), 1)


def l2_pj_per_bit(gpu: GpuConfig) -> float:
    """Energy per bit through L2 at the GPU's node (technology table): a 1 MB SRAM read plus on-chip wire."""
    t = load_tech().at(gpu.tech_node)
    return round(t.sram_pj_per_bit(L2_BANK_KB) + t.noc_pj_per_bit(), 3)


def step_energy_j(shape: str, gpu: GpuConfig) -> float:
    """Energy (J) of the work of one decode step of ``shape`` on ``gpu`` (FLOPs and bits, priced by the
    platform's table), without the busy power (``e_control_pj``), which is charged over the measured time."""
    ev = measurement_trace(shape, PRECISION, "decode", 1, DECODE_CONTEXT).events
    costs = GpuPlatform(gpu).op_costs(ev, None, PRECISION)
    parts = [op_energy_col(p) for p in op_energy_parts(costs.columns) if p != "control"]
    return float(costs[parts].to_numpy().sum()) * 1e-12 / DECODE_STEPS


def power_at_rate_w(shape: str, tokens_per_s: float, gpu: GpuConfig, kernel_share: float = HF_KERNEL_SHARE
                    ) -> float:
    """The model's average power decoding ``shape`` at ``tokens_per_s``: static, busy over ``kernel_share`` of the
    time, and the steps' work."""
    p = gpu.power
    return p.static_w + p.busy_w * kernel_share + step_energy_j(shape, gpu) * tokens_per_s


def predict_w(p: PowerPoint, gpu: GpuConfig) -> float:
    """The model's average power over the measured response."""
    return power_at_rate_w(p.shape, p.tokens / p.latency_s, gpu)


def fit(gpu: GpuConfig, static_w: float | None = None) -> GpuConfig:
    """``busy_w`` by least squares on relative errors over the fitted points, with ``static_w`` (measured, or the
    value given), ``l2_pj_per_bit`` (derived) and the FLOP energies fixed.

    P = static + busy x share + E x n / T is linear in busy: with weights w = 1/P_measured the minimiser of
    sum (w (P - P_measured))^2 is busy = sum w^2 (P_measured - static - E n / T) / (share x sum w^2)."""
    g = _with_power(gpu, static_w=static_w_measured() if static_w is None else static_w,
                    l2_pj_per_bit=l2_pj_per_bit(gpu), busy_w=0.0)
    fit_pts = [p for p in points() if p.role == "fit"]
    w2 = np.array([1.0 / p.measured_w ** 2 for p in fit_pts])
    resid = np.array([p.measured_w - predict_w(p, g) for p in fit_pts])
    busy = float((w2 * resid).sum() / w2.sum()) / HF_KERNEL_SHARE
    busy = min(max(busy, 0.0), g.power.mode_w - g.power.static_w - 1.0)
    return _with_power(g, busy_w=round(busy, 1))


def bound_rows(gpu: GpuConfig) -> list[tuple[dict, float]]:
    """Each published power limit with a decode rate, and the model's power at that rate (a kernel running the
    whole time: gpt-fast's compiled decode launches back to back)."""
    return [(b, power_at_rate_w(b["shape"], float(b["tokens_per_s"]), gpu, 1.0))
            for b in load_data()["bounds"] if "tokens_per_s" in b]


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


def bounds_markdown(gpu: GpuConfig) -> str:
    lines = [f"{b['what']}: {b['value_w']:g} W (`{b['source']}`)" for b in load_data()["bounds"]]
    checks = [f"at gpt-fast's {b['tokens_per_s']:g} tokens/s ({b['shape']}, a kernel running the whole time) the "
              f"model draws {w:.1f} W, {'within' if w <= b['value_w'] else 'ABOVE'} its {b['value_w']:g} W limit"
              for b, w in bound_rows(gpu)]
    idle = "; ".join(f"{r['state']} {r['value_w']} W (`{r['source']}`)" for r in load_data()["a100_idle"])
    return ("Bounds (not fitted): " + "; ".join(lines) + ". Bound check: " + "; ".join(checks) + ".\n\n"
            f"A100 idle readings (nvidia-smi, P0, GPU-Util 0%): {idle}.")


def tables_markdown(rows: list[Row], gpu: GpuConfig) -> str:
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
    out.append(bounds_markdown(gpu))
    out.append("")
    out.append("Sources: " + "; ".join(f"`{k}`: {v}" for k, v in sources().items()) + ".")
    return "\n".join(out)


def values_markdown(gpu: GpuConfig) -> str:
    p = gpu.power
    return (f"Values (`{A100_CONFIG}`): idle-but-awake power `static_w` {p.static_w} W (measured: nvidia-smi "
            f"with a context, no kernel; charged over the whole run, PCIe waits included); busy power `busy_w` "
            f"{p.busy_w} W (fitted: charged over each kernel's time; on the fitted points over the whole measured "
            f"time, `HF_KERNEL_SHARE` = {HF_KERNEL_SHARE:g}); on-chip data movement `l2_pj_per_bit` "
            f"{p.l2_pj_per_bit} pJ per bit through L2 (derived from the technology table: a 1 MB SRAM read plus "
            f"on-chip wire at 7 nm) on top of the HBM's {GpuPlatform(gpu).dram.pj_per_bit} pJ/bit (technology "
            f"table); assumptions (not identifiable from the data found): `pj_per_flop_tensor` "
            f"{p.pj_per_flop_tensor}, `pj_per_flop_vector` {p.pj_per_flop_vector}; the Orin configs' `power:` "
            "blocks are all assumptions (no published Orin LLM power measurement was readable; their `busy_w` is 0: "
            "their `static_w` is already an active floor).\n")


def power_block(gpu: GpuConfig) -> str:
    """The A100 config's ``power:`` block, values with their sources."""
    p = gpu.power
    fitted = " and ".join(m.split("/")[-1] for m in FIT_MODELS)
    return "\n".join([
        "power:                     # written by `make calibrate` (analysis/calibrate/power.py); do not edit by hand.",
        f"  mode_w: {p.mode_w:g}              # data sheet: 300 W (80GB PCIe)",
        f"  static_w: {p.static_w}           # measured: idle but awake (a CUDA context, clocks up, no kernel), "
        "the mean",
        "                           # of nvidia-smi readings of A100 80GB PCIe boards at P0, 0% util, memory held",
        "                           # (analysis/data/gpu_power.yaml a100_idle); charged over the whole run",
        f"  busy_w: {p.busy_w}            # fitted: extra power while a kernel runs, charged over each kernel's "
        "time; on",
        f"                           # A100 Hugging Face decode at batch 1 ({fitted},",
        "                           # ML.ENERGY leaderboard v1), a kernel assumed running the whole measured time",
        f"  pj_per_flop_tensor: {p.pj_per_flop_tensor}  # assumption: no A100 prefill power measurement with its "
        "shape found",
        f"  pj_per_flop_vector: {p.pj_per_flop_vector}  # assumption (CUDA-core work is a small share of decode)",
        f"  l2_pj_per_bit: {p.l2_pj_per_bit}     # derived (technology table, 7 nm): 1 MB SRAM read (Horowitz 2014) "
        "plus",
        "                           # on-chip wire and router (noc_pj_per_bit), beyond the HBM's own energy",
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


def write_readme(gpu: GpuConfig, rows: list[Row], sens: list[dict], path: str = "docs/validation.md") -> bool:
    from analysis.report.markdown import write_between

    return write_between(resolve(path), README_BEGIN, README_END,
                         f"{values_markdown(gpu)}\n{sensitivity_markdown(sens)}\n{tables_markdown(rows, gpu)}")


SERVER_HW = "hwconfigs/vrex48-server.yaml"


def sensitivity(gpu: GpuConfig, statics=STATIC_RANGE_W) -> list[dict]:
    """For each idle-but-awake power in the plausible range: ``busy_w`` refitted, the fit's errors, and the
    V-Rex48 vs A100 + FlexGen comparison (``vrex simulate --hw hwconfigs/vrex48-server.yaml --baseline
    hwconfigs/a100-80gb.yaml``) with that power block."""
    from simulator.pipeline import run

    out = []
    for st in statics:
        g = fit(gpu, static_w=st)
        rows = evaluate(g)
        rep = run(SERVER_HW, baseline=g).report.as_dict()  # the paper's baseline: FlexGen, same stream
        comp = {c["phase"]: c for c in rep["comparison"]}
        b = rep["baseline"]
        out.append({"static_w": st, "busy_w": g.power.busy_w, "fit": median_abs_error(rows, "fit"),
                    "held_out": median_abs_error(rows, "held out"), "a100_w": b["avg_power_w"],
                    "a100_j": b["energy_total_j"], "a100_s": b["total_time_s"],
                    "eff_stream": comp["stream"]["energy_eff"], "eff_decode": comp["decode"]["energy_eff"],
                    "eff_frame": comp["frame_prefill"]["energy_eff"],
                    "eff_wall": b["energy_wall_j"] / rep["accelerator"]["energy_wall_j"]})
    return out


def sensitivity_markdown(sens: list[dict]) -> str:
    out = ["How the idle-but-awake power moves the answer (busy_w refitted for each; V-Rex48 vs A100 + FlexGen, "
           "`vrex simulate --hw hwconfigs/vrex48-server.yaml --baseline hwconfigs/a100-80gb.yaml`):\n",
           "| static_w (W) | busy_w (W) | fit / held-out median error | A100 + FlexGen: s, W, J | "
           "energy-efficiency ratio: stream (busy), frame prefill, decode | over the stream's wall time |",
           "|---:|---:|---:|---:|---:|---:|"]
    for r in sens:
        out.append(f"| {r['static_w']:g} | {r['busy_w']:g} | {r['fit']:.1%} / {r['held_out']:.1%} | "
                   f"{r['a100_s']:.2f}, {r['a100_w']:.1f}, {r['a100_j']:.0f} | "
                   f"{r['eff_stream']:.2f}, {r['eff_frame']:.2f}, {r['eff_decode']:.2f} | {r['eff_wall']:.2f} |")
    return "\n".join(out) + "\n"


def plot(rows: list[Row], path: Path) -> Path:
    """Measured vs modelled average power, fitted and held-out points apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.report.figures import save_png

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
    return save_png(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plot", default="results/calibrate/power-calibration.png", help="measured-vs-model figure")
    ap.add_argument("--write", action="store_true", help="write the fitted power block into the A100 config and "
                    "the tables into docs/validation.md")
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
    print("\n" + bounds_markdown(fitted))
    print(f"\nfigure: {plot(rows, resolve(args.plot))}")
    record("calibrate_power", [component("GPU power, A100 80GB", sum(r.point.role == "fit" for r in rows),
                                         median_abs_error(rows, "fit"), sum(r.point.role == "held out" for r in rows),
                                         median_abs_error(rows, "held out"))])
    print("\nsimulating V-Rex48 vs A100 + FlexGen across the idle-power range ...")
    sens = sensitivity(load_hardware(resolve(A100_CONFIG)))
    print(sensitivity_markdown(sens))
    if args.write:
        for p in write_configs(fitted):
            print(f"wrote {p}")
        if write_readme(fitted, rows, sens):
            print("wrote docs/validation.md (power validation tables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
