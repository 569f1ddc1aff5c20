"""Figures from saved runs (``vrex simulate --save``) and sweeps (``vrex sweep``), as PNG and PDF.

- latency_breakdown: per-frame busy time by accelerator unit and DRAM (stacked bars)
- headline: speedup and energy efficiency over the baseline per workload, with the paper's ranges
- kv_over_time: KV-cache size over stream time, one line per run (workload / policy)
- area_power: area and energy share by unit
- roofline: the kernels placed on the accelerator's roofline
- pareto: sweep points on two objectives, the Pareto front highlighted
- realtime: arrival-driven runs (``vrex stream --out DIR``): frame-latency CDF, queue depth and drops over
  time, answer latency (TTFT loaded vs unloaded, TPOT) per question
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import numpy as np
import pandas as pd

from analysis.report.figures import label, plt, save_figure, scale
from simulator.engine.memory.kv_memory import kv_bytes_held
from simulator.safe_io import read_json, read_parquet
from simulator.tracer.trace_file import meta_record

# The paper's claims (arXiv 2512.12284 abstract): speedup 1.9-19.7x, energy efficiency 3.1-18.5x over AGX Orin.
PAPER_SPEEDUP = (1.9, 19.7)
PAPER_ENERGY_EFF = (3.1, 18.5)


def _load_run(d: Path) -> dict:
    # checked readers: a truncated or corrupt file is one line naming it
    return {"dir": d, "report": read_json(d / "report.json"), "run": read_json(d / "run.json"),
            "unit_time": read_parquet(d / "unit_time.parquet"), "ops": read_parquet(d / "ops_summary.parquet"),
            "kv": read_parquet(d / "kv_tokens.parquet") if (d / "kv_tokens.parquet").is_file() else None}


def _label(r: dict) -> str:
    rep = r["report"]
    return f"{rep['accelerator']['hardware']}: {rep['workload']} [{rep['kv_policy']}]"


# the accelerator's blocks by their names in the paper (V-Rex, arXiv 2512.12284)
BLOCK_NAMES = {"dpe": "DPE (PE array)", "vpe": "VPE (vector)", "sram": "on-chip SRAM", "dre_hcu": "DRE: HCU",
               "dre_wtu": "DRE: WTU", "dre_kvmu": "DRE: KVMU", "dre_sram": "DRE: SRAM", "dre": "DRE",
               "control": "control", "noc": "NoC", "dram": "off-chip DRAM", "offload": "offload tier + link",
               "leakage": "leakage", "offload_link": "offload link", "hcu": "HCU", "wtu": "WTU", "kvmu": "KVMU"}
TIER_NAMES = {"ssd": "SSD", "host_memory": "host memory"}


def latency_breakdown(runs: list[dict], out: Path) -> list[Path]:
    """Per frame, each unit's busy time (the PE array, the vector unit, the DRE's units, DRAM and the offload
    link: every one can bound a frame) beside the frame's latency; one panel per run."""
    runs = [r for r in runs if not r["unit_time"].empty]
    if not runs:
        return []
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 3.2 * len(runs)), squeeze=False)
    for ax, r in zip(axes[:, 0], runs):
        ut = r["unit_time"].set_index("frame")
        lat = ut.pop("frame_latency") if "frame_latency" in ut else None
        for col in [c for c in ut.columns if ut[c].sum() > 0]:
            ax.plot(ut.index, ut[col] * 1e3, "o-", ms=2.5, lw=1, label=BLOCK_NAMES.get(col, col))
        if lat is not None:
            ax.plot(ut.index, lat * 1e3, "k-", lw=2.2, label="frame latency")
        ax.set_yscale("log")
        ax.set_xlabel("frame")
        ax.set_ylabel("time per frame [ms]")
        ax.set_title(f"{_label(r)}: busy time per unit (they overlap; the busiest bounds the frame)", fontsize=9)
        ax.legend(ncol=4, fontsize=7, loc="lower right")
    return save_figure(fig, out, "latency_breakdown")


