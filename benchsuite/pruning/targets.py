"""Targets: the exact count a method's masks must hit. A method declares the kind of target it meets; a case's
compression (a ratio, an N:M pattern such as "2:4", a channel ratio "ch-x2", or a sparsity "50%") or a prune event's
count fixes the numbers. A target owns its keep counts, its validation and its label."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from . import allocation
from . import masks as mask_math
from .channels import row_masks

KINDS = {
    "global": "exactly `keep` weights kept over all prunable layers together",
    "layer": "the same fraction in every layer: exactly round(fraction * n) weights of each layer of n (for a "
             "sparsity s, `50%`: n - int(s * n), as Wanda's magnitude baseline prunes)",
    "row": "the same sparsity s (`50%`) in every output row: exactly k - int(s * k) of the k weights of each row "
           "kept (Wanda's comparison group)",
    "nm": "exactly N of every M consecutive weights along the input dimension (at each kernel position of a "
          "convolution); a layer whose input size is not a multiple of M stays dense",
    "channel": "whole output channels: exactly round(C / r) of the C channels of every channel group kept, r the "
               "case's ratio (`ch-x2`)",
    "channel_global": "whole output channels: exactly round(C / r) of all C channels kept, at least one in every "
                      "channel group",
    "erk": "per layer, the Erdos-Renyi-Kernel density (proportional to the sum of the weight's dimensions over its "
           "size, a layer that would exceed 1 kept whole; Evci et al. 2020), `keep` in all exactly",
    "er": "per layer, the Erdos-Renyi density (proportional to (n_in + n_out) / (n_in * n_out); Mocanu et al. 2018), "
          "`keep` in all exactly",
    "uniform+": "the first convolution whole and the same fraction of every other layer (Gale et al. 2019), `keep` in "
                "all exactly",
    "blocks": "whole decoder layers of a language model: round(s * L) of its L layers removed for a share s (`25%`), "
              "the model compacted",
    "width": "attention key-value groups and MLP channels of a language model's decoder layers, as many parameters "
             "as round(s * L) of its L layers hold for a share s (`25%`), the model compacted",
}
ALLOCATED = ("erk", "er", "uniform+")
CHANNEL = ("channel", "channel_global")
STRUCTURED = ("blocks", "width")  # a language model's layers, or its heads and channels, removed


def parse_pattern(compression: object) -> tuple[int, int]:
    """(N, M) from an N:M pattern such as "2:4"; a clear error for anything else."""
    match = re.fullmatch(r"(\d+):(\d+)", compression) if isinstance(compression, str) else None
    if not match or not 0 < int(match[1]) < int(match[2]):
        raise ValueError(f"an N:M target needs compression written 'N:M' with 0 < N < M, e.g. '2:4'; "
                         f"got {compression!r}")
    return int(match[1]), int(match[2])


def parse_channels(compression: object) -> float:
    """The ratio r of a channel target written `ch-xR` (keep 1 / r of the channels); a clear error otherwise."""
    match = re.fullmatch(r"ch-x(\d+(?:\.\d+)?)", compression) if isinstance(compression, str) else None
    if not match or float(match[1]) < 1:
        raise ValueError(f"a channel target needs compression written 'ch-xR' with R >= 1 (keep 1/R of the channels), "
                         f"e.g. 'ch-x2'; got {compression!r}")
    return float(match[1])


def parse_sparsity(compression: object) -> float:
    """The sparsity s of a target written `S%` (prune S percent of every prunable layer, or of every row); a clear
    error otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", compression) if isinstance(compression, str) else None
    if not match or not 0 <= float(match[1]) < 100:
        raise ValueError(f"a sparsity target is written 'S%' with 0 <= S < 100 (the percentage of every prunable "
                         f"layer's weights pruned), e.g. '50%'; got {compression!r}")
    return float(match[1]) / 100


def fits(kind: str, compression: float | str) -> bool:
    """Whether a target of `kind` takes `compression`: a ratio, an N:M pattern, a channel ratio `ch-xR`, or a sparsity
    `S%`."""
    if not isinstance(compression, str):
        return kind not in ("nm", "row", *CHANNEL, *STRUCTURED)
    if compression.endswith("%"):
        return kind in ("layer", "row", *STRUCTURED)
    return kind in CHANNEL if compression.startswith("ch-") else kind == "nm"


def label(compression: float | str) -> str:
    """A compression as case ids write it: `x8`, `2:4`, `ch-x2`, `50%`."""
    return compression if isinstance(compression, str) else f"x{compression:g}"


def nominal(compression: float | str) -> float:
    """The ratio a compression stands for: itself, M / N for an N:M pattern (before any layer left dense), the
    channel ratio R of `ch-xR` (the weights' ratio is larger: a layer loses inputs as well as outputs), or 1 / (1 - s)
    for a sparsity (of the prunable weights)."""
    if isinstance(compression, str) and compression.startswith("ch-"):
        return parse_channels(compression)
    if isinstance(compression, str) and compression.endswith("%"):
        return 1 / (1 - parse_sparsity(compression))
    if isinstance(compression, str):
        n, m = parse_pattern(compression)
        return m / n
    return float(compression)


