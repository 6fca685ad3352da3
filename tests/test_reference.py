"""Reference comparisons: torch.nn.utils.prune's masks, hand-counted FLOPs, published parameter counts."""
from __future__ import annotations

import pytest
import torch
from torch.nn.utils import prune as torch_prune

import benchsuite as bs
from benchsuite.pruning.context import prunable


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)


@pytest.mark.parametrize("arch", ["lenet300", "lenet5"])
def test_global_magnitude_matches_torch_global_unstructured(arch):
    torch.manual_seed(0)
    model = bs.get_model(arch)
    masks = bs.prune(model, "global_magnitude", compression=8, batch=_batch())
    dropped = sum(int((~m).sum()) for m in masks.values())
    layers = prunable(model)
    torch_prune.global_unstructured([(m, "weight") for m in layers.values()], torch_prune.L1Unstructured,
                                    amount=dropped)
    for name, m in layers.items():
        assert torch.equal(masks[f"{name}.weight"], m.weight_mask.bool())


@pytest.mark.parametrize("arch", ["lenet300", "lenet5"])
def test_layer_magnitude_matches_torch_l1_unstructured(arch):
    torch.manual_seed(0)
    model = bs.get_model(arch)
    masks = bs.prune(model, "layer_magnitude", compression=8, batch=_batch())
    for name, m in prunable(model).items():
        mask = masks[f"{name}.weight"]
        torch_prune.l1_unstructured(m, "weight", amount=int((~mask).sum()))
        assert torch.equal(mask, m.weight_mask.bool())


def test_lenet300_has_266610_parameters():
    assert sum(p.numel() for p in bs.get_model("lenet300").parameters()) == 266_610


def test_lenet5_has_61706_parameters():
    # conv1 6*1*25+6, conv2 16*6*25+16, fc 400*120+120, 120*84+84, 84*10+10
    assert sum(p.numel() for p in bs.get_model("lenet5").parameters()) == 156 + 2416 + 48120 + 10164 + 850


def test_lenet300_flops_equal_the_hand_formula():
    assert bs.summarize(bs.get_model("lenet300"), (1, 28, 28))["flops"] == 2 * (784 * 300 + 300 * 100 + 100 * 10)


def test_lenet5_flops_equal_the_hand_formula():
    conv = 2 * (6 * 28 * 28 * 1 * 25 + 16 * 10 * 10 * 6 * 25)
    fc = 2 * (400 * 120 + 120 * 84 + 84 * 10)
    assert bs.summarize(bs.get_model("lenet5"), (1, 28, 28))["flops"] == conv + fc


def test_pruned_flops_scale_with_each_layers_density():
    model = bs.get_model("lenet300")
    with torch.no_grad():
        model.fc1.weight[:, ::2] = 0  # half of fc1
    s = bs.summarize(model, (1, 28, 28))
    assert s["nonzero_flops"] == 2 * (784 * 300 // 2 + 300 * 100 + 100 * 10)
    assert s["speedup"] == s["flops"] / s["nonzero_flops"]
