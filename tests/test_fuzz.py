"""Fuzzing (issue 23): hypothesis mutates shipped configs, workloads, sweep specs, traces and CLI arguments (wrong
types, NaN/inf, negatives, huge values, missing/duplicate/unknown keys, shuffled rows, truncated files). The
outcome must be a valid result or exit code 2 with exactly one `vrex: error:` line, never a traceback, and
within a time bound. Examples are derandomised (the same every run) and bounded to keep the suite fast."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simulator.cli import main
from simulator.config.hardware import load_hardware
from simulator.config.tech import DEFAULT_TECH, load_tech
from simulator.engine.simulate import simulate
from simulator.errors import VrexError
from simulator.tracer.trace_file import KV_KEY, META_KEY, read_trace, write_trace

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TIME_LIMIT_S = 20.0  # per example: a rejected input is refused in well under a second

HOSTILE = st.sampled_from([None, -1, 0, -0.5, 1e-300, 1e300, 10**26, 2**63, float("nan"), float("inf"),
                           float("-inf"), "x", "", "1.2.3", True, [], {}, [1, 2], {"a": 1}])


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code
    assert time.perf_counter() - t0 < TIME_LIMIT_S, argv
    return rc, out.getvalue(), err.getvalue()


def assert_ok_or_one_line(rc: int, err: str, ctx) -> None:
    assert "Traceback" not in err, (ctx, err)
    assert rc in (0, 2), (ctx, rc, err)
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("vrex: error: "), (ctx, err)


def _leaves(d, prefix=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield prefix + (k,), v
            yield from _leaves(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield prefix + (i,), v
            yield from _leaves(v, prefix + (i,))


@st.composite
def mutation(draw, data):
    """(kind, path, value): replace a key's value, delete a key, add an unknown key or duplicate a key."""
    paths = [p for p, _ in _leaves(data)]
    path = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown", "duplicate"]))
    return kind, path, draw(HOSTILE)


def apply(data, kind, path, value) -> str:
    """The mutated document as YAML text (a duplicate key is added to the text itself)."""
    import copy

    d = copy.deepcopy(data)
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if kind == "replace":
        parent[last] = value
    elif kind == "delete":
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    elif kind == "unknown" and isinstance(parent, dict):
        parent["no_such_key"] = value
    text = yaml.safe_dump(d, sort_keys=False)
    if kind == "duplicate":  # the top-level key of the path once more, at the end of the file
        text += yaml.safe_dump({path[0]: value})
    return text


def _fuzz_file(tmp_path, src: Path, name: str, kind, path, value, extra_argv=()) -> None:
    data = yaml.safe_load(src.read_text())
    p = tmp_path / name
    p.write_text(apply(data, kind, path, value))
    rc, _, err = run_cli(["validate", str(p), *extra_argv])
    assert_ok_or_one_line(rc, err, (kind, path, value))
    if kind == "duplicate":
        assert rc == 2 and "duplicate key" in err, err
    event(f"{kind}: exit {rc}")


HW_DATA = yaml.safe_load((ROOT / "hwconfigs" / "vrex8-edge.yaml").read_text())
GPU_DATA = yaml.safe_load((ROOT / "hwconfigs" / "orin-agx-32gb.yaml").read_text())
WL_SRC = ROOT / "workloads" / "coin-videollm-online-8b-resv.yaml"
WL_DATA = yaml.safe_load(WL_SRC.read_text())
SPEC_SRC = ROOT / "analysis" / "specs" / "example-sweep.yaml"
SPEC_DATA = yaml.safe_load(SPEC_SRC.read_text())


@FUZZ
@given(m=mutation(HW_DATA))
def test_fuzz_accelerator_config(tmp_path, m):
    _fuzz_file(tmp_path, ROOT / "hwconfigs" / "vrex8-edge.yaml", "hw.yaml", *m)


@FUZZ
@given(m=mutation(GPU_DATA))
def test_fuzz_gpu_config(tmp_path, m):
    _fuzz_file(tmp_path, ROOT / "hwconfigs" / "orin-agx-32gb.yaml", "gpu.yaml", *m)


@pytest.fixture(scope="module")
def wl_dir(tmp_path_factory):
    """A directory holding copies of the shipped models, so mutated workloads resolve their model file."""
    d = tmp_path_factory.mktemp("wl")
    (d / "models").mkdir()
    for f in (ROOT / "workloads" / "models").glob("*.yaml"):
        (d / "models" / f.name).write_text(f.read_text())
    return d


@FUZZ
@given(m=mutation(WL_DATA))
def test_fuzz_workload(wl_dir, m):
    _fuzz_file(wl_dir, WL_SRC, "wl.yaml", *m)


