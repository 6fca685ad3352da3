"""The mask contract every registered method must meet. A test module runs it on every registered method
(narrowed by --methods) with one line: `from benchsuite.testing import TestContract`."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from . import apply_masks, get_model, prune
from .pruning.context import prunable
from .pruning.masks import keep_count, layer_keep_counts
from .pruning.methods import get_method

COMPRESSION = 8


class SmallNet(nn.Module):
    """Conv + BatchNorm + Linear, so that BatchNorm safety is part of the contract."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.hidden = nn.Linear(8 * 7 * 7, 32)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(self.bn(self.conv(x)).relu(), 4)
        return self.out(self.hidden(x.flatten(1)).relu())


def expected_counts(model, method):
    weights = {f"{n}.weight": m.weight.numel() for n, m in prunable(model).items()}
    keep = keep_count(sum(p.numel() for p in model.parameters()), sum(weights.values()), COMPRESSION)
    return keep if get_method(method).scope == "global" else layer_keep_counts(weights, keep)


class TestContract:
    """Exact counts, boolean masks with the right keys and shapes, the model untouched, determinism, and masks that
    hold through training. `benchsuite_method` runs over the registered methods."""

    @pytest.fixture(params=["lenet5", "small_bn"])
    def model(self, request):
        torch.manual_seed(0)
        m = get_model("lenet5") if request.param == "lenet5" else SmallNet()
        if request.param == "small_bn":  # give the running statistics values that a reset would change
            m.bn.running_mean.uniform_(-1, 1)
            m.bn.running_var.uniform_(0.5, 2)
        return m.train()

    @pytest.fixture
    def batch(self):
        g = torch.Generator().manual_seed(1)
        return torch.randn(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)

    def test_masks_are_boolean_one_per_prunable_weight_with_exact_count(self, benchsuite_method, model, batch):
        masks = prune(model, benchsuite_method, COMPRESSION, batch, seed=0)
        names = {f"{n}.weight" for n in prunable(model)}
        assert set(masks) == names
        params = dict(model.named_parameters())
        assert all(m.dtype == torch.bool and m.shape == params[n].shape for n, m in masks.items())
        expected = expected_counts(model, benchsuite_method)
        if isinstance(expected, int):
            assert sum(int(m.sum()) for m in masks.values()) == expected
        else:
            assert {n: int(m.sum()) for n, m in masks.items()} == expected

    def test_pruning_leaves_the_model_unchanged(self, benchsuite_method, model, batch):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        modes = [m.training for m in model.modules()]
        prune(model, benchsuite_method, COMPRESSION, batch, seed=0)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert [m.training for m in model.modules()] == modes
        assert all(p.grad is None for p in model.parameters())

    def test_same_seed_gives_the_same_masks(self, benchsuite_method, model, batch):
        a = prune(model, benchsuite_method, COMPRESSION, batch, seed=3)
        b = prune(model, benchsuite_method, COMPRESSION, batch, seed=3)
        assert all(torch.equal(a[k], b[k]) for k in a)

    def test_no_gradient_reaches_a_masked_weight(self, benchsuite_method, model, batch):
        masks = prune(model, benchsuite_method, COMPRESSION, batch, seed=0)
        apply_masks(model, masks)
        F.cross_entropy(model(batch[0]), batch[1]).backward()
        params = dict(model.named_parameters())
        for name, mask in masks.items():
            assert params[name].grad[~mask].count_nonzero() == 0
            assert params[name].grad[mask].count_nonzero() > 0

    @pytest.mark.parametrize("optimizer", [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4),
        lambda p: torch.optim.Adam(p, lr=1e-2),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    ], ids=["sgd_momentum_wd", "adam", "adamw"])
    def test_masked_weights_stay_zero_after_fine_tuning(self, benchsuite_method, model, batch, optimizer):
        masks = prune(model, benchsuite_method, COMPRESSION, batch, seed=0)
        apply_masks(model, masks)
        params = dict(model.named_parameters())
        kept_before = {n: params[n].detach()[m].clone() for n, m in masks.items()}
        opt = optimizer(model.parameters())
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(batch[0]), batch[1]).backward()
            opt.step()
        for name, mask in masks.items():
            assert params[name][~mask].count_nonzero() == 0
            assert not torch.equal(params[name].detach()[mask], kept_before[name])  # the kept weights did train
