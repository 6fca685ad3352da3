"""Dynamic sparse training: SET (Mocanu et al., "Scalable training of artificial neural networks with adaptive sparse
connectivity inspired by network science", Nature Communications 2018) and RigL (Evci, Gale, Menick, Castro & Elsen,
"Rigging the Lottery: Making All Tickets Winners", ICML 2020)."""
from __future__ import annotations

import torch

from benchsuite import Dynamic, register_method

# RigL's defaults (Evci et al. 2020, section 4; rigl/sparse_optimizers_base.py): drop fraction 0.3 decayed by a cosine
# to the last update at 75% of the run; updates every 100 steps, here as the fraction of the run they are in
# rigl_tf2's MNIST runs (100 of 11,719 steps, configs/rigl.gin), the run the embedded pairs resemble.
RIGL = Dynamic(every=100 / 11719, end=0.75, drop=0.3)


def _update(ctx, grow: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The first masks (random, the target's count in every layer), or an update: in each layer drop the
    `ctx.moves` kept weights of smallest |w|, then grow as many with the highest `grow` scores among the weights
    not kept after the drop (a weight just dropped may come back, and then keeps its value), as RigL's
    `_get_update_op` does."""
    if ctx.moves is None:
        return ctx.select_layerwise({n: torch.rand(w.shape, generator=ctx.generator, device=ctx.generator.device)
                                     for n, w in ctx.weights.items()})
    masks = {}
    for name, w in ctx.weights.items():
        kept, k = ctx.masks[name], ctx.moves[name]
        survive = _top(w.abs().masked_fill(~kept, -1), int(kept.sum()) - k)
        masks[name] = survive | _top(grow[name].masked_fill(survive, -torch.inf), k)
    return masks


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The k highest scores (ties: the earlier weight)."""
    order = torch.argsort(scores.reshape(-1), descending=True, stable=True)[:k]
    return torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device).index_fill_(0, order, True).view(
        scores.shape)


@register_method("rigl", target="erk", stage="during_training", schedule=RIGL)
def rigl(ctx):
    """RigL: train from the initialisation at the case's count, ERK layer densities, random first masks; at every
    update each layer drops its smallest-magnitude kept weights and grows as many where the dense gradient's
    magnitude |dL/dw| (of the update step's batch, masked weights included) is largest. Grown weights start at zero
    with no optimizer state.

    Schedule (`RIGL`): drop fraction 0.3 on RigL's cosine decay to the last update at 75% of the run (Evci et al.
    2020), updates every 0.85% of the run (rigl_tf2's MNIST runs update every 100 of 11,719 steps): on the embedded
    pairs' 1,100 steps, every 9 steps, 91 updates. Differs: the reference takes the update step instead of an
    optimizer step, adds N(0, 1e-5) noise to the drop scores (here ties among them go to the earlier weight),
    computes f_t * k in float32 (here float64) and prunes the classifier too (here it stays whole, as for every
    method); the gradient is taken with BatchNorm in eval mode, as every probe of the suite is."""
    return _update(ctx, {} if ctx.moves is None else {n: g.abs() for n, g in ctx.gradients.items()})


@register_method("set", target="erk", stage="during_training", schedule=RIGL)
def set_(ctx):
    """SET: as `rigl` (ERK densities, the same schedule, so that the two differ only in how they grow), but grows
    at random, uniformly among the weights not kept, drawn from the case's generator (RigL's SET baseline,
    `SparseSETOptimizerBase`, which differs as `rigl` says; Mocanu et al. used Erdos-Renyi densities and a constant
    fraction)."""
    g = ctx.generator
    grow = {} if ctx.moves is None else {n: torch.rand(w.shape, generator=g, device=g.device)
                                          for n, w in ctx.weights.items()}
    return _update(ctx, grow)
