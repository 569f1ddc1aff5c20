"""The V-Rex paper's evaluation, figure by figure (``make paper`` / ``vrex paper``).

Workload (V-Rex, arXiv 2512.12284): VideoLLM-online-8B on the average COIN case (26 frames, a 25-token question,
39 answer tokens) after a pre-computed KV cache of 1K-40K tokens; batch 1/4 on the edge, 1/8 on the
server, 16 for the Oaken comparison, 4 for the roofline. One trace per (KV method, KV size, batch) is
shared by every platform that runs it. Each point's figures are saved as soon as it is done, in the
studies' point store (``analysis.studies.store``: ``OUT/points/*.json``, keyed by configs and code version,
atomic, checked on read), so an interrupted run resumes where it stopped.

Writes into ``OUT``: ``results.csv`` and ``results.parquet`` (long format: figure, system, method,
kv_tokens, batch, metric, value, unit; out-of-memory points with an empty value and unit ``oom``; Fig. 20
rows also carry ``layer`` and ``head``), one Markdown table and one PNG/PDF plot per figure, and
``paper.md`` gathering them. Every number is computed by the simulator; nothing is set from the paper's
result figures (see analysis/PAPER.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.paper.figures import FIGURES
from analysis.paper.ladder import MAP_BATCHES, MAP_KV_SIZES, capacity_map, ladder, point_requests
from analysis.report.markdown import md_table
from analysis.studies.fit import Overlay, load_overlay, overlay_hardware, overlay_params
from analysis.studies.policies import retrieval_shares
from analysis.studies.store import PointStore, code_version, point_key
from simulator.config.hardware import load_hardware
from simulator.config.workload import KvPolicyConfig, Question, load_workload
from simulator.engine.simulate import simulate
from simulator.kvpolicy import POLICIES
from simulator.pipeline import resolve
from simulator.results.metrics import chip_blocks, phase_table
from simulator.stream import trace_workload

KV_SIZES = (1_000, 5_000, 10_000, 20_000, 40_000)
GPU_METHODS = ("flexgen", "infinigen", "infinigenp", "rekv")
# (platform class, GPU config, its system id, V-Rex config, its system id, batches)
PLATFORMS = {"edge": ("orin-agx-32gb", "vrex8-edge", "vrex8", (1, 4)),
             "server": ("a100-80gb", "vrex48-server", "vrex48", (1, 8))}
COLUMNS = ["mode", "figure", "system", "method", "kv_tokens", "batch", "metric", "value", "unit", "layer", "head"]
# "as-stated": our documented choices for what the paper leaves open; "paper-fitted": those choices as
# `vrex fit` inferred them from the declared fit set (the overlay make paper-fit writes)
MODES = ("as-stated", "paper-fitted")
OVERLAY = "hwconfigs/overlays/paper-fitted.yaml"
BASE_WORKLOAD = "workloads/coin-avg-resv.yaml"  # the COIN average case (stream, question, precision, ReSV profile)


@dataclass(frozen=True)
class PaperRun:
    """What to run (the full evaluation by default; tests use a reduced one)."""

    kv_sizes: tuple[int, ...] = KV_SIZES
    edge_batches: tuple[int, ...] = (1, 4)
    server_batches: tuple[int, ...] = (1, 8)
    oaken_batch: int = 16
    roofline_batch: int = 4
    frames: int | None = None  # None: the COIN average case's 26
    answer_tokens: int | None = None  # None: 39
    map_kv_sizes: tuple[int, ...] = MAP_KV_SIZES  # the capacity maps' grid (analysis/paper/ladder.py)
    map_batches: tuple[int, ...] = MAP_BATCHES


class Points:
    """Each (system, method, KV size, batch) point's figures, saved as JSON as soon as computed."""

    def __init__(self, out: Path, cfg: PaperRun, overlay: Overlay | None = None):
        self.overlay = overlay  # the paper-fitted mode's values (None: as stated)
        # the studies' point store (checked, atomic); a mode's overlay enters the key through the configs
        self.store = PointStore(out, fmt="json")
        self.cfg = cfg
        self.base_path = resolve(BASE_WORKLOAD)  # the base workload's file (the ladder saves configs from it)
        self.base = load_workload(self.base_path)
        stream = self.base.stream
        if cfg.frames is not None or cfg.answer_tokens is not None:
            frames = cfg.frames or stream.frames
            q = stream.questions[0]
            stream = dataclasses.replace(stream, duration_s=frames / stream.fps, questions=(Question(
                at_s=(frames - 0.5) / stream.fps, prompt_tokens=q.prompt_tokens,
                answer_tokens=cfg.answer_tokens or q.answer_tokens),))
        self.base = self.base.replace(stream=stream)
        self.traces: dict = {}
        self.hw: dict = {}
        self.code = code_version()

    def hardware(self, name: str, **changes):
        key = (name, tuple(sorted(changes.items())))
        if key not in self.hw:
            hw = load_hardware(resolve(f"hwconfigs/{name}.yaml"))
            if self.overlay is not None:
                hw = overlay_hardware(hw, self.overlay)
            self.hw[key] = dataclasses.replace(hw, **changes) if changes else hw
        return self.hw[key]

    def kvpu_only(self) -> dict:
        """Config changes of the ablation's "V-Rex8 with the KVPU only": no KVMU layout, no prefetch."""
        dre = self.hardware("vrex8-edge").dre
        return {"dre": dataclasses.replace(dre, kvmu=False, prefetch=False)}

    def workload(self, method: str, kv: int, batch: int, params: dict | None = None):
        """The base workload running ``method`` (ReSV with the base's parameters, and the paper-fitted overlay's in
        that mode) at a KV size and batch; ``params``: policy parameters set on top (e.g. FlexGen's
        ``cache_gpu_percent``)."""
        base = dict(self.base.kv_policy.params) if method == "resv" else {}
        if self.overlay is not None:
            base = overlay_params(method, base, self.overlay)
        return self.base.replace(kv_policy=KvPolicyConfig(name=method, params={**base, **(params or {})}),
                                 kv_prefill_tokens=kv, batch=batch)

    @staticmethod
    def trace_params(method: str, params: dict | None) -> dict:
        """The policy parameters that make a trace differ: those not at the policy's default (FlexGen at
        ``cache_gpu_percent: 0`` is the default FlexGen's trace)."""
        defaults = {f.name: f.default for f in dataclasses.fields(POLICIES[method])}
        return {k: v for k, v in (params or {}).items() if defaults.get(k, dataclasses.MISSING) != v}

    def trace(self, method: str, kv: int, batch: int, params: dict | None = None):
        params = self.trace_params(method, params)
        key = (method, kv, batch, tuple(sorted(params.items())))
        if key not in self.traces:  # keep one: large
            self.traces = {key: trace_workload(self.workload(method, kv, batch, params), mode="meta")}
        return self.traces[key]

    def point_key(self, hw, method: str, kv: int, batch: int, params: dict | None = None) -> str:
        """What a saved point was computed from: the hardware and workload configs and the code version, so a
        changed config or model never reuses a stale point (the studies' store key)."""
        return point_key({"hw": hw, "workload": self.workload(method, kv, batch, params)}, self.code)

    def tag(self, system: str, method: str, kv: int, batch: int, hw_name: str | None = None,
            params: dict | None = None, **hw_changes) -> tuple[str, object]:
        """A point's name in the store (system, method, KV size, batch and the configs' key) and its hardware."""
        hw = self.hardware(hw_name or system, **hw_changes)
        return f"{system}__{method}__{kv}__{batch}__{self.point_key(hw, method, kv, batch, params)}", hw

    def get(self, system: str, method: str, kv: int, batch: int, hw_name: str | None = None,
            params: dict | None = None, detail: bool = False, **hw_changes) -> dict:
        """A point's figures, saved or computed now; ``detail``: with the per-op shares (``DETAIL_KEYS``) that
        only a per-op replay gives (a point saved by :func:`compute_points` is then computed again with them)."""
        tag, hw = self.tag(system, method, kv, batch, hw_name, params, **hw_changes)
        saved = self.store.get(tag)  # a damaged file is set aside (one line) and the point recomputed
        if saved is not None and (not detail or saved["status"] != "ok" or all(k in saved for k in DETAIL_KEYS)):
            return saved
        tr = self.trace(method, kv, batch, params)
        res = simulate(tr, hw)
        point = {"system": system, "method": method, "kv": kv, "batch": batch, "status": res.status}
        if res.ok:
            point.update(_figures(res, tr))
        self.store.write(tag, point)
        return point


