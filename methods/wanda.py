"""Post-training pruning of language models by weights and activations (Sun et al. 2023, "A Simple and Effective
Pruning Approach for Large Language Models", and its repository's magnitude baseline)."""
from __future__ import annotations

from benchsuite import register_method


@register_method("magnitude", target=("layer", "nm"), stage="post_training")
def magnitude(ctx):
    """Prune the smallest |w| of every layer (int(s * n) of its n weights), or N of every M: the magnitude baseline
    of Wanda's repository (`--prune_method magnitude`, lib/prune.py `prune_magnitude`). It reads no calibration data.

    Differs, unstructured: the reference prunes every weight at or below the int(s * n)-th smallest |w| (0-based;
    `W_metric <= thresh`), so int(s * n) + 1 and every tie at that value; on SmolLM2's quantized weights, which tie
    often, that is 9,214 weights more than int(s * n) over the 210 layers at 50% (7,986 at 60%, 6,458 at 70%). Here
    exactly int(s * n), ties to the earlier weight, so that every method of a case prunes the same count."""
    return ctx.select({name: w.abs() for name, w in ctx.weights.items()})


@register_method("wanda", target=("row", "nm"), stage="post_training")
def wanda(ctx):
    """Score every weight by |W_ij| * ||X_j||_2, its magnitude times the L2 norm of its input feature over the
    calibration tokens, and prune the lowest int(s * k) of each output row of k weights (the paper's comparison
    group), or N of every M. The harness prunes block by block with the pruned blocks' outputs fed forward, and
    every layer of a block sees the block's inputs before the block is pruned, as in the reference code (lib/prune.py
    `prune_wanda`: a stable ascending sort of each row, its first int(s * k) pruned). Differs: among weights tied at a
    row's threshold, the reference prunes the earlier ones, here the later ones go (the earlier weight is kept, as
    in every selection of the suite)."""
    return ctx.select({name: w.abs() * ctx.activations[name] for name, w in ctx.weights.items()})
