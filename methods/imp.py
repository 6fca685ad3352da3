"""Iterative magnitude pruning with rewinding: the lottery-ticket procedure (Frankle & Carbin, "The Lottery Ticket
Hypothesis", ICLR 2019; Frankle, Dziugaite, Roy & Carbin, "Linear Mode Connectivity and the Lottery Ticket
Hypothesis", ICML 2020) and learning-rate rewinding (Renda, Frankle & Carbin, "Comparing Rewinding and Fine-tuning
in Neural Network Pruning", ICLR 2020)."""
from __future__ import annotations

from benchsuite import Levels, register_method


def _smallest_out(ctx):
    return ctx.select_global(ctx.among_kept({n: w.abs() for n, w in ctx.weights.items()}))


@register_method("imp", stage="during_training", schedule=Levels(rate=0.2, rewind=0.03))
def imp(ctx):
    """From the trained dense model, level after level: remove the `rate` = 20% smallest-magnitude remaining
    weights over all layers, rewind every weight to its value at an early step of dense training (`rewind` = 3% of
    the dense run), and train again with the dense recipe from that step to its end; the last level lands exactly
    on the case's count. As in OpenLTH (github.com/facebookresearch/open_lth: sparse_global pruning, fraction 0.2,
    rewinding to a step of the pre-training run). The rewind point is a fraction of the run so that one default
    serves every pair: Frankle et al. 2020 rewind to 0.1-7% of training (e.g. 500 to 2000 of ResNet-20's 62,500
    iterations); on the embedded pairs 3% is step 33 of 1,100."""
    return ctx.rewind(_smallest_out(ctx))


@register_method("imp_lr", stage="during_training", schedule=Levels(rate=0.2, rewind=0.0))
def imp_lr(ctx):
    """Iterative magnitude pruning with learning-rate rewinding (Renda et al. 2020): as `imp`, but the kept weights
    keep their trained values and only the learning-rate schedule goes back, to the start of the dense run
    (`rewind` = 0), so that every level retrains for the whole original training time, as the paper recommends."""
    return _smallest_out(ctx)
