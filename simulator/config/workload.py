"""Workload configs: model shapes, the video stream, precision and the KV-cache policy.

A workload YAML names a model file (relative to the workload file, e.g. ``models/llava-ov-7b.yaml``)
and describes the stream: frame rate, duration, question times and answer lengths.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config.hardware import PRECISION_BITS, PRECISIONS
from simulator.config.policies import KV_POLICIES, PolicyParams, policy_params
from simulator.config.schema import Validated, build, load_yaml, spec
from simulator.errors import ConfigError

# Upper limits and why (listed in the README's "Errors and limits").
WHY_LAYERS = "1024: 8x the deepest published LLM (126 layers); every layer is traced and replayed"
WHY_WIDTH = "65536: 4x the widest published LLM (hidden 16384)"
WHY_HEADS = "1024: 8x the most heads of any published model (128)"
WHY_FFN = "262144: 5x the widest published FFN (53248)"
WHY_TOKENS = "1M tokens: the longest context windows of current models"
WHY_ANSWER = ("65536: longer than any model's output limit; each answer token is one decode pass over every "
              "layer (about 2000 trace events for an 8B model)")
WHY_DURATION = "86400 s (one day of video); the trace holds about 2000 events per frame of an 8B model"
WHY_BATCH = "1024 streams: the KV cache of 1024 streams of an 8B model exceeds any device"
WHY_PREFILL = ("4M tokens: 4x the longest context windows; the tracer keeps per-token position tables for the "
               "pre-computed cache")
MAX_QUESTIONS = 10_000  # each question is a prefill plus answer_tokens decode passes
# Trace size estimate (meta mode): events per layer per pass, bytes per event while tracing (the events table
# takes ~250 B per row; building it from per-phase blocks about doubles that)
_EVENTS_PER_LLM_LAYER = 70  # ReSV's retrieval kernels included (plain attention: ~18)
_EVENTS_PER_VIT_LAYER = 15
_BYTES_PER_EVENT = 600


@dataclass(frozen=True, kw_only=True)
class LlmShape(Validated):
    """Decoder-only LLM (Qwen2/Llama style: GQA, RoPE, SwiGLU, RMSNorm; or a plain GELU MLP as in MPT and
    Falcon, whose other differences (ALiBi, parallel attention, LayerNorm) change no matrix shape)."""

    arch: str = spec("architecture family", choices=("qwen2", "llama", "mpt", "falcon"))
    layers: int = spec("decoder layers", ge=1, le=1024, why=WHY_LAYERS)
    hidden: int = spec("hidden size", ge=1, le=65536, why=WHY_WIDTH)
    heads: int = spec("query heads", ge=1, le=1024, why=WHY_HEADS)
    kv_heads: int = spec("key/value heads (GQA)", ge=1, le=1024, why=WHY_HEADS)
    head_dim: int = spec("dimension per head", ge=1, le=4096, why="4096: 16x the largest head dimension (256)")
    ffn: int = spec("FFN intermediate size", ge=1, le=262144, why=WHY_FFN)
    mlp: str = spec("FFN form: swiglu (gate, up, down) or gelu (up, down)", choices=("swiglu", "gelu"),
                    default="swiglu")
    vocab: int = spec("vocabulary size", ge=1, le=1 << 22, why="4M: 16x the largest vocabulary (256K)")
    qkv_bias: bool = spec("q/k/v projections have a bias (Qwen2: true)", default=False)
    rope_theta: float = spec("RoPE base", gt=0, default=10000.0, le=1e12,
                             why="1e12: 1e5x the largest RoPE base in use (5e5-1e7)")

    def validate(self, source: str, prefix: str) -> None:
        if self.heads % self.kv_heads:
            raise ConfigError(source, f"{prefix}.kv_heads", f"{self.kv_heads} must divide heads={self.heads}")
        if self.head_dim % 2:
            raise ConfigError(source, f"{prefix}.head_dim", f"{self.head_dim} must be even (RoPE)")


@dataclass(frozen=True, kw_only=True)
class VisionShape(Validated):
    """SigLIP-style ViT encoder plus the projector into the LLM."""

    arch: str = spec("architecture family", choices=("siglip",))
    layers: int = spec("encoder layers", ge=1, le=1024, why=WHY_LAYERS)
    hidden: int = spec("hidden size", ge=1, le=65536, why=WHY_WIDTH)
    heads: int = spec("attention heads", ge=1, le=1024, why=WHY_HEADS)
    ffn: int = spec("MLP intermediate size", ge=1, le=262144, why=WHY_FFN)
    image_size: int = spec("input resolution (square)", unit="pixels", ge=1, le=8192,
                           why="8192 px: wider than 8K video; a frame's patches are one attention pass")
    patch_size: int = spec("patch size", unit="pixels", ge=1, le=8192, why="at most the largest image_size")
    projector: str = spec("projector into the LLM", choices=("mlp2x_gelu", "linear"), default="mlp2x_gelu")

    def validate(self, source: str, prefix: str) -> None:
        if self.hidden % self.heads:
            raise ConfigError(source, f"{prefix}.heads", f"{self.heads} must divide hidden={self.hidden}")
        if self.patch_size > self.image_size:
            raise ConfigError(source, f"{prefix}.patch_size", f"{self.patch_size} must be <= image_size")

    @property
    def patches(self) -> int:
        """Patches per frame; a border narrower than one patch is dropped, as a strided conv does."""
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True, kw_only=True)
class ModelConfig(Validated):
    """A streaming video LLM: vision encoder -> projector -> pooled tokens -> LLM.

    A text-only LLM (no ``vision``) takes no frames: its stream is the system prompt and the questions.
    """

    name: str = spec("model name")
    llm: LlmShape = spec("language model")
    vision: VisionShape | None = spec("vision encoder (omit for a text-only LLM)", default=None)
    tokens_per_frame: int = spec("visual tokens per frame after pooling", ge=0, default=0, le=65536,
                                 why="65536: 8x the most visual tokens per frame of any model (8K video at 14 px)")
    source: str = spec("where the shapes come from", default="")

    def validate(self, source: str, prefix: str) -> None:
        if self.vision is None:
            if self.tokens_per_frame:
                raise ConfigError(source, "tokens_per_frame", "must be 0 (or absent) without a vision encoder")
            return
        if self.tokens_per_frame < 1:
            raise ConfigError(source, "tokens_per_frame", "must be >= 1 with a vision encoder")
        if self.tokens_per_frame > self.vision.patches + 1:
            raise ConfigError(
                source, "tokens_per_frame",
                f"{self.tokens_per_frame} exceeds the encoder's {self.vision.patches} patches (+1 class token)",
            )


@dataclass(frozen=True, kw_only=True)
class Question(Validated):
    """A question arriving at stream time ``at_s``."""

    at_s: float = spec("arrival time in the stream", unit="s", ge=0, le=86400, why=WHY_DURATION)
    prompt_tokens: int = spec("question length", unit="tokens", ge=1, le=1 << 20, why=WHY_TOKENS)
    answer_tokens: int = spec("answer length (decode steps)", unit="tokens", ge=1, le=65536, why=WHY_ANSWER)


@dataclass(frozen=True, kw_only=True)
class StreamConfig(Validated):
    """The video stream: frames arrive every 1/fps seconds for ``duration_s``."""

    fps: float = spec("frames sampled per second", unit="frames/s", gt=0, le=120)
    duration_s: float = spec("stream length", unit="s", gt=0, le=86400, why=WHY_DURATION)
    questions: list[Question] = spec("questions asked during the stream", default_factory=tuple)
    system_prompt_tokens: int = spec("tokens prefilled before the first frame", ge=0, default=0, le=1 << 20,
                                     why=WHY_TOKENS)

    @property
    def frames(self) -> int:
        return max(1, int(round(self.fps * self.duration_s)))

    def validate(self, source: str, prefix: str) -> None:
        if len(self.questions) > MAX_QUESTIONS:
            raise ConfigError(source, f"{prefix}.questions", f"{len(self.questions)} questions; at most "
                              f"{MAX_QUESTIONS} (each is a prefill and a decode pass per answer token)")
        for i, q in enumerate(self.questions):
            if q.at_s > self.duration_s:
                raise ConfigError(source, f"{prefix}.questions[{i}].at_s",
                                  f"{q.at_s} is after the stream ends (duration_s={self.duration_s})")


@dataclass(frozen=True, kw_only=True)
class PrecisionConfig(Validated):
    """Storage precision of each tensor class (sets bytes per element)."""

    weights: str = spec("weights", choices=PRECISIONS, default="fp16")
    activations: str = spec("activations", choices=PRECISIONS, default="fp16")
    kv: str = spec("KV cache", choices=PRECISIONS, default="fp16")

    @property
    def bits(self) -> dict[str, int]:
        return {"weight": PRECISION_BITS[self.weights], "activation": PRECISION_BITS[self.activations],
                "kv": PRECISION_BITS[self.kv]}


@dataclass(frozen=True, kw_only=True)
class KvPolicyConfig(Validated):
    """KV-cache policy by name with its hyperparameters. ``params`` holds what the YAML sets (a sweep sets one by
    path, ``kv_policy.params.<name>``); :meth:`resolve` is the policy's parameters record
    (``simulator/config/policies.py``) with every hyperparameter, typed and validated, built once."""

    name: str = spec("policy", choices=KV_POLICIES)
    params: dict[str, Any] = spec("policy hyperparameters", default_factory=dict)

    def resolve(self, source: str = "<workload>") -> PolicyParams:
        """The policy's parameters record (built on first use, then kept); a bad parameter is a one-line error
        naming ``source`` and ``kv_policy.params.<name>``."""
        cached = self.__dict__.get("_resolved")
        if cached is None:
            cached = policy_params(self.name, self.params, source=source)
            object.__setattr__(self, "_resolved", cached)
        return cached


@dataclass(frozen=True, kw_only=True)
class WorkloadConfig(Validated):
    """A model run on a stream with a KV policy."""

    name: str = spec("workload name")
    model: str = spec("model YAML, relative to this file")
    stream: StreamConfig = spec("video stream")
    precision: PrecisionConfig = spec("tensor precisions", default_factory=PrecisionConfig)
    kv_policy: KvPolicyConfig = spec("KV-cache policy", default_factory=lambda: KvPolicyConfig(name="full"))
    batch: int = spec("streams served at once", ge=1, default=1, le=1024, why=WHY_BATCH)
    kv_prefill_tokens: int = spec("tokens already in the KV cache when the trace starts (a pre-computed cache, "
                                  "placed in tiers as the policy would have left them; meta mode)", ge=0, default=0,
                                  le=1 << 22, why=WHY_PREFILL)
    model_config: ModelConfig | None = field(default=None, init=False, compare=False, repr=False)

    def replace(self, **changes) -> "WorkloadConfig":
        """A copy with ``changes`` applied (``stream=``, ``kv_policy=`` ...), keeping the loaded model."""
        new = dataclasses.replace(self, **changes)
        object.__setattr__(new, "model_config", self.model_config)
        return new

    def with_stream(self, **changes) -> "WorkloadConfig":
        """A copy whose stream has ``changes`` applied (e.g. ``duration_s=600``)."""
        return self.replace(stream=dataclasses.replace(self.stream, **changes))


def trace_size_estimate(wl: WorkloadConfig) -> tuple[int, int]:
    """(events, bytes) a meta-mode trace of ``wl`` needs at most, before it is made (an upper estimate:
    retrieval kernels counted for every layer)."""
    m = wl.model_config
    llm_pass = m.llm.layers * _EVENTS_PER_LLM_LAYER + 8
    vit_pass = m.vision.layers * _EVENTS_PER_VIT_LAYER + 8 if m.vision is not None else 0
    frames = wl.stream.frames if m.vision is not None else 0
    passes_q = sum(1 + q.answer_tokens for q in wl.stream.questions) + 1
    events = frames * (llm_pass + vit_pass) + passes_q * llm_pass
    return events, events * _BYTES_PER_EVENT


def real_mode_memory_estimate(wl: WorkloadConfig) -> int:
    """Bytes a real-mode trace needs at least: FP32 weights on the CPU plus the FP32 KV cache of every token
    (a lower estimate: activations and the policies' own tables come on top)."""
    m = wl.model_config
    s = m.llm
    mlp = (3 if s.mlp == "swiglu" else 2) * s.hidden * s.ffn
    llm = s.layers * (s.hidden * (s.heads + 2 * s.kv_heads) * s.head_dim + s.heads * s.head_dim * s.hidden + mlp) \
        + 2 * s.vocab * s.hidden
    vit = m.vision.layers * (4 * m.vision.hidden**2 + 2 * m.vision.hidden * m.vision.ffn) if m.vision else 0
    frames = wl.stream.frames if m.vision is not None else 0
    tokens = (wl.stream.system_prompt_tokens + frames * m.tokens_per_frame
              + sum(q.prompt_tokens + q.answer_tokens for q in wl.stream.questions))
    kv = tokens * s.layers * 2 * s.kv_heads * s.head_dim * wl.batch
    return 4 * (llm + vit + kv)


def check_real_mode(wl: WorkloadConfig, source: str) -> None:
    """Refuse a real-mode trace that cannot fit this machine's memory, with the estimate, before it starts."""
    need, have = real_mode_memory_estimate(wl), _machine_memory()
    if need > have // 2:
        raise ConfigError(source, "model", f"--mode real needs at least ~{need / 2**30:.1f} GiB (FP32 weights and KV "
                          f"cache on the CPU), more than half of this machine's {have / 2**30:.1f} GiB; use "
                          "--mode meta")


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 16 GiB
        return 16 << 30


def check_workload(wl: WorkloadConfig, source: str, key: str = "stream.duration_s") -> None:
    """Cross-checks after the model is known or a flag changed the stream: questions within the stream, the
    trace within this machine's memory (refused with an estimate before tracing starts)."""
    wl.stream.validate(source, "stream")
    events, need = trace_size_estimate(wl)
    have = _machine_memory()
    if need > have // 2:
        raise ConfigError(source, key, f"the trace would need ~{need / 2**30:.1f} GiB ({events:,} events: "
                          f"{wl.stream.frames:,} frames, {len(wl.stream.questions)} questions), more than half of "
                          f"this machine's {have / 2**30:.1f} GiB; shorten the stream, lower fps or answer_tokens")


def load_model(path: str | Path) -> ModelConfig:
    return build(ModelConfig, load_yaml(path), source=str(path))


PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODELS = PROJECT_ROOT / "workloads" / "models"


def find_model(model: str, workload_path: Path, source: str) -> Path:
    """A workload's model file: next to the workload, then from the project root (or its workloads/, where the
    shipped workloads' ``models/...`` paths point), then by name from the shipped models (``llama-3-8b`` ->
    workloads/models/llama-3-8b.yaml); the error lists the shipped names."""
    for cand in (workload_path.parent / model, PROJECT_ROOT / model, PROJECT_ROOT / "workloads" / model,
                 SHIPPED_MODELS / model,
                 SHIPPED_MODELS / f"{model}.yaml"):
        if cand.is_file():
            return cand.resolve()
    names = ", ".join(sorted(p.stem for p in SHIPPED_MODELS.glob("*.yaml")))
    raise ConfigError(source, "model", f"model '{model}' not found next to the workload, in the project or among "
                      f"the shipped models ({names})")


def build_workload(data: Any, path: str | Path, *, source: str | None = None) -> WorkloadConfig:
    """Build a workload from parsed YAML ``data`` as if read from ``path`` (the model file is resolved next
    to it); the workload, its model and its KV-policy parameters are validated. ``source`` names the
    input in errors (default: ``path``)."""
    path = Path(path)
    source = source or str(path)
    wl = build(WorkloadConfig, data, source=source)
    model_path = find_model(wl.model, path, source)
    object.__setattr__(wl, "model_config", load_model(model_path))
    wl.kv_policy.resolve(source)  # typed and validated at load, kept for the tracer
    check_workload(wl, source)
    return wl


def load_workload(path: str | Path) -> WorkloadConfig:
    """Load a workload and the model file it names; both are validated."""
    return build_workload(load_yaml(path), path)
