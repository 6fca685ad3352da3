"""The embedded dataset split and the initial-weights store."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from benchsuite.data import load_dataset
from benchsuite.pairs import get_pair
from benchsuite.train import Recipe
from benchsuite.weights import load_weights

MNIST5K = load_dataset("mnist5k")


def test_mnist5k_split_is_stratified_disjoint_and_fixed():
    d = load_dataset("mnist5k")
    assert (len(d.train), len(d.val), len(d.test)) == (3500, 500, 1000)
    for split, per_class in ((d.train, 350), (d.val, 50), (d.test, 100)):
        assert torch.bincount(split.y, minlength=10).tolist() == [per_class] * 10
    images = torch.cat([d.train.x, d.val.x, d.test.x]).flatten(1)
    assert torch.unique(images, dim=0).shape[0] > 4990  # the few identical images MNIST has aside, disjoint
    assert d.test.y[:5].tolist() == load_dataset("mnist5k").test.y[:5].tolist()


@pytest.fixture
def tiny_pair():
    pair = get_pair("mnist5k-lenet300")
    return dataclasses.replace(pair, weights={"A": Recipe("adam", 1e-3, 1, 256)})


def test_weights_are_trained_once_then_loaded(tiny_pair, tmp_path):
    first = load_weights(tiny_pair, "A", tmp_path, MNIST5K)
    files = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    second = load_weights(tiny_pair, "A", tmp_path, MNIST5K)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == files
    assert first.sha256 == second.sha256
    assert all(torch.equal(first.state[k], second.state[k]) for k in first.state)
    assert 0.5 < first.info["test_top1"] <= 1


def test_a_corrupt_checkpoint_is_a_clear_error(tiny_pair, tmp_path):
    load_weights(tiny_pair, "A", tmp_path, MNIST5K)
    pt = next(tmp_path.glob("*.pt"))
    pt.write_bytes(pt.read_bytes() + b"x")
    with pytest.raises(ValueError, match="is corrupt: its sha256 is .* delete"):
        load_weights(tiny_pair, "A", tmp_path, MNIST5K)


def test_an_unknown_weights_recipe_names_the_known_ones(tiny_pair, tmp_path):
    with pytest.raises(KeyError, match="has no weights recipe 'C'; it has A"):
        load_weights(tiny_pair, "C", tmp_path, MNIST5K)


def test_weights_metadata_records_the_recipe(tiny_pair, tmp_path):
    load_weights(tiny_pair, "A", tmp_path, MNIST5K)
    info = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert info["recipe"]["lr"] == 1e-3 and info["pair"] == "mnist5k-lenet300"
