"""Architectures by name: `get_model("lenet5")`, `get_model("resnet56")`, `get_model("imagenet_resnet18")`."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from ..registry import Registry
from .cifar import CifarResNet, CifarVGG
from .lenet import LeNet5, LeNet300

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
MODELS.add("lenet300", LeNet300)
MODELS.add("lenet5", LeNet5)
for depth in (20, 32, 44, 56, 110):
    MODELS.add(f"resnet{depth}", partial(CifarResNet, depth))
MODELS.add("vgg16", CifarVGG)


def _torchvision(name: str, num_classes: int = 1000) -> nn.Module:
    """A torchvision ImageNet architecture, randomly initialised (no weights are downloaded)."""
    import torchvision.models as tvm

    return getattr(tvm, name)(weights=None, num_classes=num_classes)


for name in ("resnet18", "resnet50", "vgg16", "vgg16_bn", "mobilenet_v2"):
    MODELS.add(f"imagenet_{name}", partial(_torchvision, name))


def get_model(name: str, num_classes: int | None = None) -> nn.Module:
    """A freshly initialised model (initialise under `torch.manual_seed` for repeatable weights). The last
    Conv2d / Linear layer is the classifier and is never pruned."""
    build = MODELS.get(name)
    return build() if num_classes is None else build(num_classes=num_classes)
