"""Structured pruning of a language model (a transformers causal LM): whole decoder layers removed (depth), or
attention heads and MLP channels removed from every layer (width), and `compact`, the smaller dense model that runs
faster on any device. A structured method scores units from the dense model's calibration inputs; its target fixes
how many parameters go: a compression `25%` removes the linear weights of round(25% of L) decoder layers (of L), whole
layers or the same count spread as heads and channels, so that depth and width are compared at equal size."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..models.causal import decoder_layers, linears
from .calibration import Calibration
from .masks import MaskError
from .methods import Method
from .targets import parse_sparsity

ATTENTION = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
MLP = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


@dataclass(frozen=True)
class Layout:
    """A decoder layer's width units as Llama-family attention and gated MLPs lay them out (Llama, Qwen2, Mistral,
    Gemma): `groups` key-value groups (a key-value head with the `shared` query heads that read it; removing one alone
    would break grouped-query attention) of `head_dim` rows each, and `channels` MLP channels (a row of gate_proj and
    up_proj, a column of down_proj); each unit's parameters, biases included."""

    groups: int
    shared: int
    head_dim: int
    channels: int
    group_params: int
    channel_params: int


def layout(layer: nn.Module, where: str) -> Layout:
    """The width units of decoder layer `layer` (named `where` in errors); a clear error where it has no Llama-family
    attention and gated MLP."""
    found = {n.removesuffix(".weight"): m for n, m in linears(layer).items()}
    missing = [n for n in (*ATTENTION, *MLP) if n not in found]
    if missing or not hasattr(layer.self_attn, "head_dim"):
        raise ValueError(f"{where}: width pruning removes key-value groups and gated MLP channels from a Llama-family "
                         f"layer ({', '.join(ATTENTION + MLP)}: Llama, Qwen2, Mistral, Gemma); this layer lacks "
                         f"{', '.join(missing) or 'self_attn.head_dim'} (its linear layers: {', '.join(found)})")
    q, k, v, o = (found[n] for n in ATTENTION)
    gate, up, down = (found[n] for n in MLP)
    head_dim = layer.self_attn.head_dim
    groups, shared = k.out_features // head_dim, q.out_features // k.out_features

    def size(*parts: tuple[nn.Linear, int]) -> int:
        return sum(rows * (m.in_features + (m.bias is not None)) for m, rows in parts)
    group = size((q, shared * head_dim), (k, head_dim), (v, head_dim)) + o.out_features * shared * head_dim
    channel = size((gate, 1), (up, 1)) + down.out_features
    return Layout(groups, shared, head_dim, gate.out_features, group, channel)


@dataclass(frozen=True)
class StructureTarget:
    """Remove `blocks` of the model's `layers` decoder layers (kind `blocks`), or the same share of the parameters of
    every layer's width units, its heads' and channels' together (kind `width`): units of `params` parameters in all,
    `remove` of them."""

    kind: str
    layers: int
    blocks: int
    params: int
    remove: int

    @classmethod
    def of(cls, kind: str, model: nn.Module, compression: str) -> StructureTarget:
        share = parse_sparsity(compression)
        prefix, layers = decoder_layers(model)
        n = math.floor(share * len(layers) + 0.5)
        if not 1 <= n < len(layers):
            raise ValueError(f"compression {compression!r} removes round({share:g} x {len(layers)} decoder layers) = "
                             f"{n} layers' worth of a model of {len(layers)}; a structured target removes at least "
                             f"one layer's worth and keeps at least one")
        if kind == "blocks":
            params = sum(p.numel() for layer in layers for m in linears(layer).values() for p in m.parameters())
        else:
            units = [layout(layer, f"{prefix}.{i}") for i, layer in enumerate(layers)]
            if len(set(units)) > 1:
                raise ValueError(f"width pruning scores every decoder layer's units together; the layers of "
                                 f"{prefix} differ in their heads or channels")
            params = sum(u.groups * u.group_params + u.channels * u.channel_params for u in units)
        return cls(kind, len(layers), n, params, round(params * n / len(layers)))


@dataclass
class Structure:
    """What a structured method removes from a causal LM: `blocks`, the decoder layers removed whole; or, per decoder
    layer, the key-value groups and MLP channels kept (`groups`, `channels`: boolean), with the bias that stands for
    the removed units' mean contribution added to its o_proj and down_proj outputs (`attention_bias`, `mlp_bias`:
    FLAP's compensation; None without). `target` is what it was asked to meet."""

    target: StructureTarget
    blocks: tuple[int, ...] = ()
    groups: list[Tensor] = field(default_factory=list)
    channels: list[Tensor] = field(default_factory=list)
    attention_bias: list[Tensor] | None = None
    mlp_bias: list[Tensor] | None = None

    def summary(self) -> dict[str, Any]:
        """What a result row keeps: the layers removed, or each layer's key-value groups and channels kept."""
        if self.target.kind == "blocks":
            return {"blocks_removed": list(self.blocks)}
        return {"groups_kept": [int(g.sum()) for g in self.groups],
                "channels_kept": [int(c.sum()) for c in self.channels]}


