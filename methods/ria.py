"""RIA (Zhang et al. ICLR 2024, "Plug-and-Play: An Efficient Post-training Pruning Method for Large Language
Models"): relative importance of a weight within its row and its column, times its input's activation."""
from __future__ import annotations

from benchsuite import register_method


def scores(w, activation, a: float = 0.5):
    """|W_ij| / sum_k |W_ik| + |W_ij| / sum_k |W_kj| (the relative importance in output row i and input column j),
    times ||X_j||_2^a; a weight in an all-zero row or column scores 0 there (the reference's 0 / 0)."""
    w = w.abs()
    relative = (w / w.sum(dim=1, keepdim=True)).nan_to_num(0.0) + (w / w.sum(dim=0, keepdim=True)).nan_to_num(0.0)
    return relative * activation ** a


@register_method("ria", target=("layer", "nm"), stage="post_training")
def ria(ctx, *, a: float = 0.5):
    """Prune the lowest RIA scores of every layer (int(s * n) of its n weights), or N of every M consecutive inputs
    of a row; `a` = 0.5 as the reference's default (`--a`). As in the reference code (lib/prune.py `prune_ria`, at
    biomedical-cybernetics/Relative-importance-and-activation-pruning 7bc55b0): the comparison group is the whole
    layer (its default, without `--per_outneuron`); N:M groups run along the input dimension, without its optional
    channel reallocation (`--reallocation`, off by default); every layer of a block sees the block's inputs before
    the block is pruned and the pruned block's outputs feed the next. Its activation term is sqrt(mean over
    calibration sequences of sum_t x_tj^2)^a, ||X_j||_2^a up to a factor common to the layer, which orders nothing
    differently.

    Differs: the reference loads the model in float16, so its relative importance is rounded to float16 before the
    product (here float32); in a layer it prunes every weight at or below the int(s * n)-th smallest score, so
    int(s * n) + 1 and every tie, here exactly int(s * n), of tied weights the earlier kept; its N:M selection is
    torch.topk, whose order among ties is unspecified; a weight of an all-zero row or column scores NaN there
    (0 / 0), and is kept, where here it scores 0 and goes first."""
    return ctx.select({name: scores(w, ctx.activations[name], a) for name, w in ctx.weights.items()})
