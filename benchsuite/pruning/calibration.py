"""Post-training pruning of a language model (a transformers causal LM), block by block (a block is a decoder layer), as
Wanda's and SparseGPT's code do it: the calibration sequences enter block 0; each block's method sees the inputs of the
block's linear layers as they come out of the blocks already pruned, its masks (and new weights) are written into the
block, and the pruned block's outputs feed the next. A method that never asks for the inputs (magnitude) runs no forward
pass at all. Differs: the reference code runs one calibration sequence per forward pass, here `CHUNK` at a time; float32
sums then round differently, and scores a few float32 steps apart can swap, which the pruned blocks carry forward (RIA
at 50% on SmolLM2-135M, measured when the suite ran its own Llama module: the same masks as one sequence at a time in
blocks 0-16; from two scores 1.8e-7 apart in block 17 on, 9,724 of 106 million weights differed)."""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor, nn

from ..models.causal import decoder_layers, linears
from . import context
from .context import Context, Masks, call_method
from .masks import MaskError
from .methods import Method, get_method
from .targets import STRUCTURED, Target, fits, parse_pattern, parse_sparsity

CHUNK = 8  # calibration sequences per forward pass: bounds the memory of attention


class _Caught(Exception):
    """Stops the model's forward pass at its last decoder layer, once every layer's keyword arguments are kept."""


class Calibration:
    """The hidden states of the calibration sequences (token ids (n, T)) as they enter decoder layer `i`, in chunks of
    `CHUNK` sequences, each with the keyword arguments the model gives each layer (rotary embeddings, attention mask,
    positions: Wanda's and SparseGPT's code catch layer 0's and give them to every layer, which holds for Llama but
    not where layers differ), computed through layers 0..i-1 as they are when asked (pruned, in a post-training
    pass)."""

    def __init__(self, model: nn.Module, tokens: Tensor) -> None:
        self.model, self.tokens = model, tokens
        self.prefix, self.blocks = decoder_layers(model)
        self.at, self.x, self.first, self.kwargs = 0, None, None, None

    def _first(self) -> tuple[list[Tensor], list[list[dict[str, Any]]]]:
        """Per chunk: the hidden states entering layer 0, and the keyword arguments the model gives each layer (its
        own: Gemma2's and Gemma3's layers alternate sliding-window and full attention masks and rotary embeddings,
        as sliding-window Qwen's later layers do), caught by one forward pass stopped at the last layer. The model
        computes them before its first layer, from the positions alone, so the layers pass their input through
        meanwhile: the pass costs the embeddings and the masks, not the layers."""
        inputs, kwargs, last = [], [[] for _ in self.blocks], len(self.blocks) - 1

        def catch(i: int):
            def hook(module, args, kw):
                if i == 0:
                    inputs.append(args[0] if args else kw["hidden_states"])
                kwargs[i].append({k: v for k, v in kw.items() if k != "hidden_states"})
                if i == last:
                    raise _Caught
            return hook

        def through(hidden_states: Tensor | None = None, *args: Any, **kw: Any) -> Tensor:
            return hidden_states if hidden_states is not None else args[0]

        handles = [block.register_forward_pre_hook(catch(i), with_kwargs=True) for i, block in enumerate(self.blocks)]
        for block in self.blocks:
            block.forward = through  # an instance attribute: the class's forward returns when it is deleted
        device = next(self.model.parameters()).device
        try:
            for part in self.tokens.split(CHUNK):
                try:
                    self.model(part.to(device), use_cache=False)
                except _Caught:
                    pass
        finally:
            for h in handles:
                h.remove()
            for block in self.blocks:
                del block.forward
        return inputs, kwargs

    def _run(self, i: int, x: list[Tensor]) -> list[Tensor]:
        outputs = [self.blocks[i](part, **kw) for part, kw in zip(x, self.kwargs[i])]
        return [out[0] if isinstance(out, tuple) else out for out in outputs]

    @torch.no_grad()
    def inputs(self, i: int) -> list[Tensor]:
        if self.first is None:  # once: no weight it depends on is pruned (embeddings, positions stay)
            self.first, self.kwargs = self._first()
        if self.x is None or i < self.at:
            self.at, self.x = 0, self.first
        while self.at < i:
            self.x, self.at = self._run(self.at, self.x), self.at + 1
        return self.x

    @torch.no_grad()
    def layer_inputs(self, i: int) -> dict[str, Tensor]:
        """The input of every linear layer of decoder layer `i` over all calibration tokens, (tokens, in_features), by
        weight name within the layer."""
        x, seen = self.inputs(i), {}  # first: computing them may run the whole model, hooks off

        def keep(name: str):
            return lambda module, args: seen.setdefault(name, []).append(args[0].reshape(-1, args[0].shape[-1]))

        handles = [m.register_forward_pre_hook(keep(name)) for name, m in linears(self.blocks[i]).items()]
        try:
            self._run(i, x)
        finally:
            for h in handles:
                h.remove()
        return {name: torch.cat(parts) for name, parts in seen.items()}


