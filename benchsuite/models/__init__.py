"""Architectures by name: `get_model("lenet5")`."""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..registry import Registry
from .lenet import LeNet5, LeNet300

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
MODELS.add("lenet300", LeNet300)
MODELS.add("lenet5", LeNet5)


def get_model(name: str, num_classes: int = 10) -> nn.Module:
    """A freshly initialised model (initialise under `torch.manual_seed` for repeatable weights)."""
    return MODELS.get(name)(num_classes=num_classes)
