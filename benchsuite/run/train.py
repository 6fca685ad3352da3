"""Training by a recipe, and exact evaluation."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import FolderSplit, Split
from ..plan.pairs import Recipe
from ..pruning.probes import evaluating


def make_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    """The recipe's optimizer, in its fused form: one kernel per step, and on the CPU no slow path for the exact
    zeros that masked entries leave in Adam's state (the unfused CPU `sqrt` of zeros is ~15x slower)."""
    params, wd = model.parameters(), recipe.weight_decay
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=wd, fused=True)
    cls = torch.optim.Adam if recipe.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=recipe.lr, weight_decay=wd, fused=True)


@dataclass(frozen=True)
class Evaluation:
    """Exact counts on a split: top-1 = correct1 / n."""

    loss: float
    correct1: int
    correct5: int
    n: int
    correct: Tensor  # which examples the top-1 prediction got right, in the split's order (bool, on the CPU)

    @property
    def top1(self) -> float:
        return self.correct1 / self.n

    @property
    def top5(self) -> float:
        return self.correct5 / self.n


def steps_of(recipe: Recipe, examples: int) -> int:
    """Optimizer steps of a whole run of `recipe` over a split of `examples` examples."""
    return recipe.epochs * -(-examples // recipe.batch_size)


def fit(model: nn.Module, data: Split | FolderSplit, recipe: Recipe, generator: torch.Generator, start: int = 0,
        stop: int | None = None,
        after_step: Callable[[int, torch.optim.Optimizer, tuple[Tensor, Tensor]], None] | None = None) -> int:
    """Train by `recipe` from optimizer step `start` to step `stop` of its run (default: the whole run) with a new
    optimizer; the learning rate is the recipe's at those positions (cosine: lr (1 + cos(pi t / T)) / 2). `generator`
    draws the data order and augmentation, epoch by epoch. `after_step(steps_taken, optimizer, (x, y))` runs after
    every step, with the step's batch. The final model is kept: no selection on any split. On a GPU the forward pass
    runs under bf16 autocast. Returns the number of training images used."""
    total = steps_of(recipe, len(data))
    stop = total if stop is None else stop
    opt = make_optimizer(recipe, model)
    model.train()
    step, images = start, 0
    while step < stop:
        for x, y in data.batches(recipe.batch_size, generator):
            if step >= stop:
                break
            if recipe.cosine:
                for group in opt.param_groups:
                    group["lr"] = recipe.lr * (1 + math.cos(math.pi * step / total)) / 2
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):  # bf16 matmuls on GPU, fp32 weights
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            step, images = step + 1, images + len(y)
            if after_step is not None:
                after_step(step, opt, (x, y))
    model.eval()
    return images


@torch.no_grad()
def evaluate(model: nn.Module, data: Split | FolderSplit, batch_size: int = 1000) -> Evaluation:
    """Loss, exact top-1 / top-5 counts and which examples were right, in eval mode (BatchNorm statistics
    untouched)."""
    loss, c5, right = 0.0, 0, []
    with evaluating(model):
        for x, y in data.batches(batch_size):
            out = model(x)
            loss += F.cross_entropy(out, y, reduction="sum").item()
            top = out.topk(min(5, out.shape[1]), dim=1).indices
            right.append((top[:, 0] == y).cpu())
            c5 += int((top == y[:, None]).any(1).sum())
    correct = torch.cat(right)
    return Evaluation(loss / len(data), int(correct.sum()), c5, len(data), correct)
