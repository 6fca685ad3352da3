"""A Llama decoder (Touvron et al. 2023) in plain torch, float32, for post-training pruning of language models: RMSNorm,
rotary position embeddings on interleaved pairs (the layout of Meta's code and of GGUF files), grouped-query causal
attention and a SwiGLU MLP. Its prunable layers are the seven linear layers of every block (attention q, k, v, o and
MLP gate, up, down); the embedding, the norms and the output head stay dense, as in Wanda's and SparseGPT's code."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LINEARS = ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down")  # the prunable layers of a block


@dataclass(frozen=True)
class LlamaConfig:
    vocab: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    hidden: int  # the MLP's inner width
    rope_base: float = 10000.0
    eps: float = 1e-5
    tied: bool = True  # the output head is the token embedding


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(dim)), eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x: Tensor, rope: Tensor) -> Tensor:
    """Rotate consecutive pairs (0, 1), (2, 3), ... of the head dimension by the angles of `rope` (complex, (T, d/2))."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rope).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c.heads, c.kv_heads, c.dim // c.heads
        self.q = nn.Linear(c.dim, c.heads * self.head_dim, bias=False)
        self.k = nn.Linear(c.dim, c.kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(c.dim, c.kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(c.heads * self.head_dim, c.dim, bias=False)

    def forward(self, x: Tensor, rope: Tensor) -> Tensor:
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.heads, self.head_dim)
        k = self.k(x).view(b, t, self.kv_heads, self.head_dim)
        v = self.v(x).view(b, t, self.kv_heads, self.head_dim)
        rope = rope[:, None, :]  # (T, 1, d/2): the same angle for every head
        q, k, v = rotate(q, rope).transpose(1, 2), rotate(k, rope).transpose(1, 2), v.transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads)
        return self.o(out.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(c.dim, c.hidden, bias=False)
        self.up = nn.Linear(c.dim, c.hidden, bias=False)
        self.down = nn.Linear(c.hidden, c.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(c.dim, c.eps), Attention(c)
        self.mlp_norm, self.mlp = RMSNorm(c.dim, c.eps), MLP(c)

    def forward(self, x: Tensor, rope: Tensor) -> Tensor:
        x = x + self.attn(self.attn_norm(x), rope)
        return x + self.mlp(self.mlp_norm(x))


class Llama(nn.Module):
    """Token ids (B, T) to next-token logits (B, T, vocab). `embed`, `rope(T)`, `blocks`, `norm` and `head` are
    public so that a post-training pass can run the blocks one at a time."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.config = c
        self.embed = nn.Embedding(c.vocab, c.dim)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim, c.eps)
        self.head = nn.Linear(c.dim, c.vocab, bias=False)
        if c.tied:
            self.head.weight = self.embed.weight
        self.not_prunable = ["head"]

    def rope(self, t: int) -> Tensor:
        """The rotary angles of positions 0..t-1, as unit complex numbers (T, head_dim / 2)."""
        d = self.config.dim // self.config.heads
        inv = 1.0 / self.config.rope_base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
        angles = torch.outer(torch.arange(t, dtype=torch.float64), inv)
        return torch.polar(torch.ones_like(angles), angles).to(torch.complex64).to(self.embed.weight.device)

    def forward(self, tokens: Tensor) -> Tensor:
        x, rope = self.embed(tokens), self.rope(tokens.shape[1])
        for block in self.blocks:
            x = block(x, rope)
        return self.head(self.norm(x))

    def prunable(self) -> list[str]:
        """The weights that post-training pruning may prune: the linear layers inside the blocks."""
        return [f"blocks.{i}.{name}.weight" for i in range(len(self.blocks)) for name in LINEARS]
