"""SNIP (Lee, Ajanthan & Torr, "SNIP: Single-shot Network Pruning based on Connection Sensitivity", ICLR 2019)."""
from __future__ import annotations

from benchsuite import register_method


@register_method("snip", stage="at_init")
def snip(ctx):
    """Prune the initialised network once, before training: keep the weights of highest connection sensitivity
    |dL/dc| = |w * dL/dw| (c: a multiplicative gate on the weight, at 1) over all layers, from the cross-entropy on
    the pruning batch.

    As in the reference code (github.com/namhoonlee/snip-public, and its PyTorch port in the SynFlow repository):
    one batch, global selection, the normalisation by the sum of scores dropped (it changes no ranking). Differs:
    the batch is the harness's pruning batch (the pair's `prune_batch` images, the same for every method) rather
    than one training batch, and BatchNorm is in eval mode, as in the SynFlow repository's pruning loop.
    """
    return ctx.select_global({n: (w * ctx.gradients[n]).abs() for n, w in ctx.weights.items()})