# a request for one point: (system, method, KV size, batch, hardware config name or None, policy params, hw changes)
Request = tuple[str, str, int, int, "str | None", dict, dict]


def compute_points(requests: list[tuple[Points, Request]], bar=None, jobs: int = 1) -> int:
    """Every requested point not saved yet, grouped by trace across modes and figures: each distinct workload is
    traced once and its designs evaluated together (``evaluate_designs``: aggregates only, the same figures as
    :func:`simulate`; tests/engine/test_evaluate_designs.py); the per-op shares of ``DETAIL_KEYS`` are left to
    the figures that ask for them. ``jobs`` > 1: the traces are shared out over that many worker processes
    (each point is written to the store as it is done, so a stopped run resumes). Returns the traces made."""
    groups: dict[str, tuple[object, Path, list]] = {}
    done: set[str] = set()
    for P, (system, method, kv, batch, hw_name, params, changes) in requests:
        tag, hw = P.tag(system, method, kv, batch, hw_name, params, **changes)
        if tag in done or P.store.get(tag) is not None:
            if bar is not None:
                bar.update(1)
            continue
        done.add(tag)
        wl = P.workload(method, kv, batch, P.trace_params(method, params))
        key = point_key({"workload": wl, "store": str(P.store.dir)}, P.code)
        groups.setdefault(key, (wl, P.store.dir.parent, []))[2].append((tag, system, method, kv, batch, hw))
    work = list(groups.values())
    if jobs <= 1 or len(work) <= 1:
        for job in work:
            n = _trace_and_evaluate(job)
            if bar is not None:
                bar.update(n)
        return len(work)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawned workers (torch's threads do not survive a fork); one torch thread each, so ``jobs`` cores in all;
    # ReSV's traces, the slowest, first
    work.sort(key=lambda job: job[0].kv_policy.name != "resv")
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init) as pool:
        futures = [pool.submit(_trace_and_evaluate, job) for job in work]
        try:
            for f in as_completed(futures):
                n = f.result()
                if bar is not None:
                    bar.update(n)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return len(work)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _trace_and_evaluate(job) -> int:
    """One trace and its designs' points (a worker's task): ``job`` = (workload, store directory, [(point name,
    system, method, KV size, batch, hardware config)]); returns the points written."""
    from simulator.engine.simulate import evaluate_designs

    wl, out, items = job
    store = PointStore(out, fmt="json")
    tr = trace_workload(wl, mode="meta")
    for (tag, system, method, kv, batch, _), res in zip(items, evaluate_designs(tr, [i[-1] for i in items])):
        point = {"system": system, "method": method, "kv": kv, "batch": batch, "status": res.status}
        if res.ok:
            point.update(_figures(res, tr))
        store.write(tag, point)
    return len(items)


