"""The initial-weights store: each dense starting model is trained once by its recipe, cached under a hash of that
recipe (and of the code that trains it) with a sha256 of each file, and loaded safely (`torch.load(weights_only=
True)`). Beside it lie the initialisation it started from (step 0, what methods at initialisation prune) and, made on
request by replaying the same run, its state at any step of training (what iterative pruning rewinds to)."""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import Dataset
from ..files import sha256, write_atomic
from ..models import get_model
from ..plan.pairs import TRAIN_SEED, Pair, WeightsFile
from .train import evaluate, fit, steps_of

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Checkpoint:
    """A dense starting model: its state, the sha256 of its file, and how good it is (`info`, which also holds the
    training images it took, `train_images`, None for a user's file)."""

    state: State
    sha256: str
    info: dict[str, Any]

    def model(self, pair: Pair, num_classes: int) -> nn.Module:
        """A fresh model holding these weights (each case gets its own, so no case can change another's)."""
        return holding(pair, num_classes, self.state)


def holding(pair: Pair, num_classes: int, state: State) -> nn.Module:
    """A fresh model of the pair holding `state`, in eval mode."""
    model = get_model(pair.model, num_classes)
    model.load_state_dict(state)
    return model.eval()


@contextmanager
def _locked(stem: Path):
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _stem(pair: Pair, weights: str, cache: Path) -> Path:
    return cache / f"{pair.name}-{weights}-{pair.weights_hash(weights)}"


def load_weights(pair: Pair, weights: str, cache: Path, data: Dataset, device: str = "cpu") -> Checkpoint:
    """The dense model of `pair` trained by recipe `weights` on `data`: from the cache, or trained now on
    `device` (once, even when several processes ask at the same time)."""
    stem = _stem(pair, weights, cache)
    source = pair.source(weights)
    pt = Path(source.path) if isinstance(source, WeightsFile) else stem.with_suffix(".pt")
    meta = stem.with_suffix(".json")
    with _locked(stem):
        if isinstance(source, WeightsFile) and not meta.exists():
            _describe(pair, weights, source, meta, data, device)
        elif not (pt.exists() and meta.exists()):
            _train(pair, weights, stem, data, device)
    info = read_info(meta, pt)
    if isinstance(source, WeightsFile) and sha256(pt) != source.sha256:
        raise ValueError(f"checkpoint {pt} has sha256 {sha256(pt)}, not the {source.sha256} given with it; check "
                         f"the file or the hash")
    return Checkpoint(_verified(pt, info["sha256"], meta), info["sha256"], info)


def read_info(meta: Path, pt: Path) -> dict[str, Any]:
    """A dense model's measurements (its `.json` beside it); a damaged file is a clear error saying what to delete."""
    try:
        info = json.loads(meta.read_text())
        if not isinstance(info, dict) or "sha256" not in info:
            raise ValueError("no sha256 in it")
        return info
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{meta} is damaged ({e}); delete it (and {pt} if benchsuite trained it) to measure the dense "
                         f"model again") from None


def check_checkpoint(pair: Pair, weights: str, classes: int) -> None:
    """A user's image checkpoint, checked before a session runs anything: the file, its sha256, a state_dict that
    `torch.load(weights_only=True)` reads, that fits the pair's model, with finite values."""
    source = pair.source(weights)
    pt, where = Path(source.path), f"checkpoint {source.path} (weights {weights!r} of pair {pair.name!r})"
    if not pt.is_file():
        raise ValueError(f"{where} does not exist")
    digest = sha256(pt)
    if digest != source.sha256:
        raise ValueError(f"{where} has sha256 {digest}, not the {source.sha256} given with it; check the file or the "
                         f"hash")
    try:
        state = torch.load(pt, weights_only=True, map_location="cpu")
    except Exception as e:  # a text file, a pickled whole model, a torn file: torch names each differently
        raise ValueError(f"{where} is not a state_dict that torch.load(weights_only=True) can read "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); save model.state_dict() with "
                         f"torch.save") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{where} holds a {type(state).__name__}, not a state_dict of tensors; save "
                         f"model.state_dict() with torch.save")
    try:
        holding(pair, classes, state)
    except RuntimeError as e:
        raise ValueError(f"{where} does not fit model {pair.model!r}: {str(e).splitlines()[0][:300]}") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{where} holds NaN or infinite values in {', '.join(bad[:5])}"
                         + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))


