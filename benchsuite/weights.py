"""The initial-weights store: each dense starting model is trained once by its recipe, cached under a hash of
that recipe with a sha256 of the file, and loaded safely (`torch.load(weights_only=True)`)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import Dataset
from .files import sha256, write_atomic
from .models import get_model
from .pairs import Pair
from .train import evaluate, fit

TRAIN_SEED = 0  # initialisation and data order of every dense model


@dataclass(frozen=True)
class Checkpoint:
    """A dense starting model: its state, the sha256 of its file, and how good it is."""

    state: dict[str, torch.Tensor]
    sha256: str
    info: dict[str, Any]

    def model(self, pair: Pair, num_classes: int) -> nn.Module:
        """A fresh model holding these weights (each case gets its own, so no case can change another's)."""
        model = get_model(pair.model, num_classes)
        model.load_state_dict(self.state)
        return model.eval()


def recipe_hash(pair: Pair, weights: str) -> str:
    spec = {"dataset": pair.dataset, "model": pair.model, "recipe": asdict(pair.recipe(weights)), "seed": TRAIN_SEED}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def load_weights(pair: Pair, weights: str, cache: Path, data: Dataset, device: str = "cpu") -> Checkpoint:
    """The dense model of `pair` trained by recipe `weights` on `data`: from the cache, or trained now on
    `device` (once, even when several processes ask at the same time)."""
    stem = cache / f"{pair.name}-{weights}-{recipe_hash(pair, weights)}"
    pt, meta = stem.with_suffix(".pt"), stem.with_suffix(".json")
    cache.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (pt.exists() and meta.exists()):
            _train(pair, weights, pt, meta, data, device)
    info = json.loads(meta.read_text())
    digest = sha256(pt)
    if digest != info["sha256"]:
        raise ValueError(f"checkpoint {pt} is corrupt: its sha256 is {digest}, expected {info['sha256']}; delete "
                         f"{pt} and {meta} to train it again")
    return Checkpoint(torch.load(pt, weights_only=True, map_location="cpu"), digest, info)


def _train(pair: Pair, weights: str, pt: Path, meta: Path, data: Dataset, device: str) -> None:
    torch.manual_seed(TRAIN_SEED)
    model = get_model(pair.model, data.num_classes).to(device)
    start = time.perf_counter()
    fit(model, data.train, pair.recipe(weights), torch.Generator().manual_seed(TRAIN_SEED))
    seconds = time.perf_counter() - start
    write_atomic(pt, lambda f: torch.save({k: v.cpu() for k, v in model.state_dict().items()}, f))
    val, test = evaluate(model, data.val), evaluate(model, data.test)
    info = {"pair": pair.name, "weights": weights, "recipe": asdict(pair.recipe(weights)), "sha256": sha256(pt),
            "train_seconds": seconds, "val_top1": val.top1, "test_top1": test.top1, "test_top5": test.top5,
            "test_loss": test.loss, "torch": torch.__version__}
    write_atomic(meta, lambda f: f.write(json.dumps(info, indent=2).encode()))