def headline(runs: list[dict], out: Path) -> list[Path]:
    """Speedup and energy efficiency over the baseline per run (labelled bars, named by hardware and policy),
    with the paper's ranges as markers beside them."""
    sp, ee, names = [], [], []
    for r in runs:
        rep = r["report"]
        comp = {c["phase"]: c for c in rep["comparison"]}
        sp.append(comp["stream"]["speedup"])
        ee.append(comp["stream"]["energy_eff"])
        names.append(f"{rep['accelerator']['hardware']} [{rep['kv_policy']}]\nvs {rep['baseline']['hardware']} "
                     f"[{rep.get('baseline_policy') or '?'}]\n{rep['workload']}")
    x = np.arange(len(runs))
    fig, ax = plt.subplots(figsize=(max(6.5, 2.4 * len(runs) + 2.5), 5.6))
    sp, ee = np.asarray(sp), np.asarray(ee)
    b1 = ax.bar(x - 0.3, sp, 0.25, label="speedup (ours)", color="C0")
    b2 = ax.bar(x - 0.05, ee, 0.25, label="energy efficiency (ours)", color="C1")
    for bars, vals in ((b1, sp), (b2, ee)):
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.2f}x", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    for i, (rng, c, what) in enumerate(((PAPER_SPEEDUP, "C0", "speedup"), (PAPER_ENERGY_EFF, "C1", "energy eff."))):
        xs = x + 0.18 + 0.12 * i
        ax.errorbar(xs, [np.sqrt(rng[0] * rng[1])] * len(x),
                    yerr=[[np.sqrt(rng[0] * rng[1]) - rng[0]] * len(x), [rng[1] - np.sqrt(rng[0] * rng[1])] * len(x)],
                    fmt="none", ecolor=c, elinewidth=2, capsize=5,
                    label=f"paper {what} range {rng[0]}-{rng[1]}x (its own workloads)")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylim(0.5, max(40.0, float(np.nanmax([*sp, *ee])) * 2))
    ax.set_xticks(x, names, fontsize=7)
    ax.set_ylabel("x over the GPU baseline (whole stream)")
    ax.set_title("Accelerator vs GPU baseline (policies in brackets)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    return save_figure(fig, out, "headline")


def kv_over_time(runs: list[dict], out: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(8, 4))
    for r in runs:
        kv, meta = r["kv"], r["run"]["trace_meta"]
        if kv is None or kv.empty:
            continue
        meta = meta_record(meta, "saved run's trace_meta")  # typed: the KV bits the policy stores included
        t = np.maximum(kv["frame"].to_numpy(), 0) / meta.fps
        ax.plot(t, kv_bytes_held(kv, meta) / 2**30, label=f"{_label(r)}: device memory")
        if kv["offload_slots_all_layers"].max() > 0:
            tier = TIER_NAMES.get(r["run"].get("offload_tier"), "offload tier")
            ax.plot(t, kv_bytes_held(kv, meta, "offload_slots_all_layers") / 2**30, ls="--",
                    label=f"{_label(r)}: {tier}")
    ax.set_xlabel("stream time [s]")
    ax.set_ylabel("KV cache [GiB]")
    ax.set_title("KV-cache size over the stream, by tier")
    ax.legend(fontsize=8)
    return save_figure(fig, out, "kv_over_time")


def area_power(r: dict, out: Path) -> list[Path]:
    rep = r["report"]
    area = {BLOCK_NAMES.get(k, k): v for k, v in rep["area_breakdown_mm2"].items() if v > 0}
    energy = {BLOCK_NAMES.get(k, k): v for k, v in rep["energy_breakdown_j"].items() if v > 0}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, data, title in ((a1, area, "area [mm^2]"), (a2, energy, "energy over the stream [J]")):
        names = sorted(data, key=data.get, reverse=True)
        vals = [data[n] for n in names]
        tot = sum(vals)
        ax.barh(names, vals)
        for i, v in enumerate(vals):
            ax.text(v, i, f" {100 * v / tot:.1f}%", va="center", fontsize=8)
        ax.set_title(f"{rep['accelerator']['hardware']} {title}")
        ax.invert_yaxis()
    chip = rep.get("chip") or {}
    if chip:
        fig.suptitle(f"DRE share: ours {100 * chip['dre_area_share']:.1f}% of area, "
                     f"{100 * chip['dre_power_share']:.1f}% of on-chip power; paper 2.0% area, 2.2% power",
                     fontsize=9)
    return save_figure(fig, out, "area_power")


def roofline(r: dict, out: Path) -> list[Path]:
    """Kernels on the accelerator's roofline: the PE array and vector-unit ceilings, DRAM and (where the KV
    comes over it) the offload link's slopes; kernels that move no DRAM byte sit at the right edge."""
    ops = r["ops"]
    ops = ops[(ops["time_s"] > 0) & (ops["flops"] > 0)].copy()
    run = r["run"]
    peak_f, peak_v, peak_b = run["peak_pe_flops"], run.get("peak_vector_ops", 0.0), run["peak_dram_bytes_per_s"]
    peak_o = run.get("peak_offload_bytes_per_s", 0.0)
    onchip = ops["dram_bytes"] <= 0
    ops["ai"] = ops["flops"] / ops["dram_bytes"].where(~onchip, np.nan)
    ops["perf"] = ops["flops"] / ops["time_s"]
    finite = ops.loc[~onchip, "ai"]
    lo = 10 ** np.floor(np.log10(max(finite.min(), 1e-3))) if len(finite) else 0.1
    hi = 10 ** np.ceil(np.log10(max(finite.max(), peak_f / peak_b) * 4)) if len(finite) else 1e4
    ops.loc[onchip, "ai"] = hi  # no DRAM traffic: drawn at the right edge
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ai = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(ai, np.minimum(peak_f, ai * peak_b), "k-", lw=1.4, label="PE array / DRAM roofline")
    if peak_v:
        ax.plot(ai, np.minimum(peak_v, ai * peak_b), "k--", lw=1, label="vector unit (VPE) ceiling")
    if peak_o:
        ax.plot(ai, np.minimum(peak_f, ai * peak_o), "k:", lw=1,
                label="offload link slope (every byte over the link)")
    for kind, g in ops.groupby("kind"):
        ax.scatter(g["ai"], g["perf"], s=12 + 60 * g["time_s"] / ops["time_s"].max(), label=kind, alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi * 1.5)
    ax.set_xlabel("arithmetic intensity [FLOP / DRAM byte] (no DRAM traffic: right edge)")
    ax.set_ylabel("achieved [FLOP/s]")
    ax.set_title(f"Kernels on the {run['hardware']} roofline (size ~ time share)")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, out, "roofline")


