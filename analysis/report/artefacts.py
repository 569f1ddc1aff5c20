"""Saving a simulate run's results for plots and reports (``vrex simulate --save DIR``).

Files: ``report.json`` (the report), ``accel_phases.parquet`` / ``baseline_phases.parquet`` (one row
per phase instance), ``unit_time.parquet`` (per frame: busy seconds by accelerator unit, DRAM and the
offload link, and the frame latency), ``ops_summary.parquet`` (per kernel name and phase kind: FLOPs,
DRAM bytes, time; for the roofline),
``kv_tokens.parquet`` (KV slots over the stream) and ``run.json`` (trace metadata and peak rates).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from simulator.config.hardware import PCIE_GBPS_PER_LANE
from simulator.results.report import write_json


def save_run(out, directory: str | Path) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "report.json").write_text(write_json(out.report))
    out.accel_phases.to_parquet(d / "accel_phases.parquet", index=False)
    out.baseline_phases.to_parquet(d / "baseline_phases.parquet", index=False)
    ops = out.accel.ops
    frames = ops[ops["phase"].isin(["vision", "frame_prefill"])]
    busy = frames.pivot_table(index="frame", columns="unit", values="compute_s", aggfunc="sum", fill_value=0.0)
    busy["dram"] = frames.groupby("frame")[["read_s", "write_s"]].sum().sum(axis=1)
    # the offload link (transfers, their latency) bounds a frame as much as any unit does
    busy["offload_link"] = frames.groupby("frame")[["link_read_s", "link_write_s", "link_read_latency_s"]] \
        .sum().sum(axis=1)
    lat = out.accel_phases[out.accel_phases["phase"].isin(["vision", "frame_prefill"])]
    busy["frame_latency"] = lat.groupby("frame")["latency_s"].sum()
    busy.reset_index().to_parquet(d / "unit_time.parquet", index=False)
    ev = out.trace.events
    summ = pd.DataFrame({"phase": ev["phase"], "op": ev["op"], "kind": ev["kind"],
                         "flops": ev["flops_matmul"] + ev["flops_vector"], "dram_bytes": ops["dram_bytes"],
                         "time_s": ops[["compute_s", "mem_s"]].max(axis=1),
                         "unit": ops["unit"]})
    summ.groupby(["phase", "op", "kind", "unit"], as_index=False).sum().to_parquet(d / "ops_summary.parquet",
                                                                                  index=False)
    if out.trace.kv_tokens is not None:
        out.trace.kv_tokens.to_parquet(d / "kv_tokens.parquet", index=False)
    from simulator.engine.platforms.accelerator import AcceleratorPlatform

    acc = AcceleratorPlatform(out.accel_config)
    cfg = out.accel_config
    link = cfg.offload.link if cfg.offload is not None else None
    run = {"trace_meta": out.trace.meta, "peak_pe_flops": acc.cores * acc.pe.peak_flops,
           "peak_vector_ops": acc.vector.peak_ops, "peak_dram_bytes_per_s": acc.dram.peak_bytes_per_s,
           "peak_offload_bytes_per_s": (PCIE_GBPS_PER_LANE[link.gen] * link.lanes * link.efficiency * 1e9
                                        if link is not None else 0.0),
           "offload_tier": cfg.offload.tier if cfg.offload is not None else None,
           "hardware": out.accel.hardware, "baseline_hardware": out.baseline.hardware}
    (d / "run.json").write_text(json.dumps(run, default=str, indent=1))
    return d


def is_run_dir(d: Path) -> bool:
    return (d / "report.json").is_file() and (d / "run.json").is_file()


def is_realtime_dir(d: Path) -> bool:
    return (d / "summary.json").is_file() and (d / "jobs.parquet").is_file()


def is_sweep_dir(d: Path) -> bool:
    return (d / "spec.yaml").is_file() and (d / "points").is_dir()
