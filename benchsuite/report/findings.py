"""Findings the suite derives from its own numbers, as ShrinkBench's authors did by hand: which of the paper's
claims hold on these results, who leads at equal size and at equal speedup, where rankings reverse between pairs
or initial weights, where seeds disagree, and where a method emptied a whole layer.

Every comparative word is a test: "beats" means a paired test on the same test images, combined over seeds
(`stats.compare`), significant after Holm's correction over all the comparisons the claim makes. Comparisons where
both sides are at chance level are left out and counted. Each claim says how many settings were testable, won,
lost and undecided; no list is cut without saying how many more there are."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cells import Cells
from .stats import ALPHA, at_chance, compare, holm, seed_effect

SEED_RANGE = 0.05  # seeds "disagree strongly" when their top-1 spans at least 5 points (and the seed effect is real)
SHOWN = 10  # list items shown before "and N more"
GLOBAL, LAYER = "global_magnitude", "layer_magnitude"


@dataclass
class Tally:
    """Outcome of the comparisons of one claim: the labels won and lost, how many undecided and at chance."""

    won: dict[str, float] = field(default_factory=dict)  # label -> difference of mean top-1
    lost: dict[str, float] = field(default_factory=dict)
    undecided: int = 0
    chance: int = 0

    @property
    def testable(self) -> int:
        return len(self.won) + len(self.lost) + self.undecided

    def counts(self, what: str) -> str:
        chance = f"; {self.chance} left out with both sides at chance level" if self.chance else ""
        return (f"of {self.testable} testable {what}, {len(self.won)} won, {len(self.lost)} lost, {self.undecided} "
                f"undecided{chance}")


def judge(comparisons: Iterable[tuple[str, np.ndarray | None, np.ndarray | None, int | None]]) -> Tally:
    """Test a against b in each (label, a, b, classes), Holm-corrected together; a missing side is skipped, and so
    is a comparison with both sides at chance (classes None: outcomes that are not correctness)."""
    tally, tested = Tally(), []
    for label, a, b, classes in comparisons:
        if a is None or b is None:
            continue
        if classes is not None and at_chance(a, classes) and at_chance(b, classes):
            tally.chance += 1
            continue
        tested.append((label, compare(a, b, proportion=classes is not None)))
    for (label, c), significant in zip(tested, holm([c.p for _, c in tested])):
        if not significant:
            tally.undecided += 1
        else:
            (tally.won if c.difference > 0 else tally.lost)[label] = c.difference
    return tally


def listed(items: list[str] | dict[str, float], sep: str = "; ") -> str:
    """Items (or labels with their difference in points), the first SHOWN of them and how many more."""
    if isinstance(items, dict):
        items = [f"{label} ({d * 100:+.2f} pts)" for label, d in items.items()]
    more = f"{sep}and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return sep.join(items[:SHOWN]) + more


def _verdict(tally: Tally) -> str:
    if len(tally.won) > len(tally.lost):
        return "reproduced"
    return "contradicted" if len(tally.lost) > len(tally.won) else "not shown"


def _speedups(cells: Cells, agg: pd.DataFrame, methods: list[str]) -> np.ndarray:
    """5 speedups (log-spaced) that every one of `methods` reaches in this (pair, weights) block."""
    curves = [agg[agg.method == m]["speedup"] for m in methods]
    if any(c.empty for c in curves):
        return np.array([])
    lo, hi = max(np.log2(c).min() for c in curves), min(np.log2(c).max() for c in curves)
    return 2 ** np.linspace(lo, hi, 5) if lo < hi else np.array([])


def paper_claims(cells: Cells, agg: pd.DataFrame) -> list[str]:
    out = []
    blocks = [(p, w) for (p, w), g in agg.groupby(["pair", "weights"]) if {GLOBAL, LAYER} <= set(g.method)]
    if blocks:
        size = judge((f"{p} {w} x{c:g}", cells.get(p, w, GLOBAL, c), cells.get(p, w, LAYER, c), cells.classes[p])
                     for p, w in blocks for c in sorted(agg[(agg.pair == p) & (agg.weights == w)].compression.unique()))
        out.append(f"- **Global beats layerwise magnitude at equal model size** — {_verdict(size)}: "
                   f"{size.counts('(pair, weights, compression) settings')} by {GLOBAL}"
                   + (f". Lost: {listed(size.lost)}." if size.lost else "."))
        speed = judge((f"{p} {w} at {s:.1f}x", cells.at(p, w, LAYER, s), cells.at(p, w, GLOBAL, s),
                       cells.classes[p])
                      for p, w in blocks for s in _speedups(cells, agg[(agg.pair == p) & (agg.weights == w)],
                                                            [GLOBAL, LAYER]))
        verdict = "reproduced" if speed.won else "not shown"
        out.append(f"- **Layerwise can win at equal theoretical speedup** — {verdict}: interpolated at five equal "
                   f"speedups per pair and weights, {speed.counts('places')} by {LAYER}"
                   + (f": {listed(speed.won)}." if speed.won else "."))
    flips = reversals(cells, agg, [(GLOBAL, LAYER)], across="weights")
    if flips is not None:
        verdict = "reproduced" if flips[0] else "not shown"
        out.append(f"- **The initial weights change the ranking** (weights A: Adam lr 1e-3, B: lr 1e-4) — {verdict}: "
                   f"the order of {GLOBAL} and {LAYER} is {flips[1]}" + (f": {listed(flips[0])}." if flips[0] else "."))
    return out


def reversals(cells: Cells, agg: pd.DataFrame, pairs: list[tuple[str, str]], across: str
              ) -> tuple[list[str], str] | None:
    """Settings where m1 significantly beats m2 under one value of `across` ("weights" or "pair") and
    significantly loses under another, at the same compression, for each (m1, m2) of `pairs`, all tests
    Holm-corrected together. None when nothing can be compared."""
    other = "pair" if across == "weights" else "weights"
    tests, groups = [], []
    for m1, m2 in pairs:
        for (o, c), g in agg[agg.method.isin([m1, m2])].groupby([other, "compression"]):
            values = [v for v in sorted(g[across].unique()) if {m1, m2} <= set(g[g[across] == v].method)]
            if len(values) < 2:
                continue
            groups.append((m1, m2, o, c, values))
            for v in values:
                p, w = (v, o) if across == "pair" else (o, v)
                tests.append(((m1, m2, o, c, v), cells.get(p, w, m1, c), cells.get(p, w, m2, c), cells.classes[p]))
    if not groups:
        return None
    tally = judge(tests)
    found = []
    for m1, m2, o, c, values in groups:
        ahead = [v for v in values if (m1, m2, o, c, v) in tally.won]
        behind = [v for v in values if (m1, m2, o, c, v) in tally.lost]
        if ahead and behind:
            found.append(f"{m1} vs {m2} on {o} x{c:g}: ahead under {', '.join(ahead)}, behind under "
                         f"{', '.join(behind)}")
    what = f"({other}, compression) settings with several {'pairs' if across == 'pair' else 'weights'}"
    return found, (f"significantly reversed in {len(found)} of {len(groups)} {what} ({tally.counts('comparisons')})")


def floor_claim(cells: Cells, agg: pd.DataFrame) -> list[str]:
    if "random" not in set(agg.method):
        return []
    same_stage = agg[agg.stage == "after_training"]  # random is the floor of its own stage
    settings = [(k, g) for k, g in same_stage.groupby(["pair", "weights", "compression"]) if "random" in set(g.method)]
    tests = [(f"{m} on {p} {w} x{c:g}", cells.get(p, w, m, c), cells.get(p, w, "random", c), cells.classes[p])
             for (p, w, c), g in settings for m in sorted(set(g.method) - {"random"})]
    tally = judge(tests)
    beaten = [(p, w, c) for (p, w, c), g in settings
              if all(f"{m} on {p} {w} x{c:g}" in tally.won for m in set(g.method) - {"random"})]
    verdict = "reproduced" if tally.won and not tally.lost else "contradicted" if tally.lost else "not shown"
    return [f"- **Random pruning is the floor** (after training: no method is worse than random, and methods beat it) "
            f"— {verdict}: every other method that prunes the trained model beats random in {len(beaten)} of "
            f"{len(settings)} settings where it ran ({tally.counts('comparisons with random')} by the other "
            f"method)" + (f"; random wins {listed(tally.lost)}." if tally.lost else ".")]


def seed_claims(cells: Cells, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The claim that some settings vary a lot between seeds, and the list of those settings."""
    spread = frame.groupby(["pair", "weights", "method", "compression"])["top1"].agg(lambda s: s.max() - s.min())
    several = [k for k in spread.index if len(cells.seeds(*k)) > 1]
    if not several:
        return [], ["- no setting has several seeds"]
    wide = [k for k in several if spread[k] >= SEED_RANGE]
    real = [k for k, r in zip(wide, holm([seed_effect(cells.get(*k)) for k in wide])) if r]
    real.sort(key=lambda k: -spread[k])
    verdict = "reproduced" if real else "not shown"
    claim = [f"- **Some settings vary a lot between seeds** — {verdict}: {len(real)} of {len(several)} settings with "
             f"several seeds span {SEED_RANGE * 100:.0f} or more points of top-1 with a significant seed effect "
             f"(F test, Holm at {ALPHA:.0%}; {len(wide)} span that much)."]
    lines = [f"- {m} on {p} weights {w} at x{c:g}: top-1 spans {spread[(p, w, m, c)] * 100:.2f} points"
             for p, w, m, c in real]
    more = [f"- and {len(lines) - SHOWN} more (see results.csv)"] if len(lines) > SHOWN else []
    return claim, lines[:SHOWN] + more or [f"- none of {len(several)} settings with several seeds"]