@dataclass
class BlockContext(Context):
    """What a post-training method sees for one block (a decoder layer): the block (read only) with its linear layers as
    the prunable weights (`self_attn.q_proj.weight`, ..., `mlp.down_proj.weight` in a Llama), their target, the
    calibration token ids as the batch, and the layers' calibration inputs on demand."""

    calibration: Calibration | None = None
    index: int = 0

    def __post_init__(self) -> None:
        self.layers = linears(self.model)

    @cached_property
    def inputs(self) -> dict[str, Tensor]:
        """Each layer's input over all calibration tokens, (tokens, in_features)."""
        return self.calibration.layer_inputs(self.index)

    @cached_property
    def activations(self) -> dict[str, Tensor]:
        """Per-weight L2 norm over the calibration tokens of the input feature it multiplies (broadcast to the
        weight): ||X_j||_2."""
        return {n: self.inputs[n].norm(dim=0).expand_as(w) for n, w in self.weights.items()}

    @cached_property
    def hessians(self) -> dict[str, Tensor]:
        """H = 2 X^T X / tokens, the Hessian of each layer's squared reconstruction error ||W X^T - W' X^T||^2 / tokens
        (SparseGPT's, accumulated in float32 as there; it scales by sequences, which changes no decision)."""
        return {n: 2 * x.T @ x / len(x) for n, x in self.inputs.items()}

    @property
    def gradients(self) -> dict[str, Tensor]:
        raise MaskError("a post-training method sees no gradients (no loss is computed); use ctx.inputs, "
                        "ctx.activations or ctx.hessians")


def check(kind: str, compression: object) -> None:
    """A clear error unless `compression` is what a post-training target of `kind` takes."""
    if not isinstance(compression, str) or not re.fullmatch(r"[\d.]+%|\d+:\d+", compression) \
            or not fits(kind, compression):
        raise ValueError(f"compression {compression!r} does not fit a post-training target {kind!r}: a 'layer' or "
                         f"'row' target takes a sparsity ('50%'), an 'nm' target an N:M pattern ('2:4')")


def block_target(kind: str, shapes: dict[str, torch.Size], compression: str) -> Target:
    """A block's target: a sparsity of every layer (`50%`, kind `layer`) or of every row (kind `row`), or N:M."""
    check(kind, compression)
    if kind == "nm":
        return Target.nm(shapes, *parse_pattern(compression))
    return Target.sparse(kind, shapes, parse_sparsity(compression))


ALLOCATIONS: dict[str, Callable[..., Any]] = {}  # post-training method name -> its allocation


def allocates(method: str) -> Callable:
    """Decorator that makes `fn(calibration, sparsity, **hyperparameters)` the allocation of post-training method
    `method` (with a layer or row target): the sparsity of each block, computed from the dense model before any block
    is pruned, their mean the case's sparsity; each block's target then takes its own (OWL's)."""
    def wrap(fn: Callable) -> Callable:
        ALLOCATIONS[method] = fn
        return fn

    return wrap


def allocate(method: Method, calibration: Calibration, compression: str, kwargs: dict[str, Any] | None
             ) -> list[float] | None:
    """The sparsity of each block that the method's allocation gives from the dense model (None without one),
    checked: one per block, each in [0, 1), their mean the case's sparsity. The sparsity achieved is a little lower,
    as each row or layer rounds its count down (OWL at 70% on SmolLM2-135M: 69.937%)."""
    allocation = ALLOCATIONS.get(method.name)
    if allocation is None:
        return None
    if method.kind_for(compression) not in ("layer", "row"):
        raise ValueError(f"method {method.name!r}: an allocation gives the blocks their sparsities, so it takes a "
                         f"sparsity ('50%') for a layer or row target, not {compression!r}")
    sparsity, blocks = parse_sparsity(compression), len(calibration.blocks)
    out = [float(s) for s in allocation(calibration, sparsity, **(kwargs or method.bind({})[1]))]
    if len(out) != blocks or not all(0 <= s < 1 for s in out) or abs(sum(out) / blocks - sparsity) > 1e-9:
        raise ValueError(f"method {method.name!r}: its allocation must give each of the {blocks} blocks a sparsity in "
                         f"[0, 1) with mean {compression}; it gave {len(out)} ({', '.join(f'{s:.4f}' for s in out)}, "
                         f"mean {sum(out) / max(1, len(out)):.6f}): its hyperparameters may not fit this sparsity")
    return out


