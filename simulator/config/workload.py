"""Workload configs: model shapes, the video stream, precision and the KV-cache policy.

A workload YAML names a model file (relative to the workload file, e.g. ``models/llava-ov-7b.yaml``)
and describes the stream: frame rate, duration, question times and answer lengths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config.hardware import PRECISION_BITS, PRECISIONS
from simulator.config.schema import build, load_yaml, spec
from simulator.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class LlmShape:
    """Decoder-only LLM (Qwen2/Llama style: GQA, RoPE, SwiGLU, RMSNorm; or a plain GELU MLP as in MPT and
    Falcon, whose other differences (ALiBi, parallel attention, LayerNorm) change no matrix shape)."""

    arch: str = spec("architecture family", choices=("qwen2", "llama", "mpt", "falcon"))
    layers: int = spec("decoder layers", ge=1)
    hidden: int = spec("hidden size", ge=1)
    heads: int = spec("query heads", ge=1)
    kv_heads: int = spec("key/value heads (GQA)", ge=1)
    head_dim: int = spec("dimension per head", ge=1)
    ffn: int = spec("FFN intermediate size", ge=1)
    mlp: str = spec("FFN form: swiglu (gate, up, down) or gelu (up, down)", choices=("swiglu", "gelu"),
                    default="swiglu")
    vocab: int = spec("vocabulary size", ge=1)
    qkv_bias: bool = spec("q/k/v projections have a bias (Qwen2: true)", default=False)
    rope_theta: float = spec("RoPE base", gt=0, default=10000.0)

    def validate(self, source: str, prefix: str) -> None:
        if self.heads % self.kv_heads:
            raise ConfigError(source, f"{prefix}.kv_heads", f"{self.kv_heads} must divide heads={self.heads}")
        if self.head_dim % 2:
            raise ConfigError(source, f"{prefix}.head_dim", f"{self.head_dim} must be even (RoPE)")


@dataclass(frozen=True, kw_only=True)
class VisionShape:
    """SigLIP-style ViT encoder plus the projector into the LLM."""

    arch: str = spec("architecture family", choices=("siglip",))
    layers: int = spec("encoder layers", ge=1)
    hidden: int = spec("hidden size", ge=1)
    heads: int = spec("attention heads", ge=1)
    ffn: int = spec("MLP intermediate size", ge=1)
    image_size: int = spec("input resolution (square)", unit="pixels", ge=1)
    patch_size: int = spec("patch size", unit="pixels", ge=1)
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
class ModelConfig:
    """A streaming video LLM: vision encoder -> projector -> pooled tokens -> LLM.

    A text-only LLM (no ``vision``) takes no frames: its stream is the system prompt and the questions.
    """

    name: str = spec("model name")
    llm: LlmShape = spec("language model")
    vision: VisionShape | None = spec("vision encoder (omit for a text-only LLM)", default=None)
    tokens_per_frame: int = spec("visual tokens per frame after pooling", ge=0, default=0)
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
class Question:
    """A question arriving at stream time ``at_s``."""

    at_s: float = spec("arrival time in the stream", unit="s", ge=0)
    prompt_tokens: int = spec("question length", unit="tokens", ge=1)
    answer_tokens: int = spec("answer length (decode steps)", unit="tokens", ge=1)


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    """The video stream: frames arrive every 1/fps seconds for ``duration_s``."""

    fps: float = spec("frames sampled per second", unit="frames/s", gt=0, le=120)
    duration_s: float = spec("stream length", unit="s", gt=0)
    questions: list[Question] = spec("questions asked during the stream", default_factory=tuple)
    system_prompt_tokens: int = spec("tokens prefilled before the first frame", ge=0, default=0)

    @property
    def frames(self) -> int:
        return max(1, int(round(self.fps * self.duration_s)))

    def validate(self, source: str, prefix: str) -> None:
        for i, q in enumerate(self.questions):
            if q.at_s > self.duration_s:
                raise ConfigError(source, f"{prefix}.questions[{i}].at_s",
                                  f"{q.at_s} is after the stream ends (duration_s={self.duration_s})")


@dataclass(frozen=True, kw_only=True)
class PrecisionConfig:
    """Storage precision of each tensor class (sets bytes per element)."""

    weights: str = spec("weights", choices=PRECISIONS, default="fp16")
    activations: str = spec("activations", choices=PRECISIONS, default="fp16")
    kv: str = spec("KV cache", choices=PRECISIONS, default="fp16")

    @property
    def bits(self) -> dict[str, int]:
        return {"weight": PRECISION_BITS[self.weights], "activation": PRECISION_BITS[self.activations],
                "kv": PRECISION_BITS[self.kv]}


KV_POLICIES = ("full", "sliding_window", "rekv", "resv", "flexgen", "infinigen", "infinigenp", "oaken")


@dataclass(frozen=True, kw_only=True)
class KvPolicyConfig:
    """KV-cache policy by name with its hyperparameters (checked by the policy itself)."""

    name: str = spec("policy", choices=KV_POLICIES)
    params: dict[str, Any] = spec("policy hyperparameters", default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class WorkloadConfig:
    """A model run on a stream with a KV policy."""

    name: str = spec("workload name")
    model: str = spec("model YAML, relative to this file")
    stream: StreamConfig = spec("video stream")
    precision: PrecisionConfig = spec("tensor precisions", default_factory=PrecisionConfig)
    kv_policy: KvPolicyConfig = spec("KV-cache policy", default_factory=lambda: KvPolicyConfig(name="full"))
    batch: int = spec("streams served at once", ge=1, default=1)
    kv_prefill_tokens: int = spec("tokens already in the KV cache when the trace starts (a pre-computed cache, "
                                  "placed in tiers as the policy would have left them; meta mode)", ge=0, default=0)
    model_config: ModelConfig | None = field(default=None, init=False, compare=False, repr=False)

    def replace(self, **changes) -> "WorkloadConfig":
        """A copy with ``changes`` applied (``stream=``, ``kv_policy=`` ...), keeping the loaded model."""
        new = dataclasses.replace(self, **changes)
        object.__setattr__(new, "model_config", self.model_config)
        return new

    def with_stream(self, **changes) -> "WorkloadConfig":
        """A copy whose stream has ``changes`` applied (e.g. ``duration_s=600``)."""
        return self.replace(stream=dataclasses.replace(self.stream, **changes))


def load_model(path: str | Path) -> ModelConfig:
    return build(ModelConfig, load_yaml(path), source=str(path))


def build_workload(data: Any, path: str | Path, *, source: str | None = None) -> WorkloadConfig:
    """Build a workload from parsed YAML ``data`` as if read from ``path`` (the model file is resolved next
    to it); the workload, its model and its KV-policy parameters are validated. ``source`` names the
    input in errors (default: ``path``)."""
    path = Path(path)
    source = source or str(path)
    wl = build(WorkloadConfig, data, source=source)
    model_path = (path.parent / wl.model).resolve()
    if not model_path.is_file():
        raise ConfigError(source, "model", f"model file '{wl.model}' not found next to the workload")
    object.__setattr__(wl, "model_config", load_model(model_path))
    from simulator.kvpolicy import check_policy_params  # local: policies validate their own params

    check_policy_params(wl.kv_policy, source=source)
    return wl


def load_workload(path: str | Path) -> WorkloadConfig:
    """Load a workload and the model file it names; both are validated."""
    return build_workload(load_yaml(path), path)
