"""Gradient-magnitude pruning (ShrinkBench's baseline): |w * dL/dw| on the pruning batch, a first-order
estimate of how much the loss changes when the weight is removed."""
from __future__ import annotations

from benchsuite import register_method


@register_method("global_gradient")
def global_gradient(ctx):
    """Prune the weights with the smallest |w * dL/dw| across all layers."""
    return ctx.select_global({n: (w * ctx.gradients[n]).abs() for n, w in ctx.weights.items()})


@register_method("layer_gradient", target="layer")
def layer_gradient(ctx):
    """Prune the same fraction of every layer, smallest |w * dL/dw| first."""
    return ctx.select_layerwise({n: (w * ctx.gradients[n]).abs() for n, w in ctx.weights.items()})
