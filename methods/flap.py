"""FLAP (An et al. AAAI 2024, "Fluctuation-based Adaptive Structured Pruning for Large Language Models"): attention
heads and MLP channels whose inputs fluctuate least across the calibration text are removed, with a bias that keeps
their mean contribution."""
from __future__ import annotations

import torch

from benchsuite import register_method
from benchsuite.pruning.structure import layout


def fluctuation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FLAP's running statistics of a layer's inputs x (sequences, tokens, features), one sequence at a time as its
    `BiasGPT.add_batch` updates them: the mean over tokens, and the fluctuation, for sequence j (counting from 0)
    f <- f * (j - 1) / j + sum_t (x_jt - mean_j)^2 / (j + 1), mean_j the running mean after sequence j (the
    reference's "old" mean is the same tensor, updated in place) and f = 0 after the first sequence."""
    mean, fluc = torch.zeros(x.shape[-1], dtype=x.dtype), torch.zeros(x.shape[-1], dtype=x.dtype)
    for j, seq in enumerate(x):
        mean = mean * j / (j + 1) + seq.mean(0) / (j + 1)
        if j:
            fluc = fluc * (j - 1) / j + ((seq - mean) ** 2).sum(0) / (j + 1)
    return mean, fluc


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Each row (a layer's scores) less its mean, over its standard deviation (n - 1)."""
    return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)


@register_method("flap", target="width", stage="post_training")
def flap(ctx):
    """Remove the attention heads (whole key-value groups) and MLP channels of lowest fluctuation score, one threshold
    over all layers (FLAP's adaptive structure AL-AM), and add to o_proj and down_proj the bias of the removed
    inputs' mean. Per input channel j of o_proj and of down_proj: the fluctuation of its calibration inputs (see
    `fluctuation`) times the squared norm of weight column j (WIFV), squared for o_proj; each layer's scores
    standardized, a head's score the mean over its channels (a key-value group's, over its query heads'); the units
    sorted together, each weighted by its parameters, cut at the unit where the parameters kept so far come nearest
    the target's, that unit and every one after it removed.
    As in the reference code (CASIA-IVA-Lab/FLAP `lib/prune.py` `prune_flap` and `compress`, `lib/layerwrapper.py`
    `BiasGPT`, at 3bb57db, `--metrics WIFV --structure AL-AM` as its scripts run it): the statistics of the dense
    model's layers, one calibration sequence at a time, units strictly above the threshold kept, the bias
    W[:, removed] @ mean[removed].

    Differs: the reference loads the model in float16 and keeps the mean inputs and computes the bias in float16
    (here float32), and runs one calibration sequence per forward pass (here `CHUNK`: the biases differ by about
    1e-6 on SmolLM2); its scripts calibrate on 1024 sequences of 128 tokens of WikiText-2 and mask (`--unstr`), which
    computes what the compacted model computes. It knows multi-head attention with heads of 128 only and weighs a
    head as 512/3 channels, written into an integer tensor (170), where here a key-value group weighs its exact
    parameters over a channel's (grouped-query attention: SmolLM2's group of 3 query heads weighs 512/3; 170 would
    keep 13 more of its 46,080 channels at 25%); its sort is not stable, here ties keep their order; its ratio is of
    the heads' and channels' parameters, here that share is the target's, round(s * L) / L."""
    cal, attention, mlp, attention_mean, mlp_mean = ctx.calibration, [], [], [], []
    sequences = len(cal.tokens)
    for i, layer in enumerate(cal.blocks):
        inputs = cal.layer_inputs(i)
        for name, scores, means, power in (("self_attn.o_proj", attention, attention_mean, 2),
                                           ("mlp.down_proj", mlp, mlp_mean, 1)):
            x = inputs[f"{name}.weight"]
            mean, fluc = fluctuation(x.reshape(sequences, -1, x.shape[-1]))
            scores.append((fluc * layer.get_submodule(name).weight.pow(2).sum(0)) ** power)
            means.append(mean)
    groups = layout(cal.blocks[0], "decoder layer 0").groups
    attention = standardize(torch.stack(attention)).reshape(len(cal.blocks), groups, -1).mean(2)
    return ctx.remove_width(attention, standardize(torch.stack(mlp)), torch.stack(attention_mean),
                            torch.stack(mlp_mean))
