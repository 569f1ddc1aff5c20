"""Reproduce the V-Rex paper's headline results in one command (``make paper`` / ``vrex paper``).

Runs both streaming models the paper evaluates (LLaVA-OneVision-7B, VideoLLM-online-8B) on COIN-like
streams under the KV policies full / ReKV / ReSV, on the V-Rex-like accelerator and the AGX-Orin-like
baseline, then an ablation of the accelerator (KVPU only, no DRE, no early exit). Writes
``OUT/paper.md`` (tables: ours beside the paper's claims with the ratio ours/paper), the saved runs
and the figures. Every figure is computed by the simulator; the paper's numbers are only quoted.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from simulator.config.hardware import load_hardware
from simulator.config.workload import KvPolicyConfig, load_workload
from simulator.pipeline import resolve, run
from simulator.stream import trace_workload

# The paper's claims (arXiv 2512.12284, abstract; shared/reference/vrex.md).
PAPER = {"fps": (3.9, 8.3), "speedup": (1.9, 19.7), "energy_eff": (3.1, 18.5), "dre_area_pct": 2.0,
         "dre_power_pct": 2.2}
MODELS = {"llava-ov-7b": "workloads/coin-llava-ov-7b", "videollm-online-8b": "workloads/coin-videollm-online-8b"}
POLICIES = {"full": "", "rekv": "-rekv", "resv": "-resv"}


def _row(model: str, pol: str, rep: dict) -> dict:
    """One table row from a saved run's report.json."""
    a, b = rep["accelerator"], rep["baseline"]
    comp = {c["phase"]: c for c in rep["comparison"]}
    return {"model": model, "policy": pol, "accel_fps": a["fps_sustained"], "base_fps": b["fps_sustained"],
            "accel_s": a["total_time_s"], "base_s": b["total_time_s"],
            "accel_j": a["energy_total_j"], "base_j": b["energy_total_j"],
            "accel_ttft_s": a["ttft_mean_s"], "base_ttft_s": b["ttft_mean_s"],
            "speedup_same_policy": comp["stream"]["speedup"], "energy_eff_same_policy": comp["stream"]["energy_eff"],
            "dre_area_pct": 100 * rep.get("chip", {}).get("dre_area_share", 0.0),
            "dre_power_pct": 100 * rep.get("chip", {}).get("dre_power_share", 0.0)}


def _runs(out: Path, hw, base, progress: bool) -> pd.DataFrame:
    """Every (model, policy) run; a run already saved under OUT/runs is reused (resume after a stop)."""
    from analysis.artefacts import save_run

    rows = []
    for model, stem in MODELS.items():
        for pol, suffix in POLICIES.items():
            d = out / "runs" / f"{model}-{pol}"
            if not (d / "report.json").is_file():
                wl = load_workload(resolve(f"{stem}{suffix}.yaml"))
                save_run(run(hw=hw, baseline=base, trace=trace_workload(wl, progress=progress)), d)
            rows.append(_row(model, pol, json.loads((d / "report.json").read_text())))
    return pd.DataFrame(rows)


def _ablation(hw, progress: bool) -> pd.DataFrame:
    """V-Rex variants on the ReSV workloads; only the accelerator is simulated (the baseline is unchanged)."""
    from simulator.engine.accelerator import simulate_accelerator
    from simulator.results.metrics import stream_metrics

    def dre(**changes):
        return dataclasses.replace(hw, dre=dataclasses.replace(hw.dre, **changes))

    variants = {
        "V-Rex (ReSV + DRE)": (hw, None),
        "KVPU only (no KVMU layout or prefetch)": (dre(kvmu=False, prefetch=False), None),
        "no DRE (clustering and WiCSum on the VPE)": (dre(enabled=False), None),
        "no early exit": (dre(early_exit=False), None),
    }
    rows = []
    for model, stem in MODELS.items():
        wl0 = load_workload(resolve(f"{stem}-resv.yaml"))
        traces = {}
        for name, (h, override) in variants.items():
            key = json.dumps(override, sort_keys=True)
            if key not in traces:
                wl = wl0 if override is None else wl0.replace(kv_policy=KvPolicyConfig(
                    name="resv", params={**wl0.kv_policy.params, **override}))
                traces[key] = trace_workload(wl, progress=progress)
            tr = traces[key]
            a, _ = stream_metrics(simulate_accelerator(tr, h), tr.meta["fps"])
            rows.append({"model": model, "variant": name, "fps": a.fps_sustained, "energy_j": a.energy_total_j,
                         "frame_energy_j": a.energy_per_frame_j})
    df = pd.DataFrame(rows)
    ref = df[df["variant"] == "V-Rex (ReSV + DRE)"].set_index("model")
    df["fps_vs_vrex"] = df.apply(lambda r: r["fps"] / ref.loc[r["model"], "fps"], axis=1)
    df["energy_vs_vrex"] = df.apply(lambda r: r["energy_j"] / ref.loc[r["model"], "energy_j"], axis=1)
    return df


