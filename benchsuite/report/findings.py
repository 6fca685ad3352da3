"""The Findings of an image leaderboard, derived from its own numbers as ShrinkBench's authors did by hand: the
published claims that hold or not here (`claims`, one verdict rule), who leads at equal size, at equal speedup and
at equal training, where rankings reverse between pairs or initial weights, where measured speed falls short of
the theoretical, where seeds disagree, and where a method emptied a whole layer.

Every comparative word is a test: "beats" means a paired test on the same test images, combined over seeds
(`stats.compare`), significant after Holm's correction over all the comparisons it belongs to; comparisons where
both sides are at chance level are left out and counted; no list is cut without saying how many more there are."""
from __future__ import annotations

import pandas as pd

from .cells import Cells, emptied_layers, shared_speedups
from .claims import baselines, shrinkbench, stages, structure
from .claims.rule import SHOWN, Claim, explanation, leader, listed, render
from .claims.shrinkbench import reversals


def claims(frame: pd.DataFrame, cells: Cells, agg: pd.DataFrame) -> dict[str, list[Claim]]:
    """The claims of each family that the leaderboard's cases can test, by section title."""
    families = {"ShrinkBench's claims": shrinkbench, "Claims about pruning at initialisation and during training":
                stages, "Claims about the baselines recent papers compare against": baselines,
                "Claims about structured sparsity": structure}
    return {title: found for title, module in families.items() if (found := module.claims(cells, agg, frame))}


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
                    for s in shared_speedups(g, curves)] if len(curves) > 1 else []
        speed = f"; best at equal speedup — {', '.join(by_speed)}." if by_speed else (
            "; the methods share no speedup range.")
        short = [f"{r.method} x{r.compression:g} ({r.compression_achieved:.2f})" for r in g[~g.at_size].itertuples()]
        apart = f" Left out at equal size, as they achieve a compression more than 5% from their column's: " \
                f"{listed(short, sep=', ')}." if short else ""
        out.append(f"- {p}, weights {w}: best at equal size — {', '.join(by_size)}{speed}{apart}")
    return out


def _lead(label: str, outcomes: dict, classes: int) -> str:
    best, tied = leader(outcomes, classes)
    return f"{label}: {best}" + (f" (tied: {', '.join(tied)})" if tied else "")


def budget_leaders(cells: Cells, agg: pd.DataFrame) -> list[str]:
    """Per pair, weights and compression: among methods that used the same training budget (within 5%), the best
    and those not significantly worse. Where every method of a (pair, weights) used one budget, one line says so."""
    out = []
    for (p, w), block in agg.groupby(["pair", "weights"]):
        groups: dict[float, list[str]] = {}
        for c, g in block[block.at_size].groupby("compression"):
            epochs = g.set_index("method")["train_epochs"].dropna().sort_values()
            bands: list[list[str]] = []
            for m, e in epochs.items():
                if bands and e <= 1.05 * epochs[bands[-1][0]]:
                    bands[-1].append(m)
                else:
                    bands.append([m])
            for band in (b for b in bands if len(b) > 1):
                best, tied = leader({m: cells.get(p, w, m, c) for m in band}, cells.classes[p])
                key = round(float(epochs[band[0]]), 1)
                groups.setdefault(key, []).append(f"x{c:g}: {best}" + (f" (tied: {', '.join(tied)})" if tied else ""))
        epochs = block["train_epochs"].dropna()
        if len(groups) == 1 and not epochs.empty and epochs.max() <= 1.05 * epochs.min():
            out.append(f"- {p}, weights {w}: every method used about {epochs.min():.0f} epochs, so the comparison "
                       f"at equal size above is also one at equal budget")
            continue
        for epochs_used, leads in sorted(groups.items()):
            out.append(f"- {p}, weights {w}, about {epochs_used:g} epochs: {'; '.join(leads)}")
    return out


def ranking(agg: pd.DataFrame) -> list[str]:
    """The methods that ran at every compression of the block, by mean rank of mean top-1 over them (best first): a
    summary, not a test."""
    wide = agg.pivot(index="compression", columns="method", values="top1")
    wide = wide.loc[:, wide.notna().all()]
    return list(wide.rank(axis=1, ascending=False).mean().sort_values().index)


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


def findings(frame: pd.DataFrame, cells: Cells, agg: pd.DataFrame, found: dict[str, list[Claim]]) -> list[str]:
    out = ["### Published claims, tested on these numbers", "", explanation("test images, combined over seeds"),
           "Their verdicts are in one table in the Summary."]
    for title, section in found.items():
        out += ["", f"### {title}", "", *render(section)]
    measured = structure.measurements(cells, agg)
    if measured:
        out += ["", "### Structured sparsity beside unstructured pruning, measured", "", *measured]
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
                       f"at all of them; not a test): {', '.join(ranking(g))}")
    methods = sorted(agg.method.unique())
    pairs = [(m1, m2) for i, m1 in enumerate(methods) for m2 in methods[i + 1:]]
    for across in ("pair", "weights"):
        result = reversals(cells, agg, pairs, across)
        if result is not None:
            facts, tally = result
            flipped = [label for label, fact in facts if fact]
            what = f"({'weights' if across == 'pair' else 'pair'}, compression) settings with several " \
                   f"{'pairs' if across == 'pair' else 'weights'}"
            out.append(f"- Between {'pairs' if across == 'pair' else 'weights'}, the order of two methods is "
                       f"significantly reversed in {len(flipped)} of {len(facts)} {what} "
                       f"({tally.counts('comparisons')})" + (f": {listed(flipped)}." if flipped else "."))
    out += ["", "### Measured speed beside theoretical speedup", "",
            "Zeros in a dense kernel save no time; a sparse kernel pays for its indices. Medians over seeds of "
            "interleaved timings (see the introduction).", "", *speed_claims(agg)]
    seeds = next((c for cs in found.values() for c in cs if c.statement == "Some settings vary a lot between seeds"),
                 None)
    spans = list(seeds.tally.won) if seeds else []
    out += ["", "### Seeds that disagree strongly", ""]
    out += [f"- {s}" for s in spans[:SHOWN]] + ([f"- and {len(spans) - SHOWN} more (see results.csv)"]
                                               if len(spans) > SHOWN else []) or ["- none"]
    tied = frame[frame.tied_rankings.map(lambda t: bool(t) and t != "[]")] if "tied_rankings" in frame else frame[:0]
    out += ["", "### Rankings that were all ties", "",
            "A method whose selection cut through scores that were all equal (over the model, or in a layer) decided "
            "nothing there: the weights it kept are the first in index order.", ""]
    out += [f"- {r.method} on {r.pair} weights {r.weights} at x{r.compression:g} seed {r.seed}: {r.tied_rankings}"
            for r in tied.itertuples()][:SHOWN] + ([f"- and {len(tied) - SHOWN} more (see results.csv)"]
                                                  if len(tied) > SHOWN else []) or ["- none"]
    out += ["", "### Layers emptied by pruning", ""]
    emptied: dict[tuple, set[str]] = {}
    for (m, p, w, c, _), layers in emptied_layers(frame).items():
        emptied.setdefault((m, p, w, c), set()).update(layers)
    out += [f"- {m} on {p} weights {w} at x{c:g}: {', '.join(sorted(layers))} (that layer passes on only biases)"
            for (m, p, w, c), layers in sorted(emptied.items())] or ["- none: every prunable layer kept a weight"]
    return out
