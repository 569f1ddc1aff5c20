"""Compare KV-cache policies on one stream: memory, bytes fetched, attention recall, DRE statistics.

Each policy of a suite (``workloads/policy-suite.yaml``) traces the same workload. In real mode (small
models) every decision is taken on real tensors and the attention-mass recall against full attention
over every token seen is measured; in meta mode the figures follow the policies' profile parameters.
The ``profile`` columns (merge ratio, selected share, DRE bits) are what a meta-mode ReSV workload
takes as ``meta_*`` parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.config.schema import build, load_yaml, spec
from simulator.config.workload import KvPolicyConfig, WorkloadConfig
from simulator.tracer.stream import Trace, trace_workload


@dataclass(frozen=True, kw_only=True)
class PolicySuite:
    policies: list[KvPolicyConfig] = spec("policies to compare")


def load_suite(path) -> PolicySuite:
    suite = build(PolicySuite, load_yaml(path), source=str(path))
    from simulator.kvpolicy import check_policy_params

    for i, p in enumerate(suite.policies):
        check_policy_params(p, source=f"{path} (policies[{i}])")
    return suite


def _params(p: KvPolicyConfig) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.params.items())


def policy_row(label: str, tr: Trace) -> dict:
    ev, meta, kv = tr.events, tr.meta, tr.kv_tokens
    per_slot = 2 * meta["kv_heads"] * meta["head_dim"] * meta["precision_bits"]["kv"] // 8 * meta["batch"]
    last = kv.iloc[-1]
    reads = ev[ev["kind"].isin(["attn_score", "attn_value", "kv_read", "retrieval_score", "cluster"])
               | (ev["bytes_kv_read"] > 0)]
    frame = reads[reads["phase"] == "frame_prefill"]
    quest = reads[reads["phase"].isin(["question_prefill", "decode"])]
    n_frames = max(1, meta["frames"])
    n_q = max(1, len(meta["questions"]))
    score = ev[ev["kind"] == "retrieval_score"]
    bit_rows = score[score["score_bits"] > 0]
    stats = meta.get("policy_stats", {})
    row = {
        "policy": label,
        "stream_min": meta["frames"] / meta["fps"] / 60.0,
        "kv_device_mib": last["kv_slots_all_layers"] * per_slot / 2**20,
        "kv_host_mib": last["host_slots_all_layers"] * per_slot / 2**20,
        "slots_per_layer": int(last["kv_slots"]),
        "tokens_seen": int(last["tokens_seen"]),
        "kv_fetched_per_frame_kib": frame["bytes_kv_read"].sum() / n_frames / 1024,
        "kv_fetched_per_question_kib": quest["bytes_kv_read"].sum() / n_q / 1024,
        "host_fetched_per_question_kib": quest.loc[quest["kv_tier"] == "host", "bytes_kv_read"].sum() / n_q / 1024,
        "recall_vs_full": tr.meta.get("attention_recall_mean", float("nan")),
        "selected_share": float((score["selected"] / score["candidates"].clip(lower=1)).mean()) if len(score)
        else float("nan"),
        "dre_bits_needed": float(bit_rows["bits_needed_mean"].mean()) if len(bit_rows) else float("nan"),
        "dre_bits_hist": " ".join(f"{k.rsplit('_', 1)[1]}b:{v}" for k, v in stats.items()
                                  if k.startswith("dre_bits_hist_")),
        "merge_ratio": 1.0 - stats["frame_clusters_created"] / stats["frame_tokens"]
        if stats.get("frame_tokens") else float("nan"),
    }
    return row


def compare_policies(wl: WorkloadConfig, suite: PolicySuite, *, mode: str = "real", progress: bool = False
                     ) -> pd.DataFrame:
    rows = []
    for p in suite.policies:
        tr = trace_workload(wl.replace(kv_policy=p), mode=mode, measure_recall=(mode == "real"), progress=progress)
        rows.append(policy_row(p.name, tr) | {"params": _params(p)})
    return pd.DataFrame(rows)


def render(df: pd.DataFrame, workload: str, mode: str) -> str:
    cols = [("policy", "policy", "s"), ("kv_device_mib", "KV dev MiB", ".3g"), ("kv_host_mib", "KV host MiB", ".3g"),
            ("kv_fetched_per_frame_kib", "KiB/frame", ".4g"), ("kv_fetched_per_question_kib", "KiB/question", ".4g"),
            ("recall_vs_full", "recall", ".3f"), ("selected_share", "selected", ".3f"),
            ("dre_bits_needed", "DRE bits", ".2f"), ("merge_ratio", "merged", ".3f")]
    minutes = df["stream_min"].iloc[0] if len(df) else 0
    lines = [f"KV policies on {workload} ({mode} mode), KV memory after {minutes:.2f} min of stream", ""]
    width = max(12, max((len(p) for p in df["policy"]), default=10))
    lines.append(" ".join(f"{h:>{width if k == 'policy' else 12}}" for k, h, _ in cols))
    for _, r in df.iterrows():
        cells = []
        for k, _, fmt in cols:
            v = r[k]
            if k == "policy":
                cells.append(f"{v:>{width}}")
            elif isinstance(v, float) and np.isnan(v):
                cells.append(f"{'-':>12}")
            else:
                cells.append(f"{format(v, fmt):>12}")
        lines.append(" ".join(cells))
    lines += [""] + [f"  {r['policy']}: {r['params'] or 'no parameters'}" for _, r in df.iterrows()]
    lines += [f"  {r['policy']} DRE candidates by key bits needed: {r['dre_bits_hist']}"
              for _, r in df.iterrows() if r["dre_bits_hist"]]
    lines += ["", "KiB/frame, KiB/question: KV bytes read (all tiers) per frame prefill and per question "
              "(prefill + answer); recall: attention mass covered vs full attention over every token seen "
              "(real mode); selected: share of retrieval candidates attended; DRE bits: key bits evaluated "
              "per candidate with early exit; merged: share of frame tokens merged into clusters."]
    return "\n".join(lines)
