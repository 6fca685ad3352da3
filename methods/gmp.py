"""Gradual magnitude pruning (Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
compression", ICLR workshop 2018, arXiv 1710.01878)."""
from __future__ import annotations

from benchsuite import Gradual, register_method


# rigl_tf2's gradual magnitude pruning of LeNet-5 and of the 300-100 MLP on MNIST (configs/prune.gin,
# mlp_configs/prune.gin): pruning from step 3000 to step 7000, every 100 steps, of a 11,719-step run.
RIGL_MNIST = Gradual(begin=3000 / 11719, end=7000 / 11719, every=100 / 11719)


@register_method("gmp", stage="during_training", schedule=RIGL_MNIST)
@register_method("gmp_layer", target="layer", stage="during_training", schedule=RIGL_MNIST)
def gmp(ctx):
    """Prune the smallest weights gradually while the harness trains the trained model: the pruned fraction follows
    the cubic schedule s_t = s_f + (s_i - s_f)(1 - (t - t0) / (n dt))^3 (from s_i = 0 to the case's count at the
    last event), at every `every` of the run from `begin` to `end`; the training goes on after the last event.
    `gmp` ranks |w| over all layers; `gmp_layer` prunes every layer to the same fraction, as the reference's
    schedule does (its layers share one sparsity). Pruned weights stay pruned.

    Schedule: the reference MNIST runs of RigL's repository (github.com/google-research/rigl, rigl_tf2
    configs/prune.gin for LeNet-5 and mlp_configs/prune.gin for the 300-100 MLP: begin_step 3000, end_step 7000,
    frequency 100 of total_steps 11,719, tfmot's PolynomialDecay of power 3), as the same fractions of the run the
    harness gives the method: from 25.6% to 59.7% of it, every 0.85% (at least every step). That run is the case's
    retraining budget: the pair's short fine-tuning by default (mnist5k: 110 steps, 38 events a step apart), or the
    dense recipe's length at budget `full` (1,100 steps, 41 events 9 steps apart), where the reference's 41 events
    are 100 steps apart. Differs: the reference prunes a network it trains from scratch, dense until step 3000; here
    gradual pruning starts from the trained dense model, like every method that acts after training.
    """
    return ctx.select(ctx.among_kept({n: w.abs() for n, w in ctx.weights.items()}))
