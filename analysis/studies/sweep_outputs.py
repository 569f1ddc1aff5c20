"""What a sweep leaves beside its Parquet points: tables people open (``points.csv``, ``points.md``,
``pareto.csv``) and line plots of each objective against each axis, one line per value of a second axis
(``lines/<objective>_vs_<axis>.png``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.report.figures import label, plt, save_figure, scale

MAX_LINES = 8  # a second axis with more values than this is not drawn as separate lines (median over it)


def axis_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("axis:")]


def summary_columns(df: pd.DataFrame, objectives: list[str]) -> list[str]:
    """The columns of the sweep's table: axes, status, objectives, speedup and the baseline it is against."""
    cols = ["point_id", *axis_columns(df), "status", *objectives, "speedup", "energy_eff", "baseline_policy",
            "baseline_workload", "error"]
    seen: list[str] = []
    for c in cols:
        if c in df and c not in seen:
            seen.append(c)
    return seen


def _md(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")[:120]

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_tables(out: Path, df: pd.DataFrame, front: pd.DataFrame, objectives: list[str]) -> list[Path]:
    """``points.csv`` (every column), ``points.md`` (the summary columns), ``pareto.csv``."""
    from simulator.safe_io import atomic_write

    cols = summary_columns(df, objectives)
    order = axis_columns(df) or ["point_id"]
    table = df.sort_values(order, kind="stable").reset_index(drop=True)
    paths = [atomic_write(out / "points.csv", lambda tmp: table.to_csv(tmp, index=False)),
             atomic_write(out / "points.md", lambda tmp: tmp.write_text(_md(table[cols]))),
             atomic_write(out / "pareto.csv", lambda tmp: front.to_csv(tmp, index=False))]
    return [Path(p) for p in paths]


def plot_lines(out: Path, df: pd.DataFrame, objectives: list[str]) -> list[Path]:
    """Each objective (and speedup) against each numeric axis; one line per value of another axis (the one with
    the fewest values, at most MAX_LINES), the median over the remaining axes."""
    ok = df[df.get("status", pd.Series(dtype=str)) == "ok"]
    axes = [a for a in axis_columns(ok) if pd.api.types.is_numeric_dtype(ok[a]) and ok[a].nunique() > 1]
    paths: list[Path] = []
    metrics = [m for m in [*objectives, "speedup"] if m in ok and pd.api.types.is_numeric_dtype(ok[m])]
    for ax_col in axes:
        others = sorted((a for a in axis_columns(ok) if a != ax_col and 1 < ok[a].nunique() <= MAX_LINES),
                        key=lambda a: ok[a].nunique())
        by = others[0] if others else None
        for m in dict.fromkeys(metrics):
            fig, ax = plt.subplots(figsize=(6, 4))
            groups = ok.groupby(by) if by else [(None, ok)]
            for val, g in groups:
                line = g.groupby(ax_col)[m].median().sort_index()
                ax.plot(line.index, line.to_numpy() * scale(m), "o-", ms=4,
                        label=f"{by.removeprefix('axis:')} = {val}" if by else None)
            ax.set_xlabel(ax_col.removeprefix("axis:"))
            ax.set_ylabel(label(m) if m != "speedup" else "speedup over the baseline (x)")
            ax.set_title(f"{label(m, tex=False) if m != 'speedup' else 'speedup'} vs {ax_col.removeprefix('axis:')}"
                         + (" (median over other axes)" if len(axis_columns(ok)) > (2 if by else 1) else ""),
                         fontsize=9)
            if by:
                ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
            name = f"{m}_vs_{ax_col.removeprefix('axis:')}".replace(".", "_")
            paths += save_figure(fig, out / "lines", name)
    return paths
