"""The initial-weights store: each dense starting model is trained once by its recipe, cached under a hash of
that recipe with a sha256 of the file, and loaded safely (`torch.load(weights_only=True)`)."""
from __future__ import annotations

import fcntl
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import Dataset
from ..files import sha256, write_atomic
from ..models import get_model
from ..plan.pairs import TRAIN_SEED, Pair, WeightsFile
from .train import evaluate, fit


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


def load_weights(pair: Pair, weights: str, cache: Path, data: Dataset, device: str = "cpu") -> Checkpoint:
    """The dense model of `pair` trained by recipe `weights` on `data`: from the cache, or trained now on
    `device` (once, even when several processes ask at the same time)."""
    stem = cache / f"{pair.name}-{weights}-{pair.weights_hash(weights)}"
    source = pair.source(weights)
    pt = Path(source.path) if isinstance(source, WeightsFile) else stem.with_suffix(".pt")
    meta = stem.with_suffix(".json")
    cache.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if isinstance(source, WeightsFile) and not meta.exists():
            _describe(pair, weights, source, meta, data, device)
        elif not (pt.exists() and meta.exists()):
            _train(pair, weights, pt, meta, data, device)
    info = json.loads(meta.read_text())
    digest = sha256(pt)
    if digest != info["sha256"]:
        if isinstance(source, WeightsFile):
            raise ValueError(f"checkpoint {pt} has sha256 {digest}, not the {source.sha256} given with it; check "
                             f"the file or the hash")
        raise ValueError(f"checkpoint {pt} is corrupt: its sha256 is {digest}, expected {info['sha256']}; delete "
                         f"{pt} and {meta} to train it again")
    return Checkpoint(torch.load(pt, weights_only=True, map_location="cpu"), digest, info)


def _train(pair: Pair, weights: str, pt: Path, meta: Path, data: Dataset, device: str) -> None:
    torch.manual_seed(TRAIN_SEED)
    model = get_model(pair.model, data.num_classes).to(device)
    start = time.perf_counter()
    fit(model, data.train, pair.source(weights), torch.Generator().manual_seed(TRAIN_SEED))
    seconds = time.perf_counter() - start
    write_atomic(pt, lambda f: torch.save({k: v.cpu() for k, v in model.state_dict().items()}, f))
    _write_info(pair, weights, model, pt, meta, data, {"train_seconds": seconds})


def _describe(pair: Pair, weights: str, source: WeightsFile, meta: Path, data: Dataset, device: str) -> None:
    """Check a user's checkpoint (hash, then that it fits the model) and measure it once."""
    pt = Path(source.path)
    if not pt.is_file():
        raise FileNotFoundError(f"checkpoint {pt} of weights {weights!r} of pair {pair.name!r} does not exist")
    digest = sha256(pt)
    if digest != source.sha256:
        raise ValueError(f"checkpoint {pt} has sha256 {digest}, not the {source.sha256} given with it; check the "
                         f"file or the hash")
    model = get_model(pair.model, data.num_classes)
    try:
        model.load_state_dict(torch.load(pt, weights_only=True, map_location="cpu"))
    except RuntimeError as e:
        raise ValueError(f"checkpoint {pt} does not fit model {pair.model!r} of pair {pair.name!r}: {e}") from None
    _write_info(pair, weights, model.to(device), pt, meta, data, {"path": str(pt)})


def _write_info(pair: Pair, weights: str, model: nn.Module, pt: Path, meta: Path, data: Dataset, extra: dict) -> None:
    val, test = evaluate(model, data.val), evaluate(model, data.test)
    source = pair.source(weights)
    info = {"pair": pair.name, "weights": weights, "recipe": asdict(source), "sha256": sha256(pt), **extra,
            "val_top1": val.top1, "test_top1": test.top1, "test_top5": test.top5, "test_loss": test.loss,
            "torch": str(torch.__version__)}
    write_atomic(meta, lambda f: f.write(json.dumps(info, indent=2).encode()))
