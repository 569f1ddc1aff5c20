"""The trace event: one row per fused kernel, with FLOPs and bytes by tensor class.

This module is the single definition of the trace table's columns (see ``traces/README.md``).
Units: FLOPs and element ops are counts; bytes are bytes; times are seconds of stream time.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

SCHEMA_VERSION = 4  # 3: metadata validated as a TraceMeta record (precision, kv_bits_stored required);
# 4: the offload tier is kv_tier "offload" (was "host"), its KV-table column offload_slots_all_layers (was
# host_slots_all_layers), per-(layer, KV head) policy counters in the tidy table policy_cells


class Phase(StrEnum):
    """The phase kinds of a stream (the ``phase`` column); members compare equal to their names."""

    VISION = "vision"
    FRAME_PREFILL = "frame_prefill"
    QUESTION_PREFILL = "question_prefill"
    DECODE = "decode"


class Kind(StrEnum):
    """The kernel kinds (the ``kind`` column); the engine groups them into families (``engine/ops.py``)."""

    GEMM = "gemm"
    ATTN_SCORE = "attn_score"
    SOFTMAX = "softmax"
    ATTN_VALUE = "attn_value"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    EMBEDDING = "embedding"
    KV_WRITE = "kv_write"
    KV_READ = "kv_read"
    RETRIEVAL_SCORE = "retrieval_score"
    CLUSTER = "cluster"
    WICSUM = "wicsum"
    TOPK = "topk"
    COPY = "copy"


class Tier(StrEnum):
    """KV tiers (the ``kv_tier`` column): device DRAM and the offload tier (an SSD or host memory behind PCIe,
    whichever the platform has)."""

    DRAM = "dram"
    OFFLOAD = "offload"


PHASES = tuple(p.value for p in Phase)
FRAME_PHASES = (Phase.VISION.value, Phase.FRAME_PREFILL.value)  # the phases that process a frame
TEXT_PHASES = (Phase.QUESTION_PREFILL.value, Phase.DECODE.value)  # the phases that process a question
KINDS = tuple(k.value for k in Kind)
TIERS = tuple(t.value for t in Tier)

# (column, arrow type, description with unit)
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("phase", pa.string(), "phase kind: " + ", ".join(PHASES)),
    ("frame", pa.int32(), "frame index (for question phases: frames seen so far - 1; -1 before any)"),
    ("question", pa.int32(), "question index, -1 for frame phases"),
    ("step", pa.int32(), "decode step within the answer, -1 otherwise"),
    ("t_arrival_s", pa.float64(), "stream time at which the phase's input arrives [s]"),
    ("tokens", pa.int32(), "tokens processed by the phase (query length)"),
    ("layer", pa.int16(), "layer index within its stack (vision or LLM); -1 outside layers"),
    ("head_group", pa.int16(), "KV-head group the event covers; -1 = all heads"),
    ("op", pa.string(), "kernel name, e.g. q_proj, attn_score, kv_write"),
    ("kind", pa.string(), "kernel kind: " + ", ".join(KINDS)),
    ("batch", pa.int64(), "GEMM batch count (heads x streams) or 0"),
    ("m", pa.int64(), "GEMM rows (tokens) or 0"),
    ("n", pa.int64(), "GEMM columns or 0"),
    ("k", pa.int64(), "GEMM reduction depth or 0"),
    ("flops_matmul", pa.int64(), "matrix FLOPs (2 per MAC)"),
    ("flops_vector", pa.int64(), "vector element operations"),
    ("bytes_weight_read", pa.int64(), "weight bytes read [B]"),
    ("bytes_act_read", pa.int64(), "activation bytes read [B]"),
    ("bytes_act_write", pa.int64(), "activation bytes written [B]"),
    ("bytes_kv_read", pa.int64(), "KV-cache bytes read [B]"),
    ("bytes_kv_write", pa.int64(), "KV-cache bytes written [B]"),
    ("kv_tier", pa.string(), "memory tier of the KV bytes: " + ", ".join(TIERS)),
    ("kv_len", pa.int64(), "context length attended (tokens) or 0"),
    ("candidates", pa.int64(), "retrieval: candidates scored or considered (tokens, clusters or frames), else 0"),
    ("selected", pa.int64(), "retrieval: candidates selected, else 0"),
    ("hash_compares", pa.int64(), "ReSV clustering: Hamming distances computed (XOR + popcount of hash codes)"),
    ("scores_processed", pa.int64(), "WiCSum: scores walked before the early exit, summed over query rows"),
    ("kv_runs", pa.int64(), "KV transfer requests in the cluster-contiguous layout (contiguous runs), 0 = one stream"),
    ("kv_token_runs", pa.int64(), "KV transfer requests in arrival order (contiguous token runs), 0 = one stream"),
    ("bytes_hc_read", pa.int64(), "HC-table bytes read from DRAM [B]"),
    ("bytes_hc_write", pa.int64(), "HC-table bytes written to DRAM [B]"),
    ("weight_bits", pa.int8(), "bits per weight element"),
    ("act_bits", pa.int8(), "bits per activation element"),
    ("kv_bits", pa.int8(), "bits per KV element"),
]

COLUMN_NAMES = [c[0] for c in COLUMNS]
ARROW_SCHEMA = pa.schema([pa.field(name, tp) for name, tp, _ in COLUMNS])
NUMPY_DTYPES = {name: tp.to_pandas_dtype() for name, tp, _ in COLUMNS if not pa.types.is_string(tp)}


# the keys of one phase instance (a run of consecutive events; phases do not interleave)
PHASE_KEYS = ("phase", "frame", "question", "step")
