"""Per-layer reports: every op counted once (bytes, FLOPs, time and energy sum to the run's), utilisation within
[0, 1], one row per layer and phase; and the --per-layer CSV from the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.cli import main
from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.simulate import simulate
from simulator.results.per_layer import COLUMNS, per_layer


def test_per_layer_conserves_the_run(tiny_resv_trace, vrex8_hw):
    res = simulate(tiny_resv_trace, vrex8_hw)
    acc = AcceleratorPlatform(vrex8_hw)
    t = per_layer(res, tiny_resv_trace.events, vrex8_hw.clock_mhz * 1e6, acc.cores * acc.pe.peak_flops)
    assert tuple(t.columns) == COLUMNS and not t.duplicated(["phase", "layer"]).any()
    ops, ev = res.ops, tiny_resv_trace.events
    for col in ("dram_bytes", "kv_sram_bytes", "offload_bytes", "noc_bytes"):
        assert np.isclose(t[col].sum(), ops[col].sum())
    assert np.isclose(t["flops"].sum(), (ev["flops_matmul"] + ev["flops_vector"]).sum())
    assert np.isclose(t["time_s"].sum(), ops[["compute_s", "mem_s"]].max(axis=1).sum())
    assert t["ops"].sum() == len(ops)
    assert ((t["pe_utilisation"] >= 0) & (t["pe_utilisation"] <= 1 + 1e-9)).all()
    assert set(t["phase"]) == set(ops["phase"].astype(str))


def test_per_layer_csv_from_the_cli(root, tmp_path, capsys):
    out = tmp_path / "layers.csv"
    assert main(["simulate", "--workload", str(root / "workloads" / "tiny.yaml"), "--per-layer", str(out),
                 "--no-progress"]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == list(COLUMNS) and len(df) > 4 and (df["cycles"] >= 0).all()
