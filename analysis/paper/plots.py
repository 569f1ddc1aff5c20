"""One plot per figure of the paper's evaluation, from ``results.csv`` rows and the per-figure tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter  # noqa: E402

from analysis.paper.figures import title  # noqa: E402
from analysis.report.figures import save_figure  # noqa: E402


def _label(system: str, method: str) -> str:
    return f"{system} + {method}"


def _fig13(df: pd.DataFrame, figure: str, out: Path) -> list[Path]:
    d = df[df["figure"] == figure]
    batches = sorted(d["batch"].dropna().unique())
    fig, axes = plt.subplots(len(batches), 2, figsize=(11, 3.6 * len(batches)), squeeze=False)
    for r, b in enumerate(batches):
        for c, metric in enumerate(("frame_latency_ms", "tpot_ms")):
            ax = axes[r][c]
            sel = d[(d["batch"] == b) & (d["metric"] == metric)]
            for (system, method), g in sel.groupby(["system", "method"], sort=False):
                g = g.sort_values("kv_tokens")
                ax.plot(g["kv_tokens"] / 1e3, g["value"], "o-", label=_label(system, method),
                        lw=2.2 if method == "resv" else 1.2)
            oom = d[(d["batch"] == b) & (d["unit"] == "oom")]
            if len(oom):
                ax.plot(oom["kv_tokens"] / 1e3, np.full(len(oom), ax.get_ylim()[0]), "rx", label="out of memory")
            ax.set_yscale("log")
            ax.set_xlabel("KV cache [K tokens]")
            ax.set_ylabel("per-frame latency [ms]" if c == 0 else "time per output token [ms]")
            ax.set_title(f"{title(figure)}, batch {b}")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, figure)


def _fig14(stages: pd.DataFrame, out: Path) -> list[Path]:
    if stages.empty:
        return []
    kvs = sorted(stages["kv_tokens"].unique())
    systems = stages[["system", "method"]].drop_duplicates().values.tolist()
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(systems)
    colors = {"frames": "#4c72b0", "question": "#dd8452", "answer": "#55a868"}
    for i, (system, method) in enumerate(systems):
        x = np.arange(len(kvs)) + i * width
        g = stages[(stages["system"] == system) & (stages["method"] == method)].set_index("kv_tokens").loc[kvs]
        bottom = np.zeros(len(kvs))
        for stage, col in colors.items():
            ax.bar(x, g[stage], width, bottom=bottom, color=col, edgecolor="k", lw=0.3,
                   label=stage if i == 0 else None)
            bottom += g[stage].to_numpy()
        for xi in x:
            ax.text(xi, 0.01, method, rotation=90, fontsize=6, va="bottom", ha="center", color="w")
    ax.set_xticks(np.arange(len(kvs)) + 0.4 - width / 2, [f"{k // 1000}K" for k in kvs])
    ax.set_ylabel("end-to-end latency / Orin + FlexGen")
    ax.set_title(f"{title('fig14')} (bars: " + ", ".join(m for _, m in systems) + ")")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, "fig14")


def _fig15(df: pd.DataFrame, out: Path) -> list[Path]:
    d = df[df["figure"] == "fig15"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for (system, method), g in d.groupby(["system", "method"], sort=False):
        ok = g[g["unit"] != "oom"].sort_values("kv_tokens")
        line = ax.plot(ok["kv_tokens"] / 1e3, ok["value"], "o-", label=_label(system, method))
        oom = g[g["unit"] == "oom"]
        if len(oom):
            ax.plot(oom["kv_tokens"] / 1e3, np.full(len(oom), 0.0), "x", color=line[0].get_color(), ms=9)
    ax.set_xlabel("KV cache [K tokens]")
    ax.set_ylabel("frames per second (batch 16)")
    ax.set_title(title("fig15"))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out, "fig15")


def _fig16(t: pd.DataFrame, out: Path) -> list[Path]:
    if t.empty:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = [f"{s}\n{m}" for s, m in zip(t["system"], t["method"])]
    axes[0].bar(labels, t["frame_latency_ms"], color="#4c72b0")
    axes[0].set_ylabel("per-frame latency [ms]")
    for i, r in enumerate(t.itertuples()):
        note = f"pred {100 * r.kv_prediction_share:.0f}%\nfetch {100 * r.kv_fetch_share:.0f}%"
        axes[0].text(i, r.frame_latency_ms, note, ha="center", va="bottom", fontsize=7)
    axes[1].bar(labels, t["frame_energy_j"], color="#55a868")
    axes[1].set_ylabel("energy per frame [J]")
    fig.suptitle(title("fig16"))
    fig.tight_layout()
    return save_figure(fig, out, "fig16")


def _fig17(t: pd.DataFrame, out: Path) -> list[Path]:
    if t.empty:
        return []
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(t["t_us"], t["dram_gbps"], label="DRAM (HBM2e)")
    ax.plot(t["t_us"], t["pcie_gbps"], label="PCIe (offload tier)")
    ax.set_xlabel("time within two layers of one frame [us]")
    ax.set_ylabel("bandwidth [GB/s]")
    ax.set_title(title("fig17"))
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, out, "fig17")


def _fig18(t: pd.DataFrame, out: Path) -> list[Path]:
    if t.empty:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    x = np.logspace(-1, 4, 200)
    for r in t.itertuples():
        roof = np.minimum(r.peak_tflops, x * r.dram_gbps / 1e3)
        line = ax.plot(x, roof, lw=1, alpha=0.7)
        ax.plot(r.intensity_flop_per_byte, r.achieved_tflops, "o", color=line[0].get_color(), ms=8,
                label=f"{r.system} + {r.method}: {100 * r.roofline_share:.0f}% of its roof")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity [FLOP/byte] (DRAM + offload bytes)")
    ax.set_ylabel("achieved TFLOP/s (frame processing)")
    ax.set_title(title("fig18"))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, "fig18")


def _fig20(t: pd.DataFrame, out: Path) -> list[Path]:
    if t.empty:
        return []
    grid = t.pivot_table(index="layer", columns="head", values="share")
    fig, ax = plt.subplots(figsize=(5, 6))
    im = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=0)
    ax.set_xlabel("KV head")
    ax.set_ylabel("layer")
    ax.set_title(title("fig20"))
    fig.colorbar(im, ax=ax, label="tokens read / cached")
    fig.tight_layout()
    return save_figure(fig, out, "fig20")


def _table3(t: pd.DataFrame, out: Path) -> list[Path]:
    if t.empty:
        return []
    blocks = t[~t["block"].isin(["core", "chip"])]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].bar(blocks["block"], blocks["area_mm2_per_core"], color="#4c72b0")
    axes[0].set_ylabel("area per core [mm^2]")
    x = np.arange(len(blocks))
    axes[1].bar(x - 0.2, blocks["power_w_per_core"], width=0.4, color="#dd8452", label="run average")
    if "peak_power_w_per_core" in blocks:
        axes[1].bar(x + 0.2, blocks["peak_power_w_per_core"], width=0.4, color="#c44e52", label="peak")
    axes[1].set_xticks(x, blocks["block"])
    axes[1].set_ylabel("power per core [W]")
    axes[1].legend()
    fig.suptitle(title("table3"))
    fig.tight_layout()
    return save_figure(fig, out, "table3")


def _fig_stacks(t: pd.DataFrame, out: Path) -> list[Path]:
    """V-Rex8's frame and TPOT speedups over the Orin 32 GB + FlexGen, one line per GPU software stack."""
    if t.empty:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (col, what) in zip(axes, (("frame_speedup", "per-frame latency"), ("tpot_speedup", "time per token"))):
        for stack, g in t.groupby("software", sort=False):
            g = g.sort_values("kv_tokens")
            ax.plot(g["kv_tokens"] / 1e3, g[col], "o-", label=f"Orin 32 GB + FlexGen, {stack}")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("KV cache [K tokens]")
        ax.set_ylabel(f"V-Rex8 speedup ({what}) [x]")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title("fig_stacks"))
    fig.tight_layout()
    return save_figure(fig, out, "fig_stacks")


def draw(df: pd.DataFrame, tables: dict, out: Path) -> dict[str, list[Path]]:
    """Every figure's plot files, by figure id (``figures.FIGURES``); ``tables``: the per-figure tables by id."""
    out = Path(out)

    def table(fid: str) -> pd.DataFrame:
        return tables.get(fid, pd.DataFrame())

    return {
        "fig13a": _fig13(df, "fig13a", out),
        "fig13b": _fig13(df, "fig13b", out),
        "fig14": _fig14(table("fig14"), out),
        "fig15": _fig15(df, out),
        "fig16": _fig16(table("fig16"), out),
        "fig17": _fig17(table("fig17"), out),
        "fig18": _fig18(table("fig18"), out),
        "fig20": _fig20(table("fig20"), out),
        "table3": _table3(table("table3"), out),
        "fig_stacks": _fig_stacks(table("fig_stacks"), out),
    }
