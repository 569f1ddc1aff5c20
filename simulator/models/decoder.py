"""Qwen2/Llama-style decoder: GQA attention with RoPE, SwiGLU (or GELU) FFN, RMSNorm; plain nn.Modules.

Every kernel sits in a :func:`context.region` so the tracer records one event per fused kernel.
Attention is written out (scores, mask + softmax, weighted values) instead of calling SDPA so that
its parts are separate events, and GQA is computed per KV head (queries of a group share K/V reads).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from simulator.config.workload import LlmShape
from simulator.models.kv_cache import KVCache
from simulator.tracer import context


class RMSNorm(nn.Module):
    def __init__(self, dim: int, name: str, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps, self.name = eps, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with context.region(self.name, "norm"):
            var = x.pow(2).mean(-1, keepdim=True)
            return x * torch.rsqrt(var + self.eps) * self.weight


def rope_tables(positions: np.ndarray, head_dim: int, theta: float, device, dtype) -> tuple[torch.Tensor, ...]:
    """cos/sin tables [len, head_dim] for the given token positions (not recorded: precomputed)."""
    with context.paused():
        inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
        ang = np.outer(positions.astype(np.float64), inv)
        emb = np.concatenate([ang, ang], axis=-1)
        if torch.device(device).type == "meta":
            shape = emb.shape
            return torch.empty(shape, device="meta", dtype=dtype), torch.empty(shape, device="meta", dtype=dtype)
        return (torch.tensor(np.cos(emb), dtype=dtype, device=device),
                torch.tensor(np.sin(emb), dtype=dtype, device=device))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    """Grouped-query attention over a :class:`KVCache`."""

    def __init__(self, s: LlmShape):
        super().__init__()
        self.s = s
        self.q_proj = nn.Linear(s.hidden, s.heads * s.head_dim, bias=s.qkv_bias)
        self.k_proj = nn.Linear(s.hidden, s.kv_heads * s.head_dim, bias=s.qkv_bias)
        self.v_proj = nn.Linear(s.hidden, s.kv_heads * s.head_dim, bias=s.qkv_bias)
        self.o_proj = nn.Linear(s.heads * s.head_dim, s.hidden, bias=False)

    def forward(self, x: torch.Tensor, cache: KVCache, cos: torch.Tensor, sin: torch.Tensor,
                q_pos: np.ndarray) -> torch.Tensor:
        s = self.s
        b, n, _ = x.shape
        g = s.heads // s.kv_heads
        with context.region("q_proj", "gemm"):
            q = self.q_proj(x)
        with context.region("k_proj", "gemm"):
            k = self.k_proj(x)
        with context.region("v_proj", "gemm"):
            v = self.v_proj(x)
        q = q.view(b, n, s.kv_heads, g, s.head_dim).permute(0, 2, 3, 1, 4)  # [b, kvh, g, n, d]
        k = k.view(b, n, s.kv_heads, s.head_dim).transpose(1, 2)  # [b, kvh, n, d]
        v = v.view(b, n, s.kv_heads, s.head_dim).transpose(1, 2)
        with context.region("rope", "elementwise"):
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        cache.append(k, v, q_pos)
        out = cache.attend(q, q_pos)  # [b, n, heads*head_dim]; the cache's policy picks the keys
        with context.region("o_proj", "gemm"):
            return self.o_proj(out)


class FFN(nn.Module):
    """SwiGLU (gate, up, down: Llama, Qwen2) or a plain GELU MLP (up, down: MPT, Falcon)."""

    def __init__(self, s: LlmShape):
        super().__init__()
        self.gated = s.mlp == "swiglu"
        if self.gated:
            self.gate_proj = nn.Linear(s.hidden, s.ffn, bias=False)
        self.up_proj = nn.Linear(s.hidden, s.ffn, bias=False)
        self.down_proj = nn.Linear(s.ffn, s.hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            with context.region("gate_proj", "gemm"):
                gate = self.gate_proj(x)
        with context.region("up_proj", "gemm"):
            up = self.up_proj(x)
        with context.region("act_mul" if self.gated else "act", "elementwise"):
            h = torch.nn.functional.silu(gate) * up if self.gated else torch.nn.functional.gelu(up)
        with context.region("down_proj", "gemm"):
            return self.down_proj(h)


class DecoderLayer(nn.Module):
    def __init__(self, s: LlmShape):
        super().__init__()
        self.input_norm = RMSNorm(s.hidden, "input_norm")
        self.attn = Attention(s)
        self.post_norm = RMSNorm(s.hidden, "post_attn_norm")
        self.mlp = FFN(s)

    def forward(self, x, cache, cos, sin, q_pos):
        h = self.attn(self.input_norm(x), cache, cos, sin, q_pos)
        with context.region("residual_attn", "elementwise"):
            x = x + h
        h = self.mlp(self.post_norm(x))
        with context.region("residual_mlp", "elementwise"):
            return x + h


class DecoderLM(nn.Module):
    """Embedding + ``n_layers`` decoder layers + final norm + LM head.

    ``n_layers`` may be 1 in meta mode: one representative layer is traced and replicated.
    """

    def __init__(self, s: LlmShape, n_layers: int | None = None):
        super().__init__()
        self.s = s
        self.embed = nn.Embedding(s.vocab, s.hidden)
        self.layers = nn.ModuleList(DecoderLayer(s) for _ in range(n_layers or s.layers))
        self.norm = RMSNorm(s.hidden, "final_norm")
        self.lm_head = nn.Linear(s.hidden, s.vocab, bias=False)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        with context.region("embed", "embedding"):
            return self.embed(ids)

    def forward_layers(self, x: torch.Tensor, caches: list[KVCache], positions: np.ndarray,
                       layer_ids: list[int] | None = None) -> torch.Tensor:
        cos, sin = rope_tables(positions, self.s.head_dim, self.s.rope_theta, x.device, x.dtype)
        for i, layer in enumerate(self.layers):
            context.set_layer(layer_ids[i] if layer_ids is not None else i)
            x = layer(x, caches[i], cos, sin, positions)
        context.set_layer(-1)
        return x

    def logits_last(self, x: torch.Tensor) -> torch.Tensor:
        """Final norm and LM head on the last token only (what generation needs)."""
        last = x[:, -1:, :]
        last = self.norm(last)
        with context.region("lm_head", "gemm"):
            return self.lm_head(last)
