"""The report of a design-space exploration (``vrex explore`` writes it at the end; ``make codesign``).

From ``OUT`` (written by :func:`analysis.studies.explore.run_explore`): ``pareto.png``/``.pdf`` (each objective
against die area; designs drawn apart by the levels they change: chip only, system only, chip + system, with a
policy change; the reference and the named designs marked), ``parallel.png``/``.pdf`` (the Pareto set on parallel
axes with the knobs' human names), and ``codesign.md``: what was searched and what it cost (counts from the run),
the reference on every scenario (latency, sustained FPS, real time, TTFT, TPOT, energy), its one-knob neighbours,
the Pareto set per level, each level's winner on every scenario, the stall breakdowns, and a re-run of the named
designs from their saved configs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

import analysis.studies.sweep as sweep
from analysis.report.figures import UNITS, plt, save_figure
from analysis.report.figures import scale as _unit_scale
from analysis.studies.explore import WORST, _finalise, load_explore_spec, parse_bound, rerun, simulate_command

# level classes (the levels each design changes, see explore.LEVELS): colour and marker
CLASS_STYLE = {"chip only": ("#1f77b4", "o"), "system only": ("#ff7f0e", "s"), "chip + system": ("#2ca02c", "D"),
               "with a policy change": ("#9467bd", "^")}


def design_class(levels: str) -> str:
    lv = set(str(levels).split("+"))
    if "policy" in lv:
        return "with a policy change"
    if lv <= {"reference", "chip"}:
        return "chip only"
    if lv <= {"memory", "io"}:
        return "system only"
    return "chip + system"


def _in_scope(cls: str, scope: str) -> bool:
    """Designs a level's search may return: chip only within 'chip only', everything but policy within
    'chip + system', everything within 'every level'."""
    return {"chip only": cls == "chip only",
            "chip + system": cls != "with a policy change",
            "every level": True}[scope]


SCOPES = ("chip only", "chip + system", "every level")


def scale(metric: str) -> float:
    """Display factor of a metric; worst-case ratios are shown as they are."""
    return 1.0 if metric.startswith(WORST + ".") else _unit_scale(metric)


def metric_label(sp, metric: str, tex: bool = True) -> str:
    scen, _, m = metric.rpartition(".")
    name, unit, _ = UNITS.get(m, (m.replace("_", " "), "", 1.0))
    unit = unit if tex else unit.replace("$^2$", "^2")
    if metric == "area_mm2":
        return f"die area: cores + DRAM and PCIe PHYs ({unit})"
    if scen == WORST:
        return f"worst {name} over the scenarios (x {sp.reference_name})"
    where = next((s.label or s.name for s in sp.scenarios if s.name == scen), scen)
    return f"{name}, {where}" + (f" ({unit})" if unit else "") if scen else f"{name}" + (f" ({unit})" if unit else "")


def write_codesign_report(out: str | Path, *, wall_s: float | None = None, verify: bool = True) -> Path:
    out = Path(out)
    sp = load_explore_spec(out / "spec.yaml")
    ref = json.loads((out / "reference.json").read_text())
    df = _finalise(sp, sweep.load_results(out), ref)
    df["class"] = [design_class(v) for v in df.get("levels", pd.Series(["reference"] * len(df)))]
    objectives = list(sp.objectives)
    if sweep.pareto_front(df, objectives).empty:  # nothing meets the constraints: a result, reported as such
        return write_nothing_feasible(sp, df, ref, out)
    ref_row = df[df["point_id"] == ref["point_id"]].iloc[0].to_dict()
    fronts = {sc: sweep.pareto_front(df[[_in_scope(c, sc) for c in df["class"]]], objectives) for sc in SCOPES}
    winners = _winners(sp, df, ref_row)
    pareto_plot(sp, df, ref_row, winners, out)
    parallel_plot(sp, fronts["every level"], ref_row, out)
    return write_markdown(sp, df, fronts, winners, ref_row, out, wall_s, verify)


def _key(sp) -> str:
    return next((o for o in sp.objectives if o.startswith(WORST + ".")), sp.objectives[0])


def _winners(sp, df, ref_row) -> dict[str, dict]:
    """Per level class, the feasible design best on the first worst-case objective (ties: smaller area)."""
    key = _key(sp)
    ok = df[(df["status"] == "ok") & (df["point_id"] != ref_row["point_id"])].dropna(subset=[key])
    out = {}
    for cls in CLASS_STYLE:
        c = ok[ok["class"] == cls]
        if len(c):
            out[cls] = c.sort_values([key, "area_mm2"]).iloc[0].to_dict()
    return out


def write_nothing_feasible(sp, df: pd.DataFrame, ref: dict, out: Path) -> Path:
    """The report of a search in which no design met every constraint (a result, not a failure): the bounds,
    how many designs broke each, and the designs closest to meeting them."""
    from analysis.studies.explore import PRE_METRICS, closest_designs

    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    lines = [f"# Co-design: {sp.name}", "", f"**No feasible design.** {len(df)} distinct designs "
             f"({_status_text(counts)}); none meets every constraint, so there is no Pareto set.", "",
             "Constraints (bounds 'reference' are the reference design's own figures):", ""]
    for c in sp.constraints:
        name, op, bound = parse_bound(c, "", "")
        b = ref.get(name) if bound == "reference" else bound
        lines.append(f"- `{c}`" + (f" (bound {b:.4g})" if isinstance(b, (int, float)) else ""))
    close = closest_designs(sp, df, ref)
    cols = [c for c in PRE_METRICS if c in close]
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
def _label_winners(ax, winners, ref_row, x, y, sx, sy, ref_name: str, points) -> None:
    """Name each scope's best design with a boxed label led by a line to it. Labels go to the emptiest free slots
    of a grid over the panel (fewest drawn points under the label, then nearest the winner), so they cover
    neither the reference's star, nor the data, nor each other; a winner on the reference's own figures says so."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    fx = (np.asarray(points[0], float) - x0) / (x1 - x0)
    fy = (np.asarray(points[1], float) - y0) / (y1 - y0)
    slots = [(cx, cy) for cx in (0.03, 0.36, 0.69) for cy in np.arange(0.94, 0.04, -0.075)]
    used: list[tuple[float, float]] = []
    for cls, w in winners.items():
        px, py = (w[x] * sx - x0) / (x1 - x0), (w[y] * sy - y0) / (y1 - y0)

        def cost(slot):
            cx, cy = slot
            covered = np.sum((fx > cx - 0.02) & (fx < cx + 0.32) & (abs(fy - cy) < 0.05))
            covered += (px > cx - 0.02) & (px < cx + 0.32) & (abs(py - cy) < 0.07)  # nor the winner itself
            return covered * 10 + math.hypot(cx + 0.15 - px, cy - py)

        free = [sl for sl in slots if all(abs(sl[1] - u[1]) > 0.06 or abs(sl[0] - u[0]) > 0.3 for u in used)]
        cx, cy = min(free, key=cost)
        used.append((cx, cy))
        same = all(math.isclose(w[k], ref_row[k], rel_tol=1e-3) for k in (x, y))
        ax.annotate(f"best {cls}" + (f" (= {ref_name})" if same else ""), (w[x] * sx, w[y] * sy), xytext=(cx, cy),
                    textcoords="axes fraction", ha="left", va="center", fontsize=7, zorder=6,
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "0.6", "alpha": 0.9},
                    arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "0.3", "shrinkB": 5})


