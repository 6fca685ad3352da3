"""Layer allocations: how many of its weights each layer keeps when the model keeps `keep` prunable weights in all, for
the targets that are neither one fraction everywhere nor one global ranking. The counts always sum to `keep` exactly.

- ERK and ER (Erdos-Renyi-Kernel, Erdos-Renyi; Mocanu et al. 2018, Evci et al. 2020): a layer's density is
  eps * raw, raw = (sum of the weight's dimensions) / (its size) for ERK, (n_in + n_out) / (n_in * n_out) for ER, as
  RigL's `sparse_utils.get_sparsities_erdos_renyi` computes it: eps makes the densities keep `keep` weights, and while
  the layer(s) with the largest raw value would get a density above 1 they are kept whole and eps is found again
  for the others.
- uniform+ (Gale et al. 2019, "The State of Sparsity in Deep Neural Networks"): the first convolution dense, every
  other layer the same fraction.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch


def erdos_renyi(shapes: Mapping[str, torch.Size], keep: int, kernel: bool = True) -> dict[str, float]:
    """Each layer's density under ERK (`kernel`) or ER, scaled so that sum(density * size) == keep."""
    sizes = {n: s.numel() for n, s in shapes.items()}
    raw = {n: sum(s) / s.numel() if kernel else (s[0] + s[1]) / (s[0] * s[1]) for n, s in shapes.items()}
    dense: set[str] = set()
    while len(dense) < len(shapes):
        free = [n for n in shapes if n not in dense]
        eps = (keep - sum(sizes[n] for n in dense)) / sum(raw[n] * sizes[n] for n in free)
        top = max(raw[n] for n in free)
        if eps * top <= 1:
            return {n: 1.0 if n in dense else eps * raw[n] for n in shapes}
        dense |= {n for n in free if raw[n] == top}
    return {n: 1.0 for n in shapes}


def whole_counts(densities: Mapping[str, float], sizes: Mapping[str, int], keep: int) -> dict[str, int]:
    """Integer counts from densities that sum to `keep` exactly: each layer's floor(density * size), then one more
    weight for the layers with the largest remainders (the earlier layer on a tie), never above a layer's size."""
    exact = {n: min(d, 1.0) * sizes[n] for n, d in densities.items()}
    counts = {n: math.floor(x) for n, x in exact.items()}
    order = sorted((n for n in counts if counts[n] < sizes[n]), key=lambda n: counts[n] - exact[n])  # stable
    left = keep - sum(counts.values())
    if not 0 <= left <= len(order):
        raise ValueError(f"cannot keep {keep:,} weights in layers of {sum(sizes.values()):,}")
    for n in order[:left]:
        counts[n] += 1
    return counts


def uniform_plus(shapes: Mapping[str, torch.Size], keep: int) -> dict[str, int]:
    """The first convolution (the first 4-d weight) whole, the same fraction of every other layer (rounded so that
    the counts sum to `keep`); a model without a convolution is plain uniform."""
    sizes = {n: s.numel() for n, s in shapes.items()}
    first = next((n for n, s in shapes.items() if len(s) == 4), None)
    whole = {first: sizes[first]} if first is not None else {}
    if keep < sum(whole.values()):
        raise ValueError(f"a uniform+ target keeps the first convolution {first} whole ({sizes[first]:,} weights), "
                         f"more than the {keep:,} this compression keeps in all; ask for a lower compression")
    rest = {n: k for n, k in sizes.items() if n not in whole}
    if not rest:
        return {first: keep}
    fraction = (keep - sum(whole.values())) / sum(rest.values())
    return {**whole, **whole_counts({n: fraction for n in rest}, rest, keep - sum(whole.values()))}


def layer_counts(kind: str, shapes: Mapping[str, torch.Size], keep: int) -> dict[str, int]:
    """Weights each layer keeps under allocation `kind` ("erk", "er" or "uniform+"), `keep` in all."""
    if kind == "uniform+":
        counts = uniform_plus(shapes, keep)
    else:
        counts = whole_counts(erdos_renyi(shapes, keep, kernel=kind == "erk"), {n: s.numel() for n, s in
                                                                                shapes.items()}, keep)
    return {n: counts[n] for n in shapes}
