"""Workload and model configs: shipped files load; impossible values are rejected."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from simulator.config.workload import load_workload
from simulator.errors import ConfigError

WORKLOADS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "workloads").glob("*.yaml")
                   if p.stem != "policy-suite")  # the suite is a list of workloads, not one


@pytest.mark.parametrize("name", WORKLOADS)
def test_shipped_workloads_load(root, name):
    wl = load_workload(root / "workloads" / f"{name}.yaml")
    assert wl.model_config is not None
    assert wl.stream.frames >= 1


def test_llava_ov_shapes(root):
    m = load_workload(root / "workloads" / "coin-llava-ov-7b.yaml").model_config
    s = m.llm
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.head_dim, s.ffn) == (28, 3584, 28, 4, 128, 18944)
    assert m.tokens_per_frame == 196
    assert m.vision.patches == 729


def _write_wl(tmp_path, root, mutate):
    data = yaml.safe_load((root / "workloads" / "tiny.yaml").read_text())
    mutate(data)
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "tiny.yaml").write_text((root / "workloads" / "models" / "tiny.yaml").read_text())
    p = tmp_path / "wl.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda d: d["stream"].update(fps=0), "stream.fps"),
        (lambda d: d["stream"].update(duration_s=-1), "stream.duration_s"),
        (lambda d: d["stream"]["questions"][0].update(at_s=99), "stream.questions[0].at_s"),
        (lambda d: d["stream"]["questions"][0].update(answer_tokens=0), "stream.questions[0].answer_tokens"),
        (lambda d: d.update(kv_policy={"name": "magic"}), "kv_policy.name"),
        (lambda d: d.update(kv_policy={"name": "sliding_window", "params": {"windw": 8}}),
         "kv_policy.params.windw"),
        (lambda d: d.update(kv_policy={"name": "sliding_window", "params": {"window": 2}}),
         "kv_policy.params.window"),
        (lambda d: d.update(precision={"weights": "fp8"}), "precision.weights"),
        (lambda d: d.update(model="models/none.yaml"), "model"),
    ],
)
def test_bad_workloads(tmp_path, root, mutate, key):
    p = _write_wl(tmp_path, root, mutate)
    with pytest.raises(ConfigError) as ei:
        wl = load_workload(p)
        # window too small for a frame is found when the stream is set up
        from simulator.stream import StreamTracer

        StreamTracer(wl, source=str(p))
    assert f"'{key}'" in str(ei.value)
    assert str(p) in str(ei.value)


def test_bad_model_shape(tmp_path, root):
    model = yaml.safe_load((root / "workloads" / "models" / "tiny.yaml").read_text())
    model["llm"]["kv_heads"] = 3
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.yaml").write_text(yaml.safe_dump(model))
    wl = yaml.safe_load((root / "workloads" / "tiny.yaml").read_text())
    (tmp_path / "wl.yaml").write_text(yaml.safe_dump(wl))
    with pytest.raises(ConfigError, match="llm.kv_heads"):
        load_workload(tmp_path / "wl.yaml")


def test_loading_a_workload_does_not_import_torch(root):
    """Policies validate their parameters without their tensors: torch loads only when a stream is traced."""
    import subprocess
    import sys

    paths = sorted(str(p) for p in (root / "workloads").glob("*.yaml") if p.name != "policy-suite.yaml")
    code = ("import sys; from simulator.config.workload import load_workload; "
            f"[load_workload(p) for p in {paths!r}]; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_one_list_of_policy_names():
    """The config's parameter records name the policies; each has its behaviour, which extends the record (so a
    parameter has one owner, in simulator/config/policies.py)."""
    from simulator.config.policies import POLICY_PARAMS
    from simulator.config.workload import KV_POLICIES
    from simulator.kvpolicy import POLICIES

    assert KV_POLICIES == tuple(POLICIES) == tuple(POLICY_PARAMS)
    for name, params in POLICY_PARAMS.items():
        assert issubclass(POLICIES[name], params) and POLICIES[name].name == name
        assert [f.name for f in dataclasses.fields(POLICIES[name])] == [f.name for f in dataclasses.fields(params)]


def test_policy_params_resolve_to_the_policy_dataclass_at_load(root, tmp_path):
    """kv_policy.params become the policy's typed parameters record when the workload loads, built once; the
    tracer's policy is built from that record, and the trace records every hyperparameter (defaults included),
    not only those the YAML set."""
    from simulator.config.policies import ResvParams
    from simulator.kvpolicy import POLICIES, make_policy
    from simulator.kvpolicy.resv import ResvPolicy
    from simulator.stream import StreamTracer

    wl = load_workload(root / "workloads" / "coin-videollm-online-8b-resv.yaml")
    rec = wl.kv_policy.resolve()
    assert isinstance(rec, ResvParams) and wl.kv_policy.resolve() is rec
    assert rec.hamming_threshold == wl.kv_policy.params.get("hamming_threshold", 7)
    tiny = load_workload(root / "workloads" / "tiny.yaml")
    tracer = StreamTracer(tiny.with_stream(duration_s=1.0), mode="meta")
    assert type(tracer.policy) is POLICIES[tiny.kv_policy.name] and \
        tracer.policy.hyperparameters() == tiny.kv_policy.resolve().hyperparameters()
    assert isinstance(make_policy(wl.kv_policy), ResvPolicy)
    meta = tracer.meta_preview()
    assert meta["kv_policy_params"] == tracer.policy.hyperparameters()
    bad = tmp_path / "w.yaml"
    text = (root / "workloads" / "coin-videollm-online-8b-resv.yaml").read_text()
    bad.write_text(text.replace("hash_bits: 32", "hash_bits: 99"))
    (tmp_path / "models").symlink_to(root / "workloads" / "models")
    with pytest.raises(ConfigError, match=r"kv_policy\.params\.hash_bits"):
        load_workload(bad)