def _range(vals) -> tuple[float, float]:
    return float(min(vals)), float(max(vals))


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Our figures beside the paper's: V-Rex (ReSV) against the Orin baseline running each policy."""
    resv = runs[runs["policy"] == "resv"].set_index("model")
    sp, ee = [], []
    for _, r in runs.iterrows():
        acc = resv.loc[r["model"]]
        sp.append(r["base_s"] / acc["accel_s"])
        ee.append(r["base_j"] / acc["accel_j"])
    ours = {"fps": _range(resv["accel_fps"]), "speedup": _range(sp), "energy_eff": _range(ee),
            "dre_area_pct": float(resv["dre_area_pct"].mean()), "dre_power_pct": float(resv["dre_power_pct"].mean())}
    rows = []
    for key, label in (("fps", "real-time FPS (V-Rex, ReSV)"), ("speedup", "speedup over Orin"),
                       ("energy_eff", "energy efficiency over Orin"), ("dre_area_pct", "DRE share of area [%]"),
                       ("dre_power_pct", "DRE share of power [%]")):
        o, p = ours[key], PAPER[key]
        if isinstance(p, tuple):
            rows.append({"metric": label, "ours": f"{o[0]:.3g}-{o[1]:.3g}", "paper": f"{p[0]}-{p[1]}",
                         "ours/paper": f"{o[0] / p[0]:.2f}-{o[1] / p[1]:.2f}"})
        else:
            rows.append({"metric": label, "ours": f"{o:.3g}", "paper": f"{p}", "ours/paper": f"{o / p:.2f}"})
    return pd.DataFrame(rows)


def _md_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(format(r[c], floatfmt) if isinstance(r[c], float) else str(r[c])
                                       for c in cols) + " |")
    return "\n".join(lines)


def run_paper(out: str | Path = "results/paper", progress: bool = False) -> Path:
    from analysis.plots import _load_run, headline, kv_over_time

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hw = load_hardware(resolve("hwconfigs/vrex8-edge.yaml"))
    base = load_hardware(resolve("hwconfigs/orin-agx.yaml"))
    runs = _runs(out, hw, base, progress)
    runs.to_parquet(out / "runs.parquet", index=False)
    summary = summarise(runs)
    abl = _ablation(hw, progress)
    abl.to_parquet(out / "ablation.parquet", index=False)
    saved = [_load_run(d) for d in sorted((out / "runs").iterdir())]
    figs = headline(saved, out / "figures") + kv_over_time(saved, out / "figures")
    md = ["# V-Rex headline results: ours beside the paper's", "",
          "Produced by `make paper` (analysis/paper.py). Accelerator `hwconfigs/vrex8-edge.yaml`, baseline "
          "`hwconfigs/orin-agx.yaml`; COIN-like 2-minute streams at 2 FPS with two questions. Speedup and energy "
          "efficiency compare V-Rex running ReSV with the Orin baseline running each policy (full, ReKV, ReSV), "
          "over the whole stream. Assumptions and differences: analysis/PAPER.md.", "",
          _md_table(summary), "", "## Every run", "",
          _md_table(runs), "", "## Ablation (V-Rex, ReSV workloads)", "", _md_table(abl), "", "## Figures", ""]
    md += [f"![{p.stem}](figures/{p.name})" for p in figs if p.suffix == ".png"]
    path = out / "paper.md"
    path.write_text("\n".join(md) + "\n")
    return path


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/paper")
    args = ap.parse_args(argv)
    path = run_paper(args.out)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
