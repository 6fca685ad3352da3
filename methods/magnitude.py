"""Magnitude pruning (Han et al., 2015): small weights matter least."""
from __future__ import annotations

from benchsuite import register_method


@register_method("global_magnitude")
def global_magnitude(ctx):
    """Prune the weights with the smallest |w| across all layers."""
    return ctx.select_global({name: w.abs() for name, w in ctx.weights.items()})


@register_method("layer_magnitude", target="layer")
def layer_magnitude(ctx):
    """Prune the same fraction of every layer, smallest |w| first."""
    return ctx.select_layerwise({name: w.abs() for name, w in ctx.weights.items()})
