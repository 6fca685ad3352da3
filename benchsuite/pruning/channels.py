"""Channels: whole output channels of the prunable layers, with everything that belongs to them (the bias, the
following BatchNorm's affine parameters, the matching inputs of every layer that reads them), coupled across residual
adds; and `compact`, the smaller dense model without the pruned channels.

torch-pruning's DependencyGraph finds the groups and removes channels physically. It maps a channel one to one
through the operations it does not model, which is wrong where an operation moves channels: the zero-padded identity
shortcut of He et al.'s CIFAR ResNets (option A) puts channel c of one stage at channel c + pad of the next. A model
writes such an operation as an index map, a module without parameters whose `out_index[i]` is the output channel
of input channel i among `out_channels` (zeros elsewhere; `models.cifar.ChannelPad`). torch-pruning treats it as a
layer of its own (a customized pruner that keeps the map consistent), and the channels it joins across it form one
chain: a group here may span several of torch-pruning's groups, at different positions in each (channel c of a
stage with channel c + pad of the next); the padded channels chain on from the stage where they start. Every group is
then checked before it is offered: the model with that group's channels masked must compute what the compacted model
computes. A group that fails stays dense and is named with the reason."""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn

from .masking import unmask

UNFAITHFUL = ("masking this group's channels does not compute what removing them computes (torch-pruning maps a "
              "channel one to one through an operation it does not model); its channels stay. An operation that moves "
              "channels, such as a zero-padded shortcut, can be written as an index map (`out_index`, `out_channels`; "
              "see benchsuite.models.cifar.ChannelPad)")


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
    """`size` output channels shared by `layers` (prunable weights; several where a residual add joins them, at
    other rows in each where an index map moves them), and every parameter slice that belongs to them."""

    layers: tuple[str, ...]
    size: int
    members: tuple[Member, ...]

    @cached_property
    def rows(self) -> dict[str, Member]:
        """For each layer, which of its output rows are which of the group's channels."""
        return {m.param: m for m in self.members if m.dim == 0 and m.param in self.layers}

    def kept(self, masks: Mapping[str, Tensor]) -> Tensor:
        """Which channels the masks keep: the rows of the group's first layer that keep a weight."""
        m, rows = masks[self.layers[0]], self.rows[self.layers[0]]
        out = torch.zeros(self.size, dtype=torch.bool)
        out[list(rows.channel)] = m.reshape(m.shape[0], -1).any(1).cpu()[list(rows.index)]
        return out


def row_masks(groups: Sequence[Group], kept: Sequence[Tensor], shapes: Mapping[str, torch.Size]) -> dict[str, Tensor]:
    """Masks of the prunable weights (`shapes`) that keep the rows of the channels `kept[i]` of `groups[i]` and every
    other weight."""
    out = {name: torch.ones(shape, dtype=torch.bool) for name, shape in shapes.items()}
    for g, k in zip(groups, kept):
        for layer, rows in g.rows.items():
            out[layer][list(rows.index)] = k.cpu()[list(rows.channel)].view(-1, *[1] * (len(shapes[layer]) - 1))
    return out


def _index_map_pruner():
    """torch-pruning's pruner for an index map (`out_index`, `out_channels`): removing inputs drops their entries,
    removing outputs renumbers the rest; an output that an input still reaches is never removed."""
    import torch_pruning as tp

    class IndexMap(tp.pruner.function.BasePruningFunc):
        def prune_in_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
            keep = torch.ones(len(layer.out_index), dtype=torch.bool)
            keep[list(idxs)] = False
            layer.out_index = layer.out_index[keep.to(layer.out_index.device)]
            return layer

        def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
            drop = torch.tensor(sorted(idxs), dtype=torch.long, device=layer.out_index.device)
            if torch.isin(layer.out_index, drop).any():
                raise AssertionError(f"{type(layer).__name__}: output channels {drop.tolist()} are removed while inputs "
                                     f"still map to them; their chain must be removed with them")
            layer.out_index = layer.out_index - (layer.out_index[:, None] > drop).sum(1)
            layer.out_channels -= len(drop)
            return layer

        def get_out_channels(self, layer: nn.Module) -> int:
            return layer.out_channels

        def get_in_channels(self, layer: nn.Module) -> int:
            return len(layer.out_index)

    return IndexMap()


