"""Stream-level metrics from a SimResult: per-phase latency and energy, FPS, TTFT, tokens/s.

Phases run back to back (the hardware's own capability, not gated by frame arrival). A phase's
latency is the time it adds to the timeline: the end of its last op minus the end of the previous
phase. Its energy is the dynamic energy of its ops plus leakage (static) power over its latency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from simulator.engine.result import ENERGY_PARTS, PHASE_KEYS, SimResult, phase_sums

DYN_PARTS = [p for p in ENERGY_PARTS if p != "leakage"]


def phase_table(res: SimResult) -> pd.DataFrame:
    """One row per phase instance: keys, latency_s, energy_j and energy by part (J). From the per-op table, or
    from the per-phase sums a stream replayed in chunks keeps (the same figures)."""
    g = res.phases if res.ops.empty and res.phases is not None else phase_sums(res.ops)
    if g.empty:
        return pd.DataFrame(columns=PHASE_KEYS + ["latency_s", "energy_j"])
    g = g.drop(columns=["start_s"])
    end = g["end_s"].to_numpy()
    prev = np.concatenate([[0.0], np.maximum.accumulate(end)[:-1]])
    g["latency_s"] = np.maximum(end - prev, 0.0)
    for p in DYN_PARTS:
        g[f"energy_{p}_j"] = g.pop(f"e_{p}_pj") * 1e-12
    g["energy_leakage_j"] = res.leakage_w * g["latency_s"]
    g["energy_j"] = g[[f"energy_{p}_j" for p in ENERGY_PARTS]].sum(axis=1)
    return g.drop(columns=["end_s"]).reset_index(drop=True)


@dataclass
class StreamMetrics:
    hardware: str
    frames: int
    frame_latency_mean_s: float  # vision + frame prefill, per frame
    frame_latency_last_s: float  # the last frame (largest KV cache)
    fps_sustained: float  # frames per second of processing, averaged over the stream
    fps_at_end: float  # at the last frame
    realtime: bool  # fps_sustained >= stream fps
    ttft_mean_s: float  # question prefill + first decode step
    decode_tokens_per_s: float
    question_prefill_s: float
    decode_step_s: float
    energy_per_frame_j: float
    energy_total_j: float
    avg_power_w: float
    total_time_s: float
    area_mm2: float
    stream_wall_s: float  # max(processing time, stream length): the device is on for the whole stream
    energy_wall_j: float  # dynamic energy + leakage/static power over stream_wall_s (idle time included)
    status: str = "ok"  # or why the point could not run (e.g. out of memory): every figure is then NaN

    def as_dict(self) -> dict:
        return asdict(self)


def stream_metrics(res: SimResult, stream_fps: float) -> tuple[StreamMetrics, pd.DataFrame]:
    if not res.ok:  # reported as such, never as a number
        nan = float("nan")
        figures = {f.name: nan for f in fields(StreamMetrics) if f.type in ("float", float)}
        figures.update(hardware=res.hardware, frames=0, realtime=False, area_mm2=float(sum(res.area_mm2.values())),
                       status=res.status)
        cols = PHASE_KEYS + ["latency_s", "energy_j"] + [f"energy_{p}_j" for p in ENERGY_PARTS]
        return StreamMetrics(**figures), pd.DataFrame(columns=cols)
    pt = phase_table(res)
    fr = pt[pt["phase"].isin(["vision", "frame_prefill"])].groupby("frame")[["latency_s", "energy_j"]].sum()
    n_frames = len(fr)
    frame_lat = fr["latency_s"].to_numpy() if n_frames else np.zeros(1)
    q = pt[pt["phase"] == "question_prefill"]
    q = q[q["question"] >= 0]
    d = pt[pt["phase"] == "decode"]
    ttfts = []
    for qi in q["question"].unique():
        t = q.loc[q["question"] == qi, "latency_s"].sum()
        first = d[(d["question"] == qi) & (d["step"] == 0)]["latency_s"].sum()
        ttfts.append(t + first)
    dec_time = float(d["latency_s"].sum())
    total_e = float(pt["energy_j"].sum())
    total_t = float(pt["latency_s"].sum())
    mean_lat = float(frame_lat.mean())
    wall = max(total_t, n_frames / stream_fps)
    dynamic = total_e - float(pt["energy_leakage_j"].sum()) if len(pt) else 0.0
    m = StreamMetrics(
        hardware=res.hardware,
        frames=n_frames,
        frame_latency_mean_s=mean_lat,
        frame_latency_last_s=float(frame_lat[-1]),
        fps_sustained=1.0 / mean_lat if mean_lat > 0 else float("inf"),
        fps_at_end=1.0 / float(frame_lat[-1]) if frame_lat[-1] > 0 else float("inf"),
        realtime=bool(mean_lat > 0 and 1.0 / mean_lat >= stream_fps),
        ttft_mean_s=float(np.mean(ttfts)) if ttfts else float("nan"),
        decode_tokens_per_s=len(d) / dec_time if dec_time > 0 else float("nan"),
        question_prefill_s=float(q["latency_s"].mean()) if len(q) else float("nan"),
        decode_step_s=float(d["latency_s"].mean()) if len(d) else float("nan"),
        energy_per_frame_j=float(fr["energy_j"].mean()) if n_frames else float("nan"),
        energy_total_j=total_e,
        avg_power_w=total_e / total_t if total_t > 0 else 0.0,
        total_time_s=total_t,
        area_mm2=float(sum(res.area_mm2.values())),
        stream_wall_s=wall,
        energy_wall_j=dynamic + res.leakage_w * wall,
    )
    return m, pt


def phase_comparison(base_pt: pd.DataFrame, acc_pt: pd.DataFrame) -> pd.DataFrame:
    """Speedup and energy-efficiency of the accelerator over the baseline, per phase kind and overall."""
    rows = []
    for ph in ("vision", "frame_prefill", "question_prefill", "decode", "stream"):
        if ph == "stream":
            b, a = base_pt, acc_pt
        else:
            b, a = base_pt[base_pt["phase"] == ph], acc_pt[acc_pt["phase"] == ph]
        if b.empty or a.empty:
            continue
        bt, at = b["latency_s"].sum(), a["latency_s"].sum()
        be, ae = b["energy_j"].sum(), a["energy_j"].sum()
        rows.append({"phase": ph, "baseline_s": bt, "accel_s": at, "speedup": bt / at if at > 0 else float("nan"),
                     "baseline_j": be, "accel_j": ae, "energy_eff": be / ae if ae > 0 else float("nan")})
    return pd.DataFrame(rows)


# on-chip blocks of an accelerator and the dynamic-energy column each is charged from (per op); the DRE's
# HCU and WTU share ``e_dre_pj``, told apart by the unit the op ran on
_BLOCK_ENERGY = {"dpe": ("e_dpe_pj", None), "vpe": ("e_vpe_pj", None), "sram": ("e_sram_pj", None),
                 "dre_hcu": ("e_dre_pj", "hcu"), "dre_wtu": ("e_dre_pj", "wtu"), "dre_kvmu": ("e_dre_pj", "kvmu"),
                 "dre_sram": (None, None), "control": ("e_control_pj", None), "noc": ("e_noc_pj", None)}


def chip_blocks(res: SimResult) -> dict:
    """Area and power of an accelerator's on-chip blocks, per core and per chip, over the run.

    A block's power is its dynamic energy over the run time plus its leakage (area x the node's leakage
    density). DRAM and the offload tier are off chip and not included; the NoC has energy but no area of
    its own (its wiring is in ``control``). Beside these run averages, ``chip_peak_power_w`` and
    ``peak_power_breakdown_w_per_core`` give every block busy at its rated activity (engine/physical/peak_power.py);
    ``system_peak_power_w`` adds DRAM at its peak bandwidth, the link at full load and the offload device
    (``system_peak_breakdown_w``); ``io_phy_area_mm2`` is the DRAM and PCIe PHYs' die area (engine/physical/io.py),
    not in ``chip_area_mm2`` (the cores, as V-Rex states its area).
    """
    ops, total = res.ops, res.total_s
    if total <= 0 or not res.area_per_core_mm2:
        return {}
    area = dict(res.area_mm2)
    power = {}
    for block, (col, unit) in _BLOCK_ENERGY.items():
        if block not in area and (col is None or block.startswith("dre_")):
            continue
        dyn = 0.0
        if col is not None and ops.empty and res.unit_sums is not None:  # a stream replayed in chunks
            sums = res.unit_sums[col]
            dyn = float(sums.sum() if unit is None else sums.get(unit, 0.0)) * 1e-12
        elif col is not None:
            sel = ops[col] if unit is None else ops.loc[ops["unit"] == unit, col]
            dyn = float(sel.sum()) * 1e-12
        power[block] = dyn / total + area.get(block, 0.0) * res.leakage_mw_per_mm2 * 1e-3
    n = res.cores
    chip_area, chip_power = sum(area.values()), sum(power.values())
    dre_area = sum(v for k, v in area.items() if k.startswith("dre_"))
    dre_power = sum(v for k, v in power.items() if k.startswith("dre_"))
    return {
        "cores": n, "peak_tflops": res.peak_tflops, "chip_area_mm2": chip_area, "chip_power_w": chip_power,
        "area_breakdown_mm2": area, "area_breakdown_mm2_per_core": dict(res.area_per_core_mm2),
        "power_breakdown_w": power, "power_breakdown_w_per_core": {k: v / n for k, v in power.items()},
        "chip_peak_power_w": n * sum(res.peak_power_per_core_w.values()),
        "system_peak_power_w": sum(res.system_peak_w.values()),
        "system_peak_breakdown_w": dict(res.system_peak_w),
        "io_phy_area_mm2": dict(res.io_area_mm2),
        "peak_power_breakdown_w_per_core": dict(res.peak_power_per_core_w),
        "dre_area_share": dre_area / chip_area if chip_area else 0.0,
        "dre_power_share": dre_power / chip_power if chip_power else 0.0,
        "dre_peak_power_share": (sum(v for k, v in res.peak_power_per_core_w.items() if k.startswith("dre_"))
                                 / sum(res.peak_power_per_core_w.values())) if res.peak_power_per_core_w else 0.0,
    }
