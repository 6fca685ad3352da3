"""Retraining budgets: how long a method that prunes a trained model trains under its masks, an axis of a case, so
that methods of different stages can be compared at equal training (Frankle et al. 2021 compare pruning at
initialisation with magnitude pruning retrained for the same length; Renda et al. 2020 compare iterative pruning
with one-shot pruning retrained for the same total).

- "" (the default): the stage's own training. After training, the pair's short fine-tuning (ShrinkBench's
  protocol); a gradual method prunes inside it; at initialisation, the dense recipe from scratch; iterative
  pruning, its levels.
- "full": after training (or a gradual method's run), the dense recipe's whole run again, its learning-rate schedule
  from the start (one-shot pruning with learning-rate rewinding, Renda et al. 2020).
- "like-M" (M a method with a Levels schedule, e.g. "like-imp_lr"): the dense recipe's optimizer and peak learning
  rate for as many epochs as M retrains in all at the case's compression (its levels times the epochs of each
  level), one schedule stretched over them: one-shot pruning at iterative pruning's total budget.

What a budget is and which methods take it is planned here; the training it stands for is resolved by the harness
(`benchsuite.run.stages.retraining`), whose code is in every case's fingerprint.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..pruning.methods import Method, get_method
from ..pruning.schedules import Gradual, Levels

LIKE = "like-"


def takes(method: Method, budget: str) -> bool:
    """Whether a method runs at `budget`: every method at its stage's own (""), and methods that train a trained
    model under masks once (after training, or gradually) at "full" and "like-M"."""
    return budget == "" or method.stage == "after_training" or isinstance(method.schedule, Gradual)


def check(budget: str) -> None:
    """A clear error for a budget that is not "", "full" or "like-M" with M an iterative method."""
    if budget in ("", "full"):
        return
    if budget.startswith(LIKE) and isinstance(get_method(budget[len(LIKE):]).schedule, Levels):
        return
    raise ValueError(f"unknown training budget {budget!r}: a budget is '' (the stage's own training), 'full' (the "
                     f"dense recipe's length) or 'like-M' with M an iterative method (e.g. 'like-imp_lr')")


def spec(budget: str) -> dict[str, Any]:
    """What decides a budget's training, for a case's hash: its name, and for "like-M" the schedule of M."""
    check(budget)
    if budget.startswith(LIKE):
        return {"name": budget, "schedule": dataclasses.asdict(get_method(budget[len(LIKE):]).schedule)}
    return {"name": budget}
