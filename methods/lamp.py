"""LAMP: layer-adaptive magnitude-based pruning (Lee, Park, Mo, Ahn & Shin, "Layer-adaptive Sparsity for the
Magnitude-based Pruning", ICLR 2021)."""
from __future__ import annotations

import torch

from benchsuite import register_method


def lamp_scores(w: torch.Tensor) -> torch.Tensor:
    """score(u) = w_u^2 / (the sum of w_v^2 over the layer's weights with |w_v| >= |w_u|), in float64: the suffix
    sums of the squares sorted ascending, a run of equal weights sharing the sum from its first member (the paper's
    definition; the reference's sort breaks such ties by position). A layer of zeros scores 0."""
    squares, order = w.detach().double().reshape(-1).pow(2).sort()
    suffix = squares.flip(0).cumsum(0).flip(0)
    at_least = suffix[torch.searchsorted(squares, squares)]
    scores = torch.empty_like(squares)
    scores[order] = torch.where(at_least > 0, squares / at_least, 0.0)
    return scores.view(w.shape)


@register_method("lamp")
def lamp(ctx):
    """Prune the weights of lowest LAMP score over all layers: each layer's squared magnitudes, each divided by the
    sum of the squares of the weights at least as large in its layer, so that every layer keeps its largest weight
    and the scores of different layers compare (the reference, github.com/jaeho-lee/layer-adaptive-sparsity, and
    torch-pruning's LAMP normalisation compute the same by a cumulative sum in float32)."""
    return ctx.select_global({n: lamp_scores(w) for n, w in ctx.weights.items()})