def leaders(cells: Cells, agg: pd.DataFrame) -> list[str]:
    """Per (pair, weights): the best method at each compression and at five equal speedups, with the methods that
    are not significantly worse (Holm within each setting)."""
    out = []
    for (p, w), g in agg.groupby(["pair", "weights"]):
        methods = sorted(g.method.unique())
        if len(methods) < 2:
            continue
        by_size = [_lead(f"x{c:g}", {m: cells.get(p, w, m, c) for m in s.method}, cells.classes[p])
                   for c, s in g[g.at_size].groupby("compression") if len(s) > 1]
        curves = [m for m in methods if (g.method == m).sum() > 1]  # a method with one point has no curve
        by_speed = [_lead(f"{s:.1f}x", {m: cells.at(p, w, m, s) for m in curves}, cells.classes[p])
                    for s in _speedups(cells, g, curves)] if len(curves) > 1 else []
        speed = f"; best at equal speedup — {', '.join(by_speed)}." if by_speed else (
            "; the methods share no speedup range.")
        short = [f"{r.method} x{r.compression:g} ({r.compression_achieved:.2f})" for r in g[~g.at_size].itertuples()]
        apart = f" Left out at equal size, as they achieve a compression more than 5% from their column's: " \
                f"{listed(short, ', ')}." if short else ""
        out.append(f"- {p}, weights {w}: best at equal size — {', '.join(by_size)}{speed}{apart}")
    return out


