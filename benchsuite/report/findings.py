"""Findings the suite derives from its own numbers, as ShrinkBench's authors did by hand: which of the paper's
claims hold on these results, where rankings by size and by speedup disagree, where rankings change between
pairs or initial weights, where seeds disagree, and where a method emptied a whole layer."""
from __future__ import annotations

import numpy as np
import pandas as pd

SEED_RANGE = 0.05  # seeds "disagree strongly" when their top-1 spans at least 5 points
MARGIN = 0.005  # one method "beats" another when its mean top-1 is higher by more than half a point
GLOBAL, LAYER = "global_magnitude", "layer_magnitude"


def _mean(agg: pd.DataFrame, pair: str, weights: str, method: str) -> pd.Series:
    g = agg[(agg.pair == pair) & (agg.weights == weights) & (agg.method == method)]
    return g.set_index("compression")["top1"]


def _at_speedup(agg: pd.DataFrame, methods: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Top-1 of each method interpolated (in log speedup) at 5 speedups that every method reaches."""
    curves = {m: agg[agg.method == m].sort_values("speedup") for m in methods}
    lo = max(np.log2(c["speedup"]).min() for c in curves.values())
    hi = min(np.log2(c["speedup"]).max() for c in curves.values())
    if not lo < hi:
        return np.array([]), {}
    grid = np.linspace(lo, hi, 5)
    return 2**grid, {m: np.interp(grid, np.log2(c["speedup"]), c["top1"]) for m, c in curves.items()}


def _lead(difference: float) -> int:
    """1 when the difference of mean top-1 exceeds MARGIN, -1 when it is below -MARGIN, else 0 (a tie)."""
    return int(difference > MARGIN) - int(difference < -MARGIN)


def _ranking(agg: pd.DataFrame) -> list[str]:
    """Methods by mean rank over the compressions they share (best first)."""
    wide = agg.pivot(index="compression", columns="method", values="top1").dropna()
    return list(wide.rank(axis=1, ascending=False).mean().sort_values().index)


def paper_claims(agg: pd.DataFrame) -> list[str]:
    out = []
    groups = [(p, w) for (p, w), g in agg.groupby(["pair", "weights"]) if {GLOBAL, LAYER} <= set(g.method)]
    wins = []
    for p, w in groups:
        both_means = pd.concat([_mean(agg, p, w, GLOBAL), _mean(agg, p, w, LAYER)], axis=1).dropna()
        wins += [g_ - l_ for g_, l_ in both_means.itertuples(index=False)]
    if wins:
        k, lost = sum(d > MARGIN for d in wins), sum(d < -MARGIN for d in wins)
        verdict = "reproduced" if k > lost else "not reproduced"
        out.append(f"- **Global beats layerwise magnitude at equal model size** — {verdict}: {GLOBAL} beats {LAYER} "
                   f"in {k} and loses in {lost} of {len(wins)} (pair, weights, compression) settings.")
        flips = []
        for p, w in groups:
            speed, top = _at_speedup(agg[(agg.pair == p) & (agg.weights == w)], [GLOBAL, LAYER])
            pairs_at = zip(speed, top.get(GLOBAL, []), top.get(LAYER, []))
            flips += [f"{p} {w} at {s:.1f}x ({(b - a) * 100:+.2f} pts)" for s, a, b in pairs_at if b - a > MARGIN]
        verdict = "reproduced" if flips else "not reproduced"
        shown = f": {'; '.join(flips[:6])}." if flips else "."
        out.append(f"- **Layerwise can win at equal theoretical speedup** — {verdict}: interpolated at equal speedup, "
                   f"{LAYER} beats {GLOBAL} by over {MARGIN * 100:.1f} points in {len(flips)} places{shown}")
    both = [(p, c) for p, g in agg.groupby("pair") for c in g.compression.unique()
            if all(len(_mean(agg, p, w, m).get([c], [])) for w in ("A", "B") for m in (GLOBAL, LAYER))]
    if both:
        lead = {(p, c, w): _lead(_mean(agg, p, w, GLOBAL)[c] - _mean(agg, p, w, LAYER)[c])
                for p, c in both for w in ("A", "B")}
        changed = [f"{p} x{c:g}" for p, c in both if lead[p, c, "A"] * lead[p, c, "B"] < 0]
        verdict = "reproduced" if changed else "not reproduced"
        out.append(f"- **The initial weights change the ranking** (weights A: Adam lr 1e-3, B: lr 1e-4) — {verdict}: "
                   f"{GLOBAL} beats {LAYER} (by over {MARGIN * 100:.1f} points) under one and loses under the other "
                   f"in {len(changed)} of {len(both)} (pair, compression) settings"
                   + (f": {', '.join(changed)}." if changed else "."))
    return out


def findings(frame: pd.DataFrame, agg: pd.DataFrame) -> list[str]:
    out = ["### The paper's claims, checked on these numbers", "", *paper_claims(agg)]
    seeds = frame.groupby(["pair", "weights", "method", "compression"])["top1"]
    spread = seeds.agg(lambda s: s.max() - s.min())[seeds.count() > 1]
    wide = spread[spread >= SEED_RANGE].sort_values(ascending=False)
    if len(spread):
        verdict = "reproduced" if len(wide) else "not reproduced"
        out.append(f"- **Some settings vary a lot between seeds** — {verdict}: {len(wide)} of {len(spread)} settings "
                   f"span {SEED_RANGE * 100:.0f} or more points of top-1 across seeds (largest: "
                   f"{spread.max() * 100:.2f}).")
    if "random" in set(agg.method):
        settings = [g for _, g in agg.groupby(["pair", "weights", "compression"]) if "random" in set(g.method)]
        floor = [g for g in settings if g.top1.min() == g[g.method == "random"].top1.min()]
        beaten = [g for g in settings if (g[g.method != "random"].top1 > g.top1.min() + MARGIN).all()]
        verdict = "reproduced" if len(floor) > len(settings) / 2 else "not reproduced"
        out.append(f"- **Random pruning is the floor** — {verdict}: random has the lowest top-1 (ties included) in "
                   f"{len(floor)} of {len(settings)} settings where it ran, and every other method beats it by over "
                   f"{MARGIN * 100:.1f} points in {len(beaten)}.")

    out += ["", "### Ranking by model size vs by theoretical speedup", ""]
    for (p, w), g in agg.groupby(["pair", "weights"]):
        methods = sorted(g.method.unique())
        if len(methods) < 2:
            continue
        by_size = [f"x{c:g}: {s.loc[s.top1.idxmax(), 'method']}" for c, s in g.groupby("compression")]
        speed, top = _at_speedup(g, methods)
        by_speed = [f"{s:.1f}x: {max(top, key=lambda m: top[m][i])}" for i, s in enumerate(speed)]
        if not by_speed:
            out.append(f"- {p}, weights {w}: best at equal size — {', '.join(by_size)}; the methods share no "
                       f"speedup range to compare them at equal speedup.")
            continue
        differ = {x.split(": ")[1] for x in by_size} != {x.split(": ")[1] for x in by_speed}
        out.append(f"- {p}, weights {w}: best at equal size — {', '.join(by_size)}; best at equal speedup — "
                   f"{', '.join(by_speed)}." + (" **The leaders differ.**" if differ else " Same leaders."))

    out += ["", "### Rankings across pairs and initial weights", ""]
    ranks = {(p, w): _ranking(g) for (p, w), g in agg.groupby(["pair", "weights"]) if g.method.nunique() > 1}
    for (p, w), r in ranks.items():
        out.append(f"- {p}, weights {w} (best first, by mean rank over compressions): {', '.join(r)}")
    for w in sorted({w for _, w in ranks}):
        orders = {p: r for (p, ww), r in ranks.items() if ww == w}
        common = set.intersection(*(set(o) for o in orders.values())) if orders else set()
        seen = {tuple(m for m in o if m in common) for o in orders.values()}
        if len(orders) > 1:
            out.append(f"- Weights {w}: the ranking {'differs' if len(seen) > 1 else 'is the same'} between pairs.")

    out += ["", "### Seeds that disagree strongly", ""]
    out += [f"- {m} on {p} weights {w} at x{c:g}: top-1 spans {v * 100:.2f} points" for (p, w, m, c), v in
            wide.head(10).items()] or [f"- none of {len(spread)} settings with several seeds spans "
                                       f"{SEED_RANGE * 100:.0f} points of top-1"]
    if len(wide) > 10:
        out.append(f"- ... and {len(wide) - 10} more (see results.csv)")

    out += ["", "### Layers emptied by pruning", ""]
    cols = [c for c in frame.columns if c.startswith("density:")]
    emptied: dict[tuple, set[str]] = {}
    for _, row in frame[(frame[cols] == 0).any(axis=1)].iterrows() if cols else []:
        key = (row.method, row.pair, row.weights, row.compression)
        emptied.setdefault(key, set()).update(c.split(":", 1)[1] for c in cols if row[c] == 0)
    out += [f"- {m} on {p} weights {w} at x{c:g}: {', '.join(sorted(layers))} (that layer passes on only biases)"
            for (m, p, w, c), layers in sorted(emptied.items())] or ["- none: every prunable layer kept a weight"]
    return out
