"""Results stay identical across refactors and speed work: a few traces and their simulations are compared
with figures stored in tests/data/golden.json (regenerate on purpose with VREX_UPDATE_GOLDEN=1). Meta
mode only: real-mode decisions depend on floating-point values, which may differ between CPUs in the last
bits."""

from __future__ import annotations

import json
import os

import pytest

from simulator.config.hardware import load_hardware
from simulator.config.workload import KvPolicyConfig
from simulator.engine.simulate import simulate
from simulator.stream import trace_workload

CASES = {"full-meta": ("full", {}, "meta"), "resv-meta": ("resv", {"recent_window": 32}, "meta"),
         "rekv-meta": ("rekv", {}, "meta")}
TRACE_COLS = ["flops_matmul", "flops_vector", "bytes_weight_read", "bytes_act_read", "bytes_act_write",
              "bytes_kv_read", "bytes_kv_write", "hash_compares", "scores_processed", "kv_runs", "kv_token_runs",
              "bytes_hc_read", "bytes_hc_write"]


def _figures(root, tiny_workload) -> dict:
    out = {}
    for name, (pol, params, mode) in CASES.items():
        wl = tiny_workload.with_stream(duration_s=3.0).replace(kv_policy=KvPolicyConfig(name=pol, params=params))
        tr = trace_workload(wl, mode=mode)
        fig = {"events": len(tr.events), **{c: int(tr.events[c].sum()) for c in TRACE_COLS}}
        for hw_name in ("vrex8-edge", "vrex-edge", "orin-agx-64gb"):
            hw = load_hardware(root / "hwconfigs" / f"{hw_name}.yaml")
            res = simulate(tr, hw)
            e = sum(float(res.ops[c].sum()) for c in res.ops.columns if c.startswith("e_"))
            fig[hw_name] = {"total_s": res.total_s, "end_sum_s": float(res.ops["end_s"].sum()), "energy_pj": e}
        out[name] = fig
    return out


def test_results_match_golden(root, tiny_workload):
    path = root / "tests" / "data" / "golden.json"
    figures = _figures(root, tiny_workload)
    if os.environ.get("VREX_UPDATE_GOLDEN"):
        path.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    golden = json.loads(path.read_text())
    assert set(golden) == set(figures)
    for case, fig in figures.items():
        for key, val in fig.items():
            if isinstance(val, dict):
                for k, v in val.items():
                    assert v == pytest.approx(golden[case][key][k], rel=1e-9), (case, key, k)
            else:
                assert val == golden[case][key], (case, key)