def _index_maps(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(getattr(m, "out_index", None), Tensor)
            and isinstance(getattr(m, "out_channels", None), int) and not any(True for _ in m.parameters())}


def _graph(model: nn.Module, example: Tensor):
    import torch_pruning as tp

    pruner = _index_map_pruner()
    with torch.enable_grad():  # it traces through autograd
        return tp.DependencyGraph().build_dependency(
            model, example_inputs=example, verbose=False,
            customized_pruners={type(m): pruner for m in _index_maps(model).values()})


@dataclass
class _Part:
    """One of torch-pruning's groups: its layers, members and the index maps it feeds (`ins`) or fills (`outs`),
    each as {map name: {position: channel of this part}}; `size` channels."""

    size: int
    layers: tuple[str, ...]
    members: tuple[Member, ...]
    ins: dict[str, dict[int, int]]
    outs: dict[str, dict[int, int]]


def _part(model: nn.Module, graph, group, maps: Mapping[str, nn.Module]) -> _Part:
    """The prunable layers, members and index-map ends of torch-pruning's group over all the root's channels."""
    names = {m: n for n, m in model.named_modules()}
    layers, members, ins, outs = [], [], {}, {}
    for item in group.items:
        module = item.dep.target.module
        if module not in names:
            continue  # an operation without parameters
        name, roots = names[module], list(item.root_idxs)
        out = graph.is_out_channel_pruning_fn(item.dep.handler)
        if name in maps:
            (outs if out else ins).setdefault(name, {}).update(zip((int(i) for i in item.idxs), roots))
            continue
        if not out and (not graph.is_in_channel_pruning_fn(item.dep.handler)
                        or getattr(module, "groups", 1) > 1):
            continue  # a grouped convolution's inputs are its outputs: covered by its out-channel member
        prefix = f"{name}." if name else ""
        if out and isinstance(module, (nn.Conv2d, nn.Linear)):
            layers.append(f"{prefix}weight")
        for pname, p in module.named_parameters(recurse=False):
            dim = 0 if out else 1
            if p.dim() > dim and (out or pname == "weight"):
                members.append(Member(prefix + pname, dim, tuple(int(i) for i in item.idxs), tuple(roots)))
    return _Part(0, tuple(dict.fromkeys(layers)), tuple(members), ins, outs)