def _sparse_counts(kind: str, shapes: Mapping[str, torch.Size], sparsity: float) -> dict[str, int]:
    """Weights a sparsity target keeps in each layer: n - int(s * n) of its n, or that of each of its rows."""
    if kind == "row":
        return {name: s[0] * (s[1:].numel() - int(sparsity * s[1:].numel())) for name, s in shapes.items()}
    return {name: s.numel() - int(sparsity * s.numel()) for name, s in shapes.items()}


def _nm_counts(shapes, n: int, m: int) -> dict[str, int]:
    """Weights an N:M target keeps in each layer ((name, shape) pairs): N of every M, or all where M does not divide
    the input size."""
    return {name: s.numel() * n // m if mask_math.groupable(s, m) else s.numel() for name, s in shapes}


@dataclass(frozen=True)
class Target:
    """Keep `keep` of the prunable weights (`shapes`: each prunable parameter's shape), as `kind` says; `pattern`
    is (N, M) for an N:M target. A channel target keeps `keep` channels (in all, or summed over its groups) of its
    `groups` (`channels.Group`); `whole` names the prunable weights outside every group, with the reason. A sparsity
    target (`sparsity` s) prunes int(s * n) of each layer of n, or int(s * k) of each row of k."""

    kind: str
    keep: int
    shapes: tuple[tuple[str, torch.Size], ...]
    pattern: tuple[int, int] | None = None
    groups: tuple = ()
    whole: tuple[tuple[str, str], ...] = ()
    ratio: float | None = None
    sparsity: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown target {self.kind!r}; a method's target is one of {', '.join(KINDS)}")
        if (self.kind == "nm") != (self.pattern is not None):
            raise ValueError("an N:M target, and only one, has a pattern (N, M)")
        if self.kind == "row" and self.sparsity is None:
            raise ValueError("a row target is fixed by a sparsity: use Target.sparse")
        if self.kind in ALLOCATED:
            _ = self.layer_keep  # an allocation the model cannot meet is an error now, not at the first selection

    @classmethod
    def of(cls, kind: str, shapes: Mapping[str, torch.Size], keep: int) -> Target:
        if kind == "nm":
            raise ValueError("an N:M target is fixed by its pattern, not by a count: use Target.nm")
        return cls(kind, keep, tuple((n, torch.Size(s)) for n, s in shapes.items()))

    @classmethod
    def nm(cls, shapes: Mapping[str, torch.Size], n: int, m: int) -> Target:
        shapes = {name: torch.Size(s) for name, s in shapes.items()}
        return cls("nm", sum(_nm_counts(shapes.items(), n, m).values()), tuple(shapes.items()), (n, m))

    @classmethod
    def sparse(cls, kind: str, shapes: Mapping[str, torch.Size], sparsity: float) -> Target:
        shapes = {name: torch.Size(s) for name, s in shapes.items()}
        counts = _sparse_counts(kind, shapes, sparsity)
        return cls(kind, sum(counts.values()), tuple(shapes.items()), sparsity=sparsity)

    @classmethod
    def channels(cls, kind: str, shapes: Mapping[str, torch.Size], groups: tuple, whole: Mapping[str, str],
                 ratio: float) -> Target:
        if not groups:
            raise ValueError(f"the model has no channel group to prune: {dict(whole)}")
        keep = sum(max(1, round(g.size / ratio)) for g in groups) if kind == "channel" else \
            max(len(groups), round(sum(g.size for g in groups) / ratio))
        return cls(kind, keep, tuple((n, torch.Size(s)) for n, s in shapes.items()), groups=tuple(groups),
                   whole=tuple(whole.items()), ratio=ratio)

    @cached_property
    def group_keep(self) -> list[int]:
        """Channels to keep in each group, for a target of kind `channel`: round(C / r), at least one."""
        return [max(1, round(g.size / self.ratio)) for g in self.groups] if self.kind == "channel" else []

    @cached_property
    def sizes(self) -> dict[str, int]:
        return {name: shape.numel() for name, shape in self.shapes}

    @cached_property
    def layer_keep(self) -> dict[str, int]:
        """Weights to keep in each layer: the same fraction everywhere, N of every M where the layer groups, or as a
        layer allocation (`allocation`) says."""
        if self.pattern:
            return _nm_counts(self.shapes, *self.pattern)
        if self.sparsity is not None:
            return _sparse_counts(self.kind, dict(self.shapes), self.sparsity)
        if self.kind in ALLOCATED:
            return allocation.layer_counts(self.kind, dict(self.shapes), self.keep)
        return mask_math.layer_keep_counts(self.sizes, self.keep)

    @cached_property
    def row_keep(self) -> dict[str, int]:
        """Weights to keep in every output row of each layer, for a row target."""
        return {name: s[1:].numel() - int(self.sparsity * s[1:].numel()) for name, s in self.shapes}

    @property
    def dense_layers(self) -> list[str]:
        """Layers the target leaves dense: for N:M those whose input size is not a multiple of M; for channels
        those outside every channel group."""
        if self.kind in CHANNEL:
            return [name for name, _ in self.whole]
        return [name for name, s in self.shapes if self.pattern and not mask_math.groupable(s, self.pattern[1])]

    @property
    def expected(self) -> int | dict[str, int]:
        """The exact count: a total, or one count per layer."""
        return self.keep if self.kind == "global" else self.layer_keep

    def select_channels(self, scores: list[Tensor]) -> dict[str, Tensor]:
        """Masks that keep the highest-scoring channels: `scores[i]` scores the channels of `groups[i]`. Kind `channel`
        keeps `group_keep[i]` in each group; kind `channel_global` keeps `keep` over all groups, the best of each
        group first (ties: the earlier channel)."""
        if len(scores) != len(self.groups) or any(s.numel() != g.size for s, g in zip(scores, self.groups)):
            raise mask_math.MaskError(f"channel scores must be one tensor per group with one score per channel: "
                                      f"sizes {[g.size for g in self.groups]}")
        if self.kind == "channel":
            kept = [mask_math.select_layerwise({"g": s}, {"g": k})["g"] for s, k in zip(scores, self.group_keep)]
        else:
            flat = [s.cpu().clone() for s in mask_math.common(dict(enumerate(scores))).values()]
            top = max(s.max() for s in flat)
            above = torch.nextafter(top, top.new_tensor(math.inf))  # every group's best channel first
            if not torch.isfinite(above):
                raise mask_math.MaskError("channel scores reach the highest finite value of their precision; rescale "
                                          "them")
            for s in flat:
                s[int(s.argmax())] = above
            kept = list(mask_math.select_global(dict(enumerate(flat)), self.keep).values())
        return row_masks(self.groups, kept, dict(self.shapes))

    def select(self, scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the highest scores as the target asks: over all layers, layer by layer, or group by group."""
        if self.kind in CHANNEL:
            raise mask_math.MaskError("a channel target selects channels, not weights: use ctx.select_channels")
        if self.kind == "global":
            return mask_math.select_global(scores, self.keep)
        if self.pattern:
            return mask_math.select_nm(scores, *self.pattern)
        if self.kind == "row":
            return mask_math.select_rows(scores, self.row_keep)
        return mask_math.select_layerwise(scores, self.layer_keep)

    def validate(self, masks: object, method: str) -> dict[str, Tensor]:
        """Keys, types, shapes, the exact count and, for N:M, every group; a MaskError naming the method and the
        layer."""
        if self.kind in CHANNEL:
            checked = mask_math.validate(masks, dict(self.shapes), None, method)
            self._validate_channels(checked, method)
            return checked
        checked = mask_math.validate(masks, dict(self.shapes), self.expected, method)
        if self.pattern:
            mask_math.validate_groups(checked, *self.pattern, method)
        if self.kind == "row":
            mask_math.validate_rows(checked, self.row_keep, method)
        return checked

    def _validate_channels(self, masks: Mapping[str, Tensor], method: str) -> None:
        """Whole rows, the same channels across a group's layers, the exact count, layers outside groups whole."""
        for name, reason in self.whole:
            if not masks[name].all():
                raise mask_math.MaskError(f"method {method!r}: mask for {name} prunes weights, but its channels cannot "
                                          f"be removed ({reason}); keep it whole")
        kept = []
        for g in self.groups:
            for layer in g.layers:
                m = masks[layer].reshape(masks[layer].shape[0], -1)
                partial = (m.any(1) & ~m.all(1)).nonzero()
                if len(partial):
                    raise mask_math.MaskError(f"method {method!r}: mask for {layer} keeps part of output channel "
                                              f"{int(partial[0])}; a channel target keeps or prunes whole channels")
            first = g.kept(masks)
            for layer, rows in g.rows.items():
                here = torch.zeros_like(first)
                here[list(rows.channel)] = masks[layer].reshape(masks[layer].shape[0], -1).all(1).cpu()[list(rows.index)]
                if not torch.equal(first, here):
                    raise mask_math.MaskError(f"method {method!r}: {g.layers[0]} and {layer} share output channels "
                                              f"(a residual add or an index map joins them), but their masks keep "
                                              f"different ones")
            kept.append(int(first.sum()))
        if self.kind == "channel":
            for g, k, want in zip(self.groups, kept, self.group_keep):
                if k != want:
                    raise mask_math.MaskError(f"method {method!r}: masks keep {k} of the {g.size} channels of "
                                              f"{', '.join(g.layers)}, expected exactly {want}")
        elif sum(kept) != self.keep or min(kept) == 0:
            raise mask_math.MaskError(f"method {method!r}: masks keep {sum(kept)} channels in all (fewest in a group: "
                                      f"{min(kept)}), expected exactly {self.keep} with at least one in every group")