DETAIL_KEYS = ("kv_prediction_share", "kv_fetch_share")  # per-op figures (Fig. 16's table)


def _figures(res, tr) -> dict:
    """Per-point figures: frame latency and TPOT, energies, stage times, the phases' work for the roofline (from
    the per-phase sums: the same from :func:`simulate` and ``evaluate_designs``) and, from a per-op result,
    the frame's KV prediction and fetch shares (``DETAIL_KEYS``)."""
    pt = phase_table(res)
    frames = pt[pt["phase"].isin(["vision", "frame_prefill"])].groupby("frame")[["latency_s", "energy_j"]].sum()
    dec = pt[pt["phase"] == "decode"]
    q = pt[(pt["phase"] == "question_prefill") & (pt["question"] >= 0)]
    fp = pt[pt["phase"] == "frame_prefill"]
    ev = tr.events
    frame_ops = (ev["phase"] == "frame_prefill").to_numpy()
    out = {
        "frame_latency_s": float(frames["latency_s"].mean()), "frame_energy_j": float(frames["energy_j"].mean()),
        "tpot_s": float(dec["latency_s"].mean()) if len(dec) else float("nan"),
        "token_energy_j": float(dec["energy_j"].mean()) if len(dec) else float("nan"),
        "stage_s": {"frames": float(frames["latency_s"].sum()), "question": float(q["latency_s"].sum()),
                    "answer": float(dec["latency_s"].sum())},
        "frame_flops": float(ev.loc[frame_ops, ["flops_matmul", "flops_vector"]].sum().sum()),
        "frame_bytes": float(fp["dram_bytes"].sum() + fp["offload_bytes"].sum()),
        "frame_time_s": float(fp["latency_s"].sum()),
        "peak_tflops": res.peak_tflops,
        "stats": tr.meta.get("policy_stats", {}),
        "cells": list(tr.meta.get("policy_cells", [])),
    }
    ops = res.ops
    if not ops.empty:
        kind = ev["kind"].to_numpy()
        pred = frame_ops & np.isin(kind, ("retrieval_score", "wicsum", "topk", "cluster"))
        fetch = frame_ops & (kind == "kv_read")
        busy = ops.loc[frame_ops, ["compute_s", "mem_s"]].max(axis=1).sum()
        out["kv_prediction_share"] = float(ops.loc[pred, ["compute_s", "mem_s"]].max(axis=1).sum() / busy) \
            if busy else 0.0
        out["kv_fetch_share"] = float(ops.loc[fetch, ["compute_s", "mem_s"]].max(axis=1).sum() / busy) if busy else 0.0
    return out


