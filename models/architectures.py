"""Module definitions of the zoo. Shapes only: weights are filled by models.init, never by these constructors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DummyModel(nn.Module):
    """PyTorch's TestDummyModel (test_fsdp_dtensor_state_dict.py): Linear 8-16-32-64-8, or 5-10-15-30-5 when uneven."""

    def __init__(self, widths: tuple[int, int, int, int, int]) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.net1 = nn.Sequential(nn.Linear(w0, w1), nn.ReLU())
        self.net2 = nn.Sequential(nn.Linear(w1, w2), nn.ReLU())
        self.net3 = nn.Linear(w2, w3)
        self.net4 = nn.Sequential(nn.ReLU(), nn.Linear(w3, w4))
        self.in_features = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net4(self.net3(self.net2(self.net1(x))))

    def example_input(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1)
        return torch.rand(8, self.in_features, generator=generator).to(device=device, dtype=dtype)


class MLP(nn.Module):
    """A stack of square Linear layers: few, large tensors."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return x

    def example_input(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1)
        return torch.rand(4, self.width, generator=generator).to(device=device, dtype=dtype)


class Block(nn.Module):
    """A pre-norm decoder block: causal self-attention and a two-layer MLP."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.mlp_norm = nn.LayerNorm(dim)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, dim = x.shape
        h = self.attention_norm(x)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, seq, self.heads, dim // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(split(self.wq(h)), split(self.wk(h)), split(self.wv(h)), is_causal=True)
        x = x + self.wo(attended.transpose(1, 2).reshape(batch, seq, dim))
        return x + self.w2(F.gelu(self.w1(self.mlp_norm(x))))


class Transformer(nn.Module):
    """A small decoder-only transformer: embeddings, blocks, final norm, output projection (many tensors)."""

    def __init__(self, vocab: int, dim: int, layers: int, heads: int, hidden: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.vocab = vocab
        self.embedding = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, hidden) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.output(self.norm(x))

    def example_input(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1)
        return torch.randint(0, self.vocab, (2, 16), generator=generator).to(device=device)
