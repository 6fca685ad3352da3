"""ShrinkBench's claims (Blalock, Gonzalez Ortiz, Frankle & Guttag, "What is the state of neural network pruning?",
MLSys 2020), tested on a leaderboard's numbers: global beats layerwise magnitude pruning at equal size, layerwise can
win at equal theoretical speedup, the initial weights change the ranking, seeds can disagree strongly, and random
pruning is the floor."""
from __future__ import annotations

import pandas as pd

from ..cells import Cells, shared_speedups
from ..stats import ALPHA, holm, seed_effect
from .rule import Claim, Tally, decided, judge

SOURCE = "ShrinkBench, Blalock et al. 2020"
GLOBAL, LAYER = "global_magnitude", "layer_magnitude"
SEED_RANGE = 0.05  # seeds "disagree strongly" when their top-1 spans at least 5 points (and the seed effect is real)


def reversals(cells: Cells, agg: pd.DataFrame, pairs: list[tuple[str, str]], across: str
              ) -> tuple[list[tuple[str, bool | None]], Tally] | None:
    """For each (m1, m2) of `pairs` and each setting (the other axis, compression) with several values of `across`
    ("weights" or "pair"): whether m1 significantly beats m2 under one value and significantly loses under another
    (True), or not (None); with the tally of all the underlying tests (Holm-corrected together). None when nothing
    can be compared."""
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
    facts = []
    for m1, m2, o, c, values in groups:
        ahead = [v for v in values if (m1, m2, o, c, v) in tally.won]
        behind = [v for v in values if (m1, m2, o, c, v) in tally.lost]
        label = f"{m1} vs {m2} on {o} x{c:g}"
        facts.append((f"{label}: ahead under {', '.join(ahead)}, behind under {', '.join(behind)}", True)
                     if ahead and behind else (label, None))
    return facts, tally


def claims(cells: Cells, agg: pd.DataFrame, frame: pd.DataFrame) -> list[Claim]:
    out = []
    blocks = [(p, w) for (p, w), g in agg.groupby(["pair", "weights"]) if {GLOBAL, LAYER} <= set(g.method)]
    if blocks:
        size = judge((f"{p} {w} x{c:g}", cells.get(p, w, GLOBAL, c), cells.get(p, w, LAYER, c), cells.classes[p])
                     for p, w in blocks for c in sorted(agg[(agg.pair == p) & (agg.weights == w)].compression.unique()))
        out.append(Claim("Global beats layerwise magnitude pruning at equal model size", SOURCE, "all", size,
                         "(pair, weights, compression) settings", GLOBAL))
        speed = judge((f"{p} {w} at {s:.1f}x", cells.at(p, w, LAYER, s), cells.at(p, w, GLOBAL, s), cells.classes[p])
                      for p, w in blocks
                      for s in shared_speedups(agg[(agg.pair == p) & (agg.weights == w)], [GLOBAL, LAYER]))
        out.append(Claim("Layerwise magnitude pruning can beat global at equal theoretical speedup", SOURCE, "some",
                         speed, "places (five equal speedups per pair and weights, interpolated)", LAYER))
    flips = reversals(cells, agg, [(GLOBAL, LAYER)], across="weights")
    if flips is not None:
        facts, tally = flips
        out.append(Claim("The initial weights change the ranking of global and layerwise magnitude pruning", SOURCE,
                         "some", decided(facts), "(pair, compression) settings with weights A and B",
                         note=f"a setting supports it when the order is significantly reversed between the weights; "
                              f"underlying tests {tally.counts('comparisons')}"))
    seeds = seed_claim(cells, frame)
    if seeds is not None:
        out.append(seeds)
    return out + floor_claims(cells, agg)


def seed_claim(cells: Cells, frame: pd.DataFrame) -> Claim | None:
    """Some settings vary a lot between seeds: a span of SEED_RANGE or more with a significant seed effect."""
    spread = frame.groupby(["pair", "weights", "method", "compression"])["top1"].agg(lambda s: s.max() - s.min())
    several = [k for k in spread.index if len(cells.seeds(*k)) > 1]
    if not several:
        return None
    wide = [k for k in several if spread[k] >= SEED_RANGE]
    real = dict(zip(wide, holm([seed_effect(cells.get(*k)) for k in wide])))
    facts = [(f"{m} on {p} weights {w} at x{c:g} ({spread[(p, w, m, c)] * 100:.1f}-point span)", True if real.get(
        (p, w, m, c)) else None) for p, w, m, c in sorted(several, key=lambda k: -spread[k])]
    return Claim("Some settings vary a lot between seeds", SOURCE, "some", decided(facts),
                 "settings with several seeds", note=f"a setting supports it when its seeds' top-1 spans "
                 f"{SEED_RANGE * 100:.0f} or more points with a significant seed effect, F test, Holm at {ALPHA:.0%}")


def floor_claims(cells: Cells, agg: pd.DataFrame) -> list[Claim]:
    """Random pruning is the floor of its stage (after training): per method, it beats random, both retrained by the
    stage's own budget (a row at another budget, `[full]`, trains longer than random did)."""
    same_stage = agg[(agg.stage == "after_training") & ~agg.method.str.contains(r" \[")]
    if "random" not in set(same_stage.method):
        return []
    settings = [(k, g) for k, g in same_stage.groupby(["pair", "weights", "compression"]) if "random" in set(g.method)]
    methods = sorted(set(same_stage.method) - {"random"})
    return [Claim(f"{m} can beat random pruning", SOURCE, "some",
                  judge((f"{p} {w} x{c:g}", cells.get(p, w, m, c), cells.get(p, w, "random", c), cells.classes[p])
                        for (p, w, c), g in settings if m in set(g.method)), "settings", m,
                  group="Random pruning is the floor of its stage (after training): every method can beat it (a "
                        "loss to it is listed)")
            for m in methods]
