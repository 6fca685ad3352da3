"""OWL (Yin et al. ICML 2024, "Outlier Weighed Layerwise Sparsity (OWL): A Missing Secret Sauce for Pruning LLMs to
High Sparsity"): blocks that hold more outlier activations are pruned less, the others more, around the same mean."""
from __future__ import annotations

import torch

from benchsuite import register_method
from benchsuite.methods.sparsegpt import sparsegpt
from benchsuite.methods.wanda import wanda
from benchsuite.models.causal import linears
from benchsuite.pruning.calibration import allocates


def outlier_ratios(calibration, m: float) -> list[float]:
    """Per block of the dense model (dense blocks fed forward): the share of its Wanda scores |W_ij| * ||X_j||_2, all
    its linear layers' together, above m times their mean."""
    out = []
    for i, block in enumerate(calibration.blocks):
        inputs = calibration.layer_inputs(i)
        scores = torch.cat([(mod.weight.detach().abs() * inputs[name].norm(dim=0)).flatten()
                            for name, mod in linears(block).items()])
        out.append(float((scores > m * scores.mean()).double().mean()))
    return out


def sparsities(ratios: list[float], sparsity: float, lamda: float) -> list[float]:
    """Each block's sparsity: the ratios scaled to [0, 2 lamda], centred on the case's density, subtracted from one
    (the more outliers, the lower the sparsity); their mean is `sparsity`. Equal ratios give every block `sparsity`."""
    r = torch.tensor(ratios, dtype=torch.float64)
    spread = r.max() - r.min()
    d = (r - r.min()) / spread * 2 * lamda if spread > 0 else torch.zeros_like(r)
    return (1 - (d - d.mean() + (1 - sparsity))).tolist()


@allocates("owl")
@allocates("owl_sparsegpt")
def allocation(calibration, sparsity: float, *, m: float, lamda: float, **reconstruction) -> list[float]:
    return sparsities(outlier_ratios(calibration, m), sparsity, lamda)


@register_method("owl", target="row", stage="post_training", depends=(wanda,))
def owl(ctx, *, m: float = 5.0, lamda: float = 0.08):
    """Wanda (per output row, |W_ij| * ||X_j||_2) at each block's own sparsity, which OWL's allocation gives from a
    first pass over the dense model: the block's outlier ratio (the share of its Wanda scores above `m` times their
    mean), scaled to a spread of 2 * `lamda` and centred on the case's sparsity. As in the reference code
    (luuyin/OWL, `--prune_method wanda_owl`: lib/prune_all.py `prune_wanda_outlier` and `check_outlier_mean`, at
    dddb7a4): all of a block's linear layers' scores pooled, a strict `>`, the dense pass before the pruning pass,
    every layer of a block at the block's sparsity with int(s_i * k) of each row of k pruned; `m` = 5 and `lamda` =
    0.08 as in its README's commands (its argument defaults are m = 3 and lamda = 0.08). Its scores' factor
    1 / sqrt(calibration sequences) is common to a block, which changes no share.

    Differs: the reference loads the model in float16; among weights tied at a row's threshold it prunes the earlier
    ones, here the later ones go (as in `wanda`); where every block has the same ratio it divides by zero, here every
    block gets the case's sparsity. It raises a block sparsity at or below 0 to 0.01 (which moves the mean) and lets
    one reach 1 or more; here a block sparsity below 0 or at 1 or more is an error: the case's sparsity must lie
    between max(d) - mean(d) and 1 - (mean(d) - min(d)) for the scaled ratios d (within 2 * lamda of 0 and of 1)."""
    return wanda(ctx)


@register_method("owl_sparsegpt", target="layer", stage="post_training", depends=(sparsegpt,))
def owl_sparsegpt(ctx, *, m: float = 5.0, lamda: float = 0.08, blocksize: int = 128, percdamp: float = 0.01):
    """SparseGPT (its OBS reconstruction, int(s_i * n) of each layer of n pruned) at each block's own sparsity s_i,
    which OWL's allocation gives exactly as for `owl` (the Wanda scores' outlier ratios of the dense model). As in the
    reference code (luuyin/OWL, `--prune_method sparsegpt_owl`: lib/prune_all.py `prune_sparsegpt_outlier`, at
    dddb7a4): the allocation's dense pass first, then SparseGPT block by block, each layer's `fasterprune` at its
    block's sparsity with 1% dampening and blocks of 128 columns; `m` = 5 and `lamda` = 0.08 as its README's
    command. Differs as `owl` in the allocation and as `sparsegpt` in the reconstruction."""
    return sparsegpt(ctx, blocksize=blocksize, percdamp=percdamp)
