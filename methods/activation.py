"""Activation-scaled magnitude pruning (ShrinkBench's activation baselines; the score of Wanda, Sun et al.,
2023): |w| times the L2 norm over the pruning batch of the input the weight multiplies."""
from __future__ import annotations

from benchsuite import register_method


@register_method("global_activation")
def global_activation(ctx):
    """Prune the weights with the smallest |w| * ||input|| across all layers."""
    return ctx.select_global({n: w.abs() * ctx.activations[n] for n, w in ctx.weights.items()})


@register_method("layer_activation", target="layer")
def layer_activation(ctx):
    """Prune the same fraction of every layer, smallest |w| * ||input|| first."""
    return ctx.select_layerwise({n: w.abs() * ctx.activations[n] for n, w in ctx.weights.items()})
