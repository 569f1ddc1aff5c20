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
from simulator.safe_io import atomic_write


def _parquet(df: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False), rescue=False)


def _text(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text), rescue=False)


def save_run(out, directory: str | Path) -> Path:
    """Write the run's files, each atomically (a killed or failed write never leaves a truncated file)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _text(write_json(out.report), d / "report.json")
    _parquet(out.accel_phases, d / "accel_phases.parquet")
    _parquet(out.baseline_phases, d / "baseline_phases.parquet")
    ops = out.accel.ops
    frames = ops[ops["phase"].isin(["vision", "frame_prefill"])]
    busy = frames.pivot_table(index="frame", columns="unit", values="compute_s", aggfunc="sum", fill_value=0.0)
    busy["dram"] = frames.groupby("frame")[["read_s", "write_s"]].sum().sum(axis=1)
    # the offload link (transfers, their latency) bounds a frame as much as any unit does
    busy["offload_link"] = frames.groupby("frame")[["link_read_s", "link_write_s", "link_read_latency_s"]] \
        .sum().sum(axis=1)
    lat = out.accel_phases[out.accel_phases["phase"].isin(["vision", "frame_prefill"])]
    busy["frame_latency"] = lat.groupby("frame")["latency_s"].sum()
    _parquet(busy.reset_index(), d / "unit_time.parquet")
    ev = out.trace.events
    summ = pd.DataFrame({"phase": ev["phase"], "op": ev["op"], "kind": ev["kind"],
                         "flops": ev["flops_matmul"] + ev["flops_vector"], "dram_bytes": ops["dram_bytes"],
                         "time_s": ops[["compute_s", "mem_s"]].max(axis=1),
                         "unit": ops["unit"]})
    _parquet(summ.groupby(["phase", "op", "kind", "unit"], as_index=False).sum(), d / "ops_summary.parquet")
    if out.trace.kv_tokens is not None:
        _parquet(out.trace.kv_tokens, d / "kv_tokens.parquet")
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
    _text(json.dumps(run, default=str, indent=1), d / "run.json")
    return d


def is_run_dir(d: Path) -> bool:
    return (d / "report.json").is_file() and (d / "run.json").is_file()


def is_realtime_dir(d: Path) -> bool:
    return (d / "summary.json").is_file() and (d / "jobs.parquet").is_file()


def is_sweep_dir(d: Path) -> bool:
    return (d / "spec.yaml").is_file() and (d / "points").is_dir()