def leader(outcomes: dict[str, np.ndarray | None], classes: int) -> tuple[str, list[str]]:
    """The method of highest mean top-1, and the others that are not significantly worse (Holm together)."""
    outcomes = {m: c for m, c in outcomes.items() if c is not None}
    best = max(outcomes, key=lambda m: outcomes[m].mean())
    rivals = [m for m in outcomes if m != best]
    tally = judge((m, outcomes[best], outcomes[m], classes) for m in rivals)
    return best, [m for m in rivals if m not in tally.won]


def _lead(label: str, outcomes: dict[str, np.ndarray | None], classes: int) -> str:
    best, tied = leader(outcomes, classes)
    return f"{label}: {best}" + (f" (tied: {', '.join(tied)})" if tied else "")


def ranking(agg: pd.DataFrame) -> list[str]:
    """The methods that ran at every compression of the block, by mean rank of mean top-1 over them (best first): a
    summary, not a test."""
    wide = agg.pivot(index="compression", columns="method", values="top1")
    wide = wide.loc[:, wide.notna().all()]
    return list(wide.rank(axis=1, ascending=False).mean().sort_values().index)


def emptied_layers(frame: pd.DataFrame) -> dict[tuple, list[str]]:
    """Per case (method, pair, weights, compression, seed) that left a prunable layer without a weight, those layers
    (the classifier is never pruned)."""
    cols = [c for c in frame.columns if c.startswith("density:")]
    if not cols:
        return {}
    return {(r.method, r.pair, r.weights, r.compression, r.seed): [c.split(":", 1)[1] for c in cols if r[c] == 0]
            for _, r in frame[(frame[cols] == 0).any(axis=1)].iterrows()}


