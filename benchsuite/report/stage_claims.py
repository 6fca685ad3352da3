"""Published claims about the stages at which methods act, checked on a sweep's numbers, and the comparison of
methods at equal training budget. Every comparative word is a paired test (see `findings`)."""
from __future__ import annotations

import pandas as pd

from .cells import Cells
from .findings import GLOBAL, emptied_layers, judge, leader, listed

AT_INIT = ("snip", "grasp", "synflow")
ITERATIVE = ("imp", "imp_lr")
HIGH = 16  # "high compression": x16 and above


def _settings(agg: pd.DataFrame, *methods: str, minimum: float = 1) -> list[tuple[str, str, float]]:
    """(pair, weights, compression) where every one of `methods` ran, at `minimum` compression or more."""
    out = []
    for (p, w, c), g in agg.groupby(["pair", "weights", "compression"]):
        if c >= minimum and set(methods) <= set(g.method):
            out.append((p, w, c))
    return out


def _budget(agg: pd.DataFrame, method: str) -> str:
    epochs = agg[agg.method == method]["train_epochs"].dropna()
    if epochs.empty:
        return "an unknown budget"
    lo, hi = epochs.min(), epochs.max()
    return f"{lo:.0f} epochs" if round(lo) == round(hi) else f"{lo:.0f} to {hi:.0f} epochs"


def stage_claims(cells: Cells, agg: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    out = []
    present = set(agg.method)
    init = [m for m in AT_INIT if m in present]
    if init and "random_init" in present:
        tally = judge((f"{m} on {p} {w} x{c:g}", cells.get(p, w, m, c), cells.get(p, w, "random_init", c),
                       cells.classes[p]) for m in init for p, w, c in _settings(agg, m, "random_init"))
        verdict = "reproduced" if len(tally.won) > len(tally.lost) else "not shown"
        out.append(f"- **Pruning at initialisation beats random pruning at initialisation** (Frankle et al. 2021) — "
                   f"{verdict}: {', '.join(init)} against random_init, {tally.counts('comparisons')} by the method"
                   + (f"; random_init wins {listed(tally.lost)}." if tally.lost else "."))
    if init and GLOBAL in present:
        tally = judge((f"{GLOBAL} vs {m} on {p} {w} x{c:g}", cells.get(p, w, GLOBAL, c), cells.get(p, w, m, c),
                       cells.classes[p]) for m in init for p, w, c in _settings(agg, m, GLOBAL))
        verdict = "reproduced" if len(tally.won) > len(tally.lost) else "not shown"
        out.append(f"- **...but falls short of magnitude pruning after training** (Frankle et al. 2021) — {verdict}: "
                   f"{GLOBAL} (after training, {_budget(agg, GLOBAL)}) against {', '.join(init)} (at initialisation, "
                   f"{_budget(agg, init[0])}; they train the whole dense recipe under their masks, {GLOBAL} only the "
                   f"pair's fine-tuning), {tally.counts('comparisons')} by {GLOBAL}"
                   + (f"; it loses {listed(tally.lost)}." if tally.lost else "."))
    for m in (m for m in ITERATIVE if m in present and GLOBAL in present):
        settings = _settings(agg, m, GLOBAL, minimum=HIGH)
        if not settings:
            continue
        tally = judge((f"{p} {w} x{c:g}", cells.get(p, w, m, c), cells.get(p, w, GLOBAL, c), cells.classes[p])
                      for p, w, c in settings)
        verdict = "reproduced" if tally.testable and not tally.lost else "not shown" if tally.lost else "untestable"
        out.append(f"- **Iterative magnitude pruning ({m}) matches or beats one-shot magnitude pruning at high "
                   f"compression** (x{HIGH} and above; Frankle et al. 2020, Renda et al. 2020) — {verdict}: "
                   f"{tally.counts('settings')} by {m}, at {_budget(agg, m)} against {_budget(agg, GLOBAL)}"
                   + (f"; {GLOBAL} wins {listed(tally.lost)}." if tally.lost else "."))
    if "synflow" in present:
        emptied = _emptied(frame)
        flow = emptied.get("synflow", [])
        snip = emptied.get("snip", [])
        verdict = "reproduced" if not flow else "not shown"
        out.append(f"- **SynFlow empties no layer below its maximum compression, while SNIP may** (Tanaka et al. "
                   f"2020) — {verdict}: synflow emptied a whole layer in {len(flow)} of "
                   f"{int((frame.method == 'synflow').sum())} cases"
                   + (f" ({listed(flow)})" if flow else "")
                   + (f"; snip in {len(snip)} of {int((frame.method == 'snip').sum())}"
                      + (f" ({listed(snip)})" if snip else "") if "snip" in present else "") + ".")
    return out


def _emptied(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per method, the cases that left a prunable layer with no weight."""
    out: dict[str, list[str]] = {}
    for (m, p, _, c, seed), layers in emptied_layers(frame).items():
        out.setdefault(m, []).append(f"{p} x{c:g} s{seed}: {', '.join(layers)}")
    return out


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