def _chain(parts: list[_Part], maps: Mapping[str, nn.Module]) -> list[Group]:
    """Groups of channels: each part's channels, joined across every index map with those it maps them to. The
    channels that span the same parts form one group, numbered in the order of the first part they touch."""
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(node):
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    for name, module in maps.items():
        src = next(((p, part.ins[name]) for p, part in enumerate(parts) if name in part.ins), None)
        dst = next(((p, part.outs[name]) for p, part in enumerate(parts) if name in part.outs), None)
        if src is None or dst is None:
            continue  # one side is not prunable: the faithfulness check keeps what this map constrains
        for position, target in enumerate(module.out_index.tolist()):
            a, b = find((src[0], src[1][position])), find((dst[0], dst[1][target]))
            parent[max(a, b)] = min(a, b)
    chains: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for p, part in enumerate(parts):
        for c in range(part.size):
            chains.setdefault(find((p, c)), []).append((p, c))
    spans: dict[tuple[int, ...], list[list[tuple[int, int]]]] = {}
    for nodes in chains.values():
        spans.setdefault(tuple(sorted({p for p, _ in nodes})), []).append(nodes)
    groups = []
    for span, channels in spans.items():
        number = {node: i for i, nodes in enumerate(sorted(channels)) for node in nodes}
        members = []
        for p in span:
            for m in parts[p].members:
                pairs = [(i, number[p, c]) for i, c in zip(m.index, m.channel) if (p, c) in number]
                members.append(Member(m.param, m.dim, tuple(i for i, _ in pairs), tuple(c for _, c in pairs)))
        layers = tuple(dict.fromkeys(n for p in span for n in parts[p].layers))
        groups.append(Group(layers, len(channels), tuple(members)))
    return groups


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
    """torch-pruning removes the pruned rows of each of its groups once, in the model's order (an index map's inputs
    before its outputs)."""
    out = unmask(copy.deepcopy(model)).eval()  # a mask of the old shape must not follow the smaller weight
    graph = _graph(out, example)
    pruned: dict[str, set[int]] = {}
    for g in groups:
        drop = ~g.kept(masks)
        for layer, rows in g.rows.items():
            pruned.setdefault(layer, set()).update(i for i, c in zip(rows.index, rows.channel) if drop[c])
    modules, done = dict(out.named_modules()), set()
    names = {m: n for n, m in modules.items()}
    for layer in [n for n, _ in model.named_parameters() if n in pruned]:
        if layer in done:
            continue
        module = modules[layer.removesuffix(".weight")]
        group = graph.get_pruning_group(module, graph.get_pruner_of_module(module).prune_out_channels,
                                        sorted(pruned[layer]))
        done |= {f"{names[i.dep.target.module]}.weight" for i in group.items
                 if i.dep.target.module in names and graph.is_out_channel_pruning_fn(i.dep.handler)}
        if pruned[layer]:
            group.prune()
    return out


def _faithful(model: nn.Module, groups: tuple[Group, ...], example: Tensor) -> bool:
    """Whether masking every other channel of the groups computes what removing them computes."""
    params = dict(model.named_parameters())
    kept = [torch.arange(g.size) % 2 == 0 for g in groups]
    masks = row_masks(groups, kept, {n: params[n].shape for g in groups for n in g.layers})
    full = expand(groups, masks, params)
    try:
        small = _compact(model, groups, masks, example)
    except AssertionError:  # an index map's output removed while an input still maps to it
        return False
    with torch.no_grad():
        a, b = _masked(model, full)(example), small(example)
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


_CACHE: dict[tuple, tuple[tuple[Group, ...], dict[str, str]]] = {}


def channel_groups(model: nn.Module, example: Tensor, prunable: list[str], ignored: list[str]) -> \
        tuple[tuple[Group, ...], dict[str, str]]:
    """The channel groups of the prunable layers (`prunable`: weight names) that can be removed faithfully, and the
    prunable weights left whole with the reason. `ignored`: modules never pruned (the classifier). Computed once
    per architecture and input shape."""
    key = (type(model), tuple((n, tuple(p.shape)) for n, p in model.named_parameters()), tuple(example.shape))
    if key not in _CACHE:
        model = copy.deepcopy(model).eval().cpu().float()  # the structure, traced in float32 whatever the model's dtype
        example = torch.randn(example.shape, generator=torch.Generator().manual_seed(0))
        graph, maps = _graph(model, example), _index_maps(model)
        parts, unfaithful = [], {}
        for group in graph.get_all_groups(ignored_layers=[model.get_submodule(n) for n in ignored],
                                          root_module_types=(nn.Conv2d, nn.Linear)):
            part = _part(model, graph, group, maps)
            if not part.layers or not set(part.layers) <= set(prunable):
                continue
            sizes = {model.get_submodule(n.removesuffix(".weight")).weight.shape[0] for n in part.layers}
            if len(sizes) > 1:  # layers of different widths mapped one to one: not one set of channels
                unfaithful |= {n: UNFAITHFUL for n in part.layers}
            else:
                part.size = sizes.pop()
                parts.append(part)
        groups = _chain(parts, maps)
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
