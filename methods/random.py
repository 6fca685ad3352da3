"""Random pruning: the floor every method must beat, after training and at initialisation."""
from __future__ import annotations

import torch

from benchsuite import register_method


@register_method("random", target="layer")
@register_method("random_init", target="layer", stage="at_init")
def random(ctx):
    """Prune the same fraction of every layer, uniformly at random (drawn from the case's seeded generator): of the
    trained model (`random`, then fine-tuning) or of the initialised one (`random_init`, then training from scratch),
    the floor of its stage."""
    g = ctx.generator
    return ctx.select_layerwise(
        {n: torch.rand(w.shape, generator=g, device=g.device) for n, w in ctx.weights.items()}
    )
