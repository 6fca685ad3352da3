"""Small datasets written in the real on-disk formats, for the loaders' tests."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def write_mnist(root: Path, n_train: int = 120, n_test: int = 40) -> None:
    """torchvision's MNIST layout: raw IDX files (magic 2051 for images, 2049 for labels, big-endian sizes)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        header = np.array([2051, n, 28, 28], ">i4").tobytes()
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, n], ">i4").tobytes() + labels.tobytes())


def write_cifar(root: Path, classes: int = 10, per_batch: int = 40, n_test: int = 40) -> None:
    """The unpacked python archive: pickled dicts of uint8 rows (3,072 = 3 x 32 x 32, channel-major) and labels."""
    rng = np.random.default_rng(0)
    ten = classes == 10
    folder = root / ("cifar-10-batches-py" if ten else "cifar-100-python")
    folder.mkdir(parents=True)
    key = "labels" if ten else "fine_labels"

    def dump(name: str, n: int) -> None:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), key: [i % classes for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)

    if ten:
        for i in range(1, 6):
            dump(f"data_batch_{i}", per_batch)
        dump("test_batch", n_test)
        meta = {"label_names": [f"c{i}" for i in range(classes)]}
    else:
        dump("train", 5 * per_batch)
        dump("test", n_test)
        meta = {"fine_label_names": [f"c{i}" for i in range(classes)]}
    with open(folder / ("batches.meta" if ten else "meta"), "wb") as f:
        pickle.dump(meta, f)


def write_imagenet(root: Path, classes: int = 3, train_per_class: int = 100, val_per_class: int = 2) -> None:
    """An ImageFolder tree: imagenet/{train,val}/<wnid>/*.JPEG."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for c in range(classes):
            folder = root / "imagenet" / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{split}_{c}_{i}.JPEG", format="JPEG")
