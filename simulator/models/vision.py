"""SigLIP-style ViT encoder, projector into the LLM, and spatial pooling to the per-frame tokens."""

from __future__ import annotations

import math

import torch
from torch import nn

from simulator.config.workload import ModelConfig, VisionShape
from simulator.tracer import context


class VitLayer(nn.Module):
    def __init__(self, s: VisionShape):
        super().__init__()
        self.s = s
        self.ln1 = nn.LayerNorm(s.hidden)
        self.q_proj = nn.Linear(s.hidden, s.hidden)
        self.k_proj = nn.Linear(s.hidden, s.hidden)
        self.v_proj = nn.Linear(s.hidden, s.hidden)
        self.out_proj = nn.Linear(s.hidden, s.hidden)
        self.ln2 = nn.LayerNorm(s.hidden)
        self.fc1 = nn.Linear(s.hidden, s.ffn)
        self.fc2 = nn.Linear(s.ffn, s.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.s
        b, n, _ = x.shape
        hd = s.hidden // s.heads
        with context.region("vit_ln1", "norm"):
            h = self.ln1(x)
        with context.region("vit_q_proj", "gemm"):
            q = self.q_proj(h)
        with context.region("vit_k_proj", "gemm"):
            k = self.k_proj(h)
        with context.region("vit_v_proj", "gemm"):
            v = self.v_proj(h)
        q = q.view(b, n, s.heads, hd).transpose(1, 2)
        k = k.view(b, n, s.heads, hd).transpose(1, 2)
        v = v.view(b, n, s.heads, hd).transpose(1, 2)
        with context.region("vit_attn_score", "attn_score"):
            scores = torch.matmul(q * (1.0 / math.sqrt(hd)), k.transpose(-1, -2))
        with context.region("vit_softmax", "softmax"):
            p = torch.softmax(scores, dim=-1)
        with context.region("vit_attn_value", "attn_value"):
            o = torch.matmul(p, v).transpose(1, 2).reshape(b, n, s.hidden)
        with context.region("vit_out_proj", "gemm"):
            o = self.out_proj(o)
        with context.region("vit_residual_attn", "elementwise"):
            x = x + o
        with context.region("vit_ln2", "norm"):
            h = self.ln2(x)
        with context.region("vit_fc1", "gemm"):
            h = self.fc1(h)
        with context.region("vit_gelu", "elementwise"):
            h = torch.nn.functional.gelu(h, approximate="tanh")
        with context.region("vit_fc2", "gemm"):
            h = self.fc2(h)
        with context.region("vit_residual_mlp", "elementwise"):
            return x + h


class VisionTower(nn.Module):
    """Patch embedding + ViT layers + post-norm + projector + pooling to ``tokens_per_frame`` tokens.

    ``n_layers`` may be 1 in meta mode: one representative layer is traced and replicated.
    """

    def __init__(self, m: ModelConfig, n_layers: int | None = None):
        super().__init__()
        s = m.vision
        self.s, self.tokens = s, m.tokens_per_frame
        self.patch_embed = nn.Linear(3 * s.patch_size * s.patch_size, s.hidden)
        self.pos_embed = nn.Parameter(torch.zeros(s.patches, s.hidden))
        self.layers = nn.ModuleList(VitLayer(s) for _ in range(n_layers or s.layers))
        self.post_ln = nn.LayerNorm(s.hidden)
        if s.projector == "mlp2x_gelu":
            self.proj = nn.ModuleList([nn.Linear(s.hidden, m.llm.hidden), nn.Linear(m.llm.hidden, m.llm.hidden)])
        else:
            self.proj = nn.ModuleList([nn.Linear(s.hidden, m.llm.hidden)])

    def patchify(self, frames: torch.Tensor) -> torch.Tensor:
        """[b, 3, H, W] -> [b, patches, 3*p*p] (a layout change; not recorded)."""
        p = self.s.patch_size
        b, c, hgt, wid = frames.shape
        with context.paused():
            frames = frames[:, :, : hgt - hgt % p, : wid - wid % p]
            hgt, wid = frames.shape[2], frames.shape[3]
            x = frames.reshape(b, c, hgt // p, p, wid // p, p).permute(0, 2, 4, 1, 3, 5)
            return x.reshape(b, (hgt // p) * (wid // p), c * p * p)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.patchify(frames)
        with context.region("vit_patch_embed", "gemm"):
            x = self.patch_embed(x) + self.pos_embed
        return x

    def forward_layers(self, x: torch.Tensor, layer_ids: list[int] | None = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            context.set_layer(layer_ids[i] if layer_ids is not None else i)
            x = layer(x)
        context.set_layer(-1)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Post-norm, projector (per patch, as LLaVA-OneVision), then pooling to the frame tokens."""
        with context.region("vit_post_ln", "norm"):
            x = self.post_ln(x)
        with context.region("projector_fc1", "gemm"):
            x = self.proj[0](x)
        if len(self.proj) == 2:
            with context.region("projector_gelu", "elementwise"):
                x = torch.nn.functional.gelu(x)
            with context.region("projector_fc2", "gemm"):
                x = self.proj[1](x)
        return self.pool(x)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Average-pool the patch grid to g x g tokens (g = floor(sqrt(tokens))); extra tokens are
        the global mean (e.g. VideoLLM-online's 1 + 3x3 tokens)."""
        b, n, d = x.shape
        side = int(math.isqrt(n))
        g = int(math.isqrt(self.tokens))
        with context.region("pool", "elementwise"):
            grid = x.transpose(1, 2).reshape(b, d, side, side)
            pooled = torch.nn.functional.adaptive_avg_pool2d(grid, g).flatten(2).transpose(1, 2)
            extra = self.tokens - g * g
            if extra:
                glob = x.mean(dim=1, keepdim=True).expand(b, extra, d)
                pooled = torch.cat([glob, pooled], dim=1)
        return pooled
