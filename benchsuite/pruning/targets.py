"""Targets: the exact count a method's masks must hit. A method declares the kind of target it meets; a case's
compression (or a prune event's count) fixes the numbers. A target owns its keep counts and its validation."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from . import masks as mask_math

KINDS = {
    "global": "exactly `keep` weights kept over all prunable layers together",
    "layer": "the same fraction in every layer: exactly round(fraction * n) weights of each layer of n",
}


@dataclass(frozen=True)
class Target:
    """Keep `keep` of the prunable weights (`shapes`: each prunable parameter's shape), as `kind` says."""

    kind: str
    keep: int
    shapes: tuple[tuple[str, torch.Size], ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown target {self.kind!r}; a method's target is one of {', '.join(KINDS)}")

    @classmethod
    def of(cls, kind: str, shapes: Mapping[str, torch.Size], keep: int) -> Target:
        return cls(kind, keep, tuple((n, torch.Size(s)) for n, s in shapes.items()))

    @cached_property
    def sizes(self) -> dict[str, int]:
        return {name: shape.numel() for name, shape in self.shapes}

    @cached_property
    def layer_keep(self) -> dict[str, int]:
        """Weights to keep in each layer when every layer keeps the same fraction."""
        return mask_math.layer_keep_counts(self.sizes, self.keep)

    @property
    def expected(self) -> int | dict[str, int]:
        """The exact count: a total, or one count per layer."""
        return self.keep if self.kind == "global" else self.layer_keep

    def validate(self, masks: object, method: str) -> dict[str, Tensor]:
        """Keys, types, shapes and the exact count of `masks`; a MaskError naming the method and the layer."""
        return mask_math.validate(masks, dict(self.shapes), self.expected, method)
