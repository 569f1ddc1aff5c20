"""analysis/PAPER.md's generated blocks, from one ``make paper`` run's ``results/paper/results.csv``.

``make docs`` (``analysis.devtools.docs``) replaces each ``<!-- paper-<name>:begin -->`` / ``:end`` block of
PAPER.md with :func:`block`'s Markdown, so every number PAPER.md quotes from the evaluation is the last run's:
``make paper && make docs`` after a model change gives a consistent PAPER.md. Only our figures are written
here; the paper's own claims stay hand-written text beside the blocks (no code reads a paper result other than
the declared fit set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.paper.evaluation import KV_SIZES, MODES
from analysis.paper.ladder import LADDER_PLATFORMS, RUNG_LABELS

RESULTS = Path("results/paper/results.csv")  # relative to the repository root
BLOCKS = ("paper-summary", "paper-figures", "paper-ladder", "paper-map")
DRE_BLOCKS = ("hcu", "wtu", "kvmu", "dre_sram")  # Table III's DRE: its two units, the KVMU and its SRAM


def _v(df: pd.DataFrame, mode: str, figure: str, metric: str, **keys) -> pd.Series:
    """The values of one metric of one figure and mode, indexed by KV size (other keys fixed)."""
    d = df[(df["mode"] == mode) & (df["figure"] == figure) & (df["metric"] == metric)]
    for k, v in keys.items():
        d = d[d[k] == v]
    return d.set_index("kv_tokens")["value"] if "kv_tokens" not in keys else d["value"]


def _g(x: float) -> str:
    """A value at 3 significant figures (a missing one as "-")."""
    return "-" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _span(s: pd.Series) -> str:
    s = s.dropna()
    return "-" if s.empty else f"{_g(s.min())} - {_g(s.max())}"


def _per_kv(s: pd.Series, fmt=_g) -> str:
    return " / ".join(fmt(s.get(kv, np.nan)) for kv in KV_SIZES)


def _fps(s: pd.Series) -> pd.Series:
    return 1e3 / s


def _dre_shares(df: pd.DataFrame, mode: str) -> str:
    t = df[(df["mode"] == mode) & (df["figure"] == "table3")]

    def share(metric: str) -> float:
        v = t[t["metric"] == metric].set_index("method")["value"]
        return 100 * v.reindex(DRE_BLOCKS).sum() / v["core"]

    return (f"{share('area_mm2_per_core'):.2g}% of a core's area; {share('power_w_per_core'):.2g}% of its run-average "
            f"power (40K, batch 1), {share('peak_power_w_per_core'):.2g}% of its peak power")


def summary_markdown(df: pd.DataFrame) -> str:
    """Ours beside the abstract's claims (FPS, speedup and energy-efficiency ranges, the DRE's share), per mode."""
    modes = [m for m in MODES if (df["mode"] == m).any()]
    rows = [("V-Rex8 FPS, batch 1, at " + " / ".join(f"{k // 1000}K" for k in KV_SIZES),
             lambda m: _per_kv(_fps(_v(df, m, "fig13a", "frame_latency_ms", system="vrex8", batch=1)),
                               lambda x: f"{x:.2g}"))]
    for label, metric in (("frame speedup over GPU + FlexGen", "speedup_vs_flexgen"),
                          ("per-token speedup over GPU + FlexGen", "tpot_speedup_vs_flexgen"),
                          ("frame energy efficiency over GPU + FlexGen", "energy_eff_vs_flexgen"),
                          ("per-token energy efficiency over GPU + FlexGen", "tpot_energy_eff_vs_flexgen")):
        for fig, system, where in (("fig13a", "vrex8", "edge"), ("fig13b", "vrex48", "server")):
            rows.append((f"{label}, {where} (all KV sizes and batches)",
                         lambda m, f=fig, s=system, k=metric: _span(_v(df, m, f, k, system=s)) + "x"))
    rows.append(("DRE share (Table III)", lambda m: _dre_shares(df, m)))
    out = ["| ours | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    out += [f"| {label} | " + " | ".join(fn(m) for m in modes) + " |" for label, fn in rows]
    return "\n".join(out)


def figures_markdown(df: pd.DataFrame) -> str:
    """The per-figure figures PAPER.md discusses, one row each, per mode."""
    modes = [m for m in MODES if (df["mode"] == m).any()]

    def ms(m, fig, system, batch, method="resv"):
        return _v(df, m, fig, "frame_latency_ms", system=system, batch=batch, method=method)

    def sp(m, fig, system, batch, method, metric="speedup_vs_flexgen"):
        return _v(df, m, fig, metric, system=system, batch=batch, method=method)

    def fig15(m, system):
        d = df[(df["mode"] == m) & (df["figure"] == "fig15") & (df["system"] == system)].set_index("kv_tokens")
        return " / ".join("OOM" if d.loc[kv, "unit"] == "oom" else f"{d.loc[kv, 'value']:.3g}"
                          for kv in KV_SIZES if kv in d.index)

    def fig16(m):
        d = df[(df["mode"] == m) & (df["figure"] == "fig16") & (df["metric"] == "speedup_vs_flexgen")]
        return "; ".join(f"{r.system} {r.method} {r.value:.3g}x" for r in d.itertuples())

    def roof(m):
        d = df[(df["mode"] == m) & (df["figure"] == "fig18")]
        return "; ".join(f"{r.system} {r.method} {100 * r.value:.2g}%" for r in d.itertuples())

    def table3(m):
        t = df[(df["mode"] == m) & (df["figure"] == "table3")]
        a = t[t["metric"] == "area_mm2_per_core"].set_index("method")["value"]
        chip = t[t["method"] == "chip"].set_index("metric")["value"]
        return (", ".join(f"{b} {a[b]:.2g}" for b in a.index if b != "core") + f" mm^2 per core ({a['core']:.3g}); "
                f"chip {chip['area_mm2']:.3g} mm^2, {chip['power_w']:.2g} W run-average (40K, batch 1), "
                f"{chip['chip_peak_power_w']:.3g} W peak")

    def stacks(m):
        d = df[(df["mode"] == m) & (df["figure"] == "fig_stacks")]
        return "; ".join(f"{s}: frame {_span(g[g['metric'] == 'frame_speedup_of_vrex8']['value'])}x, token "
                         f"{_span(g[g['metric'] == 'tpot_speedup_of_vrex8']['value'])}x"
                         for s, g in d.groupby("system"))

    kvs = " / ".join(f"{k // 1000}K" for k in KV_SIZES)
    rows = [(f"Fig. 13a V-Rex8 frame ms, batch 1 ({kvs})", lambda m: _per_kv(ms(m, "fig13a", "vrex8", 1), _ms)),
            (f"Fig. 13a Orin + FlexGen frame ms, batch 1 ({kvs})",
             lambda m: _per_kv(ms(m, "fig13a", "orin-agx-32gb", 1, "flexgen"), _ms)),
            (f"Fig. 13a V-Rex8 frame speedup, batch 1 ({kvs})",
             lambda m: _per_kv(sp(m, "fig13a", "vrex8", 1, "resv"))),
            ("Fig. 13a V-Rex8 frame / token speedup, batch 4",
             lambda m: f"{_span(sp(m, 'fig13a', 'vrex8', 4, 'resv'))}x / "
                       f"{_span(sp(m, 'fig13a', 'vrex8', 4, 'resv', 'tpot_speedup_vs_flexgen'))}x"),
            ("Fig. 13b V-Rex48 frame speedup, batch 1 / batch 8",
             lambda m: f"{_span(sp(m, 'fig13b', 'vrex48', 1, 'resv'))}x / "
                       f"{_span(sp(m, 'fig13b', 'vrex48', 8, 'resv'))}x")]
    for method in ("infinigen", "infinigenp", "rekv"):
        rows.append((f"{method} frame speedup: Orin / A100 (all KV sizes and batches)",
                     lambda m, k=method: f"{_span(_v(df, m, 'fig13a', 'speedup_vs_flexgen', method=k))}x / "
                                         f"{_span(_v(df, m, 'fig13b', 'speedup_vs_flexgen', method=k))}x"))
    rows += [("Fig. 14 end-to-end speedup, V-Rex8 / ReKV / InfiniGenP (batch 1, edge)",
              lambda m: " / ".join(_span(_v(df, m, "fig14", "e2e_speedup_vs_flexgen", method=k)) + "x"
                                   for k in ("resv", "rekv", "infinigenp"))),
             (f"Fig. 15 FPS at batch 16 ({kvs}): V-Rex8", lambda m: fig15(m, "vrex8")),
             ("Fig. 15 Oaken", lambda m: fig15(m, "oaken")),
             ("Fig. 15 Orin, KV in DRAM", lambda m: fig15(m, "orin-agx-32gb")),
             ("Fig. 16 (40K, batch 1) frame speedup over Orin + FlexGen", fig16),
             ("Fig. 18 (40K, batch 4) share of the roofline bound", roof),
             ("Table III", table3),
             ("Stack figure: V-Rex8 over the Orin + FlexGen per stack (batch 1)", stacks)]
    out = ["| figure | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    out += [f"| {label} | " + " | ".join(fn(m) for m in modes) + " |" for label, fn in rows]
    return "\n".join(out)


def _ms(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def ladder_markdown(df: pd.DataFrame, kv: int = 40_000) -> str:
    """The ladder at ``kv`` tokens, per mode, platform and batch (frame, x over rung 0, step over the rung before)."""
    lad = df[(df["figure"] == "ladder") & (df["kv_tokens"] == kv)]
    out = ["| mode | platform, batch | rung | frame ms | frame x | step x | TPOT ms | TPOT x | TPOT step x |",
           "|---|---|---|---|---|---|---|---|---|"]
    for mode in [m for m in MODES if (lad["mode"] == m).any()]:
        for platform, (gpu, _, vrex) in LADDER_PLATFORMS.items():
            d = lad[(lad["mode"] == mode) & lad["system"].isin([gpu, f"{vrex}-kvpu", vrex])]
            for batch in sorted(d["batch"].unique()):
                g = d[d["batch"] == batch]
                order = [(gpu, "flexgen"), (gpu, "flexgen-best"), (gpu, "resv"), (f"{vrex}-kvpu", "resv"),
                         (vrex, "resv")]
                for i, (system, method) in enumerate(order):
                    v = g[(g["system"] == system) & (g["method"] == method)].set_index("metric")["value"]
                    label = RUNG_LABELS[i] + (f" ({v.get('kv_gpu_percent', np.nan):.3g}% of KV on the GPU)"
                                              if method == "flexgen-best" else "")
                    head = f"{mode} | {platform}, {int(batch)}" if i == 0 else " | "
                    out.append(f"| {head} | {label} | {_ms(v.get('frame_latency_ms', np.nan))} | "
                               f"{_g(v.get('speedup_vs_flexgen', np.nan))} | {_g(v.get('step_speedup', np.nan))} | "
                               f"{_ms(v.get('tpot_ms', np.nan))} | {_g(v.get('tpot_speedup_vs_flexgen', np.nan))} | "
                               f"{_g(v.get('tpot_step_speedup', np.nan))} |")
    return "\n".join(out)


def map_markdown(df: pd.DataFrame, kv: int = 40_000) -> str:
    """The capacity maps' cells at ``kv`` tokens per mode, and per mode and platform where V-Rex wins on the grid."""
    cap = df[df["figure"] == "capacity_map"]
    out = ["| mode | KV " + f"{kv // 1000}K" + " | frame speedup over the best GPU | TPOT speedup | KV on the GPU |",
           "|---|---|---|---|---|"]
    wins = []
    for mode in [m for m in MODES if (cap["mode"] == m).any()]:
        for gpu, _, vrex in LADDER_PLATFORMS.values():
            d = cap[(cap["mode"] == mode) & cap["system"].isin([gpu, vrex])]
            for batch in sorted(d.loc[d["kv_tokens"] == kv, "batch"].unique()):
                g = d[(d["kv_tokens"] == kv) & (d["batch"] == batch)]
                v = g[g["system"] == vrex].set_index("metric")
                if (v["unit"] == "oom").any():
                    out.append(f"| {mode} | {vrex} vs {gpu}, batch {int(batch)} | out of memory | | |")
                    continue
                pct = g.loc[g["system"] == gpu, "value"]
                frame = _g(v.loc["frame_speedup_vs_best_gpu", "value"])
                out.append(f"| {mode} | {vrex} vs {gpu}, batch {int(batch)} | {frame}x"
                           f" | {_g(v.loc['tpot_speedup_vs_best_gpu', 'value'])}x | "
                           f"{_g(pct.iloc[0] if len(pct) else np.nan)}% |")
            f = d[(d["system"] == vrex) & (d["metric"] == "frame_speedup_vs_best_gpu")]
            t = d[(d["system"] == vrex) & (d["metric"] == "tpot_speedup_vs_best_gpu")]
            oom = int((d[d["system"] == vrex]["unit"] == "oom").sum())
            wins.append(f"- {mode}, {vrex} vs {gpu}: V-Rex faster per frame in {int((f['value'] > 1).sum())} of "
                        f"{len(f) + oom} cells (frame {_span(f['value'])}x, token {_span(t['value'])}x); "
                        f"{oom} cell(s) out of memory")
    return "\n".join(out + [""] + wins)


def block(name: str, results: Path) -> str:
    df = pd.read_csv(results)
    return {"paper-summary": summary_markdown, "paper-figures": figures_markdown, "paper-ladder": ladder_markdown,
            "paper-map": map_markdown}[name](df)