def _row(figure, system, method, kv, batch, metric, value, unit, layer=None, head=None) -> dict:
    return {"mode": None, "figure": figure, "system": system, "method": method, "kv_tokens": kv, "batch": batch,
            "metric": metric, "value": value, "unit": unit, "layer": layer, "head": head}


def _ratio(a, b) -> float:
    return float(a / b) if b and not np.isnan(b) and a is not None else float("nan")


def fig13(P: Points, cfg: PaperRun, platform: str, figure: str) -> list[dict]:
    gpu, vrex_hw, vrex_id, _ = PLATFORMS[platform]
    batches = cfg.edge_batches if platform == "edge" else cfg.server_batches
    rows = []
    for batch in batches:
        for kv in cfg.kv_sizes:
            pts = [(gpu, m, P.get(gpu, m, kv, batch)) for m in GPU_METHODS]
            pts.append((vrex_id, "resv", P.get(vrex_id, "resv", kv, batch, hw_name=vrex_hw)))
            ref = pts[0][2]
            for system, method, p in pts:
                if p["status"] != "ok":
                    rows.append(_row(figure, system, method, kv, batch, "frame_latency_ms", None, "oom"))
                    continue
                rows += [
                    _row(figure, system, method, kv, batch, "frame_latency_ms", 1e3 * p["frame_latency_s"], "ms"),
                    _row(figure, system, method, kv, batch, "tpot_ms", 1e3 * p["tpot_s"], "ms")]
                if ref["status"] == "ok":
                    rows += [
                        _row(figure, system, method, kv, batch, "speedup_vs_flexgen",
                             _ratio(ref["frame_latency_s"], p["frame_latency_s"]), "x"),
                        _row(figure, system, method, kv, batch, "tpot_speedup_vs_flexgen",
                             _ratio(ref["tpot_s"], p["tpot_s"]), "x"),
                        _row(figure, system, method, kv, batch, "energy_eff_vs_flexgen",
                             _ratio(ref["frame_energy_j"], p["frame_energy_j"]), "x"),
                        _row(figure, system, method, kv, batch, "tpot_energy_eff_vs_flexgen",
                             _ratio(ref["token_energy_j"], p["token_energy_j"]), "x")]
    return rows


def fig14(P: Points, cfg: PaperRun) -> tuple[list[dict], pd.DataFrame]:
    rows, stages = [], []
    for kv in cfg.kv_sizes:
        pts = [("orin-agx-32gb", m, P.get("orin-agx-32gb", m, kv, 1)) for m in GPU_METHODS]
        pts.append(("vrex8", "resv", P.get("vrex8", "resv", kv, 1, hw_name="vrex8-edge")))
        ref = sum(pts[0][2]["stage_s"].values())
        for system, method, p in pts:
            total = sum(p["stage_s"].values())
            rows.append(_row("fig14", system, method, kv, 1, "e2e_speedup_vs_flexgen", _ratio(ref, total), "x"))
            stages.append({"system": system, "method": method, "kv_tokens": kv,
                           **{k: v / ref for k, v in p["stage_s"].items()}})
    return rows, pd.DataFrame(stages)


def fig15(P: Points, cfg: PaperRun) -> list[dict]:
    rows, b = [], cfg.oaken_batch
    for kv in cfg.kv_sizes:
        for system, method, hw_name, changes in (("orin-agx-32gb", "flexgen", None, {"offload": None}),
                                                 ("oaken", "oaken", None, {}),
                                                 ("vrex8", "resv", "vrex8-edge", {})):
            # Orin runs FlexGen without offloading for this comparison (V-Rex, arXiv 2512.12284): its KV stays in
            # DRAM (the `full` method) and runs out of memory when it no longer fits
            m = "full" if system == "orin-agx-32gb" else method
            p = P.get(system, m, kv, b, hw_name=hw_name, **changes)
            if p["status"] != "ok":
                rows.append(_row("fig15", system, method, kv, b, "fps", None, "oom"))
            else:
                rows.append(_row("fig15", system, method, kv, b, "fps", b / p["frame_latency_s"], "frames/s"))
    return rows


