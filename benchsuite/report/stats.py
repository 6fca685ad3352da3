"""The statistics behind every number and claim of a leaderboard.

The top-1 of a method in a setting is the mean over its S seeds and the N test images of c[s, i], 1 when seed s's
final model got image i right. It is uncertain for two reasons: the test set is finite (other images would give
another number) and training is random (other seeds would give other models). The table of c is an images x seeds
crossed design, and the variance of its mean is estimated as

    var_i(c̄_i) / N  +  max(0, var_s(acc_s) - MS_res / N) / S

with c̄_i image i's correctness averaged over the seeds, acc_s seed s's top-1, and MS_res the residual mean square
of the table: the first term is the test-set noise, the second the seed-to-seed noise of training, less the part of
the seeds' spread that per-image noise already explains. The test-set term counts two images right and two wrong
beside the real ones (Agresti and Coull's adjustment: near 99% top-1 a few errors otherwise make it too small).

Each term brings its own t quantile: the seed term's on the seeds' S - 1 degrees of freedom (two, with three seeds,
whatever the images add), the test-set term's on N - 1, and the interval's half-width is sqrt(sum of q_i^2 v_i).
That is continuous (a seed term near zero changes nothing) and honest when the seeds dominate: a
Welch-Satterthwaite count, which lets the images raise the seeds' degrees of freedom, covered the true top-1 only
80-92% of the time in simulation with three seeds spread by 1-3 points; this covers it at least 93% of the time at
10% and 93% top-1 with seeds spread by 0-3 points and at 99% with seeds within half a point, on 500 or 1,000 images
(`tests/test_stats.py`; near 99% a wider spread is skewed, and three seeds cover it 86-94% of the time). A
comparison's p-value is the level at which that interval reaches the threshold, so p-values and intervals agree at
any level.

Two methods evaluated on the same test images are compared through the per-image differences of their
seed-averaged correctness (paired on the images, with one discordant pseudo-image each way), plus each side's seed
term; claims that make several comparisons are corrected for their number with Holm's procedure.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

LEVEL = 0.95  # intervals
ALPHA = 0.05  # family-wise error rate of each claim (Holm)
FLOOR = 1e-30  # the smallest p-value a comparison of several variance terms reports
METHOD = ("mean over seeds with a 95% t interval whose variance adds the test-set noise (per-image variance / N) "
          "and the training noise (variance over seeds, less its per-image part, / seeds), each term with its own t "
          "quantile (the seeds' on S - 1 degrees of freedom)")


@dataclass(frozen=True)
class Estimate:
    """Mean top-1 with its interval, over `seeds` seeds and `images` test images."""

    mean: float
    low: float
    high: float
    seeds: int
    images: int


def _half(terms: Sequence[tuple[float, float]], tail: float) -> float:
    """Half-width of a one-sided interval of level 1 - `tail` for a sum of independent terms (variance, degrees of
    freedom): sqrt(sum of q_i^2 v_i), each term with its own t quantile q_i (scipy.special's ufunc, the function
    stats.t.isf calls, without that wrapper's 0.1 ms a call, which was most of the time of a warm sweep run)."""
    return math.sqrt(sum(float(special.stdtrit(df, tail)) ** 2 * v for v, df in terms))


@dataclass(frozen=True)
class Comparison:
    """`difference` = mean of a minus b (on the same images or chunks), and the variance `terms` of that mean, each
    (variance, degrees of freedom). A one-sided p-value is the tail at which the interval `_half` gives reaches the
    threshold: the p-values invert the intervals exactly, at any level Holm asks for."""

    difference: float
    terms: tuple[tuple[float, float], ...]

    @property
    def se(self) -> float:
        return math.sqrt(sum(v for v, _ in self.terms))

    @property
    def p(self) -> float:
        """Two-sided p-value of no difference."""
        return min(1.0, 2 * min(self.p_above(0.0), self.p_below(0.0)))

    def p_above(self, threshold: float) -> float:
        """One-sided p-value of "the difference exceeds `threshold`" (H0: difference <= threshold)."""
        return self._tail(self.difference - threshold)

    def p_below(self, threshold: float) -> float:
        """One-sided p-value of "the difference is below `threshold`" (H0: difference >= threshold)."""
        return self._tail(threshold - self.difference)

    def _tail(self, x: float) -> float:
        """The tail level at which the one-sided interval's half-width equals x (1 - that of -x when x < 0)."""
        if not self.terms:
            return 0.0 if x > 0 else 1.0
        if x < 0:
            return 1.0 - self._tail(-x)
        if x == 0:
            return 0.5
        if len(self.terms) == 1 or len({df for _, df in self.terms}) == 1:  # one t distribution: closed form
            return float(special.stdtr(self.terms[0][1], -x / self.se))
        if _half(self.terms, FLOOR) <= x:
            return FLOOR  # beyond any level Holm asks for; the quantiles past it overflow
        return 10 ** float(optimize.brentq(lambda e: _half(self.terms, 10 ** e) - x, math.log10(FLOOR),
                                           math.log10(0.5), xtol=1e-6))


def _seed_term(c: np.ndarray) -> tuple[float, float]:
    """(variance of the mean due to training noise, its degrees of freedom); (0, inf) with one seed."""
    s, n = c.shape
    if s < 2:
        return 0.0, math.inf
    acc = c.mean(1)
    residual = c - c.mean(0, keepdims=True) - acc[:, None] + c.mean()
    ms_res = float((residual**2).sum()) / ((n - 1) * (s - 1)) if n > 1 else 0.0
    return max(0.0, float(acc.var(ddof=1)) - ms_res / n) / s, s - 1


def _test_term(per_unit: np.ndarray, pseudo: Sequence[float]) -> tuple[float, float]:
    """Variance of the mean of `per_unit` over its units (images, chunks), with `pseudo` values beside them in the
    spread (Agresti and Coull's pseudo-observations for proportions), and its degrees of freedom."""
    n = len(per_unit)
    if n < 2:
        return 0.0, math.inf
    return float(np.concatenate([per_unit, pseudo]).var(ddof=1)) / n, n - 1


def interval(c: np.ndarray, level: float = LEVEL, bounds: tuple[float, float] = (0.0, 1.0),
             proportion: bool = True) -> Estimate:
    """Mean and `level` interval of the top-1 whose per-example outcomes are c (seeds x images, 0/1 or weights), or
    of any mean of such a table (`proportion=False`: no pseudo-images, e.g. log-losses); clipped to `bounds`."""
    c = np.asarray(c, dtype=float)
    mean = float(c.mean())
    terms = _nonzero([_test_term(c.mean(0), (1.0, 1.0, 0.0, 0.0) if proportion else ()), _seed_term(c)])
    half = _half(terms, (1 - level) / 2)
    return Estimate(mean, max(bounds[0], mean - half), min(bounds[1], mean + half), c.shape[0], c.shape[1])


def compare(a: np.ndarray, b: np.ndarray, proportion: bool = True, paired_seeds: bool = False) -> Comparison:
    """Paired comparison of two methods' outcomes on the same images (seeds x images each; seed counts may
    differ); `proportion=False` for outcomes that are not 0/1 (e.g. log-losses). With `paired_seeds` (a and b have the
    same seeds, in the same order: e.g. two versions of one method, whose seed s draws the same pruning batch and
    data order) the seed term is that of the seeds' differences, which training noise shared by a seed's two runs
    does not enter."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"compared outcomes must be on the same images: {a.shape[1]} vs {b.shape[1]}")
    d = a.mean(0) - b.mean(0)
    difference = float(d.mean())
    pseudo = (1.0, -1.0) if proportion else ()
    if paired_seeds:
        if a.shape != b.shape:
            raise ValueError(f"seeds paired need the same seeds on both sides: {a.shape[0]} vs {b.shape[0]}")
        return Comparison(difference, _nonzero([_test_term(d, pseudo), _seed_term(a - b)]))
    return Comparison(difference, _nonzero([_test_term(d, pseudo), _seed_term(a), _seed_term(b)]))


def _nonzero(terms: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((v, df) for v, df in terms if v > 0)


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
    return float(special.fdtrc(s - 1, (n - 1) * (s - 1), ms_seed / ms_res))


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise error rate `alpha` (a NaN p-value rejects
    nothing)."""
    pvalues = [1.0 if p != p else p for p in pvalues]
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
