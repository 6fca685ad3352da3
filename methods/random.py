"""Random pruning: the floor every method must beat."""
from __future__ import annotations

import torch

from benchsuite import register_method


@register_method("random", scope="layer")
def random(ctx):
    """Prune the same fraction of every layer, uniformly at random (drawn from the case's seeded generator)."""
    g = ctx.generator
    return ctx.select_layerwise(
        {n: torch.rand(w.shape, generator=g, device=g.device) for n, w in ctx.weights.items()}
    )
