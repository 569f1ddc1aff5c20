"""Hostile input and faults (issue 23): every example gives exit code 2 and one `vrex: error:` line naming the
file or flag and the key, writes are safe, a broken pipe is quiet and Ctrl-C stops a sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from simulator.cli import main
from simulator.config.hardware import load_hardware
from simulator.config.schema import load_yaml
from simulator.config.workload import load_workload
from simulator.errors import ConfigError, TraceError, VrexError
from simulator.safe_io import OutputError, atomic_write, check_output_path
from simulator.tracer.trace_file import KV_KEY, META_KEY, Trace, read_trace, write_trace

ROOT = Path(__file__).resolve().parents[1]
VREX = [sys.executable, "-m", "simulator.cli"]


def one_error_line(capsys, rc: int, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("vrex: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# ---------------------------------------------------------------- strict YAML
def test_duplicate_section_rejected_with_line(tmp_path, capsys):
    text = (ROOT / "hwconfigs" / "vrex8-edge.yaml").read_text()
    p = tmp_path / "dup.yaml"
    p.write_text(text + "\ndram:\n  type: ddr4\n")
    n_lines = len(p.read_text().splitlines())
    rc = main(["validate", str(p)])
    one_error_line(capsys, rc, str(p), "duplicate key 'dram'", f"line {n_lines - 1}")


def test_duplicate_nested_key(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("a:\n  b: 1\n  b: 2\n")
    with pytest.raises(ConfigError, match=r"line 3.*duplicate key 'b' \(first at line 2\)"):
        load_yaml(p)


def test_alias_bomb_refused_before_expansion(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="alias"):
        load_yaml(p)
    assert time.perf_counter() - t0 < 2.0


def test_small_aliases_still_work(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("base: &b {x: 1}\nother: *b\n")
    assert load_yaml(p) == {"base": {"x": 1}, "other": {"x": 1}}


# ---------------------------------------------------------------- limits and cross-field checks
def _mutated(tmp_path, src: Path, path: str, value, name="m.yaml") -> Path:
    data = yaml.safe_load(src.read_text())
    d = data
    parts = path.split(".")
    for k in parts[:-1]:
        d = d[k]
    d[parts[-1]] = value
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


HW = ROOT / "hwconfigs" / "vrex8-edge.yaml"
GPU = ROOT / "hwconfigs" / "orin-agx-32gb.yaml"
WL = ROOT / "workloads" / "tiny.yaml"


@pytest.mark.parametrize("src, key, value, needle", [
    (HW, "cores", 10**26, "4096"),
    (HW, "pe_array.trees", 10**9, "4096"),
    (HW, "sram.weight_kb", 10**12, "SRAM"),
    (HW, "clock_mhz", 1e300, "10 GHz"),
    (HW, "clock_mhz", 1e-300, ">= 1"),
    (HW, "dram.bandwidth_gbps", 1e-300, ">= 0.01"),
    (HW, "dre.hcu_units", 10**9, "65536"),
    (GPU, "power.static_w", 500.0, "below the power mode"),
    (GPU, "tensor_tflops", {}, "fp16 or bf16"),
    (GPU, "clock_mhz", float("nan"), "finite"),
])
def test_hardware_limits(tmp_path, capsys, src, key, value, needle):
    p = _mutated(tmp_path, src, key, value)
    rc = main(["validate", str(p)])
    one_error_line(capsys, rc, str(p), needle)


def test_offload_request_within_capacity(tmp_path):
    p = _mutated(tmp_path, HW, "offload.capacity_gib", 0.0001)
    with pytest.raises(ConfigError, match="max_request_kb.*capacity"):
        load_hardware(p)


def test_sram_split_within_stated_total(tmp_path):
    p = _mutated(tmp_path, HW, "sram.total_kb", 100)
    with pytest.raises(ConfigError, match="sram.total_kb.*more than the stated total"):
        load_hardware(p)


def _workload(tmp_path, key, value, model_changes=None) -> Path:
    """A copy of the tiny workload (and its model) in tmp_path with one key changed."""
    (tmp_path / "models").mkdir(exist_ok=True)
    wl = yaml.safe_load(WL.read_text())
    model_src = (WL.parent / wl["model"]).resolve()
    model = yaml.safe_load(model_src.read_text())
    for k, v in (model_changes or {}).items():
        d = model
        *head, last = k.split(".")
        for h in head:
            d = d[h]
        d[last] = v
    (tmp_path / "models" / "m.yaml").write_text(yaml.safe_dump(model))
    wl["model"] = "models/m.yaml"
    if key:
        d = wl
        *head, last = key.split(".")
        for h in head:
            d = d.setdefault(h, {})
        d[last] = value
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(wl))
    return p


@pytest.mark.parametrize("key, value, needle", [
    ("kv_prefill_tokens", 10**12, "kv_prefill_tokens"),
    ("stream.duration_s", 1e9, "stream.duration_s"),
    ("stream.questions", [{"at_s": 0.5, "prompt_tokens": 4, "answer_tokens": 10**8}], "answer_tokens"),
    ("batch", 10**6, "batch"),
    ("kv_policy", {"name": "resv", "params": {"hash_bits": 8, "hamming_threshold": 9}}, "hamming_threshold"),
])
def test_workload_limits(tmp_path, capsys, key, value, needle):
    p = _workload(tmp_path, key, value)
    rc = main(["validate", str(p)])
    one_error_line(capsys, rc, str(p), needle)


def test_model_layers_limit(tmp_path):
    p = _workload(tmp_path, None, None, {"llm.layers": 10**9})
    with pytest.raises(ConfigError, match=r"llm.layers.*1024"):
        load_workload(p)


def test_real_mode_beyond_memory_refused_before_work(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    import simulator.config.workload as w
    import simulator.stream as st

    monkeypatch.setattr(w, "_machine_memory", lambda: 16 << 30)  # a 16 GiB machine, wherever the test runs
    monkeypatch.setattr(st, "trace_workload", lambda *a, **k: pytest.fail("tracing started"))
    rc = main(["trace", "--mode", "real", "--workload", "workloads/coin-llava-ov-7b.yaml", "--out", "x.parquet"])
    one_error_line(capsys, rc, "coin-llava-ov-7b.yaml", "--mode real needs at least", "GiB")


def test_trace_larger_than_memory_refused_with_estimate(tmp_path, monkeypatch):
    import simulator.config.workload as w

    monkeypatch.setattr(w, "_machine_memory", lambda: 1 << 20)  # a 1 MiB machine
    p = _workload(tmp_path, None, None)
    with pytest.raises(ConfigError, match=r"trace would need ~.* GiB .* events"):
        load_workload(p)


# ---------------------------------------------------------------- CLI flags, checked before any work
@pytest.mark.parametrize("argv, needles", [
    (["stream", "--fps", "0"], ["--fps", "stream.fps"]),
    (["stream", "--fps", "nan"], ["--fps", "finite"]),
    (["stream", "--fps", "-1"], ["--fps", "stream.fps"]),
    (["stream", "--fps", "1000"], ["--fps", "<= 120"]),
    (["stream", "--streams", "0"], ["--streams"]),
    (["stream", "--streams", "-3"], ["--streams"]),
    (["stream", "--duration-s", "0"], ["--duration-s", "stream.duration_s"]),
    (["stream", "--duration-s", "-5"], ["--duration-s"]),
    (["stream", "--duration-s", "1e9"], ["--duration-s", "day"]),
    (["stream", "--jitter-s", "inf"], ["--jitter-s"]),
    (["stream", "--drop-policy", "random"], ["--drop-policy", "drop_oldest"]),
    (["stream", "--timeline-json", "t.json", "--timeline-window", "5", "1"], ["--timeline-window", "after"]),
    (["stream", "--fps", "abc"], ["--fps", "invalid float"]),
    (["policies", "--duration-s", "-1"], ["--duration-s"]),
    (["sweep", "analysis/specs/example-sweep.yaml", "--workers", "-2"], ["--workers", ">= 1"]),
    (["sweep", "analysis/specs/example-sweep.yaml", "--workers", "0"], ["--workers", ">= 1"]),
    (["simulate", "--out", "."], ["--out", "is a directory"]),
    (["simulate", "--nonsense"], ["unrecognized"]),
])
def test_bad_flags_one_line_before_work(capsys, monkeypatch, argv, needles):
    monkeypatch.chdir(ROOT)
    import simulator.stream as st

    def no_work(*a, **k):
        raise AssertionError("work started before the flags were checked")

    monkeypatch.setattr(st, "trace_workload", no_work)
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    one_error_line(capsys, rc, *needles)


def test_duration_flag_before_a_question_is_an_error(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    rc = main(["stream", "--workload", "workloads/tiny.yaml", "--duration-s", "0.5"])
    one_error_line(capsys, rc, "--duration-s", "questions[0].at_s", "after the stream ends")


# ---------------------------------------------------------------- safe writes
def test_output_path_checks(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path, "--out")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_path(f / "sub" / "x.parquet", "--out")
    with pytest.raises(OutputError, match="not a directory"):
        check_output_path(f, "--save", directory=True)
    check_output_path(tmp_path / "new" / "deeper" / "x.parquet", "--out")  # parents are created


def test_atomic_write_failure_keeps_results_and_old_file(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("old")

    def full_disk(tmp: Path):
        if tmp.parent == tmp_path:
            tmp.write_text("partial")
            raise OSError(28, "No space left on device")
        tmp.write_text("results")

    with pytest.raises(OutputError) as ei:
        atomic_write(p, full_disk)
    msg = str(ei.value)
    assert str(p) in msg and "No space left" in msg and "\n" not in msg
    assert p.read_text() == "old"  # the previous file is untouched
    assert not [x for x in tmp_path.iterdir() if x.name.endswith(".tmp")]
    kept = Path(msg.split("results kept in ")[1])
    assert kept.read_text() == "results"
    kept.unlink()


def test_broken_pipe_is_quiet(tmp_path):
    files = [str(ROOT / "hwconfigs" / n) for n in sorted(os.listdir(ROOT / "hwconfigs")) if n.endswith(".yaml")]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([*VREX, "validate", *files * 20], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=ROOT, env=env)
    p.stdout.close()  # the reader goes away at once, like `| head -0`
    err = p.stderr.read().decode()
    rc = p.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert rc == 141


# ---------------------------------------------------------------- traces that lie
def _raw_write(path: Path, table: pa.Table, meta: dict, kv: dict | None) -> Path:
    md = dict(table.schema.metadata or {})
    md.pop(b"pandas", None)
    md[META_KEY] = json.dumps(meta).encode()
    md[KV_KEY] = json.dumps(kv or {}).encode()
    pq.write_table(table.replace_schema_metadata(md), path)
    return path


@pytest.fixture()
def trace_file(tmp_path, tiny_trace):
    p = write_trace(tiny_trace, tmp_path / "t.parquet")
    table = pq.read_table(p)
    meta = json.loads(table.schema.metadata[META_KEY])
    kv = json.loads(table.schema.metadata[KV_KEY])
    return p, table, meta, kv


def _meta_changed(tmp_path, trace_file, **changes):
    p, table, meta, kv = trace_file
    meta = dict(meta)
    for k, v in changes.items():
        if v is _DROP:
            meta.pop(k)
        else:
            meta[k] = v
    return _raw_write(tmp_path / "bad.parquet", table, meta, kv)


_DROP = object()


@pytest.mark.parametrize("changes, needle", [
    ({"fps": _DROP}, "vrex.meta.fps': missing"),
    ({"fps": -4.0}, "vrex.meta.fps': got -4.0"),
    ({"fps": 0}, "vrex.meta.fps"),
    ({"fps": 8.0}, "vrex.meta.fps': 8 disagrees with the events"),
    ({"frames": 9}, "vrex.meta.frames': says 9 frames"),
    ({"precision_bits": _DROP}, "vrex.meta.precision_bits': missing"),
    ({"precision_bits": {"weight": 16, "activation": 16}}, "precision_bits.kv': missing"),
    ({"precision": _DROP}, "vrex.meta.precision': missing; required by trace schema version 4"),
    ({"kv_heads": "two"}, "vrex.meta.kv_heads"),
    ({"questions": []}, "column 'question'"),
    ({"questions": [{"at_s": 1.0, "prompt_tokens": 6, "answer_tokens": 5}]}, "answer_tokens': says 5"),
    ({"llm_layers": 1}, "llm_layers (1)"),
])
def test_lying_metadata(tmp_path, trace_file, changes, needle):
    p = _meta_changed(tmp_path, trace_file, **changes)
    with pytest.raises(VrexError) as ei:
        read_trace(p)
    msg = str(ei.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


def test_version_2_still_read(tmp_path, trace_file):
    p = _meta_changed(tmp_path, trace_file, schema_version=2, precision=_DROP, kv_bits_stored=_DROP)
    tr = read_trace(p)
    assert tr.meta["schema_version"] == 2 and tr.meta.record.precision is None


def test_trace_meta_is_a_read_only_typed_record(trace_file):
    import copy
    import pickle

    tr = read_trace(trace_file[0])
    assert tr.meta.record.fps == tr.meta["fps"] and isinstance(tr.meta.record.frames, int)
    with pytest.raises(TypeError, match="read-only"):
        tr.meta["fps"] = 99
    for back in (pickle.loads(pickle.dumps(tr.meta)), copy.deepcopy(tr.meta)):
        assert back == tr.meta and back.record == tr.meta.record
    assert json.loads(json.dumps(tr.meta)) == dict(tr.meta)


def test_kv_table_checked(tmp_path, trace_file):
    p, table, meta, kv = trace_file
    kv = dict(kv)
    kv["kv_slots"] = list(kv["kv_slots"])
    kv["kv_slots"][1] = -7
    with pytest.raises(TraceError, match="vrex.kv_tokens: column 'kv_slots', row 1: -7"):
        read_trace(_raw_write(tmp_path / "b.parquet", table, meta, kv))
    del kv["tokens_seen"]
    with pytest.raises(TraceError, match="lacks columns tokens_seen"):
        read_trace(_raw_write(tmp_path / "c.parquet", table, meta, kv))


def _with_column(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values))


def test_nan_in_byte_column_checked_before_cast(tmp_path, trace_file):
    p, table, meta, kv = trace_file
    v = table.column("bytes_kv_read").to_numpy().astype(np.float64)
    v[5] = np.inf
    with pytest.raises(TraceError, match="column 'bytes_kv_read', row 5: inf is not a finite number"):
        read_trace(_raw_write(tmp_path / "b.parquet", _with_column(table, "bytes_kv_read", v), meta, kv))
    v[5] = 2.5
    with pytest.raises(TraceError, match="row 5: 2.5 is not an integer"):
        read_trace(_raw_write(tmp_path / "c.parquet", _with_column(table, "bytes_kv_read", v), meta, kv))
    w = table.column("kv_bits").to_numpy().astype(np.int64)
    w[2] = 300
    with pytest.raises(TraceError, match="column 'kv_bits', row 2: 300 does not fit"):
        read_trace(_raw_write(tmp_path / "d.parquet", _with_column(table, "kv_bits", w), meta, kv))
    s = table.column("m").cast(pa.string())
    with pytest.raises(TraceError, match="column 'm' has type string"):
        read_trace(_raw_write(tmp_path / "e.parquet", table.set_column(table.schema.get_field_index("m"), "m", s),
                              meta, kv))


def test_gemm_dimensions_that_wrap_int64(tmp_path, trace_file):
    p, table, meta, kv = trace_file
    ev = table.to_pandas()
    row = int(np.flatnonzero(ev["m"].to_numpy() > 0)[0])
    for c in ("batch", "m", "n", "k"):
        v = ev[c].to_numpy().copy()
        v[row] = 2**31
        table = _with_column(table, c, v)
    fm = ev["flops_matmul"].to_numpy().copy()
    fm[row] = 0  # what 2 x (2^31)^4 wraps to in int64
    table = _with_column(table, "flops_matmul", fm)
    with pytest.raises(TraceError, match=f"column 'flops_matmul', row {row}: .*overflows"):
        read_trace(_raw_write(tmp_path / "b.parquet", table, meta, kv))


def test_empty_trace(tmp_path, trace_file):
    p, table, meta, kv = trace_file
    with pytest.raises(TraceError, match="no events"):
        read_trace(_raw_write(tmp_path / "b.parquet", table.slice(0, 0), meta, kv))


def test_rows_shuffled_inside_a_phase(tmp_path, trace_file, tiny_trace):
    p, table, meta, kv = trace_file
    ev = tiny_trace.events
    blk = ev.index[(ev["phase"] == "frame_prefill") & (ev["frame"] == 2)].to_numpy()
    order = np.arange(len(ev))
    order[blk] = blk[np.random.default_rng(0).permutation(len(blk))]
    with pytest.raises(TraceError, match="program order"):
        read_trace(_raw_write(tmp_path / "b.parquet", table.take(pa.array(order)), meta, kv))


def test_phase_instance_split_is_out_of_order(tmp_path, tiny_trace):
    ev = tiny_trace.events.copy()
    blk = ev.index[(ev["phase"] == "decode") & (ev["step"] == 1)].to_numpy()
    nxt = ev.index[(ev["phase"] == "decode") & (ev["step"] == 2)].to_numpy()
    assert len(blk) and len(nxt) > 1
    ev.loc[nxt[1], "step"] = 1  # decode step 1 resumes after step 2 started
    p = write_trace(Trace(events=ev, meta=tiny_trace.meta, kv_tokens=tiny_trace.kv_tokens), tmp_path / "s.parquet")
    with pytest.raises(TraceError, match="out of order"):
        read_trace(p)


def test_bad_trace_via_cli_one_line(tmp_path, trace_file, capsys):
    p = _meta_changed(tmp_path, trace_file, fps=-1.0)
    rc = main(["simulate", "--trace", str(p), "--no-progress"])
    one_error_line(capsys, rc, str(p), "vrex.meta.fps")


# ---------------------------------------------------------------- sweeps
def test_constraint_literal_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = yaml.safe_load((ROOT / "analysis" / "specs" / "example-sweep.yaml").read_text())
    spec["constraints"] = ["area_mm2 <= 1.2.3"]
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    rc = main(["validate", str(p)])
    one_error_line(capsys, rc, str(p), "constraints[0]", "1.2.3")


SWEEP = {"name": "sig", "base": {"hw": "hwconfigs/vrex-edge.yaml", "workload": "workloads/tiny.yaml",
                                 "duration_s": 1.0},
         "axes": [{"path": "hw.pe_array.rows", "values": [8, 16, 32, 64, 128, 256]},
                  {"path": "hw.dram.bandwidth_gbps", "values": [10.0, 20.0, 40.0, 80.0]}]}


def test_resume_refuses_a_different_spec(tmp_path, monkeypatch):
    from analysis.studies.sweep import run_sweep

    monkeypatch.chdir(ROOT)
    a = tmp_path / "a.yaml"
    small = dict(SWEEP, axes=[{"path": "hw.pe_array.rows", "values": [16]}])
    a.write_text(yaml.safe_dump(small))
    run_sweep(a, tmp_path / "out", workers=1, progress=False)
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(dict(SWEEP, axes=[{"path": "hw.pe_array.rows", "values": [32]}])))
    spec_before = (tmp_path / "out" / "spec.yaml").read_text()
    with pytest.raises(ConfigError, match="different spec"):
        run_sweep(b, tmp_path / "out", resume=True, workers=1, progress=False)
    assert (tmp_path / "out" / "spec.yaml").read_text() == spec_before  # not overwritten
    a.write_text("# a comment changes nothing\n" + yaml.safe_dump(small))
    assert len(run_sweep(a, tmp_path / "out", resume=True, workers=1, progress=False)) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_two_worker_sweep_and_keeps_points(tmp_path, sig):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([*VREX, "sweep", str(spec), "--out", str(out), "--workers", "2", "--no-progress"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 150
    while time.time() < deadline and p.poll() is None and not list(out.glob("points/*.parquet")):
        time.sleep(0.2)
    assert p.poll() is None, p.communicate()
    p.send_signal(sig)
    t0 = time.time()
    _, err = p.communicate(timeout=60)
    stopped_after = time.time() - t0
    err = err.decode()
    done = len(list((out / "points").glob("*.parquet")))
    assert p.returncode == 130, err
    assert stopped_after < 15, stopped_after
    assert "Traceback" not in err and "sweep stopped" in err
    assert 1 <= done < 24  # finished points kept, the rest not run


# ---------------------------------------------------------------- issue 33: writes that never clobber a device
def _device(tmp_path, name: str, minor: int) -> Path:
    """A character device node in the test's private directory (1, minor: 3 null, 7 full), or skip."""
    p = tmp_path / name
    try:
        os.mknod(p, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here ({exc.strerror}); needs root or CAP_MKNOD")
    return p


def _is_char_device(p: Path) -> bool:
    import stat

    return stat.S_ISCHR(os.lstat(p).st_mode)


def test_atomic_write_never_replaces_a_character_device(tmp_path):
    full, null = _device(tmp_path, "full", 7), _device(tmp_path, "null", 3)
    atomic_write(null, lambda tmp: tmp.write_text("results"))
    assert _is_char_device(null)
    with pytest.raises(OutputError, match="No space left") as ei:
        atomic_write(full, lambda tmp: tmp.write_text("results"), rescue=False)
    assert "\n" not in str(ei.value) and _is_char_device(full)
    link = tmp_path / "link"
    link.symlink_to(null)
    atomic_write(link, lambda tmp: tmp.write_text("x"))
    assert link.is_symlink() and _is_char_device(null)  # the link is followed, not replaced


def test_fifo_is_written_into(tmp_path):
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write(fifo, lambda tmp: tmp.write_bytes(b"through the pipe"))
    reader.join(timeout=30)
    assert got == [b"through the pipe"]
    import stat

    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("argv", [
    ["trace", "--workload", "workloads/tiny.yaml", "--no-progress", "--out", "{dev}"],
    ["simulate", "--workload", "workloads/tiny.yaml", "--no-progress", "--out", "{dev}"],
    ["simulate", "--workload", "workloads/tiny.yaml", "--no-progress", "--timeline", "{dev}"],
    ["stream", "--workload", "workloads/tiny.yaml", "--no-progress", "--no-bisect", "--timeline", "{dev}"],
])
def test_cli_outputs_to_a_full_device_one_line_device_kept(tmp_path, capsys, monkeypatch, argv):
    import tempfile

    monkeypatch.chdir(ROOT)
    full = _device(tmp_path, "full", 7)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # staging and rescue files stay private
    rc = main([a.replace("{dev}", str(full)) for a in argv])
    line = one_error_line(capsys, rc, str(full), "No space left")
    assert _is_char_device(full)
    if "results kept in " in line:  # the output is not lost: its rescue copy is whole
        assert Path(line.split("results kept in ")[1]).stat().st_size > 0


def test_stdout_on_a_full_device_is_one_line(tmp_path):
    full = _device(tmp_path, "full", 7)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(full, "w") as dev:
        p = subprocess.run([*VREX, "validate", str(HW)], stdout=dev, stderr=subprocess.PIPE, cwd=ROOT, env=env,
                           timeout=120)
    err = p.stderr.decode().strip().splitlines()
    assert p.returncode == 2 and err == ["vrex: error: standard output: cannot write: No space left on device"], err


class _FullStream:
    """A text stream on a full device (what print() meets with > /dev/full)."""

    def write(self, _text):
        raise OSError(28, "No space left on device")

    def flush(self):
        pass

    def isatty(self):
        return False


def test_stdout_and_stderr_full_end_quietly_with_code_2(monkeypatch):
    monkeypatch.setattr(sys, "stdout", _FullStream())
    monkeypatch.setattr(sys, "stderr", _FullStream())
    monkeypatch.setattr("simulator.cli._silence_stdout", lambda: None)  # fd 1 is pytest's here
    assert main(["validate", str(HW)]) == 2  # nothing to say it on: the exit code says it, no traceback


# ---------------------------------------------------------------- issue 33: hostile study specs
def _study_spec(tmp_path, kind: str, **changes) -> Path:
    import copy

    from tests.analysis.studies.test_explore import EXPLORE, SENS

    d = copy.deepcopy(EXPLORE if kind == "explore" else SENS)
    for k, v in changes.items():
        cur = d
        *head, last = k.split("__")
        for h in head:
            cur = cur[h]
        cur[last] = v
    p = tmp_path / f"{kind}.yaml"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    return p


@pytest.mark.parametrize("kind, changes, needles", [
    ("explore", {"constraints": ["area_mm2 <= 1.2.3"]}, ["constraints[0]", "1.2.3"]),
    ("explore", {"optimizer__population": 10**9}, ["optimizer.population", "<= 10000"]),
    ("explore", {"optimizer__generations": 10**9}, ["optimizer.generations", "<= 10000"]),
    ("explore", {"optimizer__population": 5000, "optimizer__generations": 5000}, ["optimizer", "100,000"]),
    ("explore", {"scenarios": [{"name": "short", "set": {}, "bogus": 1}]}, ["scenarios[0].bogus", "unknown"]),
    ("sensitivity", {"morris__trajectories": 10**9}, ["morris.trajectories", "<= 10000"]),
    ("sensitivity", {"morris__levels": 3}, ["morris.levels", "even"]),
    ("sensitivity", {"sobol__samples": 2**40}, ["sobol.samples", "<= 65536"]),
    ("sensitivity", {"morris__trajectories": 10_000, "inputs": [
        {"name": f"x{i}", "paths": ["hw.dram.bandwidth_gbps"], "range": [51.2, 409.6], "source": "t"}
        for i in range(20)]}, ["morris.trajectories", "210,000 points"]),
])
def test_hostile_study_specs_refused_before_work(tmp_path, capsys, monkeypatch, kind, changes, needles):
    monkeypatch.chdir(ROOT)
    import analysis.studies.sweep as sweep

    monkeypatch.setattr(sweep, "_trace_for", lambda *a, **k: pytest.fail("work started"))
    p = _study_spec(tmp_path, kind, **changes)
    t0 = time.perf_counter()
    for argv in (["validate", str(p)], [kind, str(p), "--out", str(tmp_path / "o"), "--no-progress"]):
        one_error_line(capsys, main(argv), str(p), *needles)
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "o").exists()


