"""SynFlow (Tanaka, Kunin, Yamins & Ganguli, "Pruning neural networks without any data by iteratively conserving
synaptic flow", NeurIPS 2020)."""
from __future__ import annotations

import torch

from benchsuite import register_method


@register_method("synflow", stage="at_init")
def synflow(ctx, *, iterations: int = 100):
    """Prune the initialised network without any data, iteratively: the network with every parameter and buffer
    replaced by its absolute value is fed an all-ones input; R is the sum of its output and each weight scores
    |w * dR/dw|. Over `iterations` rounds the kept fraction shrinks exponentially, d^(k/n) at round k of n for a final
    density d, each round scoring the network pruned so far (pruned weights stay pruned); global selection.

    As in the reference code (github.com/ganguli-lab/Synaptic-Flow: pruners.SynFlow, prune.prune_loop with the
    exponential schedule, 100 iterations, eval mode). Differs: the copy of the network is scored, and its scores
    ranked, in float64 (the reference left it as a comment), because deep networks overflow float32: on ResNet-56
    the scores reach about 1e67, past float32's 3e38, where every score would tie at +inf. Pruned weights rank below
    every kept one, so masks stay nested (the reference scores them 0, as a kept weight may be too). The pruning
    batch is used only for the input's shape, so the masks do not depend on the data.
    """
    if iterations < 1:
        raise ValueError(f"synflow: iterations must be at least 1, got {iterations}")
    net = ctx.copy_model().double().eval()
    with torch.no_grad():
        for value in net.state_dict().values():
            if value.is_floating_point():
                value.abs_()
    weights = {n: net.get_parameter(n).requires_grad_(True) for n in ctx.weights}  # frozen or not
    ones = torch.ones(1, *ctx.batch[0].shape[1:], dtype=torch.float64, device=ctx.batch[0].device)
    prunable = sum(w.numel() for w in weights.values())
    masks = None
    for k in range(1, iterations + 1):
        with torch.enable_grad():
            grads = torch.autograd.grad(net(ones).sum(), list(weights.values()))
        scores = ctx.among_kept({n: (g * w).detach().abs() for (n, w), g in zip(weights.items(), grads)}, masks)
        keep = ctx.keep if k == iterations else round(prunable * (ctx.keep / prunable) ** (k / iterations))
        masks = ctx.select_global(scores, keep)
        with torch.no_grad():
            for n, w in weights.items():
                w.mul_(masks[n])
    return masks
