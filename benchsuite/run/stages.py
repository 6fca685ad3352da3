"""The harness's side of each stage: it owns all training, so every method is trained the same way and its cost is
counted the same way. A method only chooses masks, when the harness asks.

- `train_once`: masks chosen once (after training, or at initialisation), then one run of training under them.
- `train_during`: a run of training that calls the method at the events of its `Gradual` schedule.
- `train_dynamic`: dynamic sparse training by a `Dynamic` schedule: masks from the first step, moved while it trains.
- `train_levels`: iterative pruning by a `Levels` schedule; the full levels are shared by every compression of a
  (pair, weights, method, hyperparameters, seed) and kept as snapshots, so a case trains only its own last level.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import pickle
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data import Split
from ..files import write_atomic
from ..plan import budgets
from ..plan.pairs import Recipe
from ..pruning.context import Context, Masks, call_method, prunable_shapes
from ..pruning.masking import apply_masks
from ..pruning.masks import MaskError
from ..pruning.methods import Method, get_method
from ..pruning.schedules import Dynamic, Gradual, Levels
from ..pruning.targets import Target
from .train import Evaluation, evaluate, fit, steps_of


def retraining(budget: str, finetune: Recipe, dense: Recipe | None, prunable: int, keep: int) -> Recipe:
    """The training a method that prunes a trained model gets under its masks at `budget` (`plan.budgets`):
    `finetune` (the pair's) for "", else by the `dense` recipe (None for a checkpoint file, which has none: an error):
    the whole of it for "full", for "like-M" stretched to as many epochs as M's levels retrain in all when M prunes
    from `prunable` weights down to `keep`."""
    if budget == "":
        return finetune
    if dense is None:
        raise ValueError(f"training budget {budget!r} retrains with the dense recipe, and these weights are a "
                         f"checkpoint file; run it with weights made by a recipe (e.g. A)")
    if budget == "full":
        return dense
    schedule = get_method(budget.removeprefix(budgets.LIKE)).schedule
    levels = len(schedule.counts(prunable, keep))
    return dataclasses.replace(dense, epochs=max(1, round(levels * dense.epochs * (1 - schedule.rewind))))


@dataclass
class Trained:
    """A model trained under its final masks; `after_pruning` is its test evaluation right after the last prune
    event, before the training that followed; `images` the training images this stage used; `events` how many
    times the method was called."""

    model: nn.Module
    masks: dict[str, Tensor]
    after_pruning: Evaluation
    images: int
    events: int


def all_kept(model: nn.Module) -> dict[str, Tensor]:
    """Masks that keep every prunable weight (the masks in force before the first prune event)."""
    return {n: torch.ones(s, dtype=torch.bool, device=next(model.parameters()).device)
            for n, s in prunable_shapes(model).items()}


def train_once(model: nn.Module, masks: Masks, train: Split, test: Split, recipe: Recipe, seed: int) -> Trained:
    """Apply the masks, then train by `recipe` with the case's data order."""
    apply_masks(model, masks)
    after = evaluate(model, test)
    images = fit(model, train, recipe, torch.Generator().manual_seed(seed))
    return Trained(model, dict(masks), after, images, 1)


def train_during(model: nn.Module, method: Method, kwargs: Mapping[str, Any], schedule: Gradual, final: Target,
                 batch: tuple[Tensor, Tensor], train: Split, test: Split, recipe: Recipe, seed: int) -> Trained:
    """One run of `recipe` on `model`; after the optimizer steps the schedule names, the method is called with the
    model as it is, the masks in force and the step, and its masks (checked: exact count, nested) are applied with
    the same optimizer going on."""
    shapes = dict(final.shapes)
    events = dict(schedule.events(steps_of(recipe, len(train)), sum(s.numel() for s in shapes.values()), final.keep))
    state: dict[str, Any] = {"masks": all_kept(model), "after": None}
    generator = torch.Generator(device=batch[0].device).manual_seed(seed)

    def prune(step: int, optimizer: torch.optim.Optimizer, _: tuple[Tensor, Tensor]) -> None:
        if step not in events:
            return
        target = final if step == max(events) else Target.of(final.kind, shapes, events[step])
        masks = call_method(method, Context(model, target, batch, generator, state["masks"], step), kwargs)
        if masks.rewind:
            raise MaskError(f"method {method.name!r} asked to rewind, but its Gradual schedule has nothing to rewind "
                            f"to; rewinding belongs to a Levels schedule")
        apply_masks(model, masks)
        state["masks"] = dict(masks)
        if step == max(events):
            state["after"] = evaluate(model, test)

    images = fit(model, train, recipe, torch.Generator().manual_seed(seed), after_step=prune)
    if state["after"] is None:
        raise ValueError(f"method {method.name!r}: its schedule {schedule} has no prune event within the "
                         f"{steps_of(recipe, len(train))} steps of the run; lower its `every`")
    return Trained(model, state["masks"], state["after"], images, len(events))


def train_dynamic(model: nn.Module, method: Method, kwargs: Mapping[str, Any], schedule: Dynamic, final: Target,
                  first: Masks, generator: torch.Generator, train: Split, test: Split, recipe: Recipe,
                  seed: int) -> Trained:
    """Dynamic sparse training of the initialised `model` for one run of `recipe` under `first`, the masks the method
    chose at the case's count before the first step (the timed pruning step, whose `generator` the updates go on
    drawing from). At each update of the schedule the method is called with the model as it is, the masks in force,
    the step, the batch of that step (its gradient is the one RigL grows by) and `ctx.moves`, and its masks
    (checked: the same count in every layer, no more moved than the update's) are applied, with any new values for
    the weights it keeps, and the same optimizer going on. A grown weight was masked until then, so it starts at zero
    with no optimizer state (the masks' hooks keep both at zero while a weight is masked)."""
    apply_masks(model, first)
    state: dict[str, Any] = {"masks": dict(first)}
    events = schedule.events(steps_of(recipe, len(train)))

    def update(step: int, optimizer: torch.optim.Optimizer, current: tuple[Tensor, Tensor]) -> None:
        if step not in events:
            return
        moves = {n: schedule.moves(events[step], int(m.sum())) for n, m in state["masks"].items()}
        masks = call_method(method, Context(model, final, current, generator, state["masks"], step, moves), kwargs)
        if masks.rewind:
            raise MaskError(f"method {method.name!r} asked to rewind, but its Dynamic schedule has nothing to rewind "
                            f"to; rewinding belongs to a Levels schedule")
        apply_masks(model, masks)
        state["masks"] = dict(masks)

    after = evaluate(model, test)
    images = fit(model, train, recipe, torch.Generator().manual_seed(seed), after_step=update)
    return Trained(model, state["masks"], after, images, 1 + len(events))


class LevelStore:
    """Snapshots of the full levels of iterative pruning: the model trained after each level, its masks and the
    training images used so far, keyed by the chain (everything that decides them) and the level."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, chain: str, level: int) -> Path:
        return self.root / chain / f"level{level}.pt"

    def get(self, chain: str, level: int) -> dict[str, Any] | None:
        try:
            return torch.load(self.path(chain, level), weights_only=True, map_location="cpu")
        except (FileNotFoundError, RuntimeError, EOFError, pickle.UnpicklingError):  # missing, or torn: made again
            return None

    def put(self, chain: str, level: int, model: nn.Module, masks: Mapping[str, Tensor], images: int) -> None:
        snapshot = {"state": {k: v.cpu() for k, v in model.state_dict().items()},
                    "masks": {k: v.cpu() for k, v in masks.items()}, "images": images}
        write_atomic(self.path(chain, level), lambda f: torch.save(snapshot, f))

    @contextmanager
    def locked(self, chain: str) -> Iterator[None]:
        """Held while a chain's full levels are read or made, so that two workers never make the same level."""
        (self.root / chain).mkdir(parents=True, exist_ok=True)
        with open(self.root / chain / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def chain_key(spec: Mapping[str, Any]) -> str:
    """The key of the levels a case shares with the other compressions of its chain: its spec without the
    compression."""
    shared = {k: v for k, v in spec.items() if k != "compression"}
    return hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:20]


def train_levels(model: nn.Module, method: Method, kwargs: Mapping[str, Any], schedule: Levels, final: Target,
                 batch: tuple[Tensor, Tensor], train: Split, test: Split, recipe: Recipe, seed: int,
                 snapshot: Callable[[int], dict[str, Tensor]], store: LevelStore, chain: str) -> Trained:
    """Iterative pruning of the trained `model`: at each level the method chooses the masks of that level's count
    (checked: exact, nested), the harness rewinds the weights to `snapshot(rewind step)` if the method asks, and
    trains by `recipe` from the rewind step to its end. Full levels come from the store when it has them."""
    shapes = dict(final.shapes)
    counts = schedule.counts(sum(s.numel() for s in shapes.values()), final.keep)
    start = schedule.rewind_step(steps_of(recipe, len(train)))
    generator = torch.Generator(device=batch[0].device).manual_seed(seed)
    masks, images = all_kept(model), 0

    def level(index: int) -> Evaluation:
        """Prune to the level's count, rewind if asked, train; the evaluation right after pruning."""
        nonlocal masks, images
        target = final if index == len(counts) else Target.of(final.kind, shapes, counts[index - 1])
        chosen = call_method(method, Context(model, target, batch, generator, masks, index), kwargs)
        if chosen.rewind:
            model.load_state_dict(snapshot(start))
        apply_masks(model, chosen)
        masks = dict(chosen)
        after = evaluate(model, test) if index == len(counts) else None
        images += fit(model, train, recipe, torch.Generator().manual_seed(seed * 1_000_003 + index), start=start)
        return after

    with store.locked(chain):
        done = next((i for i in range(len(counts) - 1, 0, -1) if store.path(chain, i).exists()), 0)
        saved = store.get(chain, done) if done else None
        if saved is None:
            done = 0
        else:
            model.load_state_dict(saved["state"])
            masks = {k: v.to(batch[0].device) for k, v in saved["masks"].items()}
            apply_masks(model, masks)
            images = saved["images"]
        for index in range(done + 1, len(counts)):
            level(index)
            store.put(chain, index, model, masks, images)
    if not counts:  # nothing to prune (compression 1)
        return Trained(model, masks, evaluate(model, test), 0, 0)
    after = level(len(counts))  # the case's own last level, to its exact count
    return Trained(model, masks, after, images, len(counts))
