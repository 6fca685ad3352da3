"""ShortGPT (Men et al. 2024, "ShortGPT: Layers in Large Language Models are More Redundant Than You Expect"): the
decoder layers that change their hidden states least are removed whole."""
from __future__ import annotations

import torch

from benchsuite import register_method


def block_influence(x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over tokens of 1 - cos(x_t, y_t) for a layer's input and output hidden states (..., hidden), the cosine
    in the hidden states' precision and the sum in float64; a token whose cosine is undefined (a zero vector) counts
    0.5."""
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    cos = (x * y).sum(-1) / (x.norm(dim=-1) * y.norm(dim=-1))
    return float((1 - cos.nan_to_num(nan=0.5)).double().sum())


@register_method("shortgpt", target="blocks", stage="post_training")
def shortgpt(ctx):
    """Remove the decoder layers of lowest Block Influence, all at once, from one pass of the calibration text
    through the dense model: BI_i = sum over calibration tokens of 1 - cos(x_i, x_i+1), x_i the hidden states
    entering layer i and x_i+1 those it outputs (before the final norm for the last layer). As in the paper (Eq. 1,
    ranked once, the n lowest removed) and in the public re-implementation it points to (sramshetty/ShortGPT
    `short_gpt/metrics.py` `block_influence` and `short_llama.py` `compute_bi` / `remove_layers`, at 78d9615):
    cosine per token, summed over tokens and over calibration sequences, an undefined cosine counted as 0.5, the n
    lowest (numpy argsort) removed.

    Differs: the paper writes BI as an expectation over tokens, the code as a sum (the same ranking); that code runs
    Meta's Llama in its own precision, one batch of prompts, the cosine taken from the diagonal of a full matrix
    product; here float32 through transformers, `CHUNK` sequences per forward pass, ties (never seen) broken by
    layer index."""
    cal = ctx.calibration
    return ctx.remove_blocks(torch.tensor([
        sum(block_influence(x, y) for x, y in zip(cal.inputs(i), cal.inputs(i + 1))) for i in range(len(cal.blocks))
    ], dtype=torch.float64))
