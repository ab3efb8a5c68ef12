"""Llama 3 and mixture-of-experts decoders with torchtitan's parameter names and nesting (tok_embeddings,
layers.N.attention.wq, layers.N.feed_forward.w1, layers.N.moe.experts.w1, norm, output), built from a
models/shapes.py DecoderShape.

The forward pass is only what a training step on the scaled variants needs: grouped-query attention without rotary
embeddings (they have no parameters, so the state dict is the same) and a dense mixture of all experts weighted by
the router (every expert gets a gradient, so Adam holds state for every tensor, as after real training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.shapes import DecoderShape


class Attention(nn.Module):
    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = shape.heads, shape.kv_heads, shape.head_dim
        self.wq = nn.Linear(shape.dim, shape.heads * shape.head_dim, bias=False)
        self.wk = nn.Linear(shape.dim, shape.kv_heads * shape.head_dim, bias=False)
        self.wv = nn.Linear(shape.dim, shape.kv_heads * shape.head_dim, bias=False)
        self.wo = nn.Linear(shape.heads * shape.head_dim, shape.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        q = self.wq(x).view(batch, seq, self.heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        repeats = self.heads // self.kv_heads
        k, v = k.repeat_interleave(repeats, dim=1), v.repeat_interleave(repeats, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(out.transpose(1, 2).reshape(batch, seq, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class GroupedExperts(nn.Module):
    """All experts' SwiGLU weights in three tensors (torchtitan's GroupedExperts): w1, w3 E x hidden x dim, w2
    E x dim x hidden."""

    def __init__(self, experts: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(experts, hidden, dim))
        self.w2 = nn.Parameter(torch.empty(experts, dim, hidden))
        self.w3 = nn.Parameter(torch.empty(experts, hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert's output: ... x E x dim."""
        hidden = F.silu(torch.einsum("...d,ehd->...eh", x, self.w1)) * torch.einsum("...d,ehd->...eh", x, self.w3)
        return torch.einsum("...eh,edh->...ed", hidden, self.w2)


class Router(nn.Module):
    def __init__(self, dim: int, experts: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, experts, bias=False)


class MoE(nn.Module):
    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        self.router = Router(shape.dim, shape.experts)
        if shape.grouped:
            self.experts: nn.Module = GroupedExperts(shape.experts, shape.dim, shape.expert_ffn)
        else:
            self.experts = nn.ModuleList(FeedForward(shape.dim, shape.expert_ffn) for _ in range(shape.experts))
        self.shared_experts = FeedForward(shape.dim, shape.shared_ffn) if shape.shared_ffn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.router.gate(x), dim=-1)
        if isinstance(self.experts, GroupedExperts):
            outputs = self.experts(x)
        else:
            outputs = torch.stack([expert(x) for expert in self.experts], dim=-2)
        out = (weights.unsqueeze(-1) * outputs).sum(dim=-2)
        return out if self.shared_experts is None else out + self.shared_experts(x)


class TransformerBlock(nn.Module):
    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        self.attention = Attention(shape)
        self.attention_norm = nn.RMSNorm(shape.dim)
        self.ffn_norm = nn.RMSNorm(shape.dim)
        if shape.experts:
            self.moe = MoE(shape)
        else:
            self.feed_forward = FeedForward(shape.dim, shape.ffn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        ffn = self.moe if hasattr(self, "moe") else self.feed_forward
        return x + ffn(self.ffn_norm(x))


class Decoder(nn.Module):
    def __init__(self, shape: DecoderShape) -> None:
        super().__init__()
        self.vocab = shape.vocab
        self.tok_embeddings = nn.Embedding(shape.vocab, shape.dim)
        self.layers = nn.ModuleList(TransformerBlock(shape) for _ in range(shape.layers))
        self.norm = nn.RMSNorm(shape.dim)
        self.output = nn.Linear(shape.dim, shape.vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.output(self.norm(x))

    def example_input(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1)
        return torch.randint(0, self.vocab, (2, 16), generator=generator).to(device=device)
