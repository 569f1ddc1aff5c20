"""Where V-Rex's speedup comes from (issue 29): the speedup ladder and the capacity maps.

**The ladder.** Per KV size and batch of the paper's grid, five rungs, each changing one configuration key
of the one before (the hardware config, or the workload's ``kv_policy``):

0. the GPU + FlexGen as the paper runs it: every token's K/V in the offload tier (``cache_gpu_percent: 0``);
1. the GPU + FlexGen at its best placement: the share of the batch's KV that FlexGen's cost model would keep
   on the GPU under the device's memory (:func:`best_placement`);
2. the GPU + ReSV in software, with V-Rex's own ReSV parameters (the same recent-KV window);
3. V-Rex with the prediction unit only (the KVPU: no KVMU cluster-contiguous layout, no prefetch);
4. V-Rex complete.

**The capacity map.** V-Rex's frame and TPOT speedup over the GPU at its best placement across KV size x
batch, for V-Rex8 against the Orin 32 GB and V-Rex48 against the A100 80 GB; a cell that cannot run is marked.

Every rung and map cell saves the configs it ran (``OUT/configs/<mode>/...``): ``vrex simulate --hw H
--workload W --baseline G --baseline-workload GW`` re-runs a pair of them (``commands.txt`` beside them).
``mode`` labels the configs the run used (``as-stated``: our documented choices; another mode passes its own
:class:`~analysis.paper.evaluation.Points`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from analysis.studies.fit import overlay_hardware_yaml
from simulator.config.schema import load_yaml
from simulator.kvpolicy.flexgen import gpu_sequences
from simulator.pipeline import resolve
from simulator.stream import StreamTracer

# (GPU config, V-Rex config, V-Rex system id) per platform class
LADDER_PLATFORMS = {"edge": ("orin-agx-32gb", "vrex8-edge", "vrex8"),
                    "server": ("a100-80gb", "vrex48-server", "vrex48")}
# the capacity map's grid: coarse, to keep `make paper` fast (1K-100K tokens, batch 1-16)
MAP_KV_SIZES = (1_000, 10_000, 40_000, 100_000)
MAP_BATCHES = (1, 4, 16)
# FlexGen's cost model relaxes each memory constraint by alpha (GPU: alpha_g = 0.8, "a smaller ratio cause a
# conservative policy"): FMInference/FlexLLMGen@004ffef82b46e8dc8685c55d0cdda650bdaf1269,
# experimental/cost_model.py line 43 (alpha_g = 0.8) and line 96 (gmem = config.gmem * alpha_g)
FLEXGEN_ALPHA_G = 0.8
RUNG_LABELS = ("GPU + FlexGen (paper: all KV offloaded)", "GPU + FlexGen, best placement", "GPU + ReSV in software",
               "V-Rex, prediction unit only", "V-Rex complete")


@dataclass(frozen=True)
class Placement:
    """FlexGen's KV placement chosen for one (GPU, KV size, batch): ``cache_gpu_percent`` and its estimate."""

    cache_gpu_percent: float
    gpu_sequences: int
    gpu_bytes_needed: float  # weights + GPU-resident KV + working buffers at that placement (bytes)
    gpu_bytes_allowed: float  # alpha_g x device memory (bytes)
    est_layer_s: float  # FlexGen-style estimate of one frame's layer time at that placement (s)


def _kv_bytes_per_token_layer(meta: dict) -> float:
    """K and V of one token of one sequence in one layer (bytes)."""
    return 2 * meta["kv_heads"] * meta["head_dim"] * meta["kv_bits_stored"] / 8


def _tokens_per_sequence(meta: dict) -> int:
    """Tokens a sequence's cache holds at the end of the stream (pre-computed cache, frames, questions, answers)."""
    q = sum(x["prompt_tokens"] + x["answer_tokens"] for x in meta["questions"])
    return int(meta["kv_prefill_tokens"] + meta["frames"] * meta["tokens_per_frame"] + q)


