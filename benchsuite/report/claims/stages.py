"""Published claims about the stages at which methods act, tested at equal training: pruning at initialisation
beats random pruning at initialisation but falls short of magnitude pruning after training (Frankle et al. 2021),
iterative magnitude pruning matches or beats one-shot magnitude pruning at high compression (Frankle et al. 2020,
Renda et al. 2020), and SynFlow empties no layer while SNIP may (Tanaka et al. 2020).

Each comparison of two stages is made twice where the sweep has the cases for it: at equal training under the mask
(both train the dense recipe's length under their final masks) and at equal total training (from a random
initialisation; a setting whose two sides' training differs by more than 10% is left out and counted)."""
from __future__ import annotations

import pandas as pd

from ..cells import Cells, emptied_layers
from .rule import Claim, Tally, decided, judge

AT_INIT = ("snip", "grasp", "synflow")
ITERATIVE = ("imp", "imp_lr")
HIGH = 16  # "high compression": x16 and above
MARGIN = 0.01  # "matches": within 1 point of top-1
EQUAL = 0.10  # "equal total training": within 10%
GLOBAL = "global_magnitude"
FULL, LIKE_IMP = f"{GLOBAL} [full]", f"{GLOBAL} [like-imp_lr]"


def _settings(agg: pd.DataFrame, *methods: str, minimum: float = 1) -> list[tuple[str, str, float]]:
    """(pair, weights, compression) where every one of `methods` ran, at `minimum` compression or more."""
    return [(p, w, c) for (p, w, c), g in agg.groupby(["pair", "weights", "compression"])
            if c >= minimum and set(methods) <= set(g.method)]


def epochs(agg: pd.DataFrame, method: str) -> str:
    """The training a method's cells used, in epochs from one origin: one number or a range."""
    used = agg[agg.method == method]["train_epochs"].dropna()
    if used.empty:
        return "an unknown budget"
    lo, hi = used.min(), used.max()
    return f"{lo:.0f} epochs" if round(lo) == round(hi) else f"{lo:.0f} to {hi:.0f} epochs"


def versus(cells: Cells, agg: pd.DataFrame, a: str, b: str, test: str = "beats", minimum: float = 1,
            equal: bool = False) -> tuple[Tally, int]:
    """a against b in every setting where both ran (at `minimum` compression or more); with `equal`, only where their
    training from one origin differs by at most EQUAL. Returns the tally and how many settings that left out."""
    epochs = agg.set_index(["pair", "weights", "compression", "method"])["train_epochs"]
    settings, apart = [], 0
    for p, w, c in _settings(agg, a, b, minimum=minimum):
        ea, eb = epochs[(p, w, c, a)], epochs[(p, w, c, b)]
        if equal and not abs(ea - eb) <= EQUAL * min(ea, eb):  # unknown budgets (NaN) are not equal either
            apart += 1
        else:
            settings.append((p, w, c))
    return judge(((f"{p} {w} x{c:g}", cells.get(p, w, a, c), cells.get(p, w, b, c), cells.classes[p])
                  for p, w, c in settings), test, MARGIN), apart


def _apart(n: int) -> str:
    return f"; {n} settings left out, their training more than {EQUAL:.0%} apart" if n else ""


def claims(cells: Cells, agg: pd.DataFrame, frame: pd.DataFrame) -> list[Claim]:
    present = set(agg.method)
    init = [m for m in AT_INIT if m in present]
    out = []
    if "random_init" in present:
        out += [Claim(f"{m} beats random pruning at initialisation", "Frankle et al. 2021", "all",
                      versus(cells, agg, m, "random_init")[0], "settings", m,
                      note=f"both train the dense recipe from the initialisation under their masks, "
                           f"{epochs(agg, m)}",
                      group="Pruning at initialisation beats random pruning at initialisation")
                for m in init]
    group = "...but falls short of magnitude pruning after training (Frankle et al. 2021)"
    for baseline, when in ((FULL, "at equal training under the mask"), (GLOBAL, "at equal total training")):
        if baseline not in present:
            continue
        for m in init:
            tally, apart = versus(cells, agg, baseline, m, equal=baseline == GLOBAL)
            out.append(Claim(f"{baseline} beats {m} {when}", "Frankle et al. 2021", "all", tally, "settings",
                             baseline, note=f"{baseline} {epochs(agg, baseline)} from a random initialisation, {m} "
                                            f"{epochs(agg, m)}{_apart(apart)}", group=group))
    for m in (m for m in ITERATIVE if m in present):
        rewinds = "weights to an early step" if m == "imp" else "the learning rate"
        for baseline, when in ((LIKE_IMP, "at equal total training"), (FULL, "at equal training under the final mask")):
            if baseline not in present:
                continue
            tally, apart = versus(cells, agg, m, baseline, "matches or beats", HIGH, equal=baseline == LIKE_IMP)
            out.append(Claim(f"{m} matches or beats one-shot {baseline} at x{HIGH} and above, {when}",
                             "Frankle et al. 2020, Renda et al. 2020", "all", tally, "settings", m,
                             note=f"within {MARGIN * 100:g} point of top-1; {m} rewinds {rewinds} and retrains "
                                  f"{epochs(agg, m)} in all, {baseline} {epochs(agg, baseline)}{_apart(apart)}; on "
                                  f"recipes without a "
                                  f"learning-rate schedule (Adam at a constant rate), imp_lr is iterative pruning with "
                                  f"full retraining", group="Iterative magnitude pruning matches or beats one-shot "
                                                            "magnitude pruning at high compression"))
    if "synflow" in present and "snip" in present:
        out.append(_layer_collapse(frame))
    return out


def _layer_collapse(frame: pd.DataFrame) -> Claim:
    """SynFlow empties no layer while SNIP may (Tanaka et al. 2020): in each (pair, weights, compression) setting where
    both ran and either emptied a layer in some seed, the claim is supported if SNIP emptied one and SynFlow none, and
    goes against it if SynFlow emptied one. Without such a setting, it is untestable here."""
    emptied = emptied_layers(frame)
    ran = lambda m: set(frame[frame.method == m][["pair", "weights", "compression"]].itertuples(index=False,  # noqa: E731
                                                                                               name=None))
    settings = lambda m: {(p, w, c) for (mm, p, w, c, _) in emptied if mm == m}  # noqa: E731
    snip, flow = settings("snip"), settings("synflow")
    facts = []
    for p, w, c in sorted((snip | flow) & ran("snip") & ran("synflow")):
        layers = sorted({layer for (m, pp, ww, cc, _), ls in emptied.items() for layer in ls
                         if (m, pp, ww, cc) == ("synflow", p, w, c)})
        facts.append((f"{p} {w} x{c:g}: " + (f"synflow emptied {', '.join(layers)}" if layers else
                                             "snip emptied a layer, synflow kept every one"), not layers))
    return Claim("SynFlow empties no layer, while SNIP may", "Tanaka et al. 2020", "all", decided(facts),
                 "settings where either emptied a layer", note=f"{len(snip)} settings where snip emptied a layer in "
                 f"some seed, {len(flow)} where synflow did")