def pareto_plot(sp, df, ref_row, winners, out: Path) -> list[Path]:
    x = "area_mm2"
    ys = [o for o in sp.objectives if o != x] or [x]
    ok = df[df["status"] == "ok"]
    cols = 2 if len(ys) in (2, 4) else min(3, len(ys))
    rows = math.ceil(len(ys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(7.5, 5.4 * cols), 4.2 * rows + 1.2), squeeze=False)
    for ax, y in zip(axes.flat, ys):
        sx, sy = scale(x), scale(y)
        for cls, (color, marker) in CLASS_STYLE.items():
            c = ok[ok["class"] == cls]
            if len(c):
                ax.scatter(c[x] * sx, c[y] * sy, s=22, color=color, marker=marker, alpha=0.75,
                           label=f"{cls} ({len(c)})")
        out_sys = df[(df["class"] == "system only") & (df["status"] != "ok") & (df["wall_s"] > 0)]
        if len(out_sys):  # one-knob system upgrades are simulated whatever the budget: drawn hollow
            color, marker = CLASS_STYLE["system only"]
            ax.scatter(out_sys[x] * sx, out_sys[y] * sy, s=30, facecolor="none", edgecolor=color, marker=marker,
                       label=f"system only, outside the budget ({len(out_sys)})")
        ax.scatter([ref_row[x] * sx], [ref_row[y] * sy], marker="*", s=260, color="#d62728", zorder=5,
                   label=sp.reference_name)
        drawn = pd.concat([ok, out_sys])
        if y.startswith(WORST + "."):
            ax.axhline(1.0, color="#d62728", lw=0.8, ls="--")
            ax.text(0.01, 1.0, f"below the line: faster than\n{sp.reference_name} on every scenario", fontsize=7,
                    ha="left", va="top", color="#d62728", transform=ax.get_yaxis_transform())
            note = ([ax.get_xlim()[0] + 0.01 * k * (ax.get_xlim()[1] - ax.get_xlim()[0]) for k in range(22)],
                    [1.0 - 0.03 * (ax.get_ylim()[1] - ax.get_ylim()[0])] * 22)  # the note's own place
        else:
            note = ([], [])
        _label_winners(ax, winners, ref_row, x, y, sx, sy, sp.reference_name,
                       (list(drawn[x] * sx) + [ref_row[x] * sx] + note[0],
                        list(drawn[y] * sy) + [ref_row[y] * sy] + note[1]))
        ax.set_xlabel("die area: cores + DRAM and PCIe PHYs (mm$^2$)", fontsize=9)
        ax.set_ylabel(metric_label(sp, y).replace(", ", ",\n", 1), fontsize=8.5)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(ys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8.5, frameon=False)
    fig.suptitle(f"Co-design around {sp.reference_name}: designs within its die area and peak power that meet "
                 f"real time where required, by the levels they change", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return save_figure(fig, out, "pareto", tight=False)


def _axis_label(sp, col: str) -> str:
    a = next((a for a in sp.axes if f"axis:{a.name}" == col), None)
    return (a.label or a.name) if a else col


def parallel_plot(sp, front, ref_row, out: Path) -> list[Path]:
    """The front's designs on parallel axes: design choices (ticks at their values) then objectives."""
    cols = [f"axis:{a.name}" for a in sp.axes] + list(sp.objectives)
    data = pd.concat([front, pd.DataFrame([ref_row])], ignore_index=True)
    fig, ax = plt.subplots(figsize=(max(10, 0.85 * len(cols)), 6.4))
    norm = np.zeros((len(data), len(cols)))
    for j, c in enumerate(cols):
        if c.startswith("axis:"):
            a = next(a for a in sp.axes if f"axis:{a.name}" == c)
            levels = list(a.options) if a.options is not None else list(a.values or [])
            if levels:
                idx = [levels.index(v) if v in levels else levels.index(type(levels[0])(v)) for v in data[c]]
                norm[:, j] = np.array(idx) / max(1, len(levels) - 1)
                for k, lev in enumerate(levels):
                    text = str(lev).replace("-", "-\n") if len(str(lev)) > 6 else str(lev)
                    ax.text(j + 0.05, k / max(1, len(levels) - 1), text, fontsize=7, va="center", linespacing=0.9,
                            color="0.2", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
                            zorder=6)
                continue
        v = data[c].to_numpy(dtype=float) * scale(c)
        lo, hi = np.nanmin(v), np.nanmax(v)
        norm[:, j] = (v - lo) / (hi - lo) if hi > lo else 0.5
        ax.text(j, -0.06, f"{lo:.4g}", fontsize=7.5, ha="center", va="top")
        ax.text(j, 1.05, f"{hi:.4g}", fontsize=7.5, ha="center", va="bottom")
    for i in range(len(data) - 1):
        color, _ = CLASS_STYLE[design_class(data.iloc[i].get("levels", "reference"))]
        ax.plot(range(len(cols)), norm[i], color=color, alpha=0.6, lw=1.2)
    ax.plot(range(len(cols)), norm[-1], color="#d62728", lw=2.5, ls="--", label=sp.reference_name)
    present = {design_class(v) for v in data.iloc[:-1].get("levels", pd.Series(dtype=str))}
    for cls, (color, _) in CLASS_STYLE.items():
        if cls in present:
            ax.plot([], [], color=color, lw=1.5, label=cls)
    for j in range(len(cols)):
        ax.axvline(j, color="0.6", lw=0.6)
    names = [_axis_label(sp, c) if c.startswith("axis:") else metric_label(sp, c, tex=False) for c in cols]
    names = [n if len(n) < 28 else n.replace(", ", ",\n", 1) for n in names]
    ax.set_xticks(range(len(cols)), names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.14, 1.13)
    ax.set_xlim(-0.3, len(cols) - 0.4)
    ax.legend(loc="upper left", fontsize=8, ncol=5)
    ax.set_title(f"The Pareto set over every level ({len(data) - 1} designs): knobs, then objectives (low = better; "
                 "numbers give each objective's range)", fontsize=10)
    return save_figure(fig, out, "parallel")


# ---------------------------------------------------------------- markdown
def _fmt(v, metric: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v * scale(metric):.4g}"


def _changes(sp, row, ref_row) -> str:
    ch = [f"{a.label or a.name} {ref_row[f'axis:{a.name}']} -> {row[f'axis:{a.name}']}" for a in sp.axes
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
        out.append(f"{s.label or p}: op time {', '.join(parts)}-bound; busy {', '.join(busy)}")
    return out


def _rt(sp, row, s) -> str:
    fps = row.get(f"{s.name}.fps_sustained", math.nan)
    if not isinstance(fps, float) or math.isnan(fps):
        return "-"
    return f"{fps:.2f}" + ("" if not s.fps else (" (real time)" if fps >= s.fps else f" (misses {s.fps:g})"))


def scenario_table(sp, rows: list[tuple[str, dict]], ref_row) -> list[str]:
    """Each design on every scenario: frame latency (x the reference), sustained FPS (real time?), TTFT, TPOT,
    energy per frame and per decoded token."""
    hdr = ("| design | scenario | frame latency (ms) | x ref | sustained FPS | TTFT (ms) | TPOT (ms) | "
           "energy / frame (J) | energy / decoded token (J) |")
    lines = [hdr, "|" + "---|" * 9]
    for name, r in rows:
        for s in sp.scenarios:
            p = s.name
            lat, rlat = r.get(f"{p}.frame_latency_mean_s", math.nan), ref_row.get(f"{p}.frame_latency_mean_s")
            rel = f"{lat / rlat:.2f}x" if isinstance(lat, float) and rlat and not math.isnan(lat) else "-"
            lines.append(f"| {name} | {s.label or p} | {_fmt(lat, 'frame_latency_mean_s')} | {rel} | {_rt(sp, r, s)} | "
                         f"{_fmt(r.get(f'{p}.ttft_mean_s'), 'ttft_mean_s')} | "
                         f"{_fmt(r.get(f'{p}.decode_step_s'), 'decode_step_s')} | "
                         f"{_fmt(r.get(f'{p}.energy_per_frame_j'), 'energy_per_frame_j')} | "
                         f"{_fmt(r.get(f'{p}.decode_energy_per_token_j'), 'x')} |")
    return lines


def _budget(r, ref_row) -> str:
    return (f"{r['area_mm2']:.1f} mm^2, chip {r['chip_peak_power_w']:.1f} W, system {r['system_peak_power_w']:.1f} W "
            f"({r['area_mm2'] / ref_row['area_mm2']:.2f}x / "
            f"{r['chip_peak_power_w'] / ref_row['chip_peak_power_w']:.2f}x"
            f" / {r['system_peak_power_w'] / ref_row['system_peak_power_w']:.2f}x)")


def link_power_range(sp, neighbours, ref_row, out: Path) -> list[str]:
    """How the link's power moves with its generation across the plausible range: only the PHY's share scales
    with the lane rate (the default) or all of the paper's per-lane power does (``power_scaling: rate``)."""
    import dataclasses

    from simulator.config.hardware import load_hardware
    from simulator.engine.platforms.accelerator import AcceleratorPlatform

    io = neighbours[neighbours["levels"] == "io"] if len(neighbours) else neighbours
    rows = []
    for r in io.to_dict("records"):
        path = out / "configs" / r["point_id"] / "hw.yaml"
        if not path.is_file():
            continue
        hw = load_hardware(path)
        if hw.offload is None or (hw.offload.link.w_per_lane_gen or hw.offload.link.gen) == hw.offload.link.gen:
            continue
        peaks = {}
        for mode in ("phy", "rate"):
            h = dataclasses.replace(hw, offload=dataclasses.replace(
                hw.offload, link=dataclasses.replace(hw.offload.link, power_scaling=mode)))
            peaks[mode] = AcceleratorPlatform(h).system_peak_w()
        rows.append((r, peaks))
    if not rows:
        return []
    lines = ["", "How the link's power at another PCIe generation moves across its plausible range (the paper's 3 W "
             "per lane is stated for PCIe 3.0): only the PHY's share scales with the lane rate (the default, "
             "technology table `pcie_phy_pj_per_bit`) or all of it does (`power_scaling: rate`, the pessimistic "
             "end). Frame latency does not depend on it; the budget does.", "",
             "| knob | link (W), PHY share scales | system peak (W) | link (W), all scales | system peak (W) |",
             "|---|---|---|---|---|"]
    for r, pk in rows:
        lines.append(f"| {_changes(sp, r, ref_row)} | {pk['phy']['link']:.2f} | {sum(pk['phy'].values()):.1f} | "
                     f"{pk['rate']['link']:.2f} | {sum(pk['rate'].values()):.1f} |")
    return lines


def write_markdown(sp, df, fronts, winners, ref_row, out: Path, wall_s, verify: bool) -> Path:
    objectives = list(sp.objectives)
    ref = json.loads((out / "reference.json").read_text())
    counts = df["status"].value_counts().to_dict()
    neighbours = df[df["stage"] == "reference and one-knob neighbours"] if "stage" in df else df.iloc[:0]
    neighbours = neighbours[neighbours["point_id"] != ref_row["point_id"]]
    sim = df[df["wall_s"] > 0]
    per_level = ", ".join(f"{lv}: {sum(a.level == lv for a in sp.axes)}" for lv in ("chip", "memory", "io", "policy"))
    lines = [f"# Co-design: {sp.name}", "",
             f"{len(df)} distinct designs over {len(sp.axes)} knobs ({per_level}): "
             f"{len(neighbours)} one-knob neighbours of {sp.reference_name} (simulated whatever the budget), then "
             + ", ".join(f"'{st.name}' ({(st.population or sp.optimizer.population)} x "
                         f"{(st.generations or sp.optimizer.generations)} NSGA-II proposals)" for st in sp.stages)
             + f". {len(sim)} designs simulated on {len(sp.scenarios)} scenarios; {counts.get('ok', 0)} meet every "
             f"constraint, {counts.get('infeasible', 0)} break one, "
             f"{sum(v for k, v in counts.items() if k not in ('ok', 'infeasible'))} failed. Simulation "
             f"{float(sim['wall_s'].sum()) / 60:.1f} worker-minutes"
             + (f"; wall time of this invocation {wall_s / 60:.1f} min on the machine's cores." if wall_s else "."), "",
             "Scenarios: " + "; ".join(f"`{s.name}` = {s.label or s.name}" + (f" at {s.fps:g} FPS" if s.fps else "")
                                      for s in sp.scenarios) + ".", "",
             "Constraints (a bound 'reference' is the reference's own figure; designs breaking each):", ""]
    for c in sp.constraints:
        name, op, bound = parse_bound(c, "", "")
        b = ref.get(name) if bound == "reference" else bound
        if name in df and b is not None:
            bad = int(df[name].apply(lambda v, op=op, b=b: pd.notna(v) and not sweep.OPS[op](v, b)).sum())
            lines.append(f"- {metric_label(sp, name, tex=False)} {op} "
                         + (f"the reference ({b:.4g})" if bound == "reference" else f"{b:g}") + f": {bad}")
    lines += ["", f"## {sp.reference_name}", "",
              f"Die {_budget(ref_row, ref_row).split(' (')[0]} (cores {ref_row['core_area_mm2']:.1f} mm^2 + DRAM and "
              f"PCIe PHYs {ref_row['io_phy_area_mm2']:.1f} mm^2; system peak = chip + DRAM "
              f"{ref_row.get('peak_dram_w', math.nan):.1f} W + link {ref_row.get('peak_link_w', math.nan):.1f} W + SSD "
              f"{ref_row.get('peak_offload_device_w', math.nan):.1f} W).", ""]
    lines += scenario_table(sp, [(sp.reference_name, ref_row)], ref_row)
    lines += ["", "![Pareto](pareto.png)", "", "![Parallel coordinates](parallel.png)", "",
              f"## One-knob neighbours of {sp.reference_name}", "",
              "Each knob moved alone; frame latency relative to the reference per scenario (< 1 is faster), the "
              "budget, and whether it stays within it (every constraint).", "",
              "| knob | level | " + " | ".join(s.name for s in sp.scenarios)
              + " | die / chip / system power | within budget |",
              "|" + "---|" * (len(sp.scenarios) + 4)]
    for r in neighbours.sort_values("levels").to_dict("records"):
        rel = [(r.get(f"{s.name}.frame_latency_mean_s", math.nan) / ref_row[f"{s.name}.frame_latency_mean_s"])
               for s in sp.scenarios]
        lines.append(f"| {_changes(sp, r, ref_row)} | {r['levels']} | " + " | ".join(
            "-" if math.isnan(x) else f"{x:.2f}x" for x in rel) + f" | {_budget(r, ref_row)} | "
            f"{'yes' if r['status'] == 'ok' else 'no'} |")
    lines += link_power_range(sp, neighbours, ref_row, out)
    lines += ["", "## Pareto sets per level", "",
              "Designs meeting every constraint and not dominated on the objectives ("
              + ", ".join(metric_label(sp, o, tex=False) for o in objectives) + "), within each scope:", ""]
    for sc in SCOPES:
        f = fronts[sc]
        by = f["class"].value_counts().to_dict() if len(f) else {}
        kinds = ", ".join(f"{v} {k}" for k, v in by.items())
        lines.append(f"- **{sc}**: {len(f)} designs" + (f" ({kinds})" if by else ""))
    lines += ["", "## The best design of each level, on every scenario", "",
              f"Best = the lowest {metric_label(sp, _key(sp), tex=False)} among the designs that meet every constraint "
              "(ties: the smaller die).", ""]
    named = [(sp.reference_name, ref_row)]
    for cls, w in winners.items():
        name = f"best {cls} `{w['point_id'][:8]}`"
        named.append((name, w))
        lines.append(f"- {name}: {_changes(sp, w, ref_row)}; {_budget(w, ref_row)}.")
    lines += [""] + scenario_table(sp, named, ref_row)
    chip = winners.get("chip only")
    lines += ["", "### The chip at the reference's system", ""]
    if chip is None:
        lines.append(f"No chip-only design meets every constraint and differs from {sp.reference_name}.")
    else:
        lines.append(f"The best chip-only design (`{chip['point_id'][:8]}`: {_changes(sp, chip, ref_row)}) at "
                     f"{sp.reference_name}'s DRAM, link, SSD and window: frame latency " + ", ".join(
                         f"{chip[f'{s.name}.frame_latency_mean_s'] / ref_row[f'{s.name}.frame_latency_mean_s']:.2f}x "
                         f"on {s.name}" for s in sp.scenarios) + f" of {sp.reference_name}'s (margin "
                     + ", ".join(f"{100 * (1 - rel):+.0f}%" for rel in
                                 (chip[f"{s.name}.frame_latency_mean_s"] / ref_row[f"{s.name}.frame_latency_mean_s"]
                                  for s in sp.scenarios)) + "), die and power " + _budget(chip, ref_row) + ".")
    show = [w for _, w in named[1:]]
    lines += ["", "### Stall breakdown", "",
              "Share of op time that is compute-, bandwidth- or capacity-bound and busy share of each unit, per "
              "scenario:", "", f"- **{sp.reference_name}**:"]
    lines += [f"  - {s}" for s in _stalls(sp, ref_row)]
    for r in show:
        lines.append(f"- **`{r['point_id'][:8]}`** ({_changes(sp, r, ref_row)}):")
        lines += [f"  - {s}" for s in _stalls(sp, r)]
    if verify:
        lines += ["", "### Re-run from the saved configs", ""]
        for r in [ref_row] + show:
            for s in sp.scenarios:
                again = rerun(out, r["point_id"], s.name)
                keys = [k for k in again if k.split(".", 1)[1] in ("frame_latency_mean_s", "decode_step_s",
                                                                    "energy_per_frame_j")]
                diff = max(abs(again[k] - r[k]) / abs(r[k]) for k in keys if r[k])
                lines.append(f"- `{r['point_id'][:8]}` {s.name}: max relative difference {diff:.1e} "
                             f"(`{simulate_command(out, r['point_id'], s.name)}`)")
    n_front = len(fronts["every level"])
    lines += ["", f"Files: `pareto.parquet` / `pareto.csv` (the Pareto set over every level, {n_front} "
              "designs), `points/` (every design), `configs/<point_id>/` (each simulated design's configs).", ""]
    path = out / "codesign.md"
    path.write_text("\n".join(lines))
    return path


# ---------------------------------------------------------------- shipping a run's results
SHIP_METRICS = ("frame_latency_mean_s", "fps_sustained", "ttft_mean_s", "decode_step_s", "energy_per_frame_j",
                "decode_energy_per_token_j")


def ship(out: str | Path, dest: str | Path) -> Path:
    """Copy a finished study's named designs (the reference and each level's best) to ``dest`` (small, committed):
    their configs (``configs/<point_id>/``, re-runnable from a fresh clone), the spec, ``designs.csv`` (one row per
    design and scenario with the reported figures), the report (its re-run commands pointing into ``dest``) and
    the figures."""
    import shutil

    out, dest = Path(out), Path(dest)
    sp = load_explore_spec(out / "spec.yaml")
    ref = json.loads((out / "reference.json").read_text())
    df = _finalise(sp, sweep.load_results(out), ref)
    df["class"] = [design_class(v) for v in df["levels"]]
    ref_row = df[df["point_id"] == ref["point_id"]].iloc[0].to_dict()
    named = [(sp.reference_name, ref_row)] + [(f"best {c}", w) for c, w in _winners(sp, df, ref_row).items()]
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "configs").mkdir(parents=True)
    shutil.copy(out / "spec.yaml", dest / "spec.yaml")
    shutil.copy(out / "reference.json", dest / "reference.json")
    rows = []
    for name, r in named:
        shutil.copytree(out / "configs" / r["point_id"], dest / "configs" / r["point_id"])
        for s in sp.scenarios:
            rows.append({"design": name, "point_id": r["point_id"], "levels": r["levels"],
                         "changes": _changes(sp, r, ref_row), "scenario": s.name,
                         "area_mm2": r["area_mm2"], "chip_peak_power_w": r["chip_peak_power_w"],
                         "system_peak_power_w": r["system_peak_power_w"],
                         **{m: r.get(f"{s.name}.{m}") for m in SHIP_METRICS}})
    pd.DataFrame(rows).to_csv(dest / "designs.csv", index=False, float_format="%.10g")
    text = (out / "codesign.md").read_text().replace(f"{out}/configs/", f"{dest}/configs/")
    (dest / "codesign.md").write_text(text)
    for f in ("pareto.png", "parallel.png"):
        if (out / f).is_file():
            shutil.copy(out / f, dest / f)
    return dest


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="write a finished co-design study's report, or ship its named designs")
    ap.add_argument("out", help="the study's results directory (vrex explore --out)")
    ap.add_argument("--ship", default=None, help="copy the named designs, table, report and figures here")
    args = ap.parse_args(argv)
    if not (Path(args.out) / "reference.json").is_file():
        raise SystemExit(f"vrex: error: {args.out}: no finished study (reference.json missing); run vrex explore")
    if args.ship:
        print(ship(args.out, args.ship))
    else:
        print(write_codesign_report(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
