"""What moved between two ``make paper`` runs: per figure and metric, how much the plotted values changed.

``python -m analysis.paper.diff OLD_DIR NEW_DIR [--label NAME]`` reads each run's ``results.csv`` (one row per
plotted point: figure, system, method, kv_tokens, batch, metric, value, ...), pairs the points present in both,
and prints one markdown row per (figure, metric): the number of paired points, the median and the largest
relative change (new / old - 1) and the point with the largest change. Points in one run only are counted
apart (a system that runs out of memory in one run and not the other shows up there). Used to say in
``analysis/PAPER.md`` which model change moved which figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KEY = ["mode", "figure", "system", "method", "kv_tokens", "batch", "metric", "layer", "head"]


def load(run: str | Path) -> pd.DataFrame:
    path = Path(run) / "results.csv"
    if not path.is_file():
        raise SystemExit(f"paper_diff: error: {path}: no results.csv (run `vrex paper --out {run}` first)")
    df = pd.read_csv(path)
    if "mode" not in df.columns:  # runs before the paper-fitted mode had one mode
        df.insert(0, "mode", "as-stated")
    missing = [c for c in KEY + ["value"] if c not in df.columns]
    if missing:
        raise SystemExit(f"paper_diff: error: {path}: missing columns {', '.join(missing)}")
    return df


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v)


def compare(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """One row per (figure, metric): paired points, median and largest relative change, points in one run only."""
    def keyed(df: pd.DataFrame) -> pd.DataFrame:
        k = ["|".join(map(str, r)) for r in df[KEY].itertuples(index=False)]
        return df.assign(_k=k).drop_duplicates("_k").set_index("_k")

    a, b = keyed(old), keyed(new)
    both = a.index.intersection(b.index)
    rows = []
    for (fig, metric), grp in a.loc[both].groupby(["figure", "metric"], sort=True):
        v0 = grp["value"].to_numpy(float)
        v1 = b.loc[grp.index, "value"].to_numpy(float)
        ok = np.isfinite(v0) & np.isfinite(v1) & (v0 != 0)
        rel = np.where(ok, v1 / np.where(ok, v0, 1.0) - 1.0, np.nan)
        if ok.any():
            i = int(np.nanargmax(np.abs(rel)))
            g = grp.iloc[i]
            where = f"{g['system']} {g['method']} {_num(g['kv_tokens'])} tokens, batch {_num(g['batch'])}"
            med, big = float(np.nanmedian(np.abs(rel))), float(rel[i])
        else:
            where, med, big = "", float("nan"), float("nan")
        rows.append(dict(figure=fig, metric=metric, points=int(len(grp)), median_abs_change=med,
                         largest_change=big, largest_at=where))
    only_old = a.index.difference(b.index)
    only_new = b.index.difference(a.index)
    out = pd.DataFrame(rows)
    out.attrs["only_old"], out.attrs["only_new"] = len(only_old), len(only_new)
    return out


def markdown(t: pd.DataFrame, label: str = "") -> str:
    lines = [f"**{label}**" if label else "",
             "| figure | metric | points | median abs. change | largest change | at |", "|---|---|---|---|---|---|"]
    for r in t.itertuples():
        lines.append(f"| {r.figure} | {r.metric} | {r.points} | {r.median_abs_change:.1%} | {r.largest_change:+.1%} "
                     f"| {r.largest_at} |")
    lines.append(f"\npoints in the old run only: {t.attrs.get('only_old', 0)}; in the new run only: "
                 f"{t.attrs.get('only_new', 0)}")
    return "\n".join(x for x in lines if x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--label", default="", help="a heading for the table")
    ap.add_argument("--min-change", type=float, default=0.0,
                    help="print only rows whose largest |change| is at least this (a fraction, e.g. 0.01)")
    args = ap.parse_args(argv)
    t = compare(load(args.old), load(args.new))
    if args.min_change > 0:
        attrs = dict(t.attrs)
        t = t[t["largest_change"].abs() >= args.min_change].reset_index(drop=True)
        t.attrs.update(attrs)
    print(markdown(t, args.label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
