"""Templated tracing (meta mode) gives the fully traced trace: every event (all columns and dtypes, row for
row), the KV table and the metadata, for each model and KV policy of the workloads on short streams."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.config.workload import KV_POLICIES, KvPolicyConfig, PrecisionConfig, Question, load_workload
from simulator.stream import StreamTracer

# the tiny model under every registered policy, with windows short enough that the policies' regimes change
# within the stream (sliding window wraps; ReSV offloads closed clusters and its HC table grows twice; the
# offloading methods select); a policy not named here runs with its defaults
TINY_PARAMS = {"sliding_window": {"window": 40, "sink_tokens": 4},
               "resv": {"recent_window": 48, "meta_cluster_tokens": 2}}
TINY_POLICIES = {name: TINY_PARAMS.get(name, {}) for name in KV_POLICIES}


def test_every_policy_is_templated():
    """The tiny-stream list is the registry (a policy that needs parameters says them in TINY_PARAMS)."""
    from simulator.kvpolicy import POLICIES

    assert set(TINY_PARAMS) <= set(TINY_POLICIES) == set(POLICIES)


def _assert_same(wl) -> dict:
    """Trace ``wl`` fully and templated; assert equal traces; return the templated run's statistics."""
    full = StreamTracer(wl, templated=False).run()
    tracer = StreamTracer(wl, templated=True)
    tmpl = tracer.run()
    pd.testing.assert_frame_equal(tmpl.events, full.events, check_exact=True)
    pd.testing.assert_frame_equal(tmpl.kv_tokens, full.kv_tokens, check_exact=True)
    meta_full, meta_tmpl = dict(full.meta), dict(tmpl.meta)
    meta_full.pop("trace_wall_s")
    meta_tmpl.pop("trace_wall_s")
    assert meta_tmpl == meta_full
    stats = tracer.template_stats()
    assert stats["untemplated_shapes"] == 0, stats
    return stats


@pytest.mark.parametrize("policy", sorted(TINY_POLICIES))
def test_templated_equals_traced_tiny(tiny_workload, policy):
    wl = tiny_workload.with_stream(duration_s=8.0, questions=(Question(at_s=3.0, prompt_tokens=6, answer_tokens=5),
                                                              Question(at_s=8.0, prompt_tokens=6, answer_tokens=5)))
    wl = wl.replace(kv_policy=KvPolicyConfig(name=policy, params=TINY_POLICIES[policy]))
    stats = _assert_same(wl)
    assert stats["generated"] > stats["traced"]  # most phases were computed, not traced


@pytest.mark.parametrize("policy", ["full", "oaken", "rekv", "resv"])
def test_templated_equals_traced_batch_precision_prefill(tiny_workload, policy):
    """Two streams at once, INT8 KV, a pre-computed cache (which ReSV and ReKV place as they would)."""
    wl = tiny_workload.with_stream(duration_s=5.0).replace(
        batch=2, precision=PrecisionConfig(kv="int8"), kv_prefill_tokens=100,
        kv_policy=KvPolicyConfig(name=policy, params=TINY_POLICIES[policy]))
    assert _assert_same(wl)["generated"] > 0


WORKLOADS = ["coin-avg-flexgen", "coin-avg-resv", "coin-llava-ov-7b", "coin-llava-ov-7b-rekv", "coin-llava-ov-7b-resv",
             "coin-videollm-online-8b", "coin-videollm-online-8b-flexgen", "coin-videollm-online-8b-infinigen",
             "coin-videollm-online-8b-infinigenp", "coin-videollm-online-8b-oaken", "coin-videollm-online-8b-rekv",
             "coin-videollm-online-8b-resv"]


@pytest.mark.parametrize("name", WORKLOADS)
def test_templated_equals_traced_workloads(root, name):
    """Each workload's model and policy (its parameters; ReSV's recent window shortened on the 8B model so
    that clusters close within the short stream), 7 s with two short questions."""
    wl = load_workload(root / "workloads" / f"{name}.yaml")
    if name == "coin-videollm-online-8b-resv":
        wl = wl.replace(kv_policy=KvPolicyConfig(name="resv", params={**wl.kv_policy.params, "recent_window": 40}))
    wl = wl.with_stream(duration_s=7.0, questions=(Question(at_s=3.0, prompt_tokens=24, answer_tokens=4),
                                                   Question(at_s=7.0, prompt_tokens=24, answer_tokens=4)))
    assert _assert_same(wl)["generated"] > 0


def test_workload_list_is_complete(root):
    assert sorted(p.stem for p in (root / "workloads").glob("coin-*.yaml")) == sorted(WORKLOADS)


