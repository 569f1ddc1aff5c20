"""Sweeps: validation before running, resume without loss or duplicates, dask executor, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import analysis.studies.sweep as sweep
from analysis.studies.sweep import load_results, load_spec, pareto_front, point_id, run_sweep, sample_points
from simulator.errors import ConfigError

SPEC = {
    "name": "t",
    "base": {"hw": "hwconfigs/vrex-edge.yaml", "workload": "workloads/tiny.yaml"},
    "axes": [{"path": "hw.pe_array.rows", "values": [16, 32, 64]},
             {"path": "hw.dram.bandwidth_gbps", "values": [10.0, 100.0]}],
    "constraints": ["area_mm2 <= 1000"],
}


def _spec(tmp_path, **changes):
    d = yaml.safe_load(yaml.safe_dump(SPEC))
    d.update(changes)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.fixture(autouse=True)
def _cwd(root, monkeypatch):
    monkeypatch.chdir(root)


def test_uninterrupted_vs_resumed(tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    full = run_sweep(spec, tmp_path / "a", workers=1, progress=False)
    assert len(full) == 6 and (full["status"] == "ok").all()

    calls = {"n": 0}
    real = sweep.run_points

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(sweep, "BATCH", 1)  # a batch per point: the interrupt falls between points
    monkeypatch.setattr(sweep, "run_points", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "b", workers=1, progress=False)
    assert len(load_results(tmp_path / "b")) == 3
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(spec, tmp_path / "b", workers=1, progress=False)
    monkeypatch.setattr(sweep, "run_points", real)
    resumed = run_sweep(spec, tmp_path / "b", resume=True, workers=1, progress=False)
    assert sorted(resumed["point_id"]) == sorted(full["point_id"])
    assert resumed["point_id"].is_unique
    a = full.set_index("point_id").sort_index()
    b = resumed.set_index("point_id").sort_index()
    assert np.allclose(a["frame_latency_mean_s"], b["frame_latency_mean_s"])


def test_failing_point_is_recorded(tmp_path, monkeypatch):
    import simulator.engine.simulate as simulate

    real = simulate.evaluate_designs

    def flaky(trace, designs, *args, **kw):
        designs = list(designs)
        if any(getattr(getattr(d, "pe_array", None), "rows", None) == 32 for d in designs):
            raise RuntimeError("boom")
        return real(trace, designs, *args, **kw)

    monkeypatch.setattr(sweep, "BATCH", 1)
    monkeypatch.setattr(simulate, "evaluate_designs", flaky)
    df = run_sweep(_spec(tmp_path), tmp_path / "o", workers=1, progress=False)
    assert len(df) == 6
    err = df[df["status"] == "error"]
    assert len(err) == 2 and err["error"].str.contains("boom").all()


@pytest.mark.parametrize("axes, key", [
    ([{"path": "hw.pe_array.rowz", "values": [1]}], "axes[0].path"),
    ([{"path": "hw.pe_array", "values": [1]}], "axes[0].path"),
    ([{"path": "gpu.clock_mhz", "values": [1]}], "axes[0].path"),
    ([{"path": "hw.pe_array.rows", "values": []}], "axes[0].values"),
    ([], "axes"),
])
def test_malformed_spec_fails_before_running(tmp_path, axes, key):
    spec = _spec(tmp_path, axes=axes)
    with pytest.raises(ConfigError) as ei:
        run_sweep(spec, tmp_path / "o", workers=1, progress=False)
    assert f"'{key}'" in str(ei.value) and str(spec) in str(ei.value)
    assert not (tmp_path / "o").exists()


def test_bad_value_fails_before_running(tmp_path):
    spec = _spec(tmp_path, axes=[{"path": "hw.dram.bandwidth_gbps", "values": [10.0, 0]}])
    with pytest.raises(ConfigError, match="dram.bandwidth_gbps"):
        run_sweep(spec, tmp_path / "o", workers=1, progress=False)
    assert not (tmp_path / "o").exists()


def test_unknown_constraint_metric(tmp_path):
    with pytest.raises(ConfigError, match="constraints"):
        load_spec(_spec(tmp_path, constraints=["speed <= 3"]))


def test_lhs_covers_every_stratum(tmp_path):
    sp = load_spec(_spec(tmp_path, sampler="lhs", samples=20, axes=[
        {"path": "hw.dram.bandwidth_gbps", "range": [10.0, 210.0]},
        {"path": "hw.clock_mhz", "range": [100.0, 2100.0]}]))
    pts = sample_points(sp)
    for path, lo in (("hw.dram.bandwidth_gbps", 10.0), ("hw.clock_mhz", 100.0)):
        strata = sorted(int((p[path] - lo) / ((210.0 - 10.0 if lo == 10.0 else 2000.0) / 20)) for p in pts)
        assert strata == list(range(20))
    assert len({point_id(p) for p in pts}) == 20


def test_pareto_front_is_non_dominated():
    import pandas as pd

    df = pd.DataFrame({"status": "ok", "a": [1, 2, 3, 1.5], "b": [3, 2, 1, 3.5]})
    front = pareto_front(df, ["a", "b"])
    assert sorted(front["a"]) == [1, 2, 3]


def test_dask_local_cluster(tmp_path):
    from dask.distributed import Client, LocalCluster

    spec = _spec(tmp_path)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
            Client(cl) as client:
        df = run_sweep(spec, tmp_path / "d", executor="dask", client=client, progress=False)
    local = run_sweep(spec, tmp_path / "l", workers=1, progress=False)
    assert sorted(df["point_id"]) == sorted(local["point_id"])
    assert (df["status"] == "ok").all()


def test_pareto_front_of_a_sweep_where_nothing_ran():
    import pandas as pd

    from analysis.studies.sweep import pareto_front

    df = pd.DataFrame({"status": ["infeasible", "error"], "area_mm2": [1.0, 2.0]})
    assert pareto_front(df, ["frame_latency_mean_s", "area_mm2"]).empty


def test_a_sweep_can_vary_the_baseline_software_stack(tmp_path, root):
    """baseline.software is a sweep axis: each point's baseline runs that stack; an unknown one is a config error."""
    from analysis.studies.sweep import point_configs
    from simulator.errors import ConfigError

    path = _spec(tmp_path, axes=[{"path": "baseline.software", "values": ["hf-pytorch", "tensorrt-llm"]}])
    sp = load_spec(path)
    stacks = [point_configs(sp, v, root, str(path))[1].software for v in sample_points(sp)]
    assert stacks == ["hf-pytorch", "tensorrt-llm"]
    bad = _spec(tmp_path, axes=[{"path": "baseline.software", "values": ["onnx"]}])
    sp = load_spec(bad)
    with pytest.raises(ConfigError, match="software.*got 'onnx'"):
        point_configs(sp, sample_points(sp)[0], root, str(bad))


def test_batched_points_equal_one_by_one(tmp_path):
    """The sweep's batched path (run_points: evaluate_designs per trace) gives exactly the rows of one-by-one
    run_point (pipeline.run: simulate per point), an out-of-memory point reported as such in both."""
    spec = _spec(tmp_path, axes=[{"path": "hw.pe_array.rows", "values": [16, 64]},
                                 {"path": "hw.dram.capacity_gib", "values": [0.00001, 32]}])
    points = sample_points(load_spec(spec))
    one = [sweep.run_point(str(spec), ".", str(tmp_path / "a"), v, f"k{i}") for i, v in enumerate(points)]
    batched = sweep.run_points(str(spec), ".", str(tmp_path / "b"), [(v, f"k{i}") for i, v in enumerate(points)])
    oom = 0
    for a, b in zip(one, batched):
        a.pop("wall_s"), b.pop("wall_s")
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]), k  # equal, or both NaN
        oom += a["status"].startswith("out of memory")
        assert a["status"] == "ok" or (a["status"].startswith("out of memory") and np.isnan(a["speedup"]))
    assert oom == 2
    assert (load_results(tmp_path / "b").sort_values("point_id")["status"].tolist()
            == load_results(tmp_path / "a").sort_values("point_id")["status"].tolist())