def test_validate_recognises_every_shipped_file_kind(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = sorted(str(p.relative_to(ROOT)) for d in ("hwconfigs", "workloads", "workloads/models", "analysis/specs")
                   for p in (ROOT / d).glob("*.yaml"))
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out
    for f, kind in (("analysis/specs/codesign-edge.yaml", "explore spec"),
                    ("analysis/specs/open-choices.yaml", "sensitivity spec"),
                    ("analysis/specs/example-sweep.yaml", "sweep spec"), ("hwconfigs/vrex8-edge.yaml", "hardware"),
                    ("workloads/policy-suite.yaml", "policy suite"), ("workloads/tiny.yaml", "workload")):
        assert f"{f}: ok ({kind})" in out, out


def test_explore_nothing_feasible_is_a_reported_result(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    p = _study_spec(tmp_path, "explore", constraints=["area_mm2 <= 0.001"])
    out = tmp_path / "o"
    assert main(["explore", str(p), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert "no design meets every constraint" in capsys.readouterr().out
    md = (out / "codesign.md").read_text()
    assert "No feasible design" in md and "Closest designs" in md and "| `" in md


def test_explore_resume_refuses_another_spec(tmp_path, monkeypatch):
    from analysis.studies.explore import run_explore

    monkeypatch.chdir(ROOT)
    p = _study_spec(tmp_path, "explore", constraints=["area_mm2 <= 0.001"])
    run_explore(p, tmp_path / "o", workers=1, progress=False)
    before = (tmp_path / "o" / "spec.yaml").read_text()
    q = _study_spec(tmp_path, "explore", constraints=["area_mm2 <= 0.002"])
    with pytest.raises(ConfigError, match="different spec"):
        run_explore(q, tmp_path / "o", resume=True, workers=1, progress=False)
    assert (tmp_path / "o" / "spec.yaml").read_text() == before


def test_sigterm_stops_explore_with_points_kept_and_a_resume_hint(tmp_path):
    p = _study_spec(tmp_path, "explore", optimizer={"population": 4, "generations": 4, "seed": 1},
                    constraints=[])
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([*VREX, "explore", str(p), "--out", str(out), "--workers", "2", "--no-progress"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 150
    while time.time() < deadline and proc.poll() is None and not list(out.glob("points/*.parquet")):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    t0 = time.time()
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert time.time() - t0 < 15
    assert "Traceback" not in err and "leaked" not in err
    assert "explore stopped" in err and "--resume" in err
    assert list(out.glob("points/*.parquet"))


# ---------------------------------------------------------------- issue 33: metadata checked against the events
@pytest.mark.parametrize("changes, needle", [
    ({"tokens_per_frame": 0}, "tokens_per_frame': got 0"),
    ({"tokens_per_frame": 17}, "differs from the metadata's tokens_per_frame (17)"),
    ({"kv_heads": 1024, "head_dim": 4096}, "KV channels"),
    ({"kv_heads": 64}, "disagrees with the events"),
    ({"kv_bits_stored": 1e-300}, "kv_bits_stored"),
    ({"kv_bits_stored": 4.25}, "disagrees with the events"),
])
def test_metadata_checked_against_events(tmp_path, trace_file, changes, needle):
    p = _meta_changed(tmp_path, trace_file, **changes)
    with pytest.raises(VrexError) as ei:
        read_trace(p)
    msg = str(ei.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


@pytest.mark.parametrize("col", ["bytes_kv_read", "bytes_act_read", "bytes_weight_read", "flops_vector"])
def test_a_row_beyond_the_model_shapes_is_refused(tmp_path, trace_file, col):
    p, table, meta, kv = trace_file
    v = table.column(col).to_numpy().astype(np.int64)
    v[7] = 2**62
    with pytest.raises(TraceError, match=f"column '{col}', row 7: .* the model's shapes allow"):
        read_trace(_raw_write(tmp_path / "b.parquet", _with_column(table, col, v), meta, kv))


def test_plot_names_a_study_directory_it_does_not_draw(tmp_path, capsys):
    d = tmp_path / "ex"
    (d / "points").mkdir(parents=True)
    (d / "spec.yaml").write_text((ROOT / "analysis" / "specs" / "codesign-edge.yaml").read_text())
    one_error_line(capsys, main(["plot", str(d)]), str(d), "vrex explore")