def test_real_mode_is_traced(tiny_workload):
    tracer = StreamTracer(tiny_workload, mode="real")
    tracer.run()
    assert not tracer.templated and tracer.template_stats()["generated"] == 0


def test_templated_equals_traced_text_only(root, tmp_path):
    """A text-only model (no frames: the system prompt and questions on a pre-computed cache), MHA + GELU."""
    path = tmp_path / "text.yaml"
    path.write_text(f"name: text\nmodel: {root / 'workloads' / 'models' / 'mpt-7b.yaml'}\n"
                    "stream: {fps: 2.0, duration_s: 5, system_prompt_tokens: 8, questions: [{at_s: 1, "
                    "prompt_tokens: 12, answer_tokens: 6}, {at_s: 4, prompt_tokens: 12, answer_tokens: 6}]}\n"
                    "kv_prefill_tokens: 300\nkv_policy: {name: infinigen}\n")
    assert _assert_same(load_workload(path))["generated"] > 0


def test_store_without_its_own_plan_is_traced(tiny_workload, monkeypatch):
    """A store whose append differs from the one its meta plan describes falls back to full tracing."""
    from simulator.kvpolicy.full import FullPolicy
    from simulator.models.kv_cache import KVCache

    class Unplanned(KVCache):
        def append(self, k_new, v_new, q_pos=None):
            super().append(k_new, v_new, q_pos)

    monkeypatch.setattr(FullPolicy, "make_cache", lambda self, spec: Unplanned(
        spec.batch, spec.kv_heads, spec.head_dim, device=spec.device, dtype=spec.dtype))
    tracer = StreamTracer(tiny_workload)
    tracer.run()
    assert not tracer.templated and tracer.template_stats()["traced"] == 0
    assert StreamTracer(tiny_workload.replace(kv_policy=KvPolicyConfig(name="oaken"))).templated


VARIANTS = [("resv", {"recent_window": 40, "cluster_scope": "shared", "meta_token_run": 3.0, "meta_cluster_tokens": 5}),
            ("resv", {"recent_window": 8, "meta_text_share": 0.9, "meta_frame_share": 0.9, "meta_layer_max": 1.0}),
            ("infinigenp", {"meta_token_run": 2.5, "frame_share": 0.3}),
            ("rekv", {"frame_share": 0.1, "text_share": 1.0}),
            ("sliding_window", {"window": 17, "sink_tokens": 0})]


@pytest.mark.parametrize(("policy", "params"), VARIANTS)
def test_templated_equals_traced_policy_variants(tiny_workload, policy, params):
    """Policy parameters that change the plans' branches: a shared clustering, a recent window shorter than a
    frame, selections of almost everything or of whole phases, a window without sinks that wraps every frame."""
    wl = tiny_workload.with_stream(duration_s=8.0, questions=(Question(at_s=3.0, prompt_tokens=6, answer_tokens=5),
                                                              Question(at_s=5.0, prompt_tokens=3, answer_tokens=2)))
    assert _assert_same(wl.replace(kv_policy=KvPolicyConfig(name=policy, params=params)))["generated"] > 0


def test_plan_missing_a_dependency_is_caught(tiny_workload, monkeypatch):
    """A plan that forgets what the attention events depend on: the first traced phase that disagrees with
    the prediction disables its template, and the trace stays equal to the full one."""
    from simulator.models.kv_cache import KVCache

    planned = KVCache.meta_plan

    def forgetful(self, n, q_group):
        plan = planned(self, n, q_group)
        for op in ("attn_score", "softmax", "attn_value"):
            plan.params.pop(op)
        return plan

    monkeypatch.setattr(KVCache, "meta_plan", forgetful)
    tracer = StreamTracer(tiny_workload.with_stream(duration_s=6.0))
    tmpl = tracer.run()
    full = StreamTracer(tiny_workload.with_stream(duration_s=6.0), templated=False).run()
    pd.testing.assert_frame_equal(tmpl.events, full.events, check_exact=True)
    stats = tracer.template_stats()
    assert stats["untemplated_shapes"] >= 1 and stats["traced"] > stats["generated"]


def test_affine_fit_predicts_within_the_span_only():
    from simulator.tracer.template import AffineFit

    def f(p):  # two columns affine in (a, b)
        return np.array([[3 * p[0] + 5 * p[1] + 7, 11 * p[0]]], dtype=np.float64)

    fit = AffineFit((1, 1), f((1, 1)))
    assert fit.predict((2, 2)) is None
    fit.add((2, 3), f((2, 3)))
    assert np.array_equal(fit.predict((3, 5)), f((3, 5)))  # on the line through the samples
    assert fit.predict((3, 4)) is None  # off it
    fit.add((3, 4), f((3, 4)))
    assert np.array_equal(fit.predict((100, -7)), f((100, -7)))
