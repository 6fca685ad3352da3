"""Reference comparisons: torch.nn.utils.prune's masks, hand-counted FLOPs, published parameter counts."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils import prune as torch_prune

import benchsuite as bs
from benchsuite.pruning.context import prunable
from benchsuite.pruning.masks import select_global


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


def test_lamp_scores_follow_the_papers_definition_with_ties():
    from benchsuite.methods.lamp import lamp_scores

    w = torch.tensor([[0.5, -1.0, 0.5], [2.0, 0.0, -0.5]])
    squares = w.double().pow(2).reshape(-1)
    expected = torch.stack([s / squares[squares >= s].sum() if s > 0 else torch.tensor(0.0, dtype=torch.float64)
                            for s in squares]).view(w.shape)
    assert torch.equal(lamp_scores(w), expected)
    assert lamp_scores(w)[1, 0] == 1.0 and lamp_scores(torch.zeros(3)).eq(0).all()


def numpy_lamp(w):
    flat = w.detach().double().numpy().reshape(-1) ** 2
    order = np.argsort(flat, kind="stable")
    a = flat[order]
    above = np.cumsum(a[::-1])[::-1]  # sum of a[i:]
    out = np.empty_like(flat)
    out[order] = a / above[np.searchsorted(a, a)]  # equal values share the sum from the first of them
    return torch.from_numpy(out).view(w.shape)


@pytest.mark.parametrize("arch, compression", [("lenet5", 16), ("resnet56", 16), ("resnet110", 32)])
def test_lamp_masks_equal_a_numpy_computation_and_agree_with_torch_pruning(arch, compression):
    """On a small and two deep models, weights scaled to 1e3 so that squares reach 1e6: the masks equal a global
    selection of LAMP scores computed here in numpy and torch-pruning's LAMP normalisation (float32 cumulative sums)
    chooses the same."""
    from torch_pruning.pruner.importance import GroupMagnitudeImportance

    torch.manual_seed(0)
    model = bs.get_model(arch)
    with torch.no_grad():
        for m in prunable(model).values():
            m.weight.mul_(1e3)
    shape = (1, 28, 28) if arch.startswith("lenet") else (3, 32, 32)
    x = torch.randn(4, *shape)
    masks = bs.prune(model, "lamp", compression, (x, torch.zeros(4, dtype=torch.long)))
    weights = {f"{n}.weight": m.weight for n, m in prunable(model).items()}
    keep = sum(int(m.sum()) for m in masks.values())
    expected = select_global({n: numpy_lamp(w) for n, w in weights.items()}, keep)
    assert all(torch.equal(masks[n], expected[n]) for n in masks)
    lamp = GroupMagnitudeImportance()._lamp
    theirs = select_global({n: lamp(w.detach().pow(2).reshape(-1)).view(w.shape) for n, w in weights.items()}, keep)
    differ = sum(int((masks[n] != theirs[n]).sum()) for n in masks)
    assert differ == 0, f"{differ} weights differ from torch-pruning's LAMP"
    assert all(m.any() for m in masks.values()), "LAMP keeps every layer's largest weight"