@FUZZ
@given(m=mutation(SPEC_DATA))
def test_fuzz_sweep_spec(tmp_path, m):
    _fuzz_file(tmp_path, SPEC_SRC, "spec.yaml", *m)


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("ab:-&*[]{}\n #!'\"|>?,.1")), max_size=200))
def test_fuzz_yaml_text(tmp_path, text):
    p = tmp_path / "x.yaml"
    p.write_text(text)
    rc, _, err = run_cli(["validate", str(p)])
    assert_ok_or_one_line(rc, err, text)


# ---------------------------------------------------------------- traces
@pytest.fixture(scope="module")
def base_trace(tmp_path_factory):
    from simulator.config.workload import load_workload
    from simulator.stream import trace_workload

    tr = trace_workload(load_workload(ROOT / "workloads" / "tiny.yaml"), mode="meta")
    p = write_trace(tr, tmp_path_factory.mktemp("tr") / "t.parquet")
    table = pq.read_table(p)
    return p, table, json.loads(table.schema.metadata[META_KEY]), json.loads(table.schema.metadata[KV_KEY])


@pytest.fixture(scope="module")
def machines():
    return (load_hardware(ROOT / "hwconfigs" / "vrex8-edge.yaml"),
            load_hardware(ROOT / "hwconfigs" / "orin-agx-64gb.yaml"), load_tech(DEFAULT_TECH))


CELL = st.sampled_from([-1, 0, 1, 2**31, 2**40, -(2**40), 2**62, 1.5, float("nan"), float("inf"), 255, -129])
META_KEYS = ["fps", "frames", "questions", "kv_heads", "head_dim", "batch", "precision_bits", "precision",
             "llm_layers", "vision_layers", "tokens_per_frame", "kv_policy", "mode", "schema_version",
             "weight_bytes_llm", "kv_bits_stored", "kv_prefill_tokens"]


@st.composite
def trace_mutation(draw):
    kind = draw(st.sampled_from(["cell", "cell", "meta", "meta_drop", "shuffle", "truncate", "kv", "rows"]))
    return kind, draw(st.integers(0, 10**6)), draw(CELL), draw(HOSTILE), draw(st.sampled_from(META_KEYS))


def _mutated_trace(path: Path, base, kind, seed, cell, hostile, key) -> Path:
    p, table, meta, kv = base
    meta, kv = dict(meta), {k: list(v) for k, v in kv.items()}
    rng = np.random.default_rng(seed)
    if kind == "truncate":
        data = p.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, len(data)))])
        return path
    if kind == "cell":
        numeric = [f.name for f in table.schema if not pa.types.is_string(f.type)]
        col = numeric[int(rng.integers(len(numeric)))]
        v = table.column(col).to_numpy()
        v = v.astype(np.float64) if isinstance(cell, float) else v.astype(np.int64)
        v[int(rng.integers(len(v)))] = cell
        table = table.set_column(table.schema.get_field_index(col), col, pa.array(v))
    elif kind == "meta":
        meta[key] = hostile
    elif kind == "meta_drop":
        meta.pop(key, None)
    elif kind == "shuffle":
        n = table.num_rows
        a = int(rng.integers(0, n - 1))
        b = min(n, a + int(rng.integers(2, 40)))
        order = np.arange(n)
        order[a:b] = rng.permutation(order[a:b])
        table = table.take(pa.array(order))
    elif kind == "kv":
        col = list(kv)[int(rng.integers(len(kv)))]
        kv[col][int(rng.integers(len(kv[col])))] = hostile
    elif kind == "rows":
        table = table.slice(0, int(rng.integers(0, table.num_rows)))
    md = dict(table.schema.metadata or {})
    md[META_KEY] = json.dumps(meta).encode()
    md[KV_KEY] = json.dumps(kv).encode()
    pq.write_table(table.replace_schema_metadata(md), path)
    return path


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(m=trace_mutation())
def test_fuzz_trace(tmp_path, base_trace, machines, m):
    """A mutated trace is refused with one line, or it is valid and replays on both machines."""
    p = _mutated_trace(tmp_path / "m.parquet", base_trace, *m)
    t0 = time.perf_counter()
    try:
        tr = read_trace(p)
    except VrexError as exc:
        msg = str(exc)
        assert "\n" not in msg and str(p) in msg, (m, msg)
        event(f"{m[0]}: refused")
        return
    event(f"{m[0]}: accepted")
    acc, gpu, tech = machines
    for res in (simulate(tr, acc, tech), simulate(tr, gpu, tech)):
        if res.ok:
            assert np.isfinite(res.ops["end_s"].to_numpy()).all(), m
    assert time.perf_counter() - t0 < TIME_LIMIT_S


