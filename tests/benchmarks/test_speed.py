"""Speed benchmarks (pytest-benchmark): the pruning step of every method, and one training step of a masked
model against a dense one and against torch.nn.utils.prune's masked model. Compare the groups' means."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import prune as torch_prune

import benchsuite as bs
from benchsuite.pruning.context import Context, call_method, prunable, target_for
from benchsuite.pruning.methods import get_method
from benchsuite.run.stages import all_kept

ARCHS = ["lenet300", "lenet5"]
benchsuite_stages = ("after_training", "at_init", "during_training")  # the methods test_pruning_step takes


def batch(size=256):
    g = torch.Generator().manual_seed(0)
    return torch.randn(size, 1, 28, 28, generator=g), torch.randint(0, 10, (size,), generator=g)


@pytest.mark.parametrize("arch", ARCHS)
def test_pruning_step(benchmark, benchsuite_method, arch):
    """One call of the method (for a method that acts during training: one prune event), at x8 (1:8 for N:M, ch-x2
    for channels)."""
    benchmark.group = f"prune {arch} x8"
    torch.manual_seed(0)
    model, data, method = bs.get_model(arch), batch(), get_method(benchsuite_method)
    masks = all_kept(model) if method.stage == "during_training" else None
    compression = {"nm": "1:8", "row": "50%", "channel": "ch-x2", "channel_global": "ch-x2"}.get(method.kinds[0], 8)
    target = target_for(model, method.kinds[0], compression, data[0])

    def fresh():
        return (method, Context(model, target, data, torch.Generator().manual_seed(0), masks)), {}

    masks = benchmark.pedantic(call_method, setup=fresh, rounds=10, warmup_rounds=1)
    assert {f"{n}.weight" for n in prunable(model)} <= set(masks)  # a channel method also masks what belongs


class TestPostTrainingStep:
    benchsuite_stages = ("post_training",)

    def test_pruning_step(self, benchmark, benchsuite_method):
        """One post-training pass over a small transformers Llama (4 blocks of width 64) at 50%, 8 calibration
        sequences of 64; for a structured method, its pass and the compaction."""
        from transformers import LlamaConfig, LlamaForCausalLM

        from benchsuite.models.causal import prunable as lm_prunable
        from benchsuite.pruning.calibration import prune_blocks
        from benchsuite.pruning.structure import compact, prune_structure
        from benchsuite.pruning.targets import STRUCTURED

        benchmark.group = "prune llama-4x64 50%"
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(vocab_size=256, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                             num_key_value_heads=2, intermediate_size=128)).eval()
        tokens = torch.randint(0, 256, (8, 64), generator=torch.Generator().manual_seed(0))
        method = get_method(benchsuite_method)
        if method.kind_for("50%") in STRUCTURED:
            small = benchmark.pedantic(lambda m: compact(m, prune_structure(m, method, "50%", tokens)),
                                       setup=lambda: ((model,), {}), rounds=3, warmup_rounds=1)
            assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
            return
        masks = benchmark.pedantic(prune_blocks, setup=lambda: ((copy.deepcopy(model), method, "50%", tokens), {}),
                                   rounds=3, warmup_rounds=1)
        assert set(masks) == set(lm_prunable(model))


def _model(arch, masking):
    torch.manual_seed(0)
    model = bs.get_model(arch)
    masks = bs.prune(model, "global_magnitude", 8, batch())
    if masking == "benchsuite":
        bs.apply_masks(model, masks)
    elif masking == "torch_prune":
        for name, module in prunable(model).items():
            torch_prune.custom_from_mask(module, "weight", masks[f"{name}.weight"])
    return model.train()


@pytest.mark.parametrize("masking", ["dense", "benchsuite", "torch_prune"])
@pytest.mark.parametrize("arch", ARCHS)
def test_training_step(benchmark, arch, masking):
    benchmark.group = f"train step {arch} batch 64"
    model = _model(arch, masking)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x, y = batch(64)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    benchmark.pedantic(step, rounds=200, warmup_rounds=20)
    if masking == "benchsuite":  # the measured step kept the masks
        assert model.fc1.weight.count_nonzero() < model.fc1.weight.numel()