def load_snapshot(pair: Pair, weights: str, cache: Path, data: Dataset, step: int, device: str = "cpu") -> State:
    """The state of the dense run of recipe `weights` after `step` optimizer steps: step 0 is the initialisation,
    the last step the dense model; any other step is made once by replaying the run from its initialisation (the
    same seed and data order, so the same weights) and cached."""
    if isinstance(pair.source(weights), WeightsFile):
        raise ValueError(f"weights {weights!r} of pair {pair.name!r} are a checkpoint file: there is no initialisation "
                         f"or step of their training to go back to; methods at initialisation and rewinding methods "
                         f"need weights made by a recipe (e.g. A)")
    dense = load_weights(pair, weights, cache, data, device)
    stem = _stem(pair, weights, cache)
    if step >= steps_of(pair.source(weights), len(data.train)):
        return dense.state
    if step == 0:
        return _verified(stem.with_name(stem.name + "-init.pt"), dense.info["init_sha256"], stem.with_suffix(".json"))
    pt, meta = stem.with_name(f"{stem.name}-step{step}.pt"), stem.with_name(f"{stem.name}-step{step}.json")
    with _locked(stem):
        if not (pt.exists() and meta.exists()):
            digest = _save(pt, _run(pair, weights, data, device, stop=step)[0])
            write_atomic(meta, lambda f: f.write(json.dumps({"step": step, "sha256": digest}).encode()))
    return _verified(pt, json.loads(meta.read_text())["sha256"], meta)


def _run(pair: Pair, weights: str, data: Dataset, device: str, stop: int | None = None,
         init: Path | None = None) -> tuple[nn.Module, int, str | None]:
    """The dense run of recipe `weights` (seed TRAIN_SEED for the initialisation, the data order and everything
    else), up to `stop` steps; saves the initialisation to `init` if given. Returns the model, the images used and
    the sha256 of the initialisation's file (None when not saved)."""
    torch.manual_seed(TRAIN_SEED)
    model = get_model(pair.model, data.num_classes).to(device)
    digest = None if init is None else _save(init, model)
    images = fit(model, data.train, pair.source(weights), torch.Generator().manual_seed(TRAIN_SEED), stop=stop)
    return model, images, digest


def _save(pt: Path, model: nn.Module) -> str:
    """Write the model's state atomically; its sha256, of the bytes written (the file may vanish with the store)."""
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    data = buffer.getvalue()
    write_atomic(pt, lambda f: f.write(data))
    return hashlib.sha256(data).hexdigest()


def _verified(pt: Path, digest: str, meta: Path) -> State:
    if not pt.is_file():
        raise ValueError(f"{pt} is missing (was the store removed while a session ran?); delete {meta} to make it "
                         f"again")
    actual = sha256(pt)
    if actual != digest:
        raise ValueError(f"checkpoint {pt} is corrupt: its sha256 is {actual}, expected {digest}; delete {pt} and "
                         f"{meta} to make it again")
    return torch.load(pt, weights_only=True, map_location="cpu")


def _train(pair: Pair, weights: str, stem: Path, data: Dataset, device: str) -> None:
    init = stem.with_name(stem.name + "-init.pt")
    start = time.perf_counter()
    model, images, init_digest = _run(pair, weights, data, device, init=init)
    seconds = time.perf_counter() - start
    pt = stem.with_suffix(".pt")
    digest = _save(pt, model)
    _write_info(pair, weights, model, pt, stem.with_suffix(".json"), data,
                {"train_seconds": seconds, "train_images": images, "init_sha256": init_digest}, digest)


def _describe(pair: Pair, weights: str, source: WeightsFile, meta: Path, data: Dataset, device: str) -> None:
    """Check a user's checkpoint (`check_checkpoint`) and measure it once; a test top-1 at chance level is a warning
    (a file of the right shapes that is not a trained model of this pair)."""
    check_checkpoint(pair, weights, data.num_classes)
    pt = Path(source.path)
    model = holding(pair, data.num_classes, torch.load(pt, weights_only=True, map_location="cpu"))
    _write_info(pair, weights, model.to(device), pt, meta, data, {"path": str(pt), "train_images": None})
    top1 = read_info(meta, pt)["test_top1"]
    if top1 <= 1.5 / data.num_classes:
        warnings.warn(f"checkpoint {pt} (weights {weights!r} of pair {pair.name!r}) gets {top1:.1%} of the test images "
                      f"right, about chance for {data.num_classes} classes: is it a trained model of this pair?",
                      stacklevel=2)


def _write_info(pair: Pair, weights: str, model: nn.Module, pt: Path, meta: Path, data: Dataset, extra: dict,
                digest: str | None = None) -> None:
    val, test = evaluate(model, data.val), evaluate(model, data.test)
    source = pair.source(weights)
    info = {"pair": pair.name, "weights": weights, "recipe": asdict(source), "sha256": digest or sha256(pt), **extra,
            "val_top1": val.top1, "test_top1": test.top1, "test_top5": test.top5, "test_loss": test.loss,
            "torch": str(torch.__version__)}
    write_atomic(meta, lambda f: f.write(json.dumps(info, indent=2).encode()))

