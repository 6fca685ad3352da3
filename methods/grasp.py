"""GraSP (Wang, Zhang & Grosse, "Picking Winning Tickets Before Training by Preserving Gradient Flow", ICLR 2020)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchsuite import register_method


def hessian_gradient(model: nn.Module, params: dict[str, torch.Tensor], halves, temperature: float):
    """Hg for each parameter of `params` (name -> tensor of `model`), as the reference computes it: g is the sum of
    the gradients of the cross-entropy of the logits divided by `temperature` on each (x, y) of `halves`, and Hg the
    sum over the halves of the gradient of z = stop(g) . grad (double backward), so that each half's Hessian meets
    the whole g. The model runs in whatever mode it is in."""
    weights = list(params.values())
    with torch.enable_grad():
        g = [sum(parts) for parts in zip(*(torch.autograd.grad(F.cross_entropy(model(x) / temperature, y), weights)
                                          for x, y in halves))]
        hg = [torch.zeros_like(w) for w in weights]
        for x, y in halves:
            grads = torch.autograd.grad(F.cross_entropy(model(x) / temperature, y), weights, create_graph=True)
            z = sum((gi.detach() * grad).sum() for gi, grad in zip(g, grads))
            hg = [total + part for total, part in zip(hg, torch.autograd.grad(z, weights))]
    return dict(zip(params, hg))


@register_method("grasp", stage="at_init")
def grasp(ctx, *, temperature: float = 200.0):
    """Prune the initialised network once, before training, so as to preserve the gradient flow: GraSP scores each
    weight by S = -w * Hg and removes the weights of highest score; we keep the `keep` weights of lowest S (highest
    w * Hg) over all prunable layers. The logits are divided by the temperature T = 200 before the loss.

    As in the reference code (github.com/alecwangcq/GraSP, pruner/GraSP.py, one iteration): on a copy of the network
    in train mode (BatchNorm normalises with each half's own statistics; the model's running statistics are
    untouched), the batch split in two halves, g summed over the halves' gradients and Hg over the halves'
    Hessian-gradient products, both over the weights of every Conv2d and Linear layer, the classifier included
    (only the selection leaves it out, as the classifier is never pruned here), global selection, the
    normalisation by |sum of scores| dropped (it changes no ranking). Differs: the batch is the harness's pruning
    batch (the pair's `prune_batch` images, the same for every method) rather than 10 images per class sorted by
    class; the Linear layers are scored with their own weights, not re-drawn with Xavier initialisation for the
    scoring alone, so that the scores belong to the network that is trained; and the count is exact, where the
    reference's threshold (`score <= the k-th largest`) removes one weight fewer and keeps every tie at it.
    """
    net = ctx.copy_model().train()
    params = {f"{n}.weight": m.weight.requires_grad_(True) for n, m in net.named_modules()  # frozen or not
              if isinstance(m, (nn.Conv2d, nn.Linear))}
    x, y = ctx.batch
    half = len(x) // 2  # the reference's din[:N//2], din[N//2:]
    halves = [(x[:half], y[:half]), (x[half:], y[half:])] if len(x) > 1 else [(x, y)]
    hg = hessian_gradient(net, params, halves, temperature)
    return ctx.select_global({n: w * hg[n] for n, w in ctx.weights.items()})