def fig16(P: Points, cfg: PaperRun) -> tuple[list[dict], pd.DataFrame]:
    kv = max(cfg.kv_sizes)
    pts = [("orin-agx-32gb", "flexgen", P.get("orin-agx-32gb", "flexgen", kv, 1, detail=True)),
           ("orin-agx-32gb", "resv", P.get("orin-agx-32gb", "resv", kv, 1, detail=True)),
           ("vrex8-kvpu", "resv", P.get("vrex8-kvpu", "resv", kv, 1, hw_name="vrex8-edge", detail=True,
                                        **P.kvpu_only())),
           ("vrex8", "resv", P.get("vrex8", "resv", kv, 1, hw_name="vrex8-edge", detail=True))]
    ref = pts[0][2]
    rows, table = [], []
    for system, method, p in pts:
        rows += [_row("fig16", system, method, kv, 1, "frame_latency_ms", 1e3 * p["frame_latency_s"], "ms"),
                 _row("fig16", system, method, kv, 1, "speedup_vs_flexgen",
                      _ratio(ref["frame_latency_s"], p["frame_latency_s"]), "x"),
                 _row("fig16", system, method, kv, 1, "energy_eff_vs_flexgen",
                      _ratio(ref["frame_energy_j"], p["frame_energy_j"]), "x")]
        table.append({"system": system, "method": method, "frame_latency_ms": 1e3 * p["frame_latency_s"],
                      "frame_energy_j": p["frame_energy_j"], "kv_prediction_share": p["kv_prediction_share"],
                      "kv_fetch_share": p["kv_fetch_share"]})
    return rows, pd.DataFrame(table)


def fig17(P: Points, cfg: PaperRun) -> pd.DataFrame:
    """DRAM and PCIe bandwidth over one layer of a frame on V-Rex48 (the largest cache, batch 1)."""
    kv = max(cfg.kv_sizes)
    tr = P.trace("resv", kv, 1)
    res = simulate(tr, P.hardware("vrex48-server"))
    ops = res.ops
    frames = sorted(set(ops.loc[ops["phase"] == "frame_prefill", "frame"]))
    f = frames[len(frames) // 2]
    layer = int(tr.meta["llm_layers"]) // 2
    sel = ops[(ops["phase"] == "frame_prefill") & (ops["frame"] == f) & (ops["layer"].isin([layer - 1, layer]))]
    t0, t1 = float(sel["start_s"].min()), float(sel["end_s"].max())
    edges = np.linspace(t0, t1, 101)
    dram = np.zeros(100)
    link = np.zeros(100)
    for _, op in sel.iterrows():
        for arr, nbytes, a, dur in ((dram, op["dram_bytes"], op["start_s"], op["read_s"] + op["write_s"]),
                                    (link, op["offload_bytes"], op["start_s"], op["link_read_s"] + op["link_write_s"])):
            if nbytes <= 0 or dur <= 0:
                continue
            lo, hi = a, a + dur
            cover = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None)
            arr += nbytes * cover / dur
    width = edges[1] - edges[0]
    return pd.DataFrame({"t_us": (edges[:-1] - t0) * 1e6, "dram_gbps": dram / width / 1e9,
                         "pcie_gbps": link / width / 1e9})


def fig18(P: Points, cfg: PaperRun) -> tuple[list[dict], pd.DataFrame]:
    kv, b = max(cfg.kv_sizes), cfg.roofline_batch
    rows, table = [], []
    for system, method, hw_name in (("orin-agx-32gb", "flexgen", None), ("orin-agx-32gb", "rekv", None),
                                    ("vrex8", "resv", "vrex8-edge")):
        p = P.get(system, method, kv, b, hw_name=hw_name)
        hw = P.hardware(hw_name or system)
        bw = hw.dram.bandwidth_gbps * 1e9
        if p["status"] != "ok":
            rows.append(_row("fig18", system, method, kv, b, "roofline_share", None, "oom"))
            continue
        intensity = p["frame_flops"] / max(p["frame_bytes"], 1.0)
        achieved = p["frame_flops"] / max(p["frame_time_s"], 1e-12)
        bound = min(p["peak_tflops"] * 1e12, intensity * bw)
        rows.append(_row("fig18", system, method, kv, b, "roofline_share", achieved / bound, "share"))
        table.append({"system": system, "method": method, "intensity_flop_per_byte": intensity,
                      "achieved_tflops": achieved / 1e12, "peak_tflops": p["peak_tflops"], "dram_gbps": bw / 1e9,
                      "roofline_share": achieved / bound})
    return rows, pd.DataFrame(table)


def fig20(P: Points, cfg: PaperRun) -> tuple[list[dict], pd.DataFrame]:
    kv = max(cfg.kv_sizes)
    p = P.get("vrex8", "resv", kv, 1, hw_name="vrex8-edge")
    shares = retrieval_shares(pd.DataFrame(p.get("cells", []), columns=["stat", "layer", "head", "value"]))
    rows = [_row("fig20", "vrex8", "resv", kv, 1, "retrieval_share", float(r.share), "share", int(r.layer),
                 int(r.head)) for r in shares.itertuples()]
    return rows, shares


