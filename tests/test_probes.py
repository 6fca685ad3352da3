"""Input-activation norms, broadcast to each weight, for plain, grouped and depthwise convolutions."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from benchsuite.pruning.probes import input_norms


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_each_weight_gets_the_norm_of_the_input_channel_it_reads(groups):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3, padding=1, groups=groups)
    model = nn.Sequential(conv)
    x = torch.randn(5, 4, 6, 6)
    norms = input_norms(model, {"0": conv}, (x, torch.zeros(5).long()))["0"]
    assert norms.shape == conv.weight.shape
    channel = x.pow(2).sum((0, 2, 3)).sqrt()
    per_group_in, per_group_out = 4 // groups, 8 // groups
    for o in range(8):
        for i in range(per_group_in):
            source = (o // per_group_out) * per_group_in + i
            assert torch.allclose(norms[o, i], channel[source].expand(3, 3))


def test_linear_weights_get_their_input_features_norm():
    lin = nn.Linear(3, 2)
    x = torch.randn(7, 3)
    norms = input_norms(nn.Sequential(lin), {"0": lin}, (x, torch.zeros(7).long()))["0"]
    assert torch.allclose(norms, x.norm(dim=0).expand(2, 3))


def test_a_linear_layer_on_sequences_gets_the_norm_of_its_features_over_batch_and_positions():
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 5, 3)  # (batch, positions, features), as in a transformer
    norms = input_norms(nn.Sequential(lin), {"0": lin}, (x, torch.zeros(4).long()))["0"]
    assert torch.allclose(norms, x.reshape(-1, 3).norm(dim=0).expand(2, 3))


def test_batchnorm_statistics_and_modes_are_untouched():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    input_norms(model, {"0": model[0]}, (torch.randn(4, 1, 5, 5), torch.zeros(4).long()))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and model[1].training
