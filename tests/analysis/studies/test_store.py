"""The point store shared by sweep, explore, sensitivity and the paper: keys from configs + code version,
atomic writes, checked reads, damaged points set aside and recomputed, superseded points moved aside."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

import analysis.studies.sweep as sweep
from analysis.studies.store import KEY_COLUMN, PointStore, point_key
from simulator.cli import main
from simulator.safe_io import DamagedFile

SWEEP = {"name": "st", "base": {"hw": "hwconfigs/vrex-edge.yaml", "workload": "workloads/tiny.yaml",
                                "duration_s": 1.0},
         "axes": [{"path": "hw.pe_array.rows", "values": [16, 32]}]}


@pytest.fixture(autouse=True)
def _cwd(root, monkeypatch):
    monkeypatch.chdir(root)


def test_key_follows_configs_and_code(vrex_hw, tiny_workload):
    import dataclasses

    k = point_key({"hw": vrex_hw, "workload": tiny_workload}, "c1")
    assert k == point_key({"hw": vrex_hw, "workload": tiny_workload}, "c1")
    assert k != point_key({"hw": vrex_hw, "workload": tiny_workload}, "c2")
    slower = dataclasses.replace(vrex_hw, clock_mhz=vrex_hw.clock_mhz / 2)
    assert k != point_key({"hw": slower, "workload": tiny_workload}, "c1")


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_write_read_and_damage(tmp_path, fmt, capsys):
    st = PointStore(tmp_path, fmt)
    st.write("abc", {"point_id": "p", "x": 1.5})
    assert st.read("abc")["x"] == 1.5 and st.read("abc")[KEY_COLUMN] == "abc"
    assert not [p for p in st.dir.iterdir() if p.name.endswith(".tmp")]
    data = st.path("abc").read_bytes()
    st.path("abc").write_bytes(data[: len(data) // 2])  # a killed write
    with pytest.raises(DamagedFile, match=r"abc\.%s: damaged" % fmt) as ei:
        st.read("abc")
    assert "\n" not in str(ei.value)
    with pytest.raises(DamagedFile):
        st.load(set_aside=False)
    assert st.get("abc") is None  # set aside, to be recomputed
    assert (st.dir / "damaged" / st.path("abc").name).is_file() and not st.path("abc").exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "abc" in err and "recomputed" in err


def test_misplaced_point_is_damaged(tmp_path):
    st = PointStore(tmp_path)
    st.write("aaa", {"x": 1})
    st.path("aaa").rename(st.path("bbb"))
    with pytest.raises(DamagedFile, match="records point 'aaa', not 'bbb'"):
        st.read("bbb")


def test_sweep_resumed_after_code_change_recomputes(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    first = sweep.run_sweep(spec, out, workers=1, progress=False)
    calls = []
    real = sweep.run_points
    monkeypatch.setattr(sweep, "run_points", lambda *a: calls.extend(a[3]) or real(*a))  # a[3]: the batch
    again = sweep.run_sweep(spec, out, resume=True, workers=1, progress=False)
    assert calls == [] and len(again) == 2  # same code, same configs: nothing recomputed
    monkeypatch.setattr(sweep, "code_version", lambda: "another-code-version")
    capsys.readouterr()
    after = sweep.run_sweep(spec, out, resume=True, workers=1, progress=False)
    assert len(calls) == 2 and len(after) == 2  # every point recomputed, one row each
    assert set(after[KEY_COLUMN]).isdisjoint(set(first[KEY_COLUMN]))
    assert len(list((out / "points" / "superseded").glob("*.parquet"))) == 2
    assert "another code version" in capsys.readouterr().err
    pd.testing.assert_series_equal(after.sort_values("point_id")["frame_latency_mean_s"].reset_index(drop=True),
                                   first.sort_values("point_id")["frame_latency_mean_s"].reset_index(drop=True))


def test_damaged_point_named_by_plot_and_recomputed_on_resume(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    victim = sorted((out / "points").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:200])
    capsys.readouterr()
    for argv in (["plot", str(out), "--out", str(tmp_path / "plots")],
                 ["report", str(out), "--out", str(tmp_path / "r.md")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("vrex: error: ") and victim.name in err[0]
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress", "--resume"]) == 0
    err = capsys.readouterr().err
    assert victim.name in err and "recomputed" in err
    assert victim.is_file() and (out / "points" / "damaged" / victim.name).is_file()
    assert len(sweep.load_results(out)) == 2


def test_paper_points_use_the_store(tmp_path):
    from analysis.paper.evaluation import PaperRun, Points

    P = Points(tmp_path, PaperRun(kv_sizes=(1_000,), frames=2, answer_tokens=2))
    p = P.get("vrex8", "resv", 1_000, 1, hw_name="vrex8-edge")
    [path] = list((tmp_path / "points").glob("*.json"))
    assert json.loads(path.read_text())[KEY_COLUMN] == path.stem
    path.write_text(path.read_text()[:20])
    again = P.get("vrex8", "resv", 1_000, 1, hw_name="vrex8-edge")  # set aside, recomputed
    assert again["frame_latency_s"] == p["frame_latency_s"]
    assert (tmp_path / "points" / "damaged" / path.name).is_file()


def test_full_disk_in_a_sweep_keeps_points_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from simulator.safe_io import OutputError

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    real = PointStore.write

    def fills_up(self, name, record):
        if len(self.names()) >= 1:  # the disk is full after the first point
            raise OutputError(f"{self.path(name)}: cannot write: No space left on device")
        return real(self, name, record)

    monkeypatch.setattr(PointStore, "write", fills_up)
    with pytest.raises(OutputError) as ei:
        sweep.run_sweep(spec, out, workers=1, progress=False)
    msg = str(ei.value)
    assert "\n" not in msg and "No space left" in msg and "1 of 2 points finished and kept" in msg
    assert f"vrex sweep {spec} --out {out} --resume" in msg
    monkeypatch.setattr(PointStore, "write", real)
    assert len(sweep.run_sweep(spec, out, resume=True, workers=1, progress=False)) == 2


def test_explore_resume_after_a_base_workload_change_does_not_reuse_rows(tmp_path, root):
    import shutil

    from analysis.studies.explore import run_explore
    from tests.analysis.studies.test_explore import EXPLORE

    (tmp_path / "models").mkdir()
    shutil.copy(root / "workloads" / "models" / "tiny.yaml", tmp_path / "models" / "tiny.yaml")
    wl = yaml.safe_load((root / "workloads" / "tiny.yaml").read_text())
    wl["model"] = "models/tiny.yaml"
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(wl))
    spec = dict(EXPLORE, constraints=["area_mm2 <= 0.001"],  # nothing feasible: no design is simulated
                base=dict(EXPLORE["base"], workload=str(tmp_path / "w.yaml")))
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(spec))
    first = run_explore(p, tmp_path / "o", workers=1, progress=False)
    wl["stream"]["fps"] = wl["stream"]["fps"] * 2  # the scenarios' stream changes, the spec does not
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(wl))
    again = run_explore(p, tmp_path / "o", resume=True, workers=1, progress=False)
    assert set(again[KEY_COLUMN]).isdisjoint(first[KEY_COLUMN]) and len(again) == len(first)
    assert len(list((tmp_path / "o" / "points" / "superseded").glob("*.parquet"))) == len(first)
