"""vrex fit: reads only the fit set it is given (no other paper result), depends on it, and rejects bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from analysis.studies.fit import FIT_SET, fit_set_path, load_fit_set, load_fit_spec, run_fit
from simulator.errors import ConfigError
from simulator.pipeline import ROOT

HEADER = "figure,system,method,kv_tokens,batch,metric,value,unit,source\n"


def _fit_file(path: Path, values: dict[int, float]) -> Path:
    path.write_text(HEADER + "".join(f"x,vrex8,resv,{kv},1,frame_latency,{v},ms,test\n" for kv, v in values.items()))
    return path


def _small_spec(tmp: Path) -> Path:
    """The shipped spec cut to a few cheap points: 2 frames, 2 trials, the engine-only inputs."""
    raw = yaml.safe_load((ROOT / "analysis/specs/paper-fit.yaml").read_text())
    raw.update(trials=2, profile_points=2, frames=2)
    raw["base"] = {k: str(ROOT / v) for k, v in raw["base"].items()}
    raw["window"]["tokens"]["range"] = [1024, 2048]
    raw["window"]["share"]["range"] = [0.01, 0.012]
    raw["inputs"] = [i for i in raw["inputs"] if i["name"] in ("ssd_queue_depth", "merge_requests")]
    path = tmp / "fit.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_declared_fit_set_sits_beside_the_repository():
    assert fit_set_path() == (ROOT / ".." / "shared" / "reference" / "vrex-fit.csv").resolve()
    assert FIT_SET.parts[:2] == ("..", "shared")


def test_fit_reads_no_other_paper_file_and_follows_its_fit_set(tmp_path):
    spec = _small_spec(tmp_path)
    opened: list[str] = []
    watching = [True]

    def hook(event, args):
        if watching[0] and event == "open" and isinstance(args[0], (str, bytes, Path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    try:
        a = run_fit(spec, tmp_path / "a", fit_set=_fit_file(tmp_path / "a.csv", {1000: 100.0, 2000: 110.0}),
                    overlay=tmp_path / "a.yaml", progress=False)
        b = run_fit(spec, tmp_path / "b", fit_set=_fit_file(tmp_path / "b.csv", {1000: 300.0, 2000: 330.0}),
                    overlay=tmp_path / "b.yaml", progress=False)
    finally:
        watching[0] = False
    shared = (ROOT / ".." / "shared").resolve()
    touched = {Path(p).resolve() for p in opened}
    assert not [p for p in touched if p.is_relative_to(shared)], "the fit opened a file under ../shared"
    assert not [p for p in touched if p.name in ("vrex.md", "vrex-fit.csv")]
    assert (tmp_path / "a.csv").resolve() in touched
    # the outputs follow the fit file: its values are the published column, and the residuals move with them
    assert [r["published_ms"] for r in a["residuals"]] == [100.0, 110.0]
    assert [r["published_ms"] for r in b["residuals"]] == [300.0, 330.0]
    assert a["residuals"][0]["residual"] != b["residuals"][0]["residual"]
    overlay = yaml.safe_load((tmp_path / "a.yaml").read_text())
    assert overlay["name"] == "paper-fitted"
    assert len(overlay["set"]) + len(overlay["kept_as_stated"]) == 3  # the window and the two inputs
    assert all(e["note"] == "inferred by vrex fit from vrex-fit.csv" for e in overlay["set"])
    assert json.loads((tmp_path / "a" / "fit.json").read_text())["fit_set"] == str(tmp_path / "a.csv")


@pytest.mark.parametrize("body,key", [
    ("figure,system\n", "<header>"),
    (HEADER + "x,vrex8,resv,1000,1,tpot,5,ms,s\n", "line 2"),
    (HEADER + "x,vrex8,resv,1000,1,frame_latency,-3,ms,s\n", "line 2"),
    (HEADER + "x,vrex8,resv,lots,1,frame_latency,3,ms,s\n", "line 2"),
])
def test_a_malformed_fit_set_is_one_error_naming_the_line(tmp_path, body, key):
    p = tmp_path / "f.csv"
    p.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_fit_set(p)
    assert e.value.key == key


def test_missing_fit_set_and_bad_spec_are_one_line_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "simulator.cli", "fit", "--fit-set", str(tmp_path / "none.csv"),
                        "--out", str(tmp_path / "o"), "--no-progress"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("vrex: error:") and "none.csv" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    raw = yaml.safe_load((ROOT / "analysis/specs/paper-fit.yaml").read_text())
    raw["inputs"][0]["range"] = [1, 2]  # both values and range
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="exactly one of values or range"):
        load_fit_spec(bad)


def test_the_shipped_overlay_holds_fitted_values_inside_the_declared_ranges():
    from analysis.studies.fit import WINDOW_PATH, load_overlay

    sp = load_fit_spec(ROOT / "analysis/specs/paper-fit.yaml")
    path = ROOT / "hwconfigs/overlays/paper-fitted.yaml"
    ov = load_overlay(path)
    raw = yaml.safe_load(path.read_text())
    declared = {i.path: i for i in sp.inputs}
    assert {e["path"] for e in raw["set"]} | set(raw["kept_as_stated"]) == set(declared) | {WINDOW_PATH}
    for e in raw["set"]:
        assert e["note"] == "inferred by vrex fit from vrex-fit.csv"
        inp = declared.get(e["path"])
        if inp is None:  # the window, in tokens
            lo, hi = sp.window.tokens.range
            assert lo * 0.9 <= e["value"] <= hi * 1.1  # the trace grid rounds by at most 2^(1/8)
        elif inp.values is not None:
            assert e["value"] in inp.values
        else:
            assert inp.range[0] <= e["value"] <= inp.range[1]
    assert len(ov.hw) + len(ov.workload) == len(raw["set"])


def test_batched_trials_equal_one_by_one_simulate(tmp_path):
    """The fit's batched evaluation (evaluate_designs on each trace) gives exactly the rows of one-by-one
    ``simulate``, and a point that cannot run (a DRAM too small for the weights) is its status, not a number."""
    import math

    from analysis.studies.fit import WINDOW_PATH, Evaluator, frame_latency_s
    from simulator.engine.simulate import simulate

    spec = _small_spec(tmp_path)
    sp = load_fit_spec(spec)
    points = load_fit_set(_fit_file(tmp_path / "f.csv", {1000: 100.0, 2000: 110.0}))
    ev = Evaluator(sp, points, ROOT, str(spec))
    trials = [(1024.0, {"hw.offload.device.queue_depth": 4, "hw.dre.merge_requests": True}),
              (2048.0, {"hw.offload.device.queue_depth": 64, "hw.dre.merge_requests": False}),
              (1024.0, {"hw.offload.device.queue_depth": 64, "hw.dram.capacity_gib": 1})]
    batched = ev.evaluate_many("tokens", trials)
    for (window, values), row in zip(trials, batched):
        want = {"status": "ok"}
        for pt in points:
            hw, wl, _ = ev.configs({**values, WINDOW_PATH: ev.window_tokens("tokens", window, pt.batch)},
                                   pt.kv_tokens, pt.batch)
            res = simulate(ev.trace(wl), hw)
            tag = f"kv{pt.kv_tokens}_b{pt.batch}"
            if not res.ok:
                want["status"] = f"{tag}: {res.status}"
                break
            want[f"{tag}.sim_ms"] = 1e3 * frame_latency_s(res)
            want[f"{tag}.residual"] = want[f"{tag}.sim_ms"] / pt.latency_ms - 1
        if want["status"] == "ok":
            logs = [math.log(want[f"kv{p.kv_tokens}_b{p.batch}.sim_ms"] / p.latency_ms) for p in points]
            want["rms_log"] = math.sqrt(sum(x * x for x in logs) / len(logs))
        assert {k: v for k, v in row.items() if k not in ("rms_log", "max_abs_residual")} == \
            {k: v for k, v in want.items() if k != "rms_log"}
        if "rms_log" in want:
            assert row["rms_log"] == pytest.approx(want["rms_log"], rel=1e-12)
    assert [r["status"] for r in batched[:2]] == ["ok", "ok"]
    assert batched[2]["status"].startswith("kv1000_b1: out of memory")
