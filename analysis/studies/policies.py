"""Compare KV-cache policies on one stream: memory, bytes fetched, attention recall, ReSV statistics.

Each policy of a suite (``workloads/policy-suite.yaml``) traces the same workload. In real mode (small
models) every decision is taken on real tensors and the attention-mass recall against full attention
over every token seen is measured; in meta mode the figures follow the policies' profile parameters.
For ReSV the row also gives the retrieval ratios in frame processing and text generation (tokens
attended out of the cached frame tokens), the mean cluster size, the share of scores the WTU walks
before its early exit and the HC-table size beside the KV size: the quantities its meta profile takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.config.schema import build, load_yaml, spec
from simulator.config.workload import KvPolicyConfig, WorkloadConfig
from simulator.engine.memory.kv_memory import kv_bytes_held
from simulator.stream import Trace, trace_workload
from simulator.tracer.trace_file import policy_cells


@dataclass(frozen=True, kw_only=True)
class PolicySuite:
    policies: list[KvPolicyConfig] = spec("policies to compare")


def load_suite(path) -> PolicySuite:
    suite = build(PolicySuite, load_yaml(path), source=str(path))
    for i, p in enumerate(suite.policies):
        p.resolve(f"{path} (policies[{i}])")  # typed and validated at load
    return suite


def _params(p: KvPolicyConfig) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.params.items())


def policy_row(label: str, tr: Trace) -> dict:
    ev, meta, kv = tr.events, tr.record, tr.kv_tokens
    last = kv.iloc[-1]
    reads = ev[ev["kind"].isin(["attn_score", "attn_value", "kv_read", "retrieval_score", "cluster"])
               | (ev["bytes_kv_read"] > 0)]
    frame = reads[reads["phase"] == "frame_prefill"]
    quest = reads[reads["phase"].isin(["question_prefill", "decode"])]
    n_frames = max(1, meta.frames)
    n_q = max(1, len(meta.questions))
    score = ev[ev["kind"].isin(["wicsum", "topk"])]
    stats = meta.policy_stats

    def ratio(a: str, b: str) -> float:
        return float(stats[a] / stats[b]) if stats.get(b) else float("nan")

    row = {
        "policy": label,
        "stream_min": meta.frames / meta.fps / 60.0,
        "kv_device_mib": kv_bytes_held(kv, meta)[-1] / 2**20,  # at the bits the policy stores (Oaken: 4 + scales)
        "kv_offload_mib": kv_bytes_held(kv, meta, "offload_slots_all_layers")[-1] / 2**20,
        "slots_per_layer": int(last["kv_slots"]),
        "tokens_seen": int(last["tokens_seen"]),
        "kv_fetched_per_frame_kib": frame["bytes_kv_read"].sum() / n_frames / 1024,
        "kv_fetched_per_question_kib": quest["bytes_kv_read"].sum() / n_q / 1024,
        "offload_fetched_per_question_kib": quest.loc[quest["kv_tier"] == "offload", "bytes_kv_read"].sum() / n_q
        / 1024,
        "recall_vs_full": meta.attention_recall_mean if meta.attention_recall_mean is not None else float("nan"),
        "selected_share": float((score["selected"] / score["candidates"].clip(lower=1)).mean()) if len(score)
        else float("nan"),
        "frame_retrieval": ratio("frame_selected", "frame_available"),
        "text_retrieval": ratio("text_selected", "text_available"),
        "tokens_per_cluster": ratio("frame_tokens", "clusters"),
        "wtu_processed": ratio("wtu_processed", "wtu_scores"),
        "hc_table_kib": stats["hc_table_bytes"] / 1024 if "hc_table_bytes" in stats else float("nan"),
        "kv_kib": stats["kv_bytes"] / 1024 if "kv_bytes" in stats else float("nan"),
    }
    return row


def retrieval_heatmap(tr: Trace, phase: str = "frame") -> pd.DataFrame:
    """ReSV's retrieval share per layer (rows) and KV head (columns) for ``phase`` (frame or text)."""
    return retrieval_shares(policy_cells(tr.meta), phase).pivot(index="layer", columns="head", values="share")