def table3(P: Points) -> tuple[list[dict], pd.DataFrame]:
    p_hw = P.hardware("vrex8-edge")
    tr = P.trace("resv", max(P.cfg.kv_sizes), 1)
    chip = chip_blocks(simulate(tr, p_hw))
    # every block of a core, as the platform derives them from its units (a DRE unit's block named by its unit)
    blocks = list(chip["area_breakdown_mm2_per_core"])
    names = {b: b.removeprefix("dre_") if b.removeprefix("dre_") not in blocks else b for b in blocks}
    rows, table = [], []
    core_area = sum(chip["area_breakdown_mm2_per_core"].values())
    core_power = sum(chip["power_breakdown_w_per_core"].values())
    # every unit busy at its rated activity (engine/physical/peak_power.py)
    peak = chip["peak_power_breakdown_w_per_core"]
    core_peak = sum(peak.values())
    for block, ident in list(names.items()) + [("__core__", "core")]:
        area = core_area if ident == "core" else chip["area_breakdown_mm2_per_core"].get(block, 0.0)
        power = core_power if ident == "core" else chip["power_breakdown_w_per_core"].get(block, 0.0)
        pk = core_peak if ident == "core" else peak.get(block, 0.0)
        rows += [_row("table3", "vrex8", ident, None, None, "area_mm2_per_core", area, "mm^2"),
                 _row("table3", "vrex8", ident, None, None, "power_w_per_core", power, "W"),
                 _row("table3", "vrex8", ident, None, None, "peak_power_w_per_core", pk, "W")]
        table.append({"block": ident, "area_mm2_per_core": area, "power_w_per_core": power,
                      "peak_power_w_per_core": pk})
    rows += [_row("table3", "vrex8", "chip", None, None, "area_mm2", chip["chip_area_mm2"], "mm^2"),
             _row("table3", "vrex8", "chip", None, None, "power_w", chip["chip_power_w"], "W"),
             _row("table3", "vrex8", "chip", None, None, "chip_peak_power_w", chip["chip_peak_power_w"], "W")]
    table.append({"block": "chip", "area_mm2_per_core": chip["chip_area_mm2"],
                  "power_w_per_core": chip["chip_power_w"], "peak_power_w_per_core": chip["chip_peak_power_w"]})
    return rows, pd.DataFrame(table)


# The stack figure: the edge baseline (FlexGen on the Orin 32 GB, Fig. 13a's reference) on each GPU software stack
STACK_GPU, STACK_METHOD = "orin-agx-32gb", "flexgen"


def _stack_system(stack: str, default: str) -> tuple[str, dict]:
    """The system id and config change of the edge GPU running ``stack`` (its config's own stack: Fig. 13a's
    points, reused as they are)."""
    return (STACK_GPU, {}) if stack == default else (f"{STACK_GPU}+{stack}", {"software": stack})


def stack_points(P: Points, cfg: PaperRun) -> list[tuple]:
    """The stack figure's points in ``planned_points``' form: the traces are Fig. 13a's (a stack changes only
    the GPU's efficiencies, not the trace)."""
    from simulator.config.hardware import SOFTWARE_STACKS

    default = P.hardware(STACK_GPU).software
    plan = []
    for kv in cfg.kv_sizes:
        for stack in SOFTWARE_STACKS:
            system, changes = _stack_system(stack, default)
            plan.append((STACK_METHOD, kv, 1, system, STACK_GPU, changes))
    return plan


def fig_stacks(P: Points, cfg: PaperRun) -> tuple[list[dict], pd.DataFrame]:
    """V-Rex8's frame and TPOT speedups at batch 1 over the Orin 32 GB running FlexGen on each software stack."""
    from simulator.config.hardware import SOFTWARE_STACKS

    default = P.hardware(STACK_GPU).software
    rows, table = [], []
    for kv in cfg.kv_sizes:
        v = P.get("vrex8", "resv", kv, 1, hw_name="vrex8-edge")
        for stack in SOFTWARE_STACKS:
            system, changes = _stack_system(stack, default)
            g = P.get(system, STACK_METHOD, kv, 1, hw_name=STACK_GPU, **changes)
            ok = g["status"] == "ok" and v["status"] == "ok"
            frame = _ratio(g["frame_latency_s"], v["frame_latency_s"]) if ok else float("nan")
            tpot = _ratio(g["tpot_s"], v["tpot_s"]) if ok else float("nan")
            rows += [_row("fig_stacks", system, STACK_METHOD, kv, 1, "frame_speedup_of_vrex8", frame, "x"),
                     _row("fig_stacks", system, STACK_METHOD, kv, 1, "tpot_speedup_of_vrex8", tpot, "x")]
            table.append({"kv_tokens": kv, "software": stack, "gpu_status": g["status"],
                          "orin_frame_ms": 1e3 * g["frame_latency_s"] if g["status"] == "ok" else float("nan"),
                          "orin_tpot_ms": 1e3 * g["tpot_s"] if g["status"] == "ok" else float("nan"),
                          "vrex8_frame_ms": 1e3 * v["frame_latency_s"] if v["status"] == "ok" else float("nan"),
                          "vrex8_tpot_ms": 1e3 * v["tpot_s"] if v["status"] == "ok" else float("nan"),
                          "frame_speedup": frame, "tpot_speedup": tpot})
    return rows, pd.DataFrame(table)


