"""The report of a design-space exploration (``vrex explore`` writes it at the end; ``make codesign``).

From ``OUT`` (written by :func:`analysis.studies.explore.run_explore`): ``pareto.png``/``.pdf`` (every objective
against chip area, the reference design marked), ``parallel.png``/``.pdf`` (the Pareto front's designs and
objectives on parallel axes), and ``codesign.md``: what was searched, the designs that dominate the
reference on every objective within its area and power, what they change, their stall breakdown next to the
reference's, and a re-run of each from its saved configs (the ``vrex simulate`` command line and whether
the figures match).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

import analysis.studies.sweep as sweep
from analysis.report.figures import label, plt, save_figure, scale
from analysis.studies.explore import dominating, load_explore_spec, parse_bound, rerun, simulate_command


def write_codesign_report(out: str | Path, *, wall_s: float | None = None, verify: bool = True) -> Path:
    out = Path(out)
    sp = load_explore_spec(out / "spec.yaml")
    ref = json.loads((out / "reference.json").read_text())
    df = sweep.load_results(out)
    from analysis.studies.explore import _finalise

    df = _finalise(sp, df, ref)
    objectives = list(sp.objectives)
    front = sweep.pareto_front(df, objectives)
    if front.empty:
        return write_nothing_feasible(sp, df, ref, out)
    ref_row = df[df["point_id"] == ref["point_id"]].iloc[0].to_dict()
    dom = dominating(df, ref_row, objectives)
    pareto_plot(sp, df, front, dom, ref_row, out)
    parallel_plot(sp, front, ref_row, out)
    return write_markdown(sp, df, front, dom, ref_row, out, wall_s, verify)


def write_nothing_feasible(sp, df: pd.DataFrame, ref: dict, out: Path) -> Path:
    """The report of a search in which no design met every constraint (a result, not a failure): the bounds,
    how many designs broke each, and the designs closest to meeting them."""
    from analysis.studies.explore import closest_designs

    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    lines = [f"# Co-design: {sp.name}", "", f"**No feasible design.** {len(df)} distinct designs "
             f"({_status_text(counts)}); none meets every constraint, so there is no Pareto set.", "",
             "Constraints (bounds 'reference' are the reference design's own figures):", ""]
    for c in sp.constraints:
        name, op, bound = parse_bound(c, "", "")
        b = ref.get(name) if bound == "reference" else bound
        lines.append(f"- `{c}`" + (f" (bound {b:.4g})" if isinstance(b, (int, float)) else ""))
    close = closest_designs(sp, df, ref)
    cols = [c for c in ("area_mm2", "peak_power_w", "dram_headroom_gib") if c in close]
    lines += ["", "Closest designs (smallest sum of relative constraint violations):", "",
              "| design | " + " | ".join(f"axis {a.name}" for a in sp.axes) + " | " + " | ".join(cols)
              + " | violation |", "|" + "---|" * (len(sp.axes) + len(cols) + 2)]
    for r in close.to_dict("records"):
        lines.append(f"| `{str(r['point_id'])[:8]}` | " + " | ".join(str(r.get(f"axis:{a.name}")) for a in sp.axes)
                     + " | " + " | ".join(_fmt(r.get(c), c) for c in cols) + f" | {r['violation']:.3g} |")
    path = out / "codesign.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _status_text(counts: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "none ran"


# ---------------------------------------------------------------- figures
def pareto_plot(sp, df, front, dom, ref_row, out: Path) -> list[Path]:
    x = "area_mm2"
    ys = [o for o in sp.objectives if o != x] or [x]
    ok = df[df["status"] == "ok"]
    cols = min(3, len(ys))
    rows = math.ceil(len(ys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(7.5, 4.4 * cols), 3.6 * rows + 0.8), squeeze=False)
    for ax, y in zip(axes.flat, ys):
        sx, sy = scale(x), scale(y)
        ax.scatter(ok[x] * sx, ok[y] * sy, s=14, color="0.7", label="feasible designs")
        ax.scatter(front[x] * sx, front[y] * sy, s=22, color="#1f77b4", label="Pareto set (all objectives)")
        if len(dom):
            ax.scatter(dom[x] * sx, dom[y] * sy, s=40, facecolor="none", edgecolor="#2ca02c", lw=1.5,
                       label=f"dominates {sp.reference_name}")
        ax.scatter([ref_row[x] * sx], [ref_row[y] * sy], marker="*", s=220, color="#d62728", zorder=5,
                   label=sp.reference_name)
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(y))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(ys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels) if cols > 1 else 2, fontsize=9, frameon=False)
    fig.suptitle(f"{sp.name}: designs meeting every constraint ({', '.join(sp.constraints)})", fontsize=10,
                 wrap=True)
    fig.tight_layout(rect=(0, 0.1 if cols > 1 else 0.16, 1, 0.93))
    return save_figure(fig, out, "pareto", tight=False)


def _axis_columns(sp) -> list[str]:
    return [f"axis:{a.name}" for a in sp.axes]


def parallel_plot(sp, front, ref_row, out: Path) -> list[Path]:
    """The front's designs on parallel axes: design choices (ticks at their values) then objectives."""
    cols = _axis_columns(sp) + list(sp.objectives)
    data = pd.concat([front, pd.DataFrame([ref_row])], ignore_index=True)
    fig, ax = plt.subplots(figsize=(max(9, 0.8 * len(cols)), 6.2))
    norm = np.zeros((len(data), len(cols)))
    for j, c in enumerate(cols):
        if c.startswith("axis:"):
            a = next(a for a in sp.axes if f"axis:{a.name}" == c)
            levels = list(a.options) if a.options is not None else list(a.values or [])
            if levels:
                idx = [levels.index(v) if v in levels else levels.index(type(levels[0])(v))
                       for v in data[c]]
                norm[:, j] = np.array(idx) / max(1, len(levels) - 1)
                for k, lev in enumerate(levels):
                    # long names break at their hyphens so they stay within one axis spacing
                    text = str(lev).replace("-", "-\n") if len(str(lev)) > 6 else str(lev)
                    ax.text(j + 0.05, k / max(1, len(levels) - 1), text, fontsize=7, va="center",
                            linespacing=0.9,
                            color="0.2", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
                            zorder=6)
                continue
        v = data[c].to_numpy(dtype=float) * scale(c)
        lo, hi = np.nanmin(v), np.nanmax(v)
        norm[:, j] = (v - lo) / (hi - lo) if hi > lo else 0.5
        ax.text(j, -0.06, f"{lo:.4g}", fontsize=7.5, ha="center", va="top")
        ax.text(j, 1.05, f"{hi:.4g}", fontsize=7.5, ha="center", va="bottom")
    cmap = plt.get_cmap("viridis")
    key = sp.objectives[0]
    kv = data[key].to_numpy(dtype=float)
    span = (np.nanmax(kv) - np.nanmin(kv)) or 1.0
    for i in range(len(data) - 1):
        ax.plot(range(len(cols)), norm[i], color=cmap((kv[i] - np.nanmin(kv)) / span), alpha=0.7, lw=1.2)
    ax.plot(range(len(cols)), norm[-1], color="#d62728", lw=2.5, ls="--", label=sp.reference_name)
    for j in range(len(cols)):
        ax.axvline(j, color="0.6", lw=0.6)
    names = [c.removeprefix("axis:") if c.startswith("axis:") else label(c, tex=False).replace(" (", "\n(")
             for c in cols]
    ax.set_xticks(range(len(cols)), names, rotation=40, ha="right", fontsize=8.5)
    ax.set_yticks([])
    ax.set_ylim(-0.14, 1.13)
    ax.set_xlim(-0.3, len(cols) - 0.4)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(np.nanmin(kv) * scale(key), np.nanmax(kv) * scale(key)))
    fig.colorbar(sm, ax=ax, pad=0.01).set_label(label(key))
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{sp.name}: the Pareto set ({len(data) - 1} designs); objectives: low = better, "
                 "numbers give each axis's range", fontsize=10)
    return save_figure(fig, out, "parallel")


