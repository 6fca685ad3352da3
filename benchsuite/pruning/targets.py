"""Targets: the exact count a method's masks must hit. A method declares the kind of target it meets; a case's
compression (a ratio, or an N:M pattern such as "2:4") or a prune event's count fixes the numbers. A target owns
its keep counts, its validation and its label."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from . import masks as mask_math

KINDS = {
    "global": "exactly `keep` weights kept over all prunable layers together",
    "layer": "the same fraction in every layer: exactly round(fraction * n) weights of each layer of n",
    "nm": "exactly N of every M consecutive weights along the input dimension (at each kernel position of a "
          "convolution); a layer whose input size is not a multiple of M stays dense",
}


def parse_pattern(compression: object) -> tuple[int, int]:
    """(N, M) from an N:M pattern such as "2:4"; a clear error for anything else."""
    match = re.fullmatch(r"(\d+):(\d+)", compression) if isinstance(compression, str) else None
    if not match or not 0 < int(match[1]) < int(match[2]):
        raise ValueError(f"an N:M target needs compression written 'N:M' with 0 < N < M, e.g. '2:4'; "
                         f"got {compression!r}")
    return int(match[1]), int(match[2])


def label(compression: float | str) -> str:
    """A compression as case ids write it: `x8`, `2:4`."""
    return compression if isinstance(compression, str) else f"x{compression:g}"


def nominal(compression: float | str) -> float:
    """The ratio a compression stands for: itself, or M / N for an N:M pattern (before any layer left dense)."""
    if isinstance(compression, str):
        n, m = parse_pattern(compression)
        return m / n
    return float(compression)


@dataclass(frozen=True)
class Target:
    """Keep `keep` of the prunable weights (`shapes`: each prunable parameter's shape), as `kind` says; `pattern`
    is (N, M) for an N:M target."""

    kind: str
    keep: int
    shapes: tuple[tuple[str, torch.Size], ...]
    pattern: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown target {self.kind!r}; a method's target is one of {', '.join(KINDS)}")
        if (self.kind == "nm") != (self.pattern is not None):
            raise ValueError("an N:M target, and only one, has a pattern (N, M)")

    @classmethod
    def of(cls, kind: str, shapes: Mapping[str, torch.Size], keep: int) -> Target:
        if kind == "nm":
            raise ValueError("an N:M target is fixed by its pattern, not by a count: use Target.nm")
        return cls(kind, keep, tuple((n, torch.Size(s)) for n, s in shapes.items()))

    @classmethod
    def nm(cls, shapes: Mapping[str, torch.Size], n: int, m: int) -> Target:
        shapes = {name: torch.Size(s) for name, s in shapes.items()}
        keep = sum(s.numel() * n // m if mask_math.groupable(s, m) else s.numel() for s in shapes.values())
        return cls("nm", keep, tuple(shapes.items()), (n, m))

    @cached_property
    def sizes(self) -> dict[str, int]:
        return {name: shape.numel() for name, shape in self.shapes}

    @cached_property
    def layer_keep(self) -> dict[str, int]:
        """Weights to keep in each layer: the same fraction everywhere, or N of every M where the layer groups."""
        if self.pattern:
            n, m = self.pattern
            return {name: s.numel() * n // m if mask_math.groupable(s, m) else s.numel() for name, s in self.shapes}
        return mask_math.layer_keep_counts(self.sizes, self.keep)

    @property
    def dense_layers(self) -> list[str]:
        """Layers an N:M target leaves dense, because their input size is not a multiple of M."""
        return [name for name, s in self.shapes if self.pattern and not mask_math.groupable(s, self.pattern[1])]

    @property
    def expected(self) -> int | dict[str, int]:
        """The exact count: a total, or one count per layer."""
        return self.keep if self.kind == "global" else self.layer_keep

    def select(self, scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the highest scores as the target asks: over all layers, layer by layer, or group by group."""
        if self.kind == "global":
            return mask_math.select_global(scores, self.keep)
        if self.pattern:
            return mask_math.select_nm(scores, *self.pattern)
        return mask_math.select_layerwise(scores, self.layer_keep)

    def validate(self, masks: object, method: str) -> dict[str, Tensor]:
        """Keys, types, shapes, the exact count and, for N:M, every group; a MaskError naming the method and the
        layer."""
        checked = mask_math.validate(masks, dict(self.shapes), self.expected, method)
        if self.pattern:
            mask_math.validate_groups(checked, *self.pattern, method)
        return checked
