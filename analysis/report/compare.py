"""The figure of ``vrex compare``: every compared figure as a ratio to the first entry, one bar per entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.report.figures import plt, save_figure

# figures drawn (lower is better for all but FPS; the axis label says which)
DRAWN = {"frame_latency_mean_s": "frame\nlatency", "ttft_mean_s": "time to\nfirst token",
         "decode_step_s": "time per\noutput token", "energy_per_frame_j": "energy\nper frame",
         "total_time_s": "whole-stream\ntime", "avg_power_w": "average\npower"}


def plot_comparison(df: pd.DataFrame, out: Path, name: str = "compare") -> list[Path]:
    """Grouped bars: per figure, one bar per entry, height = value / the first entry's value (labelled)."""
    figs = [f for f in DRAWN if f in df]
    x = np.arange(len(figs))
    n = len(df)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(figs) + 0.4 * n), 4.2))
    for i, (_, row) in enumerate(df.iterrows()):
        vals = [row[f"{f}_vs_first"] for f in figs]
        bars = ax.bar(x + (i - (n - 1) / 2) * width, [0 if pd.isna(v) else v for v in vals], width,
                      label=f"{row['label']}" + ("" if row["status"] == "ok" else f" ({row['status']})"))
        for b, v in zip(bars, vals):
            ax.annotate("n/a" if pd.isna(v) else f"{v:.2f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, [DRAWN[f] for f in figs], fontsize=8)
    ax.set_ylabel(f"ratio to {df['label'].iloc[0]} (lower is better)")
    ax.set_title(f"{df['workload'].iloc[0]}: {n} runs on one stream")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, out, name)
