"""What a method sees (`Context`), and `prune`, which runs a method and checks its answer."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor, nn

from . import masks as mask_math
from .methods import Method, get_method
from .probes import gradients, input_norms


class Masks(dict):
    """Boolean masks by parameter name, plus `weights`: new values for kept weights, if the method gave any."""

    def __init__(self, masks: Mapping[str, Tensor], weights: Mapping[str, Tensor] | None = None) -> None:
        super().__init__(masks)
        self.weights = dict(weights or {})


def prunable(model: nn.Module) -> dict[str, nn.Module]:
    """Conv2d and Linear modules whose weight may be pruned: all but the last one (the classifier) and any
    the model lists in its `not_prunable` attribute."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to prune")
    skip = {list(layers)[-1], *getattr(model, "not_prunable", ())}
    return {n: m for n, m in layers.items() if n not in skip}


@dataclass
class Context:
    """What a method sees: the model (read only), the keep counts, the pruning batch and a seeded generator."""

    model: nn.Module
    compression: float
    batch: tuple[Tensor, Tensor]
    generator: torch.Generator
    layers: dict[str, nn.Module] = field(init=False)
    keep: int = field(init=False)

    def __post_init__(self) -> None:
        self.layers = {f"{n}.weight": m for n, m in prunable(self.model).items()}
        total = sum(p.numel() for p in self.model.parameters())
        self.keep = mask_math.keep_count(total, sum(m.weight.numel() for m in self.layers.values()), self.compression)

    @cached_property
    def weights(self) -> dict[str, Tensor]:
        """The prunable weights by parameter name (detached; do not edit them)."""
        return {n: m.weight.detach() for n, m in self.layers.items()}

    @cached_property
    def layer_keep(self) -> dict[str, int]:
        """Weights to keep in each layer when every layer keeps the same fraction."""
        return mask_math.layer_keep_counts({n: w.numel() for n, w in self.weights.items()}, self.keep)

    @cached_property
    def gradients(self) -> dict[str, Tensor]:
        """dL/dw of the cross-entropy on the pruning batch (BatchNorm in eval mode)."""
        return gradients(self.model, {n: m.weight for n, m in self.layers.items()}, self.batch)

    @cached_property
    def activations(self) -> dict[str, Tensor]:
        """Per-weight L2 norm over the batch of the input each weight multiplies (broadcast to the weight)."""
        norms = input_norms(self.model, {n.removesuffix(".weight"): m for n, m in self.layers.items()}, self.batch)
        return {f"{n}.weight": v for n, v in norms.items()}

    def select_global(self, scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the `keep` highest scores across all layers (ties: lower index first)."""
        return mask_math.select_global(scores, self.keep)

    def select_layerwise(self, scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the `layer_keep[name]` highest scores within each layer (ties: lower index first)."""
        return mask_math.select_layerwise(scores, self.layer_keep)


def call_method(method: Method, ctx: Context) -> Masks:
    """Run a method and check its answer: keys, types, shapes, exact count, new weights, model untouched."""
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    out = method.fn(ctx)
    masks, weights = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
    after = ctx.model.state_dict()
    for key, value in before.items():
        if key not in after or not torch.equal(after[key], value):
            raise mask_math.MaskError(
                f"method {method.name!r} changed the model in place ({key}); a method returns masks and new "
                f"weight values, it never edits the model"
            )
    shapes = {n: w.shape for n, w in ctx.weights.items()}
    expected = ctx.keep if method.scope == "global" else ctx.layer_keep
    checked = mask_math.validate(masks, shapes, expected, method.name)
    return Masks(checked, mask_math.validate_weights(weights, shapes, method.name))


def prune(
    model: nn.Module,
    method: str,
    compression: float,
    batch: tuple[Tensor, Tensor],
    seed: int = 0,
) -> Masks:
    """Masks (one per prunable parameter) that `method` chooses for `compression`; the model is unchanged."""
    generator = torch.Generator(device=batch[0].device).manual_seed(seed)
    return call_method(get_method(method), Context(model, compression, batch, generator))