def retrieval_shares(cells: pd.DataFrame, phase: str = "frame") -> pd.DataFrame:
    """Selected / available tokens per layer and KV head for ``phase`` (frame or text), from the tidy table of
    a trace's ``policy_cells``: columns layer, head, share."""
    t = cells.pivot_table(index=["layer", "head"], columns="stat", values="value", aggfunc="sum")
    sel, avail = f"{phase}_selected", f"{phase}_available"
    if sel not in t or avail not in t:
        return pd.DataFrame(columns=["layer", "head", "share"])
    share = (t[sel] / t[avail].where(t[avail] > 0)).rename("share")
    return share.reset_index()


def compare_policies(wl: WorkloadConfig, suite: PolicySuite, *, mode: str = "real", progress: bool = False,
                     traces: dict[str, Trace] | None = None) -> pd.DataFrame:
    """One row per policy; ``traces``, if given, receives each policy's trace by name."""
    rows = []
    for p in suite.policies:
        tr = trace_workload(wl.replace(kv_policy=p), mode=mode, measure_recall=(mode == "real"), progress=progress)
        rows.append(policy_row(p.name, tr) | {"params": _params(p)})
        if traces is not None:
            traces[p.name] = tr
    return pd.DataFrame(rows)


def plot_retrieval_heatmaps(traces: dict[str, Trace], path) -> list:
    """Per-layer x per-head retrieval share (frame processing, text generation) of each policy that has
    one (ReSV), as PNG and PDF; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    maps = [(name, ph, retrieval_heatmap(tr, ph)) for name, tr in traces.items() for ph in ("frame", "text")]
    maps = [m for m in maps if not m[2].empty]
    if not maps:
        return []
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 4.0), squeeze=False)
    for ax, (name, ph, tab) in zip(axes[0], maps):
        im = ax.imshow(tab.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=max(0.05, float(np.nanmax(tab))))
        ax.set_title(f"{name}: {'frame processing' if ph == 'frame' else 'text generation'}")
        ax.set_xlabel("KV head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(tab.shape[1]))
        ax.set_yticks(range(0, tab.shape[0], max(1, tab.shape[0] // 8)))
        fig.colorbar(im, ax=ax, label="retrieval share (tokens attended / cached)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    for f in out:
        fig.savefig(f, dpi=150)
    plt.close(fig)
    return out


def render(df: pd.DataFrame, workload: str, mode: str) -> str:
    cols = [("policy", "policy", "s"), ("kv_device_mib", "KV dev MiB", ".3g"), ("kv_offload_mib", "KV host MiB", ".3g"),
            ("kv_fetched_per_frame_kib", "KiB/frame", ".4g"), ("kv_fetched_per_question_kib", "KiB/question", ".4g"),
            ("recall_vs_full", "recall", ".3f"), ("frame_retrieval", "frame retr", ".3f"),
            ("text_retrieval", "text retr", ".3f"), ("tokens_per_cluster", "tok/cluster", ".3g"),
            ("wtu_processed", "WTU walked", ".3f"), ("hc_table_kib", "HC KiB", ".4g"), ("kv_kib", "KV KiB", ".4g")]
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
    lines += ["", "KiB/frame, KiB/question: KV bytes read (all tiers) per frame prefill and per question "
              "(prefill + answer); recall: attention mass covered vs full attention over every token seen "
              "(real mode); frame/text retr: ReSV's retrieval ratio (frame tokens attended out of those cached) "
              "in frame processing and text generation; tok/cluster: mean cluster size; WTU walked: share of "
              "the scores the WTU processes before its early exit; HC KiB beside KV KiB: the HC table (cluster "
              "keys, codes, counts) and the whole KV cache of one layer set, all layers."]
    return "\n".join(lines)
