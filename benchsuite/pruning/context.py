"""What a method sees (`Context`), and `call_method` / `prune`, which run a method and check its answer."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import Tensor, nn

from . import masks as mask_math
from .channels import channel_groups, expand
from .channels import compact as compact_channels
from .methods import Method, get_method
from .probes import gradients, input_norms
from .targets import CHANNEL, Target, parse_channels, parse_pattern, parse_sparsity


class Masks(dict):
    """Boolean masks by parameter name, plus `weights` (new values for kept weights, if the method gave any),
    `rewind` (whether the method asked the harness to rewind the weights to its schedule's snapshot), the
    `target` they meet with an `example` input (what `compact` needs), and `tied`: where the method's selection cut
    through scores that were all equal (the whole model, or layers)."""

    def __init__(self, masks: Mapping[str, Tensor], weights: Mapping[str, Tensor] | None = None,
                 rewind: bool = False, target: Target | None = None, example: Tensor | None = None,
                 tied: list[str] | None = None) -> None:
        super().__init__(masks)
        self.weights = dict(weights or {})
        self.rewind = rewind
        self.target, self.example = target, example
        self.tied = list(tied or [])


class _Rewind:
    """What `ctx.rewind(masks)` hands back with the masks."""


REWIND = _Rewind()


def prunable(model: nn.Module) -> dict[str, nn.Module]:
    """Conv2d and Linear modules whose weight may be pruned: all but the last one (the classifier) and any the model
    lists in its `not_prunable` attribute. A weight shared by several layers (tied) is one parameter: it is named by
    its first layer, once, and stays whole when a layer that may not be pruned shares it."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear layer to prune")
    skip = {list(layers)[-1], *getattr(model, "not_prunable", ())}
    fixed = {id(m.weight) for n, m in layers.items() if n in skip}
    out, seen = {}, set()
    for n, m in layers.items():
        if n not in skip and id(m.weight) not in fixed | seen:
            out[n] = m
            seen.add(id(m.weight))
    if not out:
        raise ValueError(f"{type(model).__name__} has no prunable layer: its only Conv2d or Linear layers are the "
                         f"classifier (the last one, never pruned) and those it lists as not prunable")
    return out


def prunable_shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {f"{n}.weight": m.weight.shape for n, m in prunable(model).items()}


