"""The statistics behind every number and claim of a leaderboard.

The top-1 of a method in a setting is the mean over its S seeds and the N test images of c[s, i], 1 when seed s's
final model got image i right. It is uncertain for two reasons: the test set is finite (other images would give
another number) and training is random (other seeds would give other models). The table of c is an images x seeds
crossed design, and the variance of its mean is estimated as

    var_i(c̄_i) / N  +  max(0, var_s(acc_s) - MS_res / N) / S

with c̄_i image i's correctness averaged over the seeds, acc_s seed s's top-1, and MS_res the residual mean square
of the table: the first term is the test-set noise, the second the seed-to-seed noise of training, less the part of
the seeds' spread that per-image noise already explains. Intervals are t intervals with Welch-Satterthwaite degrees
of freedom, so that three seeds (two degrees of freedom for training noise) give honest, wide intervals.

Two methods evaluated on the same test images are compared through the per-image differences of their
seed-averaged correctness (paired on the images), plus each side's seed term; claims that make several comparisons
are corrected for their number with Holm's procedure.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95  # intervals
ALPHA = 0.05  # family-wise error rate of each claim (Holm)
METHOD = ("mean over seeds with a 95% t interval whose variance adds the test-set noise (per-image variance / N) "
          "and the training noise (variance over seeds, less its per-image part, / seeds), Welch-Satterthwaite "
          "degrees of freedom")


@dataclass(frozen=True)
class Estimate:
    """Mean top-1 with its interval, over `seeds` seeds and `images` test images."""

    mean: float
    low: float
    high: float
    seeds: int
    images: int


@dataclass(frozen=True)
class Comparison:
    """`difference` = mean top-1 of a minus b (on the same images); `p` two-sided."""

    difference: float
    p: float


def _seed_term(c: np.ndarray) -> tuple[float, float]:
    """(variance of the mean due to training noise, its degrees of freedom); (0, inf) with one seed."""
    s, n = c.shape
    if s < 2:
        return 0.0, math.inf
    acc = c.mean(1)
    residual = c - c.mean(0, keepdims=True) - acc[:, None] + c.mean()
    ms_res = float((residual**2).sum()) / ((n - 1) * (s - 1)) if n > 1 else 0.0
    return max(0.0, float(acc.var(ddof=1)) - ms_res / n) / s, s - 1


def _combine(terms: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Sum of independent variance terms and its Welch-Satterthwaite degrees of freedom."""
    var = sum(v for v, _ in terms)
    denominator = sum(v * v / df for v, df in terms if v > 0 and math.isfinite(df))
    return var, (var * var / denominator if denominator > 0 else math.inf)


def _test_term(per_image: np.ndarray) -> tuple[float, float]:
    n = len(per_image)
    return (float(per_image.var(ddof=1)) / n if n > 1 else 0.0), n - 1


def interval(c: np.ndarray, level: float = LEVEL, bounds: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    """Mean and `level` interval of the top-1 whose per-example outcomes are c (seeds x images, 0/1 or weights), or
    of any mean of such a table; the interval is clipped to `bounds`."""
    c = np.asarray(c, dtype=float)
    mean = float(c.mean())
    var, df = _combine([_test_term(c.mean(0)), _seed_term(c)])
    half = float(stats.t.ppf(0.5 + level / 2, df)) * math.sqrt(var) if var > 0 else 0.0
    return Estimate(mean, max(bounds[0], mean - half), min(bounds[1], mean + half), c.shape[0], c.shape[1])


def compare(a: np.ndarray, b: np.ndarray) -> Comparison:
    """Paired comparison of two methods' outcomes on the same images (seeds x images each; seed counts may
    differ)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"compared outcomes must be on the same images: {a.shape[1]} vs {b.shape[1]}")
    d = a.mean(0) - b.mean(0)
    difference = float(d.mean())
    var, df = _combine([_test_term(d), _seed_term(a), _seed_term(b)])
    if var == 0:
        return Comparison(difference, 1.0 if difference == 0 else 0.0)
    return Comparison(difference, float(2 * stats.t.sf(abs(difference) / math.sqrt(var), df)))


def seed_effect(c: np.ndarray) -> float:
    """p-value that the seeds' models differ in accuracy beyond per-image noise (two-way F test); 1 with one
    seed."""
    c = np.asarray(c, dtype=float)
    s, n = c.shape
    if s < 2 or n < 2:
        return 1.0
    acc = c.mean(1)
    residual = c - c.mean(0, keepdims=True) - acc[:, None] + c.mean()
    ms_res = float((residual**2).sum()) / ((n - 1) * (s - 1))
    ms_seed = n * float(acc.var(ddof=1))
    if ms_res == 0:
        return 0.0 if ms_seed > 0 else 1.0
    return float(stats.f.sf(ms_seed / ms_res, s - 1, (n - 1) * (s - 1)))


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise error rate `alpha`."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        rejected[i] = True
    return rejected


def at_chance(c: np.ndarray, classes: int) -> bool:
    """Whether top-1 is not clearly above guessing: its interval reaches 1 / classes."""
    return interval(c).low <= 1 / classes