def pareto(df: pd.DataFrame, front: pd.DataFrame, objectives: list[str], out: Path) -> list[Path]:
    ok = df[df["status"] == "ok"]
    x, y = objectives[0], objectives[1]
    c = objectives[2] if len(objectives) > 2 else None
    sx, sy = scale(x), scale(y)
    fig, ax = plt.subplots(figsize=(7, 5))
    sc = ax.scatter(ok[x] * sx, ok[y] * sy, c=ok[c] * scale(c) if c else None, cmap="viridis", s=25, alpha=0.8,
                    label="feasible points")
    if c:
        fig.colorbar(sc, ax=ax, label=label(c))
    bad = df[df["status"] != "ok"]
    if len(bad) and x in bad and y in bad:
        ax.scatter(bad[x] * sx, bad[y] * sy, marker="x", color="grey", s=20, label="infeasible / error")
    if len(front):
        f = front.sort_values(x)
        ax.plot(f[x] * sx, f[y] * sy, "r-o", ms=5, mfc="none", label=f"Pareto front ({len(objectives)} objectives)")
        axes = [a for a in f.columns if a.startswith("axis:")]
        for _, r in f.head(12).iterrows():  # each front point labelled with its axis values
            text = ", ".join(f"{a.removeprefix('axis:').rsplit('.', 1)[-1]}={_short(r[a])}" for a in axes)
            ax.annotate(text, (r[x] * sx, r[y] * sy), textcoords="offset points", xytext=(4, 4), fontsize=6)
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.set_title("Design-space sweep")
    ax.legend(fontsize=8)
    return save_figure(fig, out, "pareto")


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def realtime(d: Path, out: Path) -> list[Path]:
    """Figures of an arrival-driven run directory (summary.json, jobs.parquet, queue.parquet)."""
    summ = read_json(d / "summary.json")
    jobs = read_parquet(d / "jobs.parquet")
    queue = read_parquet(d / "queue.parquet")
    name = summ.get("label", d.name)
    frames = jobs[jobs["kind"] == "frame"]
    done = frames[~frames["dropped"].astype(bool)]
    lat = np.sort((done["end_s"] - done["arrival_s"]).to_numpy())
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    if lat.size:
        ax.plot(lat * 1e3, np.arange(1, lat.size + 1) / lat.size, drawstyle="steps-post")
    ax.axvline(1e3 / summ["fps"], color="grey", ls="--", lw=1, label="frame period (deadline)")
    lo = min(lat.min() if lat.size else 1e9, 1 / summ["fps"]) * 1e3
    hi = max(lat.max() if lat.size else 0.0, 1 / summ["fps"]) * 1e3
    if lo > 0 and hi / lo > 30:  # a log axis only when the latencies span decades; labels on decades only
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, numticks=8))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(6))
    ax.set_xlabel("frame latency, arrival to done [ms]")
    ax.set_ylabel("share of processed frames")
    ax.set_title(f"frame latency CDF\n{name}", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1]
    t_end = float(max(queue["t_s"].max() if len(queue) else 0.0, frames["arrival_s"].max() if len(frames) else 0.0))
    edges = np.linspace(0.0, max(t_end, 1e-9), 201)
    for s, q in queue.groupby("stream"):  # the deepest queue in each of 200 time bins
        b = np.clip(np.searchsorted(edges, q["t_s"].to_numpy(), side="right") - 1, 0, 199)
        deepest = pd.Series(q["depth"].to_numpy()).groupby(b).max().reindex(range(200)).ffill().fillna(0)
        ax.step(edges[:-1], deepest.to_numpy(), where="post", lw=0.9, label=f"stream {s}: deepest queue per bin")
    drops = frames[frames["dropped"].astype(bool)]
    if len(drops):
        ax.plot(drops["arrival_s"], np.full(len(drops), -0.3), "rx", ms=3, label=f"dropped ({len(drops)})")
    ax.set_xlabel("stream time [s]")
    ax.set_ylabel("waiting frames")
    top = float(queue["depth"].max()) if len(queue) else 1.0
    ax.set_ylim(-0.6, max(1.0, top) + 0.6)  # whole frames: integer ticks, a flat line not blown up
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title("queue depth and drops")
    ax.legend(fontsize=8)
    ax = axes[2]
    ans = pd.DataFrame(summ.get("answers", []))
    if len(ans) > 3:  # several questions: TTFT loaded vs unloaded per question, TPOT as points
        x = np.arange(len(ans))
        ax.bar(x - 0.2, ans["ttft_s"] * 1e3, 0.4, label="TTFT under load")
        ax.bar(x + 0.2, ans["ttft_unloaded_s"] * 1e3, 0.4, label="TTFT unloaded")
        ax.plot(x, ans["tpot_s"] * 1e3, "ko", label="TPOT")
        ax.set_xticks(x, [f"s{r.stream} q{r.question}" for r in ans.itertuples()], rotation=30)
        ax.set_ylabel("latency [ms]")
        ax.set_title("answers")
        ax.legend(fontsize=8)
    else:  # one to three questions: the numbers themselves, not bars
        ax.axis("off")
        ax.set_title("answers", fontsize=10)
        lines = [f"stream {r.stream}, question {r.question} (asked at {r.arrival_s:.1f} s):\n"
                 f"  TTFT {r.ttft_s * 1e3:.3g} ms under load, {r.ttft_unloaded_s * 1e3:.3g} ms unloaded\n"
                 f"  TPOT {r.tpot_s * 1e3:.3g} ms; {r.frames_dropped_meanwhile} frames dropped meanwhile"
                 for r in ans.itertuples()] or ["no questions in this stream"]
        ax.text(0.0, 0.95, "\n\n".join(lines), transform=ax.transAxes, va="top", ha="left", fontsize=9,
                family="monospace")
    fig.tight_layout()
    return save_figure(fig, out, f"realtime_{d.name}")


