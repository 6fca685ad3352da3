"""GraSP (Wang, Zhang & Grosse, "Picking Winning Tickets Before Training by Preserving Gradient Flow", ICLR 2020)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchsuite import register_method
from benchsuite.pruning.probes import evaluating


def hessian_gradient(model, params, batch, temperature):
    """Hg for each parameter of `params` (name -> tensor of the model): the Hessian of the cross-entropy of the
    logits divided by `temperature`, times its gradient g, by double backward of z = stop(g) . g."""
    x, y = batch
    with evaluating(model), torch.enable_grad():
        loss = F.cross_entropy(model(x) / temperature, y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        z = sum((g.detach() * g).sum() for g in grads)
        hg = torch.autograd.grad(z, list(params.values()))
    return dict(zip(params, hg))


@register_method("grasp", stage="at_init")
def grasp(ctx, *, temperature: float = 200.0):
    """Prune the initialised network once, before training, so as to preserve the gradient flow: GraSP scores each
    weight by S = -w * Hg and removes the weights of highest score; we keep the `keep` weights of lowest S (highest
    w * Hg) over all layers. The logits are divided by the temperature T = 200 before the loss, as in the paper.

    As in the reference code (github.com/alecwangcq/GraSP, pruner/GraSP.py): one Hessian-gradient product, global
    selection, the normalisation by |sum of scores| dropped (it changes no ranking). Differs: the batch is the
    harness's pruning batch (the pair's `prune_batch` images, the same for every method) rather than 10 or 25 images
    per class; BatchNorm is in eval mode (as in the SynFlow repository's GraSP) where the reference uses batch
    statistics; and the Linear layers are scored with their own weights, not re-drawn with Xavier initialisation
    for the scoring alone, so that the scores belong to the network that is trained.
    """
    hg = hessian_gradient(ctx.model, {n: m.weight for n, m in ctx.layers.items()}, ctx.batch, temperature)
    return ctx.select_global({n: w * hg[n] for n, w in ctx.weights.items()})