def speed_claims(agg: pd.DataFrame) -> list[str]:
    """Where theoretical speedup (dense / nonzero FLOPs) and measured speedup disagree: settings whose measured
    speedup is under half the theoretical one, largest gap first, and the best measured speedup at each batch."""
    out = []
    for batch, col, form in ((1, "measured_speedup", "latency_form"), (64, "measured_speedup_b64", "latency_form_b64")):
        rows = agg.assign(gap=agg.speedup / agg[col]).sort_values("gap", ascending=False)
        short = [f"{r.method} on {r.pair} {r.weights} x{r.compression:g}: {r.speedup:.2f}x on paper, {r[col]:.2f}x "
                 f"measured ({r[form]})" for _, r in rows[rows.gap > 2].iterrows()]
        best = agg.loc[agg[col].idxmax()]
        out.append(f"- At batch {batch}, measured speedup is under half the theoretical one in {len(short)} of "
                   f"{len(agg)} settings" + (f": {listed(short)}." if short else ".")
                   + f" The largest measured speedup is {best[col]:.2f}x ({best.method} on {best.pair} {best.weights} "
                     f"x{best.compression:g}, {best[form]}, {best.speedup:.2f}x on paper).")
    return out


def findings(frame: pd.DataFrame, cells: Cells, agg: pd.DataFrame) -> list[str]:
    seed_claim, seed_lines = seed_claims(cells, frame)
    out = ["### The paper's claims, checked on these numbers", "",
           f"A method beats another when a paired test on the same test images, combined over seeds, says so after "
           f"Holm's correction at {ALPHA:.0%} over all the comparisons of the claim.", "",
           *paper_claims(cells, agg), *seed_claim, *floor_claim(cells, agg)]
    from .stage_claims import budget_leaders, stage_claims

    stages = stage_claims(cells, agg, frame)
    if stages:
        out += ["", "### Claims about pruning at initialisation and during training", "", *stages]
    from .structure_claims import structure_claims

    structure = structure_claims(cells, agg)
    if structure:
        out += ["", "### Claims about structured sparsity", "", *structure]
    out += ["", "### Best at equal model size and at equal theoretical speedup", "",
            "The best mean top-1, with the methods that are not significantly worse than it (tied).", "",
            *leaders(cells, agg)]
    budget = budget_leaders(cells, agg)
    if budget:
        out += ["", "### Best at equal training budget", "",
                "Among the methods that used the same training budget (within 5%) at a compression, the best mean "
                "top-1 and those not significantly worse.", "", *budget]
    out += ["", "### Rankings across pairs and initial weights", ""]
    for (p, w), g in agg.groupby(["pair", "weights"]):
        if g.method.nunique() > 1:
            out.append(f"- {p}, weights {w} (best first, by mean rank over compressions, among the methods that ran "
                       f"at all of them; not a test): "
                       f"{', '.join(ranking(g))}")
    methods = sorted(agg.method.unique())
    pairs = [(m1, m2) for i, m1 in enumerate(methods) for m2 in methods[i + 1:]]
    for across in ("pair", "weights"):
        result = reversals(cells, agg, pairs, across)
        if result is not None:
            between = "pairs" if across == "pair" else "weights"
            out.append(f"- Between {between}, the order of two methods is {result[1]}"
                       + (f": {listed(result[0])}." if result[0] else "."))
    out += ["", "### Measured speed beside theoretical speedup", "",
            "Zeros in a dense kernel save no time; a sparse kernel pays for its indices. Medians over seeds of "
            "interleaved timings (see the introduction).", "", *speed_claims(agg)]
    out += ["", "### Seeds that disagree strongly", "", *seed_lines]
    out += ["", "### Layers emptied by pruning", ""]
    emptied: dict[tuple, set[str]] = {}
    for (m, p, w, c, _), layers in emptied_layers(frame).items():
        emptied.setdefault((m, p, w, c), set()).update(layers)
    out += [f"- {m} on {p} weights {w} at x{c:g}: {', '.join(sorted(layers))} (that layer passes on only biases)"
            for (m, p, w, c), layers in sorted(emptied.items())] or ["- none: every prunable layer kept a weight"]
    return out