def plot_inputs(inputs: list[Path], out: Path) -> list[Path]:
    """Draw every figure that the given run and sweep directories support."""
    from analysis.report.artefacts import is_realtime_dir, is_run_dir, is_sweep_dir
    from analysis.studies.sweep import load_results, load_spec, pareto_front

    paths: list[Path] = []
    runs = [_load_run(d) for d in inputs if is_run_dir(d)]
    if runs:
        paths += latency_breakdown(runs, out)
        paths += headline(runs, out)
        paths += kv_over_time(runs, out)
        paths += area_power(runs[0], out)
        paths += roofline(runs[0], out)
    for d in inputs:
        if is_sweep_dir(d):
            sp = load_spec(d / "spec.yaml")
            df = load_results(d)
            if not df.empty and "status" in df and (df["status"] == "ok").any():
                paths += pareto(df, pareto_front(df, list(sp.objectives)), list(sp.objectives), out)
        if is_realtime_dir(d):
            paths += realtime(d, out)
    return paths


def assumptions_table(assumptions: list[dict], used_by: str = "hardware") -> list[str]:
    """Markdown rows of technology entries (entry, value, unit, kind, source and who uses them)."""
    def value(v) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else ", ".join(f"{x:g}" for x in v) if isinstance(
            v, (list, tuple)) else str(v)

    lines = ["| entry | value | kind | source | used by |", "|---|---|---|---|---|"]
    for a in assumptions:
        lines.append(f"| `{a['entry']}` | {value(a['value'])} {a['unit']} | {a['kind']} | {a['source']} | "
                     f"{', '.join(a.get(used_by, []))} |")
    return lines