# ---------------------------------------------------------------- CLI arguments
FLAGS = {
    "stream": ["--fps", "--duration-s", "--streams", "--max-queue", "--jitter-s", "--seed", "--drop-policy",
               "--question-policy", "--timeline-window"],
    "policies": ["--duration-s"],
    "sweep": ["--workers"],
}
BAD_VALUE = st.sampled_from(["0", "-1", "-3", "nan", "inf", "-inf", "1e9", "1e300", "abc", "", "1.2.3", "2e-400",
                             "99999999999999999999", "0x10"])


VALID = {("--seed", "0"), ("--jitter-s", "0"), ("--jitter-s", "2e-400"), ("--timeline-window", "0"),
         ("--timeline-window", "2e-400")}  # in range: they would start work


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(cmd=st.sampled_from(sorted(FLAGS)), data=st.data())
def test_fuzz_cli_flags(cmd, data):
    """Out-of-range and malformed flag values: exit 2 with one line, before any work (bounded by the time
    limit: tracing a default workload takes far longer than refusing a flag)."""
    import os

    flag = data.draw(st.sampled_from(FLAGS[cmd]))
    value = data.draw(BAD_VALUE.filter(lambda v: (flag, v) not in VALID))
    argv = [cmd] + (["analysis/specs/example-sweep.yaml"] if cmd == "sweep" else []) + [flag, value]
    if flag == "--timeline-window":  # START END: a bad start, or an end not after it
        argv += ["1", "--timeline-json", "t.json"]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        rc, _, err = run_cli(argv)
    finally:
        os.chdir(cwd)
    assert rc == 2, (argv, err)
    assert_ok_or_one_line(rc, err, argv)


# ---------------------------------------------------------------- issue 33: explore and sensitivity specs
def _study_data(kind: str) -> dict:
    from tests.analysis.studies.test_explore import EXPLORE, SENS

    return EXPLORE if kind == "explore" else SENS


def _fuzz_study(tmp_path, kind: str, m) -> None:
    import os

    p = tmp_path / f"{kind}.yaml"
    p.write_text(apply(_study_data(kind), *m))
    cwd = os.getcwd()
    os.chdir(ROOT)  # the spec's base configs are relative to the project
    try:
        rc, _, err = run_cli(["validate", str(p)])
    finally:
        os.chdir(cwd)
    assert_ok_or_one_line(rc, err, m)
    if m[0] == "duplicate":
        assert rc == 2 and "duplicate key" in err, err
    event(f"{m[0]}: exit {rc}")


STUDY_FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@STUDY_FUZZ
@given(m=mutation(_study_data("explore")))
def test_fuzz_explore_spec(tmp_path, m):
    _fuzz_study(tmp_path, "explore", m)


@STUDY_FUZZ
@given(m=mutation(_study_data("sensitivity")))
def test_fuzz_sensitivity_spec(tmp_path, m):
    _fuzz_study(tmp_path, "sensitivity", m)


# ---------------------------------------------------------------- issue 33: damaged saved points
DAMAGE = st.tuples(st.sampled_from(["truncate", "flip", "empty", "garbage", "append"]), st.integers(0, 10**6),
                   st.integers(0, 255))


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["parquet", "json"]), damage=DAMAGE)
def test_fuzz_damaged_point(tmp_path, fmt, damage):
    """A damaged point file reads back whole or is named in one line, and a resume sets it aside."""
    import shutil

    from analysis.studies.store import PointStore
    from simulator.safe_io import DamagedFile

    shutil.rmtree(tmp_path / "points", ignore_errors=True)
    st_ = PointStore(tmp_path, fmt)
    rec = {"point_id": "p1", "status": "ok", "frame_latency_mean_s": 0.125, "note": "x" * 40}
    path = st_.write("k1", rec)
    data = bytearray(path.read_bytes())
    kind, pos, byte = damage
    pos %= max(1, len(data))
    if kind == "truncate":
        data = data[:pos]
    elif kind == "flip":
        data[pos] ^= byte or 1
    elif kind == "empty":
        data = bytearray()
    elif kind == "garbage":
        data = bytearray(np.random.default_rng(pos).integers(0, 256, 64, dtype=np.uint8).tobytes())
    else:
        data += bytes([byte]) * 16
    path.write_bytes(bytes(data))
    try:
        got = st_.read("k1")
    except DamagedFile as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        assert st_.get("k1") is None and (tmp_path / "points" / "damaged" / path.name).is_file()
        event(f"{fmt} {kind}: damaged")
        return
    event(f"{fmt} {kind}: read")
    for k, v in rec.items():  # a change the format does not detect must leave the numbers whole to be accepted
        if got.get(k) != v:
            event(f"{fmt} {kind}: changed value read")