def best_placement(hw, wl) -> Placement:
    """The KV placement FlexGen's cost model would choose for ``wl`` (FlexGen's workload at a KV size and batch)
    on the GPU ``hw``, following FlexLLMGen's experimental/cost_model.py (commit in ``FLEXGEN_ALPHA_G``'s comment):

    - the candidates are the placements its mixed cache can realise: whole sequences on the GPU (``flexgen.py``);
    - a candidate is feasible when the GPU's peak memory fits ``alpha_g`` x its capacity (line 323,
      ``gpu_home_g + gpu_w_g <= gmem``): the weights (kept on the GPU, ``wg = 1``), the GPU-resident KV of every
      layer (``gpu_home_g``, line 312: 4 (s + n) h1 bls l cg, with h1 the KV width here as the model uses
      grouped-query attention) and the working copy of one layer's GPU-resident cache (``gpu_w_g``, line 320:
      2 x 2 gbs (s + n) h1 cg; the activations' working set is a few MB here and left out);
    - its time per layer is FlexGen's max(compute, I/O) (lines 224-226: ``Tgen >= dtocg + ctogg``, ``>= compg``): the
      offloaded sequences' cache crossing the offload link at its bandwidth, against the compute of a frame's
      layer at the tensor peak times the stack's GEMM efficiency (what the GPU model calibrates);
    - the fastest feasible candidate is chosen; among equal times, the one with more KV on the GPU.
    """
    meta = StreamTracer(wl, mode="meta").meta_preview()
    b, layers = wl.batch, meta["llm_layers"]
    seq_layer = _tokens_per_sequence(meta) * _kv_bytes_per_token_layer(meta)  # one sequence, one layer (bytes)
    weights = meta["weight_bytes_llm"] + meta["weight_bytes_vision"]
    allowed = FLEXGEN_ALPHA_G * hw.dram.capacity_gib * 2**30
    link = _flexgen_link(hw)
    peak = max(hw.tensor_tflops.get(p, 0.0) for p in ("fp16", "bf16")) * 1e12
    gemm = hw.stack.at(meta["precision"]["weights"]).gemm
    # a frame's layer: its tokens through the layer's weights (2 FLOP per weight and token), whole tiles
    tile = hw.stack.at(meta["precision"]["weights"]).gemm_tile_rows
    rows = math.ceil(meta["tokens_per_frame"] * b / tile) * tile
    compute_s = 2 * meta["weight_bytes_llm"] / (meta["precision_bits"]["weight"] / 8) / layers * rows / (peak * gemm)
    best = None
    for g in range(b, -1, -1):  # more sequences on the GPU first: ties keep the earlier
        # gpu_home_g + gpu_w_g: weights, the GPU sequences' KV in every layer, and their working copy of one layer
        need = weights + g * seq_layer * layers + g * seq_layer
        if need > allowed:
            continue
        io_s = float(link.transfer_s((b - g) * seq_layer, runs=b - g, copies=link.copy_calls(b - g))) if g < b else 0.0
        est = max(compute_s, io_s)
        if best is None or est < best.est_layer_s:
            best = Placement(100.0 * g / b, g, need, allowed, est)
    if best is None:  # not even the weights fit: FlexGen would offload them (not modelled), report all-offloaded
        best = Placement(0.0, 0, weights, allowed, float("nan"))
    assert gpu_sequences(b, best.cache_gpu_percent) == best.gpu_sequences
    return best


def _flexgen_link(hw):
    """The GPU's offload tier as FlexGen's code moves KV over it (the engine's link and device model, calibrated
    by ``make calibrate``; FlexGen fits its own bandwidths the same way, cost_model.py's CostModelConfig note)."""
    from simulator.engine.memory.offload import OffloadTier
    from simulator.kvpolicy.flexgen import FlexgenPolicy

    return OffloadTier(hw.offload).with_transfer(FlexgenPolicy().transfer())


@dataclass(frozen=True)
class Rung:
    """One rung: which hardware (config file and changes) runs which KV policy (name and parameters)."""

    index: int
    label: str
    system: str  # the system id in results.csv
    hw_name: str  # hwconfigs/<hw_name>.yaml
    method: str  # the KV policy
    params: dict = field(default_factory=dict)  # the policy parameters set on the base workload's
    hw_changes: dict = field(default_factory=dict)  # fields of the hardware config changed (``Points.hardware``)
    tag: str = ""  # the method column in results.csv (e.g. "flexgen-best")

    def config(self, P) -> dict:
        """The rung's configuration keys: the hardware config and the workload's ``kv_policy`` (the rest of the
        workload is the same on every rung)."""
        return {"hardware": dataclasses.asdict(P.hardware(self.hw_name, **self.hw_changes)),
                "kv_policy": dataclasses.asdict(P.workload(self.method, 0, 1, self.params).kv_policy)}


def kvpu_only(P, hw_name: str) -> dict:
    """Config changes of "V-Rex with the prediction unit only": no KVMU cluster-contiguous layout, no prefetch."""
    dre = P.hardware(hw_name).dre
    return {"dre": dataclasses.replace(dre, kvmu=False, prefetch=False)}