def assumptions_markdown(assumptions: list[dict]) -> list[str]:
    """The technology entries a run rests on that are not measurements (``report.json``'s ``assumptions``)."""
    if not assumptions:
        return []
    return [f"What these numbers rest on besides measurements ({len(assumptions)} technology-table entries):",
            "", *assumptions_table(assumptions), ""]


def write_report(inputs: list[Path], out_md: Path) -> Path:
    """A Markdown report embedding the figures, with the headline tables."""
    from analysis.report.artefacts import is_realtime_dir, is_run_dir, is_sweep_dir
    from analysis.studies.sweep import load_results, load_spec, pareto_front

    fig_dir = out_md.parent / "figures"
    figs = plot_inputs(inputs, fig_dir)
    lines = ["# vrex-sim report", ""]
    for d in inputs:
        if is_run_dir(d):
            rep = read_json(d / "report.json")
            a, b = rep["accelerator"], rep["baseline"]
            lines += [f"## {rep['workload']} (KV policy {rep['kv_policy']})", "",
                      f"| metric | {a['hardware']} | {b['hardware']} |", "|---|---|---|"]
            for key, label in (("fps_sustained", "FPS sustained"), ("frame_latency_mean_s", "frame latency [s]"),
                               ("ttft_mean_s", "TTFT [s]"), ("decode_tokens_per_s", "decode tokens/s"),
                               ("energy_per_frame_j", "energy/frame [J]"), ("avg_power_w", "power [W]"),
                               ("area_mm2", "area [mm^2]")):
                lines.append(f"| {label} | {a[key]:.4g} | {b[key]:.4g} |")
            lines += ["", "| phase | speedup | energy eff. |", "|---|---|---|"]
            lines += [f"| {c['phase']} | {c['speedup']:.3g}x | {c['energy_eff']:.3g}x |" for c in rep["comparison"]]
            lines.append("")
            lines += assumptions_markdown(rep.get("assumptions", []))
        elif is_sweep_dir(d):
            sp = load_spec(d / "spec.yaml")
            df = load_results(d)
            front = pareto_front(df, list(sp.objectives))
            counts = df["status"].value_counts().to_dict() if "status" in df else {}
            lines += [f"## Sweep {sp.name}", "", f"{len(df)} points: " + ", ".join(f"{v} {k}" for k, v in
                                                                                    counts.items()), "",
                      f"Pareto front over {', '.join(sp.objectives)}: {len(front)} points", ""]
            if len(front):
                cols = [c for c in front.columns if c.startswith("axis:")] + list(sp.objectives)
                lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                for _, r in front.head(20).iterrows():
                    lines.append("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c])
                                                   for c in cols) + " |")
                lines.append("")
        elif is_realtime_dir(d):
            sm = read_json(d / "summary.json")
            lines += [f"## Real-time streaming: {sm.get('label', d.name)}", "", "| metric | value |", "|---|---|"]
            for key in ("fps", "streams", "frames_arrived", "frames_processed", "frames_dropped", "deadline_misses",
                        "frame_latency_p50_s", "frame_latency_p99_s", "frame_latency_max_s", "max_sustainable_fps"):
                if key in sm:
                    val = f"{sm[key]:.4g}" if isinstance(sm[key], float) else str(sm[key])
                    lines.append(f"| {key} | {val} |")
            lines.append("")
    lines += ["## Figures", ""]
    lines += [f"![{p.stem}](figures/{p.name})" for p in figs if p.suffix == ".png"]
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines) + "\n")
    return out_md
