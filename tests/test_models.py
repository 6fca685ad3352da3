"""Parameter and MAC counts against published figures (FLOPs = 2 x MACs, as FlopCounterMode counts)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import benchsuite as bs
from benchsuite.pruning.context import prunable

CIFAR, IMAGENET = (3, 32, 32), (3, 224, 224)


@pytest.mark.parametrize("name, shape, params_m, macs_m", [
    ("resnet20", CIFAR, 0.27, 40.55),      # He et al. 2016; the counts of the common CIFAR ResNet code
    ("resnet56", CIFAR, 0.85, 125.49),
    ("imagenet_resnet18", IMAGENET, 11.69, 1814.08),  # torchvision's model card: 11.69M params, 1.81 GMACs
    ("imagenet_mobilenet_v2", IMAGENET, 3.50, 300.77),  # depthwise convolutions: 0.30 GMACs on the card
])
def test_parameters_and_macs_match_published_figures(name, shape, params_m, macs_m):
    s = bs.summarize(bs.get_model(name), shape)
    assert round(s["params"] / 1e6, 2) == params_m
    assert abs(s["flops"] / 2 / 1e6 - macs_m) < 0.05 * (1 if macs_m < 1000 else 100)


def test_vgg16_has_138_36_million_parameters():
    assert round(sum(p.numel() for p in bs.get_model("imagenet_vgg16").parameters()) / 1e6, 2) == 138.36


def test_depthwise_convolution_flops_follow_the_grouped_formula():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 4, 1), nn.Flatten(),
                          nn.Linear(4 * 10 * 10, 2))
    s = bs.summarize(model, (8, 10, 10))
    depthwise = 2 * 8 * 10 * 10 * (1 * 3 * 3)
    assert s["layers"][0]["flops"] == depthwise
    assert s["flops"] == depthwise + 2 * 4 * 10 * 10 * 8 + 2 * 400 * 2


@pytest.mark.parametrize("name, classifier", [
    ("resnet20", "fc"), ("vgg16", "classifier"), ("imagenet_resnet18", "fc"), ("imagenet_resnet50", "fc"),
    ("imagenet_vgg16_bn", "classifier.6"), ("imagenet_mobilenet_v2", "classifier.1"),
])
def test_the_classifier_is_never_prunable(name, classifier):
    model = bs.get_model(name)
    layers = prunable(model)
    assert classifier not in layers
    assert len(layers) == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) - 1


def test_cifar_resnet_depth_must_be_6n_plus_2():
    from benchsuite.models.cifar import CifarResNet

    with pytest.raises(ValueError, match="depth 6n\\+2"):
        CifarResNet(21)


def test_cifar_resnet_runs_on_a_batch():
    assert bs.get_model("resnet20")(torch.zeros(2, *CIFAR)).shape == (2, 10)
