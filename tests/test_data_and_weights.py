"""The embedded dataset split and the initial-weights store."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from benchsuite.data import load_dataset
from benchsuite.files import sha256
from benchsuite.models import get_model
from benchsuite.plan.pairs import Recipe, WeightsFile, add_checkpoint, get_pair
from benchsuite.run.weights import load_weights

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
    pt = next(p for p in tmp_path.glob("*.pt") if not p.name.endswith("-init.pt"))
    pt.write_bytes(pt.read_bytes() + b"x")
    with pytest.raises(ValueError, match="is corrupt: its sha256 is .* delete"):
        load_weights(tiny_pair, "A", tmp_path, MNIST5K)


def test_an_unknown_weights_recipe_names_the_known_ones(tiny_pair, tmp_path):
    with pytest.raises(KeyError, match="has no weights 'C'; it has A"):
        load_weights(tiny_pair, "C", tmp_path, MNIST5K)


def test_weights_metadata_records_the_recipe(tiny_pair, tmp_path):
    load_weights(tiny_pair, "A", tmp_path, MNIST5K)
    info = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert info["recipe"]["lr"] == 1e-3 and info["pair"] == "mnist5k-lenet300"


@pytest.fixture
def user_checkpoint(tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "mine.pt"
    torch.save(get_model("lenet300").state_dict(), path)
    return path, sha256(path)


def with_file(path, digest):
    pair = get_pair("mnist5k-lenet300")
    return dataclasses.replace(pair, weights={**pair.weights, "mine": WeightsFile(str(path), digest)})


def test_a_user_checkpoint_is_checked_measured_and_loaded(user_checkpoint, tmp_path):
    path, digest = user_checkpoint
    with pytest.warns(UserWarning, match="gets .* of the test images right, about chance for 10 classes"):
        ckpt = load_weights(with_file(path, digest), "mine", tmp_path / "cache", MNIST5K)
    assert ckpt.sha256 == digest and ckpt.info["path"] == str(path)
    assert 0 <= ckpt.info["test_top1"] <= 0.3  # an untrained model: near chance, and a warning says so
    assert torch.equal(ckpt.state["fc1.weight"], torch.load(path, weights_only=True)["fc1.weight"])


def test_a_user_checkpoint_with_another_hash_is_refused(user_checkpoint, tmp_path):
    path, _ = user_checkpoint
    with pytest.raises(ValueError, match="not the 0000.* given with it"):
        load_weights(with_file(path, "0" * 64), "mine", tmp_path / "cache", MNIST5K)


def test_a_user_checkpoint_of_another_model_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(get_model("lenet5").state_dict(), path)
    with pytest.raises(ValueError, match="does not fit model 'lenet300'"):
        load_weights(with_file(path, sha256(path)), "mine", tmp_path / "cache", MNIST5K)


@pytest.mark.parametrize("spec, message", [
    ("mnist5k-lenet300:mine=x.pt", "expected PAIR:NAME=PATH@SHA256"),
    ("mnist5k-lenet300:mine=x.pt@abc", "64 hex digits"),
    ("mnist5k-lenet300:A=x.pt@" + "0" * 64, "already has weights 'A'"),
])
def test_a_bad_checkpoint_option_says_what_is_expected(spec, message):
    with pytest.raises(ValueError, match=message):
        add_checkpoint(spec)
