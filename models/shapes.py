"""Shapes of real decoder models (Llama 3, a mixture of experts, torchtitan's debug model), without torch: their
tensor counts and parameter counts come from here, and so do the scaled variants that fit on a small machine.

Llama 3's numbers are Meta's published configurations, as torchtitan's `llama3_configs` has them (the FFN width is
torchtitan's rounding of ffn_dim_multiplier). The mixture of experts follows DeepSeek-MoE 16B's published shape
(dim 2048, 28 layers, 16 heads, 64 routed experts of FFN 1408 and 2 shared ones, vocab 102400), with every layer a
mixture-of-experts layer (the real model's first layer is dense), once with grouped expert weights (one tensor per
projection holding all experts, as torchtitan's GroupedExperts) and once with one module per expert.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class DecoderShape:
    dim: int
    """Model width (embedding size)."""
    layers: int
    """Decoder blocks."""
    heads: int
    """Query heads; head_dim = dim / heads."""
    kv_heads: int
    """Key/value heads (grouped-query attention)."""
    ffn: int
    """Hidden width of a dense block's SwiGLU FFN (w1, w3: ffn x dim; w2: dim x ffn); unused by a MoE block."""
    vocab: int
    """Vocabulary: tok_embeddings is vocab x dim, and so is output."""
    experts: int = 0
    """Routed experts per block; 0: a dense model."""
    expert_ffn: int = 0
    """Hidden width of one expert's SwiGLU FFN."""
    shared_ffn: int = 0
    """Hidden width of the shared experts' FFN (always applied), 0: none."""
    grouped: bool = True
    """Experts as three tensors of E x ... each (grouped) or as E modules of three tensors each."""
    of_layers: int = 0
    """The real model's block count, when this shape keeps only its first `layers` (a depth-truncated variant)."""
    width_divisor: int = 1
    """The real model's widths (dim, FFN, vocab) over this one's: 1 for the real shape."""

    def __post_init__(self) -> None:
        if self.dim % self.heads or self.heads % self.kv_heads:
            raise ValueError(f"dim {self.dim} must divide by heads {self.heads}, and heads by kv_heads")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def block_tensors(self) -> int:
        """Tensors per block: wq wk wv wo, two norms, and the FFN (3) or the MoE (router, experts, shared)."""
        if not self.experts:
            return 9
        experts = 3 if self.grouped else 3 * self.experts
        return 6 + 1 + experts + (3 if self.shared_ffn else 0)

    def tensor_count(self) -> int:
        return self.layers * self.block_tensors() + 3  # + tok_embeddings, norm, output

    def block_params(self) -> int:
        attention = 2 * self.dim * self.dim + 2 * self.dim * self.kv_heads * self.head_dim + 2 * self.dim
        if not self.experts:
            return attention + 3 * self.dim * self.ffn
        return (attention + self.experts * self.dim + 3 * self.experts * self.dim * self.expert_ffn
                + 3 * self.dim * self.shared_ffn)

    def param_count(self) -> int:
        return self.layers * self.block_params() + 2 * self.vocab * self.dim + self.dim

    def tensor_shapes(self) -> list[tuple[int, ...]]:
        """Every parameter's shape, block by block, then tok_embeddings, norm and output (torchtitan's order aside)."""
        d, q, kv = self.dim, self.heads * self.head_dim, self.kv_heads * self.head_dim
        block: list[tuple[int, ...]] = [(d,), (d,), (q, d), (kv, d), (kv, d), (d, q)]
        if not self.experts:
            block += [(self.ffn, d), (d, self.ffn), (self.ffn, d)]
        else:
            block.append((self.experts, d))
            swiglu = [(self.expert_ffn, d), (d, self.expert_ffn), (self.expert_ffn, d)]
            block += [(self.experts, *s) for s in swiglu] if self.grouped else swiglu * self.experts
            if self.shared_ffn:
                block += [(self.shared_ffn, d), (d, self.shared_ffn), (self.shared_ffn, d)]
        return block * self.layers + [(self.vocab, d), (d,), (self.vocab, d)]

    def largest_shard_params(self, shards: int) -> int:
        """Parameters of rank 0 when every tensor is split along dim 0 into `shards` (FSDP2's Shard(0)): ceil(dim 0 /
        shards) rows of each, so more than params / shards where dim 0 is small (64 grouped experts over 256 ranks:
        rank 0 holds a whole expert, 4x its even share)."""
        return sum(math.ceil(shape[0] / shards) * math.prod(shape[1:]) for shape in self.tensor_shapes())

    def scaled(self, width_divisor: int) -> DecoderShape:
        """The same tensors, names and layer count at 1/width_divisor of the widths: per-tensor costs (the Python
        work that dominates building a state dict) stay the real model's, while the bytes shrink ~width_divisor^2.
        Heads stay, so head_dim shrinks."""
        def narrow(width: int) -> int:
            return max(1, math.ceil(width / width_divisor)) if width else 0

        return dataclasses.replace(self, dim=self.dim // width_divisor, ffn=narrow(self.ffn), vocab=narrow(self.vocab),
                                   expert_ffn=narrow(self.expert_ffn), shared_ffn=narrow(self.shared_ffn),
                                   width_divisor=self.width_divisor * width_divisor)

    def truncated(self, layers: int) -> DecoderShape:
        """The first `layers` blocks with their exact shapes (plus embeddings, final norm and output): the bytes of
        each tensor are the real model's, and a cost linear in tensors scales back by tensor_count."""
        return dataclasses.replace(self, layers=layers, of_layers=self.of_layers or self.layers)


LLAMA3 = {
    "8b": DecoderShape(dim=4096, layers=32, heads=32, kv_heads=8, ffn=14336, vocab=128256),
    "70b": DecoderShape(dim=8192, layers=80, heads=64, kv_heads=8, ffn=28672, vocab=128256),
    "405b": DecoderShape(dim=16384, layers=126, heads=128, kv_heads=8, ffn=53248, vocab=128256),
    # torchtitan's llama3 "debugmodel": dim 256, 6 layers, 16 heads (kv too), vocab 2048, FFN 768 after rounding
    "debug": DecoderShape(dim=256, layers=6, heads=16, kv_heads=16, ffn=768, vocab=2048),
}

MOE_16B = DecoderShape(dim=2048, layers=28, heads=16, kv_heads=16, ffn=0, vocab=102400, experts=64,
                       expert_ffn=1408, shared_ffn=2 * 1408)
