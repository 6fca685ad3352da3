"""Schedules of the methods that act during training: when the harness calls them and what count each call must
hit. Pure arithmetic; the harness (`benchsuite.run.stages`) does the training. A schedule's fields are
hyperparameters of its method."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Gradual:
    """Prune events inside the run of training the harness gives the method (its retraining budget), every `every`
    of the run from `begin` to `end` (all three fractions of the run; at least one optimizer step apart), on Zhu &
    Gupta's cubic schedule: at event k of n the pruned fraction of the prunable weights is
    s_k = s_f + (s_i - s_f) (1 - k / n)^3, from `initial` (s_i) to the case's target (s_f). Masks are nested: a
    pruned weight stays pruned."""

    begin: float = 0.0
    end: float = 0.75
    every: float = 0.01
    initial: float = 0.0

    nested = True

    def __post_init__(self) -> None:
        if not (0 <= self.begin <= self.end <= 1 and 0 < self.every <= 1 and 0 <= self.initial < 1):
            raise ValueError(f"gradual schedule needs 0 <= begin <= end <= 1, 0 < every <= 1 and 0 <= initial < 1, "
                             f"got {self}")

    def events(self, steps: int, prunable: int, keep: int) -> list[tuple[int, int]]:
        """(optimizer steps taken, weights to keep) of each prune event of a run of `steps` steps; the last event
        keeps exactly `keep`. Events that would prune nothing new are left out."""
        t0, t_end, dt = round(self.begin * steps), round(self.end * steps), max(1, round(self.every * steps))
        n = (t_end - t0) // dt
        final = 1 - keep / prunable
        out, last = [], prunable
        for k in range(n + 1):
            sparsity = final + (self.initial - final) * (1 - k / n) ** 3 if n else final
            count = keep if k == n else prunable - round(sparsity * prunable)
            if count < last:
                out.append((t0 + k * dt, count))
                last = count
        return out


@dataclass(frozen=True)
class Levels:
    """Iterative pruning (Frankle & Carbin 2019): train, prune `rate` of the remaining prunable weights, go back,
    train again, until the case's count; the last level lands exactly on it. Every level trains with the pair's
    dense recipe from the position `rewind` (a fraction of the dense run) to its end. Masks are nested."""

    rate: float = 0.2
    rewind: float = 0.0

    nested = True

    def __post_init__(self) -> None:
        if not (0 < self.rate < 1 and 0 <= self.rewind < 1):
            raise ValueError(f"levels schedule needs 0 < rate < 1 and 0 <= rewind < 1, got {self}")

    def count(self, level: int, prunable: int) -> int:
        """Weights kept after `level` full levels: round(prunable * (1 - rate)^level)."""
        return round(prunable * (1 - self.rate) ** level)

    def counts(self, prunable: int, keep: int) -> list[int]:
        """Weights kept after each level, the last exactly `keep` (levels that would prune nothing are skipped)."""
        out, level = [], 1
        while keep < prunable and self.count(level, prunable) > keep:
            if self.count(level, prunable) < (out[-1] if out else prunable):
                out.append(self.count(level, prunable))
            level += 1
        return [*out, keep] if keep < prunable else out

    def rewind_step(self, steps: int) -> int:
        """The optimizer step of the dense run that every level's training starts from."""
        return round(self.rewind * steps)


@dataclass(frozen=True)
class Dynamic:
    """Dynamic sparse training (Mocanu et al. 2018, Evci et al. 2020): the model trains from its initialisation at the
    case's count from the first step. The method chooses the first masks before the first step, then after every
    `every` of the run until `end` (fractions of the run; at least one optimizer step apart) each layer drops
    floor(f_t * k) of its k kept weights and grows as many elsewhere, f_t = drop (1 + cos(pi t / t_end)) / 2 at step
    t (RigL's cosine decay). Masks are not nested, but every layer keeps its count: a weight grown starts at zero
    with no optimizer state."""

    every: float = 0.01
    end: float = 0.75
    drop: float = 0.3

    nested = False

    def __post_init__(self) -> None:
        if not (0 < self.every <= 1 and 0 <= self.end <= 1 and 0 < self.drop <= 1):
            raise ValueError(f"dynamic schedule needs 0 < every <= 1, 0 <= end <= 1 and 0 < drop <= 1, got {self}")

    def events(self, steps: int) -> dict[int, float]:
        """The update fraction f_t of each mask update, by the optimizer steps taken before it, in a run of `steps`
        steps: every dt steps before t_end (at t_end, f_t = 0 would move nothing)."""
        t_end, dt = round(self.end * steps), max(1, round(self.every * steps))
        return {t: self.drop * (1 + math.cos(math.pi * t / t_end)) / 2 for t in range(dt, t_end, dt)}

    @staticmethod
    def moves(fraction: float, kept: int) -> int:
        """Weights a layer that keeps `kept` drops (and grows) at an update of fraction f: floor(f * kept), as RigL
        casts it."""
        return math.floor(fraction * kept)
