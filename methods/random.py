"""Random pruning: the floor every method must beat, after training and at initialisation, uniform and with the layer
densities of ERK, ER and uniform+ (Liu et al., "The Unreasonable Effectiveness of Random Pruning: Return of the Most
Naive Baseline for Sparse Training", ICLR 2022)."""
from __future__ import annotations

import torch

from benchsuite import register_method


@register_method("random", target="layer")
@register_method("random_init", target="layer", stage="at_init")
@register_method("random_erk_init", target="erk", stage="at_init")
@register_method("random_er_init", target="er", stage="at_init")
@register_method("random_uniform_plus_init", target="uniform+", stage="at_init")
def random(ctx):
    """Prune each layer uniformly at random (drawn from the case's seeded generator) to the count its target gives
    it: the same fraction of every layer, of the trained model (`random`, then fine-tuning) or of the initialised one
    (`random_init`, then training from scratch); or, at initialisation, ERK densities (`random_erk_init`), ER
    densities (`random_er_init`), or the first convolution whole and the same fraction elsewhere
    (`random_uniform_plus_init`, Gale et al. 2019's uniform+; Liu et al. 2022 also cap the classifier's sparsity at
    80%, and here the classifier is never pruned). These are Liu et al. 2022's baselines: random, but with good
    layer ratios, is what a method at initialisation must beat."""
    g = ctx.generator
    return ctx.select_layerwise(
        {n: torch.rand(w.shape, generator=g, device=g.device) for n, w in ctx.weights.items()}
    )