# ---------------------------------------------------------------- issue 33: non-regular output targets
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["null", "full", "fifo", "link-to-null", "regular", "new"]),
       size=st.integers(0, 1 << 18), fail=st.booleans())
def test_fuzz_output_targets(tmp_path, target, size, fail):
    """Whatever the target (a device node or FIFO made in this private directory), a write never changes its
    type, a failure is one line, and a regular file is replaced whole or left as it was."""
    import os
    import stat
    import threading

    from simulator.safe_io import OutputError, atomic_write

    d = tmp_path / f"t{time.perf_counter_ns()}"
    d.mkdir()
    p = d / "out"
    reader = None
    if target in ("null", "full", "link-to-null"):
        try:
            os.mknod(d / "dev", 0o666 | stat.S_IFCHR, os.makedev(1, 7 if target == "full" else 3))
        except OSError as exc:
            pytest.skip(f"cannot create a device node here ({exc.strerror}); needs root or CAP_MKNOD")
        if target == "link-to-null":
            p.symlink_to(d / "dev")
        else:
            (d / "dev").rename(p)
    elif target == "fifo":
        os.mkfifo(p)
        got = []
        reader = threading.Thread(target=lambda: got.append(p.read_bytes()))
        reader.start()
    elif target == "regular":
        p.write_bytes(b"old")
    before = os.stat(p).st_mode if p.exists() else None

    def writer(tmp: Path):
        tmp.write_bytes(b"z" * size)
        if fail:
            raise OSError(28, "No space left on device")

    try:
        atomic_write(p, writer, rescue=False)
        ok = True
    except OutputError as exc:
        assert "\n" not in str(exc)
        ok = False
    if reader is not None:
        if not ok:  # nothing was written into the pipe: let the reader finish
            with open(p, "wb"):
                pass
        reader.join(timeout=30)
        assert got == [b"z" * size if ok else b""]
    assert ok == (not fail and target != "full" or (target == "full" and size == 0 and not fail))
    if before is not None:
        assert stat.S_IFMT(os.stat(p).st_mode) == stat.S_IFMT(before)
    if target == "regular":
        assert p.read_bytes() == (b"z" * size if ok else b"old")
    assert not [x for x in d.iterdir() if x.name.endswith(".tmp")]
    event(f"{target}: {'written' if ok else 'one-line error'}")


# ---------------------------------------------------------------- issue 33: model metadata vs the events
MODEL_KEYS = ["tokens_per_frame", "kv_heads", "head_dim", "kv_bits_stored", "batch", "weight_bytes_llm",
              "kv_prefill_tokens", "llm_layers"]
MODEL_VALUE = st.sampled_from([0, 1, 2, 3, 4, 16, 17, 64, 1024, 4096, 2**20, 2**40, 1e-300, 0.5, 4.25, 15.9,
                               -1, float("nan")])


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(key=st.sampled_from(MODEL_KEYS), value=MODEL_VALUE, big_row=st.sampled_from([None, 30, 40, 50, 62]))
def test_fuzz_model_metadata(tmp_path, base_trace, machines, key, value, big_row):
    """Tampered model metadata (and a row of 2^n bytes) is refused in one line, or the trace replays to finite
    times within the time bound."""
    p, table, meta, kv = base_trace
    meta = dict(meta)
    meta[key] = value
    if big_row is not None:
        v = table.column("bytes_kv_read").to_numpy().astype(np.int64)
        v[3] = 2**big_row
        table = table.set_column(table.schema.get_field_index("bytes_kv_read"), "bytes_kv_read", pa.array(v))
    md = dict(table.schema.metadata or {})
    md[META_KEY] = json.dumps(meta).encode()
    md[KV_KEY] = json.dumps(kv).encode()
    path = tmp_path / "m.parquet"
    pq.write_table(table.replace_schema_metadata(md), path)
    t0 = time.perf_counter()
    try:
        tr = read_trace(path)
    except VrexError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        event("refused")
        return
    event("accepted")
    acc, gpu, tech = machines
    for res in (simulate(tr, acc, tech), simulate(tr, gpu, tech)):
        if res.ok:
            assert np.isfinite(res.ops["end_s"].to_numpy()).all()
            assert float(res.ops["end_s"].max()) < 86400 * 10, (key, value, big_row)  # no 306-day 2-second stream
    assert time.perf_counter() - t0 < TIME_LIMIT_S
