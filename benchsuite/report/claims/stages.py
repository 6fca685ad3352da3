"""Published claims about the stages at which methods act, tested at equal training: pruning at initialisation
beats random pruning at initialisation but falls short of magnitude pruning after training (Frankle et al. 2021),
iterative magnitude pruning matches or beats one-shot magnitude pruning at high compression (Frankle et al. 2020,
Renda et al. 2020), and SynFlow empties no layer while SNIP may (Tanaka et al. 2020).

Each comparison of two stages is made twice where the sweep has the cases for it: at equal training under the mask
(both train the dense recipe's length under their final masks) and at equal total training (from a random
initialisation, within 10%)."""
from __future__ import annotations

import pandas as pd

from ..cells import Cells, emptied_layers
from .rule import Claim, decided, judge

AT_INIT = ("snip", "grasp", "synflow")
ITERATIVE = ("imp", "imp_lr")
HIGH = 16  # "high compression": x16 and above
MARGIN = 0.01  # "matches": within 1 point of top-1
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


def _versus(cells: Cells, agg: pd.DataFrame, a: str, b: str, test: str = "beats", minimum: float = 1):
    return judge(((f"{p} {w} x{c:g}", cells.get(p, w, a, c), cells.get(p, w, b, c), cells.classes[p])
                  for p, w, c in _settings(agg, a, b, minimum=minimum)), test, MARGIN)


def claims(cells: Cells, agg: pd.DataFrame, frame: pd.DataFrame) -> list[Claim]:
    present = set(agg.method)
    init = [m for m in AT_INIT if m in present]
    out = []
    if "random_init" in present:
        out += [Claim(f"{m} beats random pruning at initialisation", "Frankle et al. 2021", "all",
                      _versus(cells, agg, m, "random_init"), "settings", m,
                      note=f"both train the dense recipe from the initialisation under their masks, "
                           f"{epochs(agg, m)}",
                      group="Pruning at initialisation beats random pruning at initialisation")
                for m in init]
    group = "...but falls short of magnitude pruning after training (Frankle et al. 2021)"
    for baseline, when in ((FULL, "at equal training under the mask"), (GLOBAL, "at equal total training")):
        if baseline in present:
            out += [Claim(f"{baseline} beats {m} {when}", "Frankle et al. 2021", "all",
                          _versus(cells, agg, baseline, m), "settings", baseline,
                          note=f"{baseline} {epochs(agg, baseline)} from a random initialisation, {m} "
                               f"{epochs(agg, m)}", group=group)
                    for m in init]
    for m in (m for m in ITERATIVE if m in present):
        rewinds = "weights to an early step" if m == "imp" else "the learning rate"
        for baseline, when in ((LIKE_IMP, "at equal total training"), (FULL, "at equal training under the final mask")):
            if baseline not in present:
                continue
            out.append(Claim(f"{m} matches or beats one-shot {baseline} at x{HIGH} and above, {when}",
                             "Frankle et al. 2020, Renda et al. 2020", "all",
                             _versus(cells, agg, m, baseline, "matches or beats", minimum=HIGH), "settings", m,
                             note=f"within {MARGIN * 100:g} point of top-1; {m} rewinds {rewinds} and retrains "
                                  f"{epochs(agg, m)} in all, {baseline} {epochs(agg, baseline)}; on recipes without a "
                                  f"learning-rate schedule (Adam at a constant rate), imp_lr is iterative pruning with "
                                  f"full retraining", group="Iterative magnitude pruning matches or beats one-shot "
                                                            "magnitude pruning at high compression"))
    if "synflow" in present and "snip" in present:
        out.append(_layer_collapse(frame))
    return out


def _layer_collapse(frame: pd.DataFrame) -> Claim:
    """SynFlow empties no layer while SNIP may: each setting where SNIP emptied a layer supports it if SynFlow kept
    every layer there; a SynFlow case that emptied a layer goes against it. Without either, it is untestable."""
    emptied = emptied_layers(frame)
    settings = lambda m: {(p, w, c) for (mm, p, w, c, _) in emptied if mm == m}  # noqa: E731
    snip, flow = settings("snip"), settings("synflow")
    facts = [(f"{p} {w} x{c:g}: snip emptied a layer, synflow kept every one", (p, w, c) not in flow)
             for p, w, c in sorted(snip)]
    facts += [(f"{p} {w} x{c:g}: synflow emptied {', '.join(layers)} (seed {s})", False)
              for (m, p, w, c, s), layers in sorted(emptied.items()) if m == "synflow" and (p, w, c) not in snip]
    n = lambda m: int((frame.method == m).sum())  # noqa: E731
    return Claim("SynFlow empties no layer below its maximum compression, while SNIP may", "Tanaka et al. 2020", "all",
                 decided(facts), "settings where either emptied a layer",
                 note=f"of {n('snip')} snip and {n('synflow')} synflow cases, {len(snip)} and {len(flow)} settings "
                      f"with an emptied layer")
