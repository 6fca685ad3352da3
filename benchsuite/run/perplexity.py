"""Perplexity of a language model on held-out text: exp(total negative log-likelihood of the predicted tokens / their
number), over non-overlapping chunks, exact and in float32."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def chunk_nll(model: nn.Module, chunks: Tensor) -> Tensor:
    """The summed negative log-likelihood (float64) of each chunk's next-token predictions by `model` (a transformers
    causal LM): every token but the first of a chunk is predicted from those before it in the chunk."""
    model.eval()
    out = torch.empty(len(chunks), dtype=torch.float64)
    device = next(model.parameters()).device
    for i, chunk in enumerate(chunks):
        x = chunk[None].to(device)
        logits = model(x, use_cache=False).logits[0, :-1].float()
        out[i] = F.cross_entropy(logits, x[0, 1:], reduction="sum").double()
    return out


def perplexity(nll: Tensor, chunk_length: int) -> float:
    """exp(total NLL / predicted tokens) from `chunk_nll`'s per-chunk sums."""
    return math.exp(float(nll.sum()) / (len(nll) * (chunk_length - 1)))