def rungs(P, platform: str, kv: int, batch: int) -> list[Rung]:
    gpu, vrex_hw, vrex_id = LADDER_PLATFORMS[platform]
    place = best_placement(P.hardware(gpu), P.workload("flexgen", kv, batch))
    # the paper's setting is the policy's default (cache_gpu_percent 0): the same point as Fig. 13's
    return [Rung(0, RUNG_LABELS[0], gpu, gpu, "flexgen", tag="flexgen"),
            Rung(1, RUNG_LABELS[1], gpu, gpu, "flexgen", {"cache_gpu_percent": place.cache_gpu_percent},
                 tag="flexgen-best"),
            Rung(2, RUNG_LABELS[2], gpu, gpu, "resv", tag="resv"),
            Rung(3, RUNG_LABELS[3], f"{vrex_id}-kvpu", vrex_hw, "resv", hw_changes=kvpu_only(P, vrex_hw), tag="resv"),
            Rung(4, RUNG_LABELS[4], vrex_id, vrex_hw, "resv", tag="resv")]


def _point(P, r: Rung, kv: int, batch: int) -> dict:
    return P.get(r.system, r.method, kv, batch, hw_name=r.hw_name, params=r.params, **r.hw_changes)


def point_requests(P, cfg) -> list[tuple]:
    """Every point the ladder and the maps read, in ``evaluation.compute_points``' request form (system, method,
    KV size, batch, config, policy params, hardware changes), so each trace is made once for every study that
    reads it (ReSV's trace at a KV size and batch serves both platforms' V-Rex rungs and the GPU's ReSV rung)."""
    need = []
    for platform in LADDER_PLATFORMS:
        batches = cfg.edge_batches if platform == "edge" else cfg.server_batches
        ladder_cells = {(kv, b) for b in batches for kv in cfg.kv_sizes}
        map_cells = {(kv, b) for b in cfg.map_batches for kv in cfg.map_kv_sizes}
        for kv, b in sorted(ladder_cells | map_cells):
            rs = rungs(P, platform, kv, b)
            need += [(r.system, r.method, kv, b, r.hw_name, r.params, r.hw_changes)
                     for r in (rs if (kv, b) in ladder_cells else (rs[1], rs[4]))]
    return need


def _ms(p: dict, key: str) -> float:
    return 1e3 * p[key] if p["status"] == "ok" else float("nan")


def _div(a: float, b: float) -> float:
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else float("nan")


def _row(mode: str, figure: str, system: str, method: str, kv: int, batch: int, metric: str, value, unit: str
         ) -> dict:
    """One results.csv row of the ladder or the maps (``mode``: the configs' mode)."""
    return {"mode": mode, "figure": figure, "system": system, "method": method, "kv_tokens": kv, "batch": batch,
            "metric": metric, "value": value, "unit": unit, "layer": None, "head": None}


def ladder(P, cfg, out: Path, mode: str = "as-stated") -> tuple[list[dict], pd.DataFrame]:
    """The ladder's rows (figure ``ladder``) and table, per platform, batch and KV size of the paper's grid."""
    rows, table = [], []
    for platform in LADDER_PLATFORMS:
        batches = cfg.edge_batches if platform == "edge" else cfg.server_batches
        for batch in batches:
            for kv in cfg.kv_sizes:
                rs = rungs(P, platform, kv, batch)
                pts = [_point(P, r, kv, batch) for r in rs]
                save_configs(P, out / "configs" / mode / "ladder" / platform / f"kv{kv}-b{batch}", rs, kv, batch)
                ref = pts[0]
                prev = None
                for r, p in zip(rs, pts):
                    if p["status"] != "ok":
                        rows.append(_row(mode, "ladder", r.system, r.tag, kv, batch, "frame_latency_ms", None, "oom"))
                        prev = p
                        continue
                    vals = {"frame_latency_ms": (_ms(p, "frame_latency_s"), "ms"), "tpot_ms": (_ms(p, "tpot_s"), "ms"),
                            "speedup_vs_flexgen": (_div(_ms(ref, "frame_latency_s"), _ms(p, "frame_latency_s")), "x"),
                            "tpot_speedup_vs_flexgen": (_div(_ms(ref, "tpot_s"), _ms(p, "tpot_s")), "x")}
                    if prev is not None and prev["status"] == "ok":
                        vals["step_speedup"] = (_div(_ms(prev, "frame_latency_s"), _ms(p, "frame_latency_s")), "x")
                        vals["tpot_step_speedup"] = (_div(_ms(prev, "tpot_s"), _ms(p, "tpot_s")), "x")
                    if r.method == "flexgen":
                        vals["kv_gpu_percent"] = (r.params.get("cache_gpu_percent", 0.0), "%")
                    rows += [_row(mode, "ladder", r.system, r.tag, kv, batch, m, v, u)
                             for m, (v, u) in vals.items()]
                    table.append({"mode": mode, "platform": platform, "batch": batch, "kv_tokens": kv, "rung": r.index,
                                  "step": r.label, "system": r.system, "method": r.tag,
                                  "kv_gpu_percent": r.params.get("cache_gpu_percent", 0.0) if r.method == "flexgen"
                                  else float("nan"),
                                  "frame_ms": vals["frame_latency_ms"][0], "tpot_ms": vals["tpot_ms"][0],
                                  "frame_x_vs_paper_flexgen": vals["speedup_vs_flexgen"][0],
                                  "frame_step_x": vals.get("step_speedup", (float("nan"),))[0],
                                  "tpot_x_vs_paper_flexgen": vals["tpot_speedup_vs_flexgen"][0],
                                  "tpot_step_x": vals.get("tpot_step_speedup", (float("nan"),))[0]})
                    prev = p
    return rows, pd.DataFrame(table)


