"""Gradients and input activations of a model on a batch, without touching BatchNorm statistics."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the block (BatchNorm uses and keeps its running statistics), then each module's old mode."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def gradients(model: nn.Module, params: Mapping[str, Tensor], batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    """dL/dw of the cross-entropy loss on the batch; no `.grad` is set on the model."""
    x, y = batch
    frozen = [p for p in params.values() if not p.requires_grad]
    try:
        for p in frozen:  # a frozen weight still has a gradient to score it by
            p.requires_grad_(True)
        with evaluating(model), torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, list(params.values()))
    finally:
        for p in frozen:
            p.requires_grad_(False)
    return dict(zip(params, grads))


def input_norms(model: nn.Module, modules: Mapping[str, nn.Module], batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    """L2 norm of each input feature (Linear: the last dimension, whatever comes before it, e.g. sequence
    positions) or input channel (Conv2d) over the batch and positions, broadcast to the shape of the module's weight,
    so that |w| * norm scores every weight."""
    seen: dict[str, Tensor] = {}

    def keep(name: str):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            x = inputs[0].detach()
            feature = x.dim() - 1 if isinstance(module, nn.Linear) else 1
            dims = [d for d in range(x.dim()) if d != feature]
            seen[name] = x.pow(2).sum(dims).sqrt()

        return hook

    handles = [m.register_forward_pre_hook(keep(name)) for name, m in modules.items()]
    try:
        with evaluating(model), torch.no_grad():
            model(batch[0])
    finally:
        for h in handles:
            h.remove()
    return {name: _broadcast(seen[name], modules[name]) for name in modules}


def _broadcast(norms: Tensor, module: nn.Module) -> Tensor:
    w = module.weight
    if isinstance(module, nn.Linear):
        return norms.expand_as(w)
    groups = module.groups  # a grouped conv's output channel o reads the inputs of group o // (out / groups)
    per_group = norms.view(groups, 1, w.shape[1]).expand(groups, w.shape[0] // groups, w.shape[1])
    return per_group.reshape(w.shape[0], w.shape[1], *([1] * (w.dim() - 2))).expand_as(w)
