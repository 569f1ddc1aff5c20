"""The speedup ladder and the capacity maps (analysis/paper/ladder.py): one configuration key per rung, FlexGen's
best placement under the device's memory, configs saved for plain `vrex simulate`."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.paper.evaluation import PaperRun, Points
from analysis.paper.ladder import best_placement, capacity_map, ladder, rungs
from simulator.config.hardware import load_hardware
from simulator.config.workload import load_workload
from simulator.engine.simulate import simulate
from simulator.stream import trace_workload

CFG = PaperRun(kv_sizes=(5_000,), edge_batches=(1,), server_batches=(1,), frames=2, answer_tokens=2,
               map_kv_sizes=(5_000,), map_batches=(1,))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ladder")
    P = Points(out, CFG)
    rows, table = ladder(P, CFG, out)
    map_rows, map_table = capacity_map(P, CFG, out)
    return P, out, rows, table, map_rows, map_table


@pytest.mark.parametrize("platform", ["edge", "server"])
def test_each_rung_changes_one_configuration_key(run, platform):
    P = run[0]
    rs = rungs(P, platform, 40_000, 4)
    assert [r.index for r in rs] == [0, 1, 2, 3, 4]
    for a, b in zip(rs, rs[1:]):
        ca, cb = a.config(P), b.config(P)
        changed = [k for k in ca if ca[k] != cb[k]]
        assert len(changed) == 1, (a.label, b.label, changed)
        if changed == ["hardware"] and ca["hardware"]["name"] == cb["hardware"]["name"]:  # the same system
            assert [k for k in ca["hardware"] if ca["hardware"][k] != cb["hardware"][k]] == ["dre"]
    assert rs[0].config(P)["kv_policy"]["params"] == {}  # the paper's FlexGen: the policy default (0% on the GPU)
    assert rs[2].config(P)["kv_policy"] == rs[4].config(P)["kv_policy"]  # ReSV in software: V-Rex's own window


def test_best_placement_under_the_device_memory(run):
    """FlexGen keeps whole sequences on the GPU while weights + their KV fit alpha_g of its memory: everything at
    a small cache, part of the batch at 40K x 4 on the 32 GB Orin, all of it on the 80 GB A100; never more as the
    cache grows."""
    P = run[0]
    orin, a100 = P.hardware("orin-agx-32gb"), P.hardware("a100-80gb")
    assert best_placement(orin, P.workload("flexgen", 1_000, 1)).cache_gpu_percent == 100
    mid = best_placement(orin, P.workload("flexgen", 40_000, 4))
    assert 0 < mid.gpu_sequences < 4 and mid.gpu_bytes_needed <= mid.gpu_bytes_allowed
    assert best_placement(a100, P.workload("flexgen", 40_000, 4)).cache_gpu_percent == 100
    shares = [best_placement(orin, P.workload("flexgen", kv, 4)).gpu_sequences for kv in (1_000, 20_000, 40_000,
                                                                                         100_000)]
    assert shares == sorted(shares, reverse=True) and shares[-1] < shares[0]


def test_ladder_rows_and_speedups(run):
    _, _, rows, table, _, _ = run
    assert len(table) == 2 * 5  # two platforms, one (KV, batch), five rungs
    for _, t in table.groupby(["platform", "batch", "kv_tokens"]):
        t = t.sort_values("rung")
        assert t["frame_x_vs_paper_flexgen"].iloc[0] == 1.0
        # each step's speedup chains into the total
        prod = t["frame_step_x"].iloc[1:].prod()
        assert prod == pytest.approx(t["frame_x_vs_paper_flexgen"].iloc[-1], rel=1e-9)
        assert t["kv_gpu_percent"].iloc[1] >= t["kv_gpu_percent"].iloc[0]
    assert {r["metric"] for r in rows} >= {"frame_latency_ms", "speedup_vs_flexgen", "step_speedup"}


def test_saved_configs_rerun_the_point(run):
    """A rung's saved hardware and workload YAML load to the configs it ran, and re-simulating them gives its
    frame latency."""
    P, out, _, table, _, _ = run
    where = out / "configs" / "as-stated" / "ladder" / "edge" / "kv5000-b1"
    assert (where / "commands.txt").read_text().count("vrex simulate") == 4
    rs = rungs(P, "edge", 5_000, 1)
    r = rs[1]
    stem = where / f"rung1-{r.system}-{r.tag}"
    hw = load_hardware(stem.with_suffix(".hw.yaml"))
    wl = load_workload(stem.with_suffix(".workload.yaml"))
    assert hw == P.hardware(r.hw_name, **r.hw_changes)
    assert dataclasses.asdict(wl.kv_policy) == dataclasses.asdict(P.workload(r.method, 5_000, 1, r.params).kv_policy)
    assert (wl.kv_prefill_tokens, wl.batch, wl.stream) == (5_000, 1, P.base.stream)
    kvpu = load_hardware(where / f"rung3-{rs[3].system}-{rs[3].tag}.hw.yaml")
    assert (kvpu.dre.kvmu, kvpu.dre.prefetch) == (False, False)
    res = simulate(trace_workload(wl, mode="meta"), hw)
    from analysis.paper.evaluation import _figures

    ms = 1e3 * _figures(res, trace_workload(wl, mode="meta"))["frame_latency_s"]
    row = table[(table["platform"] == "edge") & (table["rung"] == 1)].iloc[0]
    assert ms == pytest.approx(row["frame_ms"], rel=1e-9)


def test_capacity_map_cells(run):
    _, _, _, table, rows, cells = run
    assert len(cells) == 2 and set(cells["platform"]) == {"edge", "server"}
    for _, c in cells.iterrows():
        rung = table[(table["platform"] == c["platform"]) & (table["rung"] == 1)].iloc[0]
        top = table[(table["platform"] == c["platform"]) & (table["rung"] == 4)].iloc[0]
        assert c["frame_speedup"] == pytest.approx(rung["frame_ms"] / top["frame_ms"], rel=1e-9)
    assert {r["metric"] for r in rows} == {"frame_speedup_vs_best_gpu", "tpot_speedup_vs_best_gpu", "kv_gpu_percent"}