def capacity_map(P, cfg, out: Path, mode: str = "as-stated") -> tuple[list[dict], pd.DataFrame]:
    """V-Rex's frame and TPOT speedup over the GPU at FlexGen's best placement, per KV size x batch (figure
    ``capacity_map``); a cell where either side cannot run is an ``oom`` row."""
    rows, table = [], []
    for platform in LADDER_PLATFORMS:
        for batch in cfg.map_batches:
            for kv in cfg.map_kv_sizes:
                rs = rungs(P, platform, kv, batch)
                gpu_r, vrex_r = rs[1], rs[4]
                g, v = _point(P, gpu_r, kv, batch), _point(P, vrex_r, kv, batch)
                save_configs(P, out / "configs" / mode / "map" / platform / f"kv{kv}-b{batch}", [gpu_r, vrex_r], kv,
                             batch)
                ok = g["status"] == "ok" and v["status"] == "ok"
                rec = {"mode": mode, "platform": platform, "batch": batch, "kv_tokens": kv, "vrex": vrex_r.system,
                       "gpu": gpu_r.system, "kv_gpu_percent": gpu_r.params["cache_gpu_percent"],
                       "gpu_status": g["status"], "vrex_status": v["status"],
                       "gpu_frame_ms": _ms(g, "frame_latency_s"), "vrex_frame_ms": _ms(v, "frame_latency_s"),
                       "gpu_tpot_ms": _ms(g, "tpot_s"), "vrex_tpot_ms": _ms(v, "tpot_s")}
                rec["frame_speedup"] = _div(rec["gpu_frame_ms"], rec["vrex_frame_ms"]) if ok else float("nan")
                rec["tpot_speedup"] = _div(rec["gpu_tpot_ms"], rec["vrex_tpot_ms"]) if ok else float("nan")
                table.append(rec)
                if not ok:
                    rows.append(_row(mode, "capacity_map", vrex_r.system, "resv", kv, batch,
                                     "frame_speedup_vs_best_gpu", None, "oom"))
                    continue
                rows += [_row(mode, "capacity_map", vrex_r.system, "resv", kv, batch, m, rec[k], "x")
                         for m, k in (("frame_speedup_vs_best_gpu", "frame_speedup"),
                                      ("tpot_speedup_vs_best_gpu", "tpot_speedup"))]
                rows.append(_row(mode, "capacity_map", gpu_r.system, "flexgen-best", kv, batch, "kv_gpu_percent",
                                    rec["kv_gpu_percent"], "%"))
    return rows, pd.DataFrame(table)


# ---- the configs each point ran, saved for plain `vrex simulate` ----

def _plain(value):
    """A config value as YAML data (dataclasses as mappings, tuples as lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def hardware_yaml(P, r: Rung) -> dict:
    """The rung's hardware config as YAML data (the config file with the rung's changes)."""
    raw = load_yaml(resolve(f"hwconfigs/{r.hw_name}.yaml"))
    if P.overlay is not None:  # the paper-fitted mode's values
        raw = overlay_hardware_yaml(raw, P.overlay)
    for key, value in r.hw_changes.items():
        raw[key] = _plain(value)
    return raw


def workload_yaml(P, r: Rung, kv: int, batch: int, where: Path) -> dict:
    """The rung's workload as YAML data: the paper run's base workload (its stream, possibly shortened) with the
    rung's KV policy, KV size and batch; the model file named relative to ``where``."""
    wl = P.workload(r.method, kv, batch, r.params)
    raw = load_yaml(P.base_path)
    model = (P.base_path.parent / raw["model"]).resolve()
    raw.update({"name": f"{raw['name']}-{r.tag}-kv{kv}-b{batch}", "model": os.path.relpath(model, where),
                "stream": _plain(wl.stream), "kv_prefill_tokens": kv, "batch": batch,
                "kv_policy": {"name": wl.kv_policy.name, "params": dict(wl.kv_policy.params)}})
    return raw


