"""Splits of a dataset: images held whole as uint8 tensors (augmented batch by batch on their device), or
streamed from an image folder; and the fixed, stratified validation split."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

SPLIT_SEED = 0  # every validation split is drawn once with this seed and never changes


def normalizer(mean: tuple[float, ...], std: tuple[float, ...]) -> Callable[[Tensor], Tensor]:
    def normalize(x: Tensor) -> Tensor:
        m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        return (x.float() / 255 - m) / s

    return normalize


def crop_flip(x: Tensor, pad: int, generator: torch.Generator) -> Tensor:
    """Random crop after zero padding by `pad`, and random horizontal flip, per image, on x's device."""
    n, c, h, w = x.shape
    i, j = (torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device) for _ in range(2))
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (i[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (j[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    out = padded[batch, channel, rows, cols]
    return torch.where(flip[:, None, None, None], out.flip(3), out)


@dataclass(frozen=True)
class Split:
    """Images as stored (uint8, N x C x H x W) with labels; `normalize` makes model inputs of a batch, and
    `augment` (training batches only) draws its randomness from the batch order's generator."""

    x: Tensor
    y: Tensor
    normalize: Callable[[Tensor], Tensor]
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return replace(self, x=self.x.to(device), y=self.y.to(device))

    def batches(self, size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Mini-batches: shuffled and augmented with `generator` (training), or in order and plain when None."""
        order = torch.randperm(len(self), generator=generator) if generator is not None else torch.arange(len(self))
        for idx in order.to(self.y.device).split(size):
            x = self.x[idx]
            if generator is not None and self.augment is not None:
                x = self.augment(x, generator)
            yield self.normalize(x), self.y[idx]

    def sample(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """`size` distinct examples drawn from `generator`, not augmented (the pruning batch)."""
        idx = torch.randperm(len(self), generator=generator)[:size].to(self.y.device)
        return self.normalize(self.x[idx]), self.y[idx]


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]

    def to(self, device: torch.device | str) -> Dataset:
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))


def held_out(y: Tensor, fraction: float) -> tuple[Tensor, Tensor]:
    """Indices of (train, validation): round(fraction * n) examples of each class go to validation, drawn once
    with seed SPLIT_SEED."""
    g = torch.Generator().manual_seed(SPLIT_SEED)
    train, val = [], []
    for label in y.unique():
        idx = (y == label).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = round(fraction * len(idx))
        val.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train), torch.cat(val)


class Images(torch.utils.data.Dataset):
    """Some images of an ImageFolder, read and transformed on access."""

    def __init__(self, folder, indices: list[int], transform) -> None:
        self.folder, self.indices, self.transform = folder, indices, transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        path, label = self.folder.samples[self.indices[i]]
        return self.transform(self.folder.loader(path)), label


@dataclass(frozen=True)
class FolderSplit:
    """A split too large for memory (ImageNet): batches come from a DataLoader with `workers` processes, whose
    order and augmentation seeds are drawn from the generator; normalization is part of the transform. `plain`
    holds the same images with the evaluation transform, for the pruning batch of a training split."""

    images: Images
    plain: Images | None = None
    workers: int = 8
    device: str = "cpu"

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> FolderSplit:
        return replace(self, device=str(device))

    def batches(self, size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        loader = torch.utils.data.DataLoader(self.images, size, shuffle=generator is not None, generator=generator,
                                             num_workers=self.workers, pin_memory=self.device != "cpu")
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def sample(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        idx = torch.randperm(len(self), generator=generator)[:size].tolist()
        x, y = zip(*((self.plain or self.images)[i] for i in idx))
        return torch.stack(x).to(self.device), torch.tensor(y, device=self.device)


