"""Channels: whole output channels of the prunable layers, with everything that belongs to them (the bias, the
following BatchNorm's affine parameters, the matching inputs of every layer that reads them), coupled across residual
adds; and `compact`, the smaller dense model without the pruned channels.

torch-pruning's DependencyGraph finds the groups and removes channels physically. It maps a channel one to one
through operations it does not model, such as the zero-padded identity shortcut of He et al.'s CIFAR ResNets (their
option A), where channel c of a stage reappears as channel c + pad in the next: pruning the residual channels of
such a network with it would compute another function. So every group is checked before it is offered: the model
with that group's channels masked must compute what torch-pruning's compacted model computes. A group that fails
stays dense and is named with the reason (on the CIFAR ResNets: the residual channels; the channels inside each
block remain, which is Li et al.'s (2017) choice for these networks)."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .masking import unmask

UNFAITHFUL = "torch-pruning's channel map through this group does not reproduce the masked model (e.g. a " \
             "zero-padded shortcut); its channels stay"


@dataclass(frozen=True)
class Member:
    """Positions along `dim` of parameter `param` that belong to the group's channels: position `index[i]` belongs
    to channel `channel[i]`."""

    param: str
    dim: int
    index: tuple[int, ...]
    channel: tuple[int, ...]


@dataclass(frozen=True)
class Group:
    """Output channels shared by `layers` (prunable weights; several where a residual add joins them), `size` of
    them, and every parameter slice that belongs to them."""

    layers: tuple[str, ...]
    size: int
    members: tuple[Member, ...]

    def kept(self, masks: Mapping[str, Tensor]) -> Tensor:
        """Which channels the masks keep: the rows of the group's first layer that keep a weight."""
        m = masks[self.layers[0]]
        return m.reshape(m.shape[0], -1).any(1)


def _graph(model: nn.Module, example: Tensor):
    import torch_pruning as tp

    with torch.enable_grad():  # it traces through autograd
        return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)


def _members(model: nn.Module, graph, group) -> tuple[tuple[str, ...], tuple[Member, ...]]:
    """The group's prunable layers and members, from torch-pruning's group over all the root's channels."""
    names = {m: n for n, m in model.named_modules()}
    layers, members = [], []
    for item in group.items:
        module = item.dep.target.module
        if module not in names:
            continue  # an operation without parameters
        prefix = f"{names[module]}." if names[module] else ""
        roots = list(item.root_idxs)
        out = graph.is_out_channel_pruning_fn(item.dep.handler)
        if not out and (not graph.is_in_channel_pruning_fn(item.dep.handler)
                        or getattr(module, "groups", 1) > 1):
            continue  # a grouped convolution's inputs are its outputs: covered by its out-channel member
        if out and isinstance(module, (nn.Conv2d, nn.Linear)):
            layers.append(f"{prefix}weight")
        for pname, p in module.named_parameters(recurse=False):
            dim = 0 if out else 1
            if p.dim() > dim and (out or pname == "weight"):
                members.append(Member(prefix + pname, dim, tuple(int(i) for i in item.idxs), tuple(roots)))
    return tuple(dict.fromkeys(layers)), tuple(members)


