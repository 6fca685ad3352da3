"""Putting masks on a model and keeping them there through training."""
from __future__ import annotations

import weakref
from collections.abc import Mapping

import torch
from torch import Tensor, nn

_HOOKS: weakref.WeakKeyDictionary[nn.Module, list] = weakref.WeakKeyDictionary()


def apply_masks(model: nn.Module, masks: Mapping[str, Tensor]) -> None:
    """Zero the masked weights and zero their gradients from now on, so that any optimizer that moves a weight
    only through its gradient (SGD with momentum and weight decay, Adam, AdamW) leaves them at exactly zero.

    New values a method returned for the weights it keeps (`masks.weights`) are written first. Calling it again
    replaces the previous masks (iterative schedules prune the same model several times); start a new optimizer
    then, since old momentum would move newly masked weights.
    """
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise KeyError(f"masks name parameters the model does not have: {unknown}")
    for handle in _HOOKS.pop(model, []):
        handle.remove()
    handles = []
    new_values = getattr(masks, "weights", {})
    with torch.no_grad():
        for name, mask in masks.items():
            p = params[name]
            mask = mask.to(device=p.device, dtype=torch.bool)
            if name in new_values:
                p.copy_(new_values[name])
            keep = mask.to(p.dtype)  # a float multiply is ~10x faster on CPU than masked_fill_ with a bool mask
            p.mul_(keep)
            handles.append(p.register_post_accumulate_grad_hook(_zero_masked(keep)))
    _HOOKS[model] = handles


def _zero_masked(keep: Tensor):
    def hook(param: Tensor) -> None:  # in place, once the gradient is accumulated: no extra tensor per step
        param.grad.mul_(keep)

    return hook
