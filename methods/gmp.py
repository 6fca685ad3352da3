"""Gradual magnitude pruning (Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
compression", ICLR workshop 2018, arXiv 1710.01878)."""
from __future__ import annotations

from benchsuite import Gradual, register_method


@register_method("gmp", stage="during_training", schedule=Gradual())
@register_method("gmp_layer", target="layer", stage="during_training", schedule=Gradual())
def gmp(ctx):
    """Prune the smallest weights gradually while the trained model is fine-tuned: at every `frequency` steps from
    `begin` to `end` (fractions of the pair's fine-tuning run) the pruned fraction follows the cubic schedule
    s_t = s_f + (s_i - s_f)(1 - (t - t0) / (n dt))^3, up to the case's count at the last event; the fine-tuning goes
    on after it. `gmp` ranks |w| over all layers; `gmp_layer` prunes every layer to the same fraction, as the
    reference's TensorFlow `model_pruning` library does. Pruned weights stay pruned.

    Defaults: the reference library prunes every 10 steps (`pruning_frequency`), and so do we; the paper's runs
    start and end pruning at steps chosen per model; here pruning starts at once (s_i = 0) and ends at 75% of the
    fine-tuning, leaving the last quarter to recover, so that every method gets the same fine-tuning budget.
    """
    return ctx.select(ctx.among_kept({n: w.abs() for n, w in ctx.weights.items()}))
