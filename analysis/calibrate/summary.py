"""The held-out error of every calibrated component in one table (the last step of ``make calibrate``).

Each calibration (``power``, ``gpu_stacks``, ``links``; recorded as ``calibrate_power``, ``calibrate_orin``,
``calibrate_links``) records, when it runs, one line per
component it fits: points fitted and held out and their median absolute errors (:func:`record`, into
``results/calibrate/<calibration>-medians.json``). ``python -m analysis.calibrate.summary`` prints them together
against the held-out target (issue 25: a median of at most 10% per component); a component with no held-out
point is listed as such, never as a pass. The tables with every point, their sources and what the misses are
stay with each calibration (docs/validation.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

OUT = Path("results/calibrate")
TARGET = 0.10  # held-out median |error| per component (issue 25)
ORDER = ("calibrate_power", "calibrate_orin", "calibrate_links")  # the order make calibrate runs them


def component(name: str, fit_points: int, fit_median: float, held_points: int, held_median: float) -> dict:
    """One component's line (medians as fractions; NaN where there are no points)."""
    return {"component": name, "fit_points": int(fit_points), "fit_median": float(fit_median),
            "held_points": int(held_points), "held_median": float(held_median)}


def record(calibration: str, components: list[dict], out: Path = OUT) -> Path:
    """Write ``calibration``'s component lines (see :func:`component`) for the summary."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{calibration}-medians.json"
    path.write_text(json.dumps({"calibration": calibration, "components": components}, indent=1))
    return path


def load(out: Path = OUT) -> list[dict]:
    """Every recorded component line, calibrations in ``ORDER`` (others after, by name)."""
    files = sorted(out.glob("*-medians.json"),
                   key=lambda p: (ORDER.index(p.stem[:-8]) if p.stem[:-8] in ORDER else len(ORDER), p.name))
    rows = []
    for f in files:
        try:
            data = json.loads(f.read_text())
            rows += [dict(r, calibration=data["calibration"]) for r in data["components"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"calibrate_summary: error: {f}: not a medians record ({exc})") from None
    return rows


def verdict(held_points: int, held_median: float, target: float = TARGET) -> str:
    if held_points == 0 or math.isnan(held_median):
        return "no held-out points"
    return "yes" if held_median <= target else "no"


def markdown(rows: list[dict], target: float = TARGET) -> str:
    def pct(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.1%}"

    lines = [f"| component | fitted points | fitted median | held-out points | held-out median | <= {target:.0%}? |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['component']} | {r['fit_points']} | {pct(r['fit_median'])} | {r['held_points']} | "
                     f"{pct(r['held_median'])} | {verdict(r['held_points'], r['held_median'], target)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(OUT), help="where the calibrations recorded their medians")
    args = ap.parse_args(argv)
    rows = load(Path(args.dir))
    if not rows:
        print(f"calibrate_summary: error: {args.dir}: no medians recorded (run make calibrate)", file=sys.stderr)
        return 2
    print("held-out error per calibrated component (target: median <= 10%; misses explained in docs/validation.md):")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