def prune_blocks(model: nn.Module, method: Method, compression: str, tokens: Tensor, seed: int = 0,
                 kwargs: dict[str, Any] | None = None) -> Masks:
    """Prune `model` (a transformers causal LM) in place, decoder layer by decoder layer, with `method` (stage
    post_training) for `compression`, from the calibration token ids `tokens` (n, T); the masks and new weights are
    written into the model as each layer is done. Returns the masks of every prunable weight
    (`model.layers.{i}.self_attn.q_proj.weight`, ...) with the new weights the method gave (SparseGPT's)."""
    prefix, _ = decoder_layers(model)
    if method.stage != "post_training":
        raise ValueError(f"method {method.name!r} acts at stage {method.stage!r}; a language model is pruned after "
                         f"training from calibration data by a method of stage 'post_training'")
    kind, out, weights = method.kind_for(compression), {}, {}
    try:
        check(kind, compression)
    except ValueError as e:
        raise ValueError(f"method {method.name!r} (targets {', '.join(method.kinds)}): {e}") from None
    calibration, generator = Calibration(model, tokens), torch.Generator().manual_seed(seed)
    sparsities = allocate(method, calibration, compression, kwargs)
    for i, block in enumerate(calibration.blocks):
        shapes = {name: m.weight.shape for name, m in linears(block).items()}
        target = block_target(kind, shapes, compression) if sparsities is None else \
            Target.sparse(kind, shapes, sparsities[i])
        ctx = BlockContext(block, target, (tokens, tokens), generator, calibration=calibration, index=i)
        masks = call_method(method, ctx, kwargs)
        with torch.no_grad():
            for name, mask in masks.items():
                weight = block.get_parameter(name)
                weight.copy_(masks.weights.get(name, weight).to(weight) * mask.to(weight))
                out[f"{prefix}.{i}.{name}"] = mask
                if name in masks.weights:
                    weights[f"{prefix}.{i}.{name}"] = weight.detach().clone()
    return Masks(out, weights)


def prune(model: nn.Module, method: str, compression: float | str, batch: tuple[Tensor, Tensor], seed: int = 0,
          **hyperparameters: Any) -> Masks:
    """The masks `method` chooses for `compression`, with `seed` drawing whatever it draws; the model is unchanged.

    A method that acts once (after training or at initialisation) gets `batch` = (inputs, labels) and
    `compression` a ratio (8), an N:M pattern ("2:4") or a channel ratio ("ch-x2"); it returns one mask per
    prunable parameter, and a channel method one for every parameter that belongs to a pruned channel. A
    post-training method prunes a copy of a language model block by block from the calibration token ids
    `batch[0]` (sequences x length), with `compression` a sparsity ("50%") or an N:M pattern, and returns its masks
    with the new weights it chose (`masks.weights`); a structured one (target `blocks` or `width`, compression a
    share "25%") returns what it removes, a `Structure` that `compact(model, structure)` turns into the smaller
    model. Hyperparameters are passed by keyword. A method that acts
    during training needs the harness's training loop: run it in a sweep."""
    m = get_method(method)
    if m.stage != "post_training":
        return context.prune_once(model, method, compression, batch, seed, **hyperparameters)
    _, kwargs = m.bind(hyperparameters)
    decoder_layers(model)  # a model that is not a causal LM is named before its batch
    tokens = batch[0] if isinstance(batch, (tuple, list)) and batch else None
    if not (isinstance(tokens, Tensor) and tokens.dim() == 2 and not tokens.is_floating_point() and len(tokens)):
        raise ValueError(f"method {method!r} prunes a language model from calibration token ids: pass "
                         f"batch=(tokens, tokens) with tokens a (sequences, length) integer tensor, at least one "
                         f"sequence")
    if m.kind_for(compression) in STRUCTURED:
        from .structure import prune_structure

        return prune_structure(model, m, compression, tokens, seed, kwargs)
    return prune_blocks(copy.deepcopy(model), m, compression, tokens, seed, kwargs)
