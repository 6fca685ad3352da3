"""The real loaders on small files written in the real formats; and the error for a missing dataset."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torchvision.datasets.cifar as tv_cifar
from datafiles import write_cifar, write_imagenet, write_mnist

from benchsuite.data import crop_flip, load_dataset


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision checks CIFAR files against the md5 sums of the real archives, which written files cannot
    match; this bypasses that check alone (files must still exist and parse)."""
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: __import__("os").path.isfile(path))


def test_mnist_reads_idx_files_and_holds_out_a_twelfth_for_validation(tmp_path):
    write_mnist(tmp_path, n_train=120, n_test=40)
    d = load_dataset("mnist", tmp_path)
    assert (len(d.train), len(d.val), len(d.test)) == (110, 10, 40)
    x, y = next(d.test.batches(40))
    assert x.shape == (40, 1, 28, 28) and x.dtype == torch.float32 and y.tolist() == [i % 10 for i in range(40)]
    assert d.num_classes == 10 and d.input_shape == (1, 28, 28)


def test_cifar10_reads_pickled_batches(tmp_path, no_md5):
    write_cifar(tmp_path, classes=10, per_batch=40, n_test=20)
    d = load_dataset("cifar10", tmp_path)
    assert (len(d.train), len(d.val), len(d.test)) == (180, 20, 20)
    assert d.input_shape == (3, 32, 32) and d.num_classes == 10
    x, _ = next(d.train.batches(16, torch.Generator().manual_seed(0)))
    assert x.shape == (16, 3, 32, 32)
    assert abs(float(next(d.test.batches(20))[0].mean())) < 1  # normalized


def test_cifar100_reads_fine_labels(tmp_path, no_md5):
    write_cifar(tmp_path, classes=100, per_batch=40, n_test=100)
    d = load_dataset("cifar100", tmp_path)
    assert d.num_classes == 100 and len(d.train) + len(d.val) == 200


def test_imagenet_reads_an_image_folder_tree(tmp_path):
    write_imagenet(tmp_path, classes=3, train_per_class=100, val_per_class=2)
    d = load_dataset("imagenet", tmp_path)
    assert (len(d.train), len(d.val), len(d.test)) == (297, 3, 6)
    x, y = next(replace(d.test, workers=0).batches(6))
    assert x.shape == (6, 3, 224, 224) and sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]
    x, _ = d.train.sample(4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 3, 224, 224)


@pytest.mark.parametrize("name, path", [("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py"),
                                        ("cifar100", "cifar-100-python"), ("imagenet", "imagenet/{train,val}")])
def test_a_missing_dataset_names_the_expected_layout(tmp_path, name, path):
    with pytest.raises(FileNotFoundError, match=f"missing or incomplete under {tmp_path}.*{path}"):
        load_dataset(name, tmp_path)


def test_a_full_dataset_without_a_root_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("BENCHSUITE_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="--data-root DIR or set BENCHSUITE_DATA"):
        load_dataset("cifar10")


def test_crop_flip_moves_content_within_the_padding():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).view(2, 3, 8, 8)
    out = crop_flip(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    again = crop_flip(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    for img, src in zip(out, x):  # every output row is a (possibly flipped) shifted piece of a source row or zero
        values = set(img.flatten().tolist()) - {0}
        assert values <= set(src.flatten().tolist())