def save_configs(P, where: Path, rs: list[Rung], kv: int, batch: int) -> None:
    """Write each rung's hardware and workload YAML into ``where`` and the ``vrex simulate`` lines pairing each
    GPU rung with the last V-Rex rung (a GPU runs as ``--baseline``, V-Rex as ``--hw``)."""
    where.mkdir(parents=True, exist_ok=True)
    names = {}
    for r in rs:
        stem = f"rung{r.index}-{r.system}-{r.tag}"
        hw_path, wl_path = where / f"{stem}.hw.yaml", where / f"{stem}.workload.yaml"
        head = f"# {r.label} (analysis/paper/ladder.py; KV {kv} tokens, batch {batch})\n"
        hw_path.write_text(head + yaml.safe_dump(hardware_yaml(P, r), sort_keys=False))
        wl_path.write_text(head + yaml.safe_dump(workload_yaml(P, r, kv, batch, where), sort_keys=False))
        names[r.index] = (r, hw_path.name, wl_path.name)
    gpus = [n for n in names.values() if P.hardware(n[0].hw_name).kind == "gpu"]
    vrex = [n for n in names.values() if n not in gpus]
    top = vrex[-1]
    lines = [f"# run in {where}; the report prints both sides' frame latency and time per output token"]
    for r, hw, wl in gpus:
        lines.append(f"vrex simulate --hw {top[1]} --workload {top[2]} --baseline {hw} --baseline-workload {wl}"
                     f"  # {r.label}")
    for r, hw, wl in vrex[:-1]:
        ref = gpus[0]
        lines.append(f"vrex simulate --hw {hw} --workload {wl} --baseline {ref[1]} --baseline-workload {ref[2]}"
                     f"  # {r.label}")
    (where / "commands.txt").write_text("\n".join(lines) + "\n")


def headline(results_csv: str | Path, kv: int = 40_000, mode: str = "as-stated") -> str:
    """The ladder's and the capacity maps' cells at ``kv`` tokens of one mode from a paper run's ``results.csv``
    (Markdown)."""
    df = pd.read_csv(results_csv)
    df = df[df["mode"] == mode]
    lines = ["| figure | system | method | batch | frame ms | frame x | step x | TPOT ms | TPOT x | KV on GPU % |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lad = df[(df["figure"] == "ladder") & (df["kv_tokens"] == kv)]
    for (system, method, batch), g in lad.groupby(["system", "method", "batch"], sort=False):
        v = g.set_index("metric")["value"]
        lines.append(f"| ladder | {system} | {method} | {int(batch)} | {v.get('frame_latency_ms', float('nan')):.4g} | "
                     f"{v.get('speedup_vs_flexgen', float('nan')):.3g} | {v.get('step_speedup', float('nan')):.3g} | "
                     f"{v.get('tpot_ms', float('nan')):.4g} | {v.get('tpot_speedup_vs_flexgen', float('nan')):.3g} | "
                     f"{v.get('kv_gpu_percent', float('nan')):.3g} |")
    cap = df[(df["figure"] == "capacity_map") & (df["kv_tokens"] == kv)]
    for gpu, _, vrex in LADDER_PLATFORMS.values():
        for batch, g in cap.groupby("batch"):
            v = g[g["system"] == vrex].set_index("metric")["value"]
            pct = g.loc[g["system"] == gpu, "value"]
            if len(v):
                lines.append(f"| capacity map | {vrex} vs {gpu} at best placement | resv | {int(batch)} | | "
                             f"{v.get('frame_speedup_vs_best_gpu', float('nan')):.3g} | | | "
                             f"{v.get('tpot_speedup_vs_best_gpu', float('nan')):.3g} | "
                             f"{pct.iloc[0] if len(pct) else float('nan'):.3g} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="print the ladder's and capacity maps' cells of a paper run")
    ap.add_argument("run", nargs="?", default="results/paper", help="a `make paper` output directory")
    ap.add_argument("--kv", type=int, default=40_000)
    ap.add_argument("--mode", choices=("as-stated", "paper-fitted"), default="as-stated")
    args = ap.parse_args(argv)
    print(headline(Path(args.run) / "results.csv", args.kv, args.mode))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
