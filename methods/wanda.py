"""Post-training pruning of language models by weights and activations (Sun et al. 2023, "A Simple and Effective
Pruning Approach for Large Language Models", and its repository's magnitude baseline)."""
from __future__ import annotations

from benchsuite import register_method


@register_method("magnitude", target=("layer", "nm"), stage="post_training")
def magnitude(ctx):
    """Prune the smallest |w| of every layer (int(s * n) of its n weights), or N of every M: the magnitude baseline
    of Wanda's repository (`--prune_method magnitude`). It reads no calibration data."""
    return ctx.select({name: w.abs() for name, w in ctx.weights.items()})


@register_method("wanda", target=("row", "nm"), stage="post_training")
def wanda(ctx):
    """Score every weight by |W_ij| * ||X_j||_2, its magnitude times the L2 norm of its input feature over the
    calibration tokens, and prune the lowest int(s * k) of each output row of k weights (the paper's comparison
    group), or N of every M. The harness prunes block by block with the pruned blocks' outputs fed forward, and
    every layer of a block sees the block's inputs before the block is pruned, as in the reference code."""
    return ctx.select({name: w.abs() * ctx.activations[name] for name, w in ctx.weights.items()})