@dataclass
class StructureContext:
    """What a structured method sees: the dense model (read only), its target, and the calibration inputs of every
    decoder layer of the dense model (`calibration.inputs(i)`, `calibration.layer_inputs(i)`; `inputs(L)` is the last
    layer's output)."""

    model: nn.Module
    target: StructureTarget
    calibration: Calibration
    generator: torch.Generator

    def remove_blocks(self, scores: Tensor) -> Structure:
        """Remove the target's count of decoder layers, those of lowest score (one score per layer; ties by index)."""
        scores = _scores(scores, (self.target.layers,), "one score per decoder layer")
        order = torch.sort(scores, stable=True).indices
        return Structure(self.target, tuple(sorted(order[:self.target.blocks].tolist())))

    def remove_width(self, groups: Tensor, channels: Tensor, attention_mean: Tensor | None = None,
                     mlp_mean: Tensor | None = None) -> Structure:
        """Keep the key-value groups (scores (L, groups)) and MLP channels (scores (L, channels)) above one threshold
        over all layers, set as FLAP sets it: the units sorted by score, best first, the threshold is the score of the
        unit where the parameters kept so far come nearest the target's, and that unit and every unit at or below it
        go. With the mean inputs of o_proj and down_proj over the calibration tokens ((L, in_features)), each layer's
        output projection gets the bias W[:, removed] @ mean[removed] (FLAP's compensation)."""
        prefix, layers = decoder_layers(self.model)
        units = [layout(layer, f"{prefix}.{i}") for i, layer in enumerate(layers)]
        u = units[0]
        groups = _scores(groups, (len(layers), u.groups), "(decoder layers, key-value groups) scores")
        channels = _scores(channels, (len(layers), u.channels), "(decoder layers, MLP channels) scores")
        scores = torch.cat([groups.flatten(), channels.flatten()])
        sizes = torch.cat([torch.full((groups.numel(),), float(u.group_params), dtype=torch.float64),
                           torch.full((channels.numel(),), float(u.channel_params), dtype=torch.float64)])
        order = torch.sort(scores, descending=True, stable=True).indices
        at = torch.argmin((torch.cumsum(sizes[order], 0) - (self.target.params - self.target.remove)).abs())
        threshold = scores[order[at]]
        kept_groups, kept_channels = list(groups > threshold), list(channels > threshold)
        out = Structure(self.target, (), kept_groups, kept_channels)
        if attention_mean is not None and mlp_mean is not None:
            out.attention_bias = [_compensation(layer.self_attn.o_proj, mean, _group_rows(keep, unit))
                                  for layer, mean, keep, unit in zip(layers, attention_mean, kept_groups, units)]
            out.mlp_bias = [_compensation(layer.mlp.down_proj, mean, keep)
                            for layer, mean, keep in zip(layers, mlp_mean, kept_channels)]
        return out


def _scores(scores: object, shape: tuple[int, ...], what: str) -> Tensor:
    if not isinstance(scores, Tensor) or tuple(scores.shape) != shape or not scores.is_floating_point() \
            or not torch.isfinite(scores).all():
        got = f"shape {tuple(scores.shape)}" if isinstance(scores, Tensor) else type(scores).__name__
        raise MaskError(f"a structured method gives {what}, finite floats of shape {shape}; got {got}")
    return scores.detach().cpu().double()


def _group_rows(keep: Tensor, unit: Layout) -> Tensor:
    """Which query rows (o_proj's input columns) the kept key-value groups hold: group g has query heads
    g * shared ... (g + 1) * shared - 1, as grouped-query attention repeats key-value head g for them."""
    return keep.repeat_interleave(unit.shared * unit.head_dim)


def _compensation(linear: nn.Linear, mean: Tensor, keep: Tensor) -> Tensor:
    """The output bias that adds the removed inputs' mean contribution: W[:, removed] @ mean[removed] (and the
    layer's own bias, if it has one)."""
    w = linear.weight.detach()
    bias = w[:, ~keep] @ mean.to(w)[~keep]
    return bias if linear.bias is None else bias + linear.bias.detach()


