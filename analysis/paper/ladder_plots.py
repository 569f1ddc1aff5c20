"""The ladder's waterfall and the capacity maps (``analysis/paper/ladder.py``'s tables) as figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, NullFormatter  # noqa: E402

from analysis.report.figures import save_figure  # noqa: E402

SHORT = ("GPU+FlexGen\n(paper)", "FlexGen best\nplacement", "ReSV in\nsoftware", "V-Rex\nKVPU only", "V-Rex\ncomplete")


def waterfall(table: pd.DataFrame, out: Path, name: str = "ladder") -> list[Path]:
    """Per platform and batch (rows) and metric (frame, TPOT: columns), one waterfall per KV size: each rung's
    bar spans from the previous rung's speedup over the paper's GPU + FlexGen to its own (log scale), green
    where the step helps and red where it hurts; the largest KV size's bars carry their value (the others are
    in the table), so the labels stay readable at paper size."""
    if table.empty:
        return []
    groups = table[["platform", "batch"]].drop_duplicates().values.tolist()
    kvs = sorted(table["kv_tokens"].unique())
    fig, axes = plt.subplots(len(groups), 2, figsize=(12, 3.6 * len(groups)), squeeze=False)
    for r, (platform, batch) in enumerate(groups):
        for c, (col, title) in enumerate((("frame_x_vs_paper_flexgen", "frame processing"),
                                          ("tpot_x_vs_paper_flexgen", "text generation (TPOT)"))):
            ax = axes[r][c]
            width = 0.8 / len(kvs)
            for i, kv in enumerate(kvs):
                t = table[(table["platform"] == platform) & (table["batch"] == batch)
                          & (table["kv_tokens"] == kv)].sort_values("rung")
                vals = t[col].to_numpy(dtype=float)
                x = np.arange(len(vals)) + (i - (len(kvs) - 1) / 2) * width
                prev = np.r_[1.0, vals[:-1]]
                lo, hi = np.minimum(prev, vals), np.maximum(prev, vals)
                color = np.where(vals >= prev, "#55a868", "#c44e52")
                ax.bar(x, hi - lo, width, bottom=lo, color=color, edgecolor="k", lw=0.3,
                       alpha=0.35 + 0.65 * (i + 1) / len(kvs))
                if kv == kvs[-1]:
                    for xi, hi_i, v in zip(x, hi, vals):
                        if np.isfinite(v):
                            ax.text(xi, hi_i * 1.08, f"{v:.2g}x", ha="center", va="bottom", fontsize=7.5)
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.axhline(1.0, color="k", lw=0.6)
            ax.set_xticks(range(len(SHORT)))
            ax.set_xticklabels(SHORT, fontsize=8)
            ax.set_ylabel("speedup over\nGPU + FlexGen (paper)", fontsize=8)
            ax.margins(y=0.15)
            ax.set_title(f"{platform}, batch {batch}: {title}\nbars per KV size "
                         f"{', '.join(f'{k // 1000}K' for k in kvs)} (light to dark; values at {kvs[-1] // 1000}K)",
                         fontsize=9)
            ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, out, name)


def capacity_maps(table: pd.DataFrame, out: Path, name: str = "capacity_map") -> list[Path]:
    """Per platform (rows), V-Rex's frame and TPOT speedup over the GPU at FlexGen's best placement as heat maps
    over KV size x batch (log colour scale centred on 1: blue where V-Rex wins, red where the GPU does); each cell
    gives the speedup and the share of the KV the GPU keeps in its memory; a cell that cannot run is hatched."""
    if table.empty:
        return []
    platforms = list(dict.fromkeys(table["platform"]))
    fig, axes = plt.subplots(len(platforms), 2, figsize=(11, 3.4 * len(platforms)), squeeze=False)
    for r, platform in enumerate(platforms):
        t = table[table["platform"] == platform]
        kvs, batches = sorted(t["kv_tokens"].unique()), sorted(t["batch"].unique())
        for c, (col, title) in enumerate((("frame_speedup", "frame"), ("tpot_speedup", "TPOT"))):
            ax = axes[r][c]
            grid = t.pivot_table(index="batch", columns="kv_tokens", values=col, aggfunc="first", dropna=False)
            grid = grid.reindex(index=batches, columns=kvs)
            vals = np.log10(grid.to_numpy(dtype=float))
            lim = max(np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 1.0, 0.1)
            im = ax.imshow(np.ma.masked_invalid(vals), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto", origin="lower")
            for i, b in enumerate(batches):
                for j, kv in enumerate(kvs):
                    cell = t[(t["batch"] == b) & (t["kv_tokens"] == kv)].iloc[0]
                    if not np.isfinite(grid.loc[b, kv]):
                        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", color="0.4"))
                        ax.text(j, i, "out of\nmemory", ha="center", va="center", fontsize=7)
                        continue
                    dark = abs(vals[i, j]) > 0.6 * lim
                    ax.text(j, i, f"{grid.loc[b, kv]:.2f}x\nKV {cell['kv_gpu_percent']:.0f}% on GPU", ha="center",
                            va="center", fontsize=7, color="w" if dark else "k")
            ax.set_xticks(range(len(kvs)))
            ax.set_xticklabels([f"{k // 1000}K" for k in kvs])
            ax.set_yticks(range(len(batches)))
            ax.set_yticklabels([str(b) for b in batches])
            ax.set_xlabel("KV cache [tokens]")
            ax.set_ylabel("batch")
            cell0 = t.iloc[0]
            ax.set_title(f"{cell0['vrex']} over {cell0['gpu']} at FlexGen's best placement: {title} speedup",
                         fontsize=8)
            cb = fig.colorbar(im, ax=ax)
            cb.set_label("log10 speedup")
    return save_figure(fig, out, name)