def expand(groups: tuple[Group, ...], masks: Mapping[str, Tensor], params: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The masks with every parameter slice that belongs to a pruned channel masked too."""
    out = dict(masks)
    for g in groups:
        pruned = ~g.kept(masks)
        for m in g.members:
            base = out.get(m.param)
            base = torch.ones_like(params[m.param], dtype=torch.bool) if base is None else base.clone()
            drop = [i for i, c in zip(m.index, m.channel) if pruned[c]]
            base.index_fill_(m.dim, torch.tensor(drop, dtype=torch.long, device=base.device), False)
            out[m.param] = base
    return out


def _masked(model: nn.Module, masks: Mapping[str, Tensor]) -> nn.Module:
    out = copy.deepcopy(model).eval()
    params = dict(out.named_parameters())
    with torch.no_grad():
        for name, m in masks.items():
            params[name].mul_(m.to(params[name].dtype))
    return out


def _compact(model: nn.Module, groups: tuple[Group, ...], masks: Mapping[str, Tensor], example: Tensor) -> nn.Module:
    out = unmask(copy.deepcopy(model)).eval()  # a mask of the old shape must not follow the smaller weight
    graph = _graph(out, example)
    modules = dict(out.named_modules())
    for g in groups:
        pruned = (~g.kept(masks)).nonzero().squeeze(1).tolist()
        if pruned:
            layer = modules[g.layers[0].removesuffix(".weight")]
            graph.get_pruning_group(layer, graph.get_pruner_of_module(layer).prune_out_channels, pruned).prune()
    return out


def _faithful(model: nn.Module, groups: tuple[Group, ...], example: Tensor) -> bool:
    """Whether masking every other channel of the groups computes what removing them computes."""
    params = dict(model.named_parameters())
    masks = {}
    for g in groups:
        keep = torch.arange(g.size) % 2 == 0
        for layer in g.layers:
            shape = params[layer].shape
            masks[layer] = keep.view(-1, *[1] * (len(shape) - 1)).expand(shape).clone()
    full = expand(groups, masks, params)
    masked, small = _masked(model, full), _compact(model, groups, masks, example)
    with torch.no_grad():
        a, b = masked(example), small(example)
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


_CACHE: dict[tuple, tuple[tuple[Group, ...], dict[str, str]]] = {}


def channel_groups(model: nn.Module, example: Tensor, prunable: list[str], ignored: list[str]) -> \
        tuple[tuple[Group, ...], dict[str, str]]:
    """The channel groups of the prunable layers (`prunable`: weight names) that can be removed faithfully, and the
    prunable weights left whole with the reason. `ignored`: modules never pruned (the classifier). Computed once
    per architecture and input shape."""
    key = (type(model), tuple((n, tuple(p.shape)) for n, p in model.named_parameters()), tuple(example.shape))
    if key not in _CACHE:
        model = copy.deepcopy(model).eval().cpu()
        example = torch.randn(example.shape, generator=torch.Generator().manual_seed(0))
        graph = _graph(model, example)
        groups, unfaithful = [], {}
        for group in graph.get_all_groups(ignored_layers=[model.get_submodule(n) for n in ignored],
                                          root_module_types=(nn.Conv2d, nn.Linear)):
            layers, members = _members(model, graph, group)
            if not layers or not set(layers) <= set(prunable):
                continue
            sizes = {model.get_submodule(n.removesuffix(".weight")).weight.shape[0] for n in layers}
            if len(sizes) > 1:  # layers of different widths mapped one to one: not one set of channels
                unfaithful |= {n: UNFAITHFUL for n in layers}
            else:
                groups.append(Group(layers, sizes.pop(), members))
        whole = {n: unfaithful.get(n, "not an output-channel group torch-pruning can remove") for n in prunable
                 if not any(n in g.layers for g in groups)}
        if not _faithful(model, tuple(groups), example):
            kept = []
            for g in groups:
                if _faithful(model, (g,), example):
                    kept.append(g)
                else:
                    whole |= {n: UNFAITHFUL for n in g.layers}
            groups = kept
        _CACHE[key] = (tuple(groups), whole)
    return _CACHE[key]


def compact(model: nn.Module, masks: Mapping[str, Tensor], example: Tensor, groups: tuple[Group, ...]) -> nn.Module:
    """A smaller dense model without the channels that `masks` prune (whole rows of each group's layers); checked to
    compute what the masked model computes on `example`."""
    params = dict(model.named_parameters())
    full = expand(groups, masks, params)
    small, masked = _compact(model, groups, full, example), _masked(model, full)
    with torch.no_grad():
        a, b = masked(example), small(example)
    if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
        raise AssertionError(f"the compacted {type(model).__name__} computes another function than the masked one "
                             f"(largest difference {float((a - b).abs().max()):.3g})")
    return small.train(model.training)