def target_for(model: nn.Module, kind: str, compression: float | str, example: Tensor | None = None) -> Target:
    """The target of kind `kind` that brings `model` to `compression`: total / nonzero parameters, for an N:M
    target its pattern ("2:4"), for a channel target its channel ratio ("ch-x2"; `example`, an input, traces the
    model's channel groups)."""
    shapes = prunable_shapes(model)
    if kind == "nm":
        return Target.nm(shapes, *parse_pattern(compression))
    if kind in CHANNEL:
        ratio = parse_channels(compression)
        if example is None:
            raise ValueError("a channel target needs an example input to find the model's channel groups")
        layers = {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
        ignored = sorted(layers - set(prunable(model)))
        groups, whole = channel_groups(model, example[:1], list(shapes), ignored)
        return Target.channels(kind, shapes, groups, whole, ratio)
    if isinstance(compression, str) and compression.endswith("%") and kind in ("layer", "row"):
        return Target.sparse(kind, shapes, parse_sparsity(compression))
    if isinstance(compression, str) or kind == "row":
        raise ValueError(f"compression {compression!r} does not fit a method with a {kind!r} target: a 'global' or "
                         f"'layer' target takes a number (total / nonzero parameters, e.g. 8), a 'layer' or 'row' "
                         f"target a sparsity of every layer ('50%'), an 'nm' target a pattern ('2:4'), a channel "
                         f"target a channel ratio ('ch-x2')")
    total = sum(p.numel() for p in model.parameters())
    return Target.of(kind, shapes, mask_math.keep_count(total, sum(s.numel() for s in shapes.values()), compression))


def checked_batch(batch: object, model: nn.Module) -> tuple[Tensor, Tensor]:
    """The pruning batch as (inputs, labels) with at least one example, the inputs in the model's floating dtype (a
    half-precision model takes a float32 batch); a clear error for anything else."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, Tensor) for t in batch)):
        kind = type(batch).__name__ if not isinstance(batch, (tuple, list)) else f"a {type(batch).__name__} of " \
            f"{len(batch)}"
        raise ValueError(f"the pruning batch must be (inputs, labels), two tensors, e.g. batch=(x, y); got {kind}")
    x, y = batch
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"the pruning batch must hold at least one example and as many labels as inputs; got "
                         f"{len(x)} inputs and {len(y)} labels")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if x.is_floating_point() and dtype is not None and x.dtype != dtype:
        x = x.to(dtype)
    return x, y


@dataclass
class Context:
    """What a method sees: the model (read only), its target (exact counts), the pruning batch, a seeded generator,
    and, during training, the masks in force and the optimizer steps taken; at a mask update of dynamic sparse
    training, `moves`: how many of its kept weights each layer drops, to grow as many elsewhere (None otherwise)."""

    model: nn.Module
    target: Target
    batch: tuple[Tensor, Tensor]
    generator: torch.Generator
    masks: dict[str, Tensor] | None = None
    step: int = 0
    moves: dict[str, int] | None = None
    layers: dict[str, nn.Module] = field(init=False)
    tied: list[str] = field(init=False, default_factory=list)  # where a selection had only equal scores to cut

    @property
    def keep(self) -> int:
        """Prunable weights to keep in all."""
        return self.target.keep

    @property
    def layer_keep(self) -> dict[str, int]:
        """Weights to keep in each layer, for a target that gives each layer a count: the same fraction of every
        layer (`layer`), or a layer allocation (`erk`, `er`, `uniform+`)."""
        return self.target.layer_keep

    @cached_property
    def weights(self) -> dict[str, Tensor]:
        """The prunable weights by parameter name (detached; do not edit them)."""
        return {n: m.weight.detach() for n, m in self.layers.items()}

    def __post_init__(self) -> None:
        self.layers = {f"{n}.weight": m for n, m in prunable(self.model).items()}
        self.batch = checked_batch(self.batch, self.model)

    @cached_property
    def gradients(self) -> dict[str, Tensor]:
        """dL/dw of the cross-entropy on the pruning batch (BatchNorm in eval mode)."""
        return gradients(self.model, {n: m.weight for n, m in self.layers.items()}, self.batch)

    @cached_property
    def activations(self) -> dict[str, Tensor]:
        """Per-weight L2 norm over the batch of the input each weight multiplies (broadcast to the weight)."""
        norms = input_norms(self.model, {n.removesuffix(".weight"): m for n, m in self.layers.items()}, self.batch)
        return {f"{n}.weight": v for n, v in norms.items()}

    def select_global(self, scores: Mapping[str, Tensor], keep: int | None = None) -> dict[str, Tensor]:
        """Keep the `keep` (default: the target's) highest scores across all layers (ties: lower index first)."""
        keep = self.keep if keep is None else keep
        masks = mask_math.select_global(scores, keep)
        self._note_ties(scores, keep)
        return masks

    def select_layerwise(self, scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the `layer_keep[name]` highest scores within each layer (ties: lower index first)."""
        masks = mask_math.select_layerwise(scores, self.layer_keep)
        self._note_ties(scores, self.layer_keep)
        return masks

    def select(self, scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the highest scores as the method's target asks: over all layers, layer by layer, or N in every
        group of M (ties: lower index first)."""
        masks = self.target.select(scores)
        self._note_ties(scores, self.keep if self.target.kind == "global" else self.target.layer_keep)
        return masks

    def _note_ties(self, scores: Mapping[str, Tensor], keep: int | Mapping[str, int]) -> None:
        """Where a selection cut through scores that were all equal: the whole model (a global count) or a layer.
        Ties are legal, but a ranking that is all ties decided nothing, and a user wants to see that."""
        if isinstance(keep, int):
            values = mask_math.common(scores).values()
            if 0 < keep < sum(s.numel() for s in values) and len({float(f(s)) for s in values for f in (torch.min,
                                                                                                    torch.max)}) == 1:
                self.tied.append("the model")
            return
        for name, s in scores.items():
            if 0 < keep[name] < s.numel() and float(s.min()) == float(s.max()):
                self.tied.append(name)

    def select_channels(self, scores: list[Tensor]) -> dict[str, Tensor]:
        """For a channel target: keep the highest-scoring channels, `scores[i]` scoring those of
        `target.groups[i]` (whole rows of every layer of the group; ties: the earlier channel)."""
        return self.target.select_channels(scores)

    def among_kept(self, scores: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None = None
                   ) -> dict[str, Tensor]:
        """The scores with every weight already pruned (by `masks`, default the masks in force) put just below all
        others, still finite and in the scores' own precision, so that a selection keeps only weights still in the
        network: masks stay nested."""
        masks = self.masks if masks is None else masks
        return dict(scores) if masks is None else mask_math.below_kept(scores, masks)

    def rewind(self, masks: Mapping[str, Tensor]) -> tuple[Mapping[str, Tensor], _Rewind]:
        """Masks, with the request that the harness rewinds all weights to the snapshot its schedule names (for
        iterative pruning: a step of dense training) before it trains on."""
        return masks, REWIND

    def copy_model(self) -> nn.Module:
        """A deep copy of the model, for a method that computes on a network of its own (e.g. SynFlow)."""
        return copy.deepcopy(self.model)


def call_method(method: Method, ctx: Context, kwargs: Mapping[str, Any] | None = None) -> Masks:
    """Run a method and check its answer: keys, types, shapes, the target's exact count, nesting within the masks
    in force (when its schedule says so), the count a mask update may move, new weights, and the model untouched."""
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    modes = [m.training for m in ctx.model.modules()]
    try:
        out = method.fn(ctx, **(kwargs if kwargs is not None else method.bind({})[1]))
    except mask_math.MaskError as e:  # raised by a selection inside the method: say whose scores they were
        if str(e).startswith(f"method {method.name!r}"):
            raise
        raise mask_math.MaskError(f"method {method.name!r}: {e}") from None
    masks, extra = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
    after = ctx.model.state_dict()
    for key, value in before.items():
        if key not in after or not torch.equal(after[key], value):
            raise mask_math.MaskError(
                f"method {method.name!r} changed the model in place ({key}); a method returns masks and new "
                f"weight values, it never edits the model"
            )
    if [m.training for m in ctx.model.modules()] != modes:
        raise mask_math.MaskError(f"method {method.name!r} changed the model's train/eval mode; restore it (or work on "
                                  f"ctx.copy_model())")
    checked = ctx.target.validate(masks, method.name)
    if ctx.target.kind in CHANNEL:  # what belongs to a pruned channel goes with it
        checked = expand(ctx.target.groups, checked, dict(ctx.model.named_parameters()))
    if ctx.masks is not None and method.schedule is not None and method.schedule.nested:
        for name, mask in checked.items():
            revived = int((mask & ~ctx.masks[name]).sum())
            if revived:
                raise mask_math.MaskError(
                    f"method {method.name!r}: mask for {name} keeps {revived:,} weights that an earlier prune event "
                    f"removed; its masks must be nested (select among ctx.among_kept(scores))")
    if ctx.moves is not None:  # a mask update of dynamic sparse training: each layer moves at most its count
        for name, mask in checked.items():
            grown = int((mask & ~ctx.masks[name]).sum())
            if grown > ctx.moves[name]:
                raise mask_math.MaskError(
                    f"method {method.name!r}: mask for {name} grows {grown:,} weights at step {ctx.step}, but this "
                    f"update drops and grows at most {ctx.moves[name]:,} (ctx.moves)")
    rewind = extra is REWIND
    weights = mask_math.validate_weights({} if rewind else extra, dict(ctx.target.shapes), method.name)
    return Masks(checked, weights, rewind, ctx.target, ctx.batch[0][:1], sorted(set(ctx.tied)))


def prune_once(model: nn.Module, method: str, compression: float | str, batch: tuple[Tensor, Tensor], seed: int = 0,
               **hyperparameters: Any) -> Masks:
    """`benchsuite.prune` for a method that acts once, after training or at initialisation (a method that acts during
    training needs the harness's training loop: a sweep case)."""
    m = get_method(method)
    if m.stage == "during_training":
        raise ValueError(f"method {method!r} acts during training: the harness calls it at the prune events of its "
                         f"schedule while it trains; run it in a sweep (e.g. pytest --sweep lifecycle --methods "
                         f"{method}) or with benchsuite.run.stages.train_during")
    _, kwargs = m.bind(hyperparameters)
    try:
        batch = checked_batch(batch, model)
        target = target_for(model, m.kind_for(compression), compression, batch[0])
    except ValueError as e:
        raise ValueError(f"method {method!r}: {e}") from None
    generator = torch.Generator(device=batch[0].device).manual_seed(seed)
    return call_method(m, Context(model, target, batch, generator), kwargs)


def compact(model: nn.Module, masks: Masks) -> nn.Module:
    """The smaller dense model that the masks of a channel method describe: without the pruned channels and all that
    belongs to them (bias, BatchNorm, the inputs of the layers that read them). It computes what `model` computes
    under `masks`, checked on the masks' example input; `model` is unchanged. Given the `Structure` a structured
    method returns for a language model, the model without the decoder layers, or the heads and channels, it
    removes (`benchsuite.pruning.structure.compact`)."""
    from .structure import Structure, compact as compact_structure

    if isinstance(masks, Structure):
        return compact_structure(model, masks)
    target = getattr(masks, "target", None)
    if target is None or target.kind not in CHANNEL:
        raise ValueError("compact needs the masks of a channel method (target 'channel' or 'channel_global') as "
                         "benchsuite.prune returns them, e.g. bs.prune(model, 'l1_filter', compression='ch-x2', "
                         "batch=(x, y)), or the Structure of a structured language-model method ('shortgpt', "
                         "'flap')")
    return compact_channels(model, masks, masks.example, target.groups)
