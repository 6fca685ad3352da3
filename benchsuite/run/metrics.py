"""Size and cost of a (pruned) model: parameters, FLOPs, compression, theoretical speedup, per-layer density.

FLOPs convention: `torch.utils.flop_counter.FlopCounterMode` on one input, which counts 2 FLOPs per
multiply-accumulate of convolutions and matrix products (so FLOPs = 2 x MACs) and nothing for biases,
activations, pooling or normalization. A pruned Conv2d or Linear costs its dense FLOPs times the density of its
weight (the fraction of nonzero entries); everything else stays dense.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..pruning.probes import evaluating


def layer_flops(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, dict[str, int]]:
    """Dense FLOPs of one input: the total, and the share of each Conv2d / Linear module by name."""
    p = next(model.parameters())
    counter = FlopCounterMode(display=False)
    with evaluating(model), torch.no_grad(), counter:
        model(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype))
    counts = counter.get_flop_counts()
    root = type(model).__name__
    per_module = {
        name: int(sum(counts.get(f"{root}.{name}", {}).values()))
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    }
    return counter.get_total_flops(), per_module


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Parameters, nonzero parameters, compression, FLOPs, nonzero FLOPs, speedup, and a row per layer."""
    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int(p.count_nonzero()) for p in model.parameters())
    flops, per_module = layer_flops(model, input_shape)
    layers, saved = [], 0.0
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight
            density = int(w.count_nonzero()) / w.numel()
            saved += per_module[name] * (1 - density)
            layers.append({"layer": name, "params": w.numel(), "nonzero": int(w.count_nonzero()),
                           "density": density, "flops": per_module[name],
                           "nonzero_flops": round(per_module[name] * density)})
    nonzero_flops = round(flops - saved)
    return {
        "params": params,
        "nonzero_params": nonzero,
        "compression": params / nonzero if nonzero else float("inf"),
        "flops": flops,
        "nonzero_flops": nonzero_flops,
        "speedup": flops / nonzero_flops if nonzero_flops else float("inf"),
        "layers": layers,
    }