# ---------------------------------------------------------------- markdown
def _fmt(v, metric: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v * scale(metric):.4g}"


def _changes(sp, row, ref_row) -> str:
    ch = [f"{a.name} {ref_row[f'axis:{a.name}']} -> {row[f'axis:{a.name}']}" for a in sp.axes
          if str(row[f"axis:{a.name}"]) != str(ref_row[f"axis:{a.name}"])]
    return ", ".join(ch) or "none"


def _stalls(sp, row) -> list[str]:
    out = []
    for s in sp.scenarios:
        p = s.name
        parts = [f"{k.removeprefix(p + '.bound_')} {100 * row[k]:.0f}%" for k in sorted(row)
                 if k.startswith(p + ".bound_") and isinstance(row[k], float) and not math.isnan(row[k])]
        busy = [f"{k.removeprefix(p + '.busy_')} {100 * row[k]:.0f}%" for k in sorted(row)
                if k.startswith(p + ".busy_") and isinstance(row[k], float) and not math.isnan(row[k])]
        out.append(f"{p}: op time {', '.join(parts)}-bound; busy {', '.join(busy)}")
    return out


def write_markdown(sp, df, front, dom, ref_row, out: Path, wall_s, verify: bool) -> Path:
    objectives = list(sp.objectives)
    counts = df["status"].value_counts().to_dict()
    pre_bad = {}
    ref = json.loads((out / "reference.json").read_text())
    for c in sp.constraints:
        name, op, bound = parse_bound(c, "", "")
        b = ref.get(name) if bound == "reference" else bound
        if name in df and b is not None:
            met = df[name].apply(lambda v, op=op, b=b: bool(sweep.OPS[op](v, b)) if pd.notna(v) else True)
            pre_bad[c] = int((~met).sum())
    sim_s = float(df["wall_s"].sum())
    lines = [f"# Co-design: {sp.name}", "",
             f"NSGA-II (optuna) over {len(sp.axes)} axes, {sp.optimizer.population} designs x "
             f"{sp.optimizer.generations} generations = {sp.optimizer.population * sp.optimizer.generations} "
             f"proposals, {len(df)} distinct designs: {counts.get('ok', 0)} feasible and simulated, "
             f"{counts.get('infeasible', 0)} infeasible (never simulated unless a post-run bound broke), "
             f"{sum(v for k, v in counts.items() if k not in ('ok', 'infeasible'))} failed. Each simulated design "
             f"ran {len(sp.scenarios)} scenarios ({', '.join(s.name for s in sp.scenarios)}); simulation time "
             f"{sim_s / 60:.1f} worker-minutes"
             + (f", wall time of the last invocation {wall_s / 60:.1f} min." if wall_s else "."), "",
             "Constraints (bounds 'reference' are the reference design's own figures; designs breaking each):", ""]
    lines += [f"- `{c}`: {n}" for c, n in pre_bad.items()]
    lines += ["", f"Reference ({sp.reference_name}): " + ", ".join(
        f"{label(o, tex=False)} {_fmt(ref_row.get(o), o)}" for o in objectives)
        + f"; peak power {ref_row['peak_power_w']:.1f} W.", "",
        "![Pareto](pareto.png)", "", "![Parallel coordinates](parallel.png)", ""]
    lines += [f"## Designs that dominate {sp.reference_name}", ""]
    if dom.empty:
        lines += [f"None: no feasible design found is at least as good as {sp.reference_name} on every objective "
                  "and better on one. The Pareto set's best design per objective:", ""]
        show = pd.concat([front.loc[[front[o].astype(float).idxmin()]] for o in objectives]).drop_duplicates(
            "point_id")
    else:
        lines += [f"{len(dom)} feasible design(s) are at least as good as {sp.reference_name} on every objective "
                  f"and better on at least one, within its area and peak power. Objectives relative to "
                  f"{sp.reference_name} (< 1 is better):", ""]
        show = dom.assign(_s=sum(dom[o] / ref_row[o] for o in objectives)).sort_values("_s")
    hdr = "| design | changes from the reference | " + " | ".join(label(o, tex=False) for o in objectives) + " |"
    lines += [hdr, "|" + "---|" * (len(objectives) + 2)]
    lines.append(f"| {sp.reference_name} | - | " + " | ".join(_fmt(ref_row[o], o) for o in objectives) + " |")
    for r in show.head(12).to_dict("records"):
        rel = " | ".join(f"{_fmt(r[o], o)} ({r[o] / ref_row[o]:.2f}x)" for o in objectives)
        lines.append(f"| `{r['point_id'][:8]}` | {_changes(sp, r, ref_row)} | {rel} |")
    hw_axes = [a for a in sp.axes if all(p.startswith("hw.") for p in
                                         ([a.path] if a.path else [q for o in a.options.values() for q in o]))]
    other = [a for a in sp.axes if a not in hw_axes]
    hw_only = show[[all(str(r[f"axis:{a.name}"]) == str(ref_row[f"axis:{a.name}"]) for a in other)
                    for r in show.to_dict("records")]] if other and len(show) else show.iloc[:0]
    if other and not dom.empty:
        lines += ["", f"Hardware changes only ({', '.join(a.name for a in other)} at {sp.reference_name}'s value): "
                      f"{len(hw_only)} of the dominating designs.", ""]
        if len(hw_only):
            lines += [hdr, "|" + "---|" * (len(objectives) + 2)]
            for r in hw_only.head(5).to_dict("records"):
                rel = " | ".join(f"{_fmt(r[o], o)} ({r[o] / ref_row[o]:.2f}x)" for o in objectives)
                lines.append(f"| `{r['point_id'][:8]}` | {_changes(sp, r, ref_row)} | {rel} |")
    show = pd.concat([show.head(4), hw_only.head(2)]).drop_duplicates("point_id")
    lines += ["", "### Stall breakdown", "",
              "Share of op time that is compute-, bandwidth- or capacity-bound (each op's max of compute and "
              "memory time) and busy share of each unit over the run, per scenario:", "",
              f"- **{sp.reference_name}**:"]
    lines += [f"  - {s}" for s in _stalls(sp, ref_row)]
    for r in show.to_dict("records"):
        lines.append(f"- **`{r['point_id'][:8]}`** ({_changes(sp, r, ref_row)}):")
        lines += [f"  - {s}" for s in _stalls(sp, r)]
    if verify:
        lines += ["", "### Re-run from the saved configs", ""]
        for r in show.to_dict("records"):
            for s in sp.scenarios:
                again = rerun(out, r["point_id"], s.name)
                keys = [k for k in again if k.split(".", 1)[1] in ("frame_latency_mean_s", "decode_step_s",
                                                                    "energy_per_frame_j")]
                diff = max(abs(again[k] - r[k]) / abs(r[k]) for k in keys if r[k])
                lines.append(f"- `{r['point_id'][:8]}` {s.name}: max relative difference {diff:.1e} "
                             f"(`{simulate_command(out, r['point_id'], s.name)}`)")
    lines += ["", f"Files: `pareto.parquet` / `pareto.csv` (the Pareto set, {len(front)} designs, every column of "
              "the design's row), `points/` (every design), `configs/<point_id>/` (each simulated design's "
              "configs).", ""]
    path = out / "codesign.md"
    path.write_text("\n".join(lines))
    return path