def planned_points(P: Points, cfg: PaperRun) -> list[tuple]:
    """Every (method, KV size, batch, system, config, changes) the figures read, so that each trace is made once."""
    kv_max = max(cfg.kv_sizes)
    plan = []
    for platform, batches in (("edge", cfg.edge_batches), ("server", cfg.server_batches)):
        gpu, vrex_hw, vrex_id, _ = PLATFORMS[platform]
        for b in batches:
            for kv in cfg.kv_sizes:
                plan += [(m, kv, b, gpu, None, {}) for m in GPU_METHODS]
                plan.append(("resv", kv, b, vrex_id, vrex_hw, {}))
    for kv in cfg.kv_sizes:
        plan += [("full", kv, cfg.oaken_batch, "orin-agx-32gb", None, {"offload": None}),
                 ("oaken", kv, cfg.oaken_batch, "oaken", None, {}),
                 ("resv", kv, cfg.oaken_batch, "vrex8", "vrex8-edge", {})]
    plan += [("resv", kv_max, 1, "orin-agx-32gb", None, {}),
             ("resv", kv_max, 1, "vrex8-kvpu", "vrex8-edge", P.kvpu_only())]
    b = cfg.roofline_batch
    plan += [("flexgen", kv_max, b, "orin-agx-32gb", None, {}), ("rekv", kv_max, b, "orin-agx-32gb", None, {}),
             ("resv", kv_max, b, "vrex8", "vrex8-edge", {})]
    plan += stack_points(P, cfg)  # a repeated point is read back from its saved JSON, not recomputed
    # grouped by trace; ReSV's largest cache at batch 1 last, so that Fig. 17 and Table III (run after the points)
    # find its trace still held instead of tracing it again
    last = ("resv", kv_max, 1)
    return sorted(plan, key=lambda p: ((p[0], p[1], p[2]) == last, p[0], p[1], p[2]))


_md = md_table


def requests(P: Points, cfg: PaperRun) -> list[Request]:
    """Every point one mode's figures, ladder and maps read (:func:`compute_points`' request form)."""
    return [(system, method, kv, batch, hw_name, {}, changes)
            for method, kv, batch, system, hw_name, changes in planned_points(P, cfg)] + point_requests(P, cfg)


def _evaluate(P: Points, cfg: PaperRun, mode: str, out: Path) -> tuple[pd.DataFrame, dict]:
    """One mode's figures' rows (with ``mode``) and tables (its points computed before, or now one by one)."""
    # by figure id (figures.FIGURES: each one's title, written once)
    steps = [("fig13a", lambda: fig13(P, cfg, "edge", "fig13a")), ("fig13b", lambda: fig13(P, cfg, "server", "fig13b")),
             ("fig14", lambda: fig14(P, cfg)), ("fig15", lambda: fig15(P, cfg)), ("fig16", lambda: fig16(P, cfg)),
             ("fig17", lambda: fig17(P, cfg)), ("fig18", lambda: fig18(P, cfg)), ("fig20", lambda: fig20(P, cfg)),
             ("table3", lambda: table3(P)), ("fig_stacks", lambda: fig_stacks(P, cfg)),
             ("ladder", lambda: ladder(P, cfg, out, mode)), ("capacity_map", lambda: capacity_map(P, cfg, out, mode))]
    results, tables = [], {}
    for name, step in steps:
        got = step()
        if isinstance(got, tuple):
            rows, tables[name] = got
        elif isinstance(got, pd.DataFrame):
            rows, tables[name] = [], got
        else:
            rows, tables[name] = got, pd.DataFrame(got)
        results += rows
    df = pd.DataFrame(results, columns=COLUMNS)
    df["mode"] = mode
    return df, tables