def _rows(linear: nn.Linear, keep: Tensor) -> None:
    linear.weight = nn.Parameter(linear.weight.detach()[keep].clone())
    if linear.bias is not None:
        linear.bias = nn.Parameter(linear.bias.detach()[keep].clone())
    linear.out_features = int(keep.sum())


def _columns(linear: nn.Linear, keep: Tensor, bias: Tensor | None) -> None:
    linear.weight = nn.Parameter(linear.weight.detach()[:, keep].clone())
    if bias is not None:
        linear.bias = nn.Parameter(bias.clone())
    linear.in_features = int(keep.sum())


class NoHeads(nn.Module):
    """The attention of a decoder layer whose every key-value group was removed: it adds only its compensation bias
    (nothing without one), and gives the KV cache an empty key and value for each token, so that the cache still
    counts the positions seen."""

    def __init__(self, layer_idx: int, head_dim: int, bias: Tensor | None) -> None:
        super().__init__()
        self.layer_idx, self.head_dim = layer_idx, head_dim
        self.bias = None if bias is None else nn.Parameter(bias.clone())

    def forward(self, hidden_states: Tensor, past_key_values=None, **kwargs: Any) -> tuple[Tensor, None]:
        if past_key_values is not None:
            empty = hidden_states.new_zeros(hidden_states.shape[0], 0, hidden_states.shape[1], self.head_dim)
            past_key_values.update(empty, empty, self.layer_idx)
        out = torch.zeros_like(hidden_states)
        return (out if self.bias is None else out + self.bias), None


def compact(model: nn.Module, structure: Structure) -> nn.Module:
    """The smaller dense model `structure` describes: a copy of `model` without its removed decoder layers (the rest
    renumbered for the KV cache, the config's layer count and layer types updated), or without its removed key-value
    groups and MLP channels, with their compensation biases; `model` is unchanged."""
    model = copy.deepcopy(model)
    prefix, layers = decoder_layers(model)
    if structure.target.kind == "blocks":
        keep = [i for i in range(len(layers)) if i not in set(structure.blocks)]
        parent, name = prefix.rsplit(".", 1) if "." in prefix else ("", prefix)
        setattr(model.get_submodule(parent), name, nn.ModuleList(layers[i] for i in keep))
        for j, i in enumerate(keep):
            for m in layers[i].modules():
                if hasattr(m, "layer_idx"):
                    m.layer_idx = j
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        config.num_hidden_layers = len(keep)
        if getattr(config, "layer_types", None):
            config.layer_types = [config.layer_types[i] for i in keep]
        return model
    for i, layer in enumerate(layers):
        unit = layout(layer, f"{prefix}.{i}")
        rows, keep = _group_rows(structure.groups[i], unit), structure.channels[i]
        attention = None if structure.attention_bias is None else structure.attention_bias[i]
        if rows.any():
            a = layer.self_attn
            _rows(a.q_proj, rows)
            _rows(a.k_proj, structure.groups[i].repeat_interleave(unit.head_dim))
            _rows(a.v_proj, structure.groups[i].repeat_interleave(unit.head_dim))
            _columns(a.o_proj, rows, attention)
        else:
            layer.self_attn = NoHeads(layer.self_attn.layer_idx, unit.head_dim, attention)
        _rows(layer.mlp.gate_proj, keep)
        _rows(layer.mlp.up_proj, keep)
        _columns(layer.mlp.down_proj, keep, None if structure.mlp_bias is None else structure.mlp_bias[i])
    return model


def prune_structure(model: nn.Module, method: Method, compression: str, tokens: Tensor, seed: int = 0,
                    kwargs: dict[str, Any] | None = None) -> Structure:
    """What structured `method` (target `blocks` or `width`) removes from `model` for `compression` (`25%`), from the
    calibration token ids `tokens` (n, T) fed through the dense model; `model` is unchanged (`compact` applies it)."""
    kind = method.kind_for(compression)
    try:
        target = StructureTarget.of(kind, model, compression)
    except ValueError as e:
        raise ValueError(f"method {method.name!r} (target {kind!r}): {e}") from None
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = StructureContext(model, target, Calibration(model, tokens), torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = method.fn(ctx, **(kwargs if kwargs is not None else method.bind({})[1]))
    if not isinstance(out, Structure) or out.target is not target:
        raise MaskError(f"method {method.name!r}: a structured method returns ctx.remove_blocks(scores) or "
                        f"ctx.remove_width(...), got {type(out).__name__}")
    after = model.state_dict()
    if any(not torch.equal(after[k], v) for k, v in before.items()):
        raise MaskError(f"method {method.name!r} changed the model in place; a structured method returns what to "
                        f"remove, it never edits the model")
    return out