def _mode_markdown(df: pd.DataFrame, tables: dict, figs: dict, fig_dir: str) -> list[str]:
    md = []
    for name in tables:
        sub = name  # a figure id (figures.FIGURES)
        md += [f"### {FIGURES[name].title}", ""]
        if sub in ("fig13a", "fig13b", "fig15"):
            d = df[df["figure"] == sub].copy()
            d["value"] = d["value"].where(d["unit"] != "oom", np.nan)
            idx = ["batch", "kv_tokens", "system", "method"]
            tab = d.pivot_table(index=idx, columns="metric", values="value", aggfunc="first",
                                dropna=False).reset_index()
            # only the points that were run (the pivot's full product also pairs systems with others' methods)
            tab = d[idx].drop_duplicates().merge(tab, on=idx, how="left").sort_values(idx).reset_index(drop=True)
            oom = d[d["unit"] == "oom"].set_index(["batch", "kv_tokens", "system", "method"]).index
            tab["status"] = ["out of memory" if k in oom else "ok" for k in
                             zip(tab["batch"], tab["kv_tokens"], tab["system"], tab["method"])]
            tab.columns.name = None
            md.append(_md(tab))
        else:
            md.append(_md(tables[name]))
        md += [""] + [f"![{p.stem}]({fig_dir}/{p.name})" for p in figs.get(name, []) if p.suffix == ".png"] + [""]
    return md


def run_paper(out: str | Path = "results/paper", progress: bool = False, cfg: PaperRun | None = None,
              modes: tuple[str, ...] = MODES, overlay: str | Path | None = None, jobs: int = 1) -> Path:
    """The evaluation in each of ``modes`` ("as-stated", "paper-fitted": with the overlay, default
    :data:`OVERLAY`); one results.csv with a ``mode`` column, figures per mode, one paper.md. ``jobs``: worker
    processes for the points (:func:`compute_points`; the same results with any number)."""
    from analysis.paper import ladder_plots
    from analysis.paper import plots as paper_plots

    cfg = cfg or PaperRun()
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        from simulator.errors import ConfigError

        raise ConfigError("--mode", "", f"{', '.join(bad) or 'none'}: the modes are {', '.join(MODES)}")
    ov = load_overlay(resolve(overlay or OVERLAY)) if "paper-fitted" in modes else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {m: Points(out, cfg, ov if m == "paper-fitted" else None) for m in modes}
    # every point of every mode first, grouped by trace across the modes (the GPU baselines' traces and points
    # are the same in both), then each mode's figures from the saved points
    wanted = [(P, r) for P in runs.values() for r in requests(P, cfg)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(wanted), desc="paper points", unit="point")
    try:
        compute_points(wanted, bar, jobs)
    finally:
        if bar is not None:
            bar.close()
    done = {mode: _evaluate(P, cfg, mode, out) for mode, P in runs.items()}
    df = pd.concat([d for d, _ in done.values()], ignore_index=True)
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    for c in ("kv_tokens", "batch", "layer", "head"):
        df[c] = df[c].astype("Int64")
    df.to_csv(out / "results.csv", index=False)
    df.to_parquet(out / "results.parquet", index=False)
    md = ["# V-Rex's evaluation, figure by figure (vrex-sim)", "",
          "Produced by `make paper` (analysis/paper/evaluation.py): VideoLLM-online-8B on the average COIN case "
          "(26 frames, a 25-token question, 39 answer tokens) after a pre-computed KV cache. Edge: V-Rex8 vs "
          "Jetson AGX Orin 32 GB; server: V-Rex48 vs A100 80 GB. Every value is in `results.csv` (column `mode`); "
          "analysis/PAPER.md discusses them. Modes: **as-stated** (our documented choices for what the paper "
          "leaves open) and **paper-fitted** (those choices as `vrex fit` inferred them from the five published "
          f"V-Rex8 latencies of the declared fit set: `{OVERLAY}`).", ""]
    for mode, (d, tables) in done.items():
        fig_dir = "figures" if mode == MODES[0] else f"figures/{mode}"
        figs = paper_plots.draw(d.assign(value=pd.to_numeric(d["value"], errors="coerce")), tables, out / fig_dir)
        figs["ladder"] = ladder_plots.waterfall(tables["ladder"], out / fig_dir)
        figs["capacity_map"] = ladder_plots.capacity_maps(tables["capacity_map"], out / fig_dir)
        md += [f"## Mode: {mode}", ""] + _mode_markdown(d, tables, figs, fig_dir)
    path = out / "paper.md"
    path.write_text("\n".join(md) + "\n")
    return path


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/paper")
    args = ap.parse_args(argv)
    print(run_paper(args.out).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
