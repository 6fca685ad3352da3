"""Published claims about the baselines recent papers compare against, tested at each method's own training: dynamic
sparse training (RigL) beats pruning at initialisation and random pruning with the same layer densities at x10 and
above (Evci et al. 2020), SET falls between random pruning and RigL (Evci et al. 2020), LAMP matches or beats global
magnitude pruning at x16 and above (Lee et al. 2021), and random pruning with ERK layer densities beats uniform random
pruning at initialisation at high compression (Liu et al. 2022). RigL, SET and pruning at initialisation all train
the dense recipe's length from the initialisation under their masks; LAMP and global magnitude pruning share the
pair's fine-tuning after training."""
from __future__ import annotations

import pandas as pd

from ..cells import Cells
from .rule import Claim, judge
from .stages import MARGIN, epochs

TEN, HIGH = 10, 16  # "x10 and above" (Evci et al. 2020 report 80-90% sparsity), "high compression"


def _tally(cells: Cells, agg: pd.DataFrame, a: str, b: str, test: str, minimum: float):
    """a against b in every (pair, weights, compression) where both ran, at `minimum` compression or more."""
    settings = [(p, w, c) for (p, w, c), g in agg.groupby(["pair", "weights", "compression"])
                if c >= minimum and {a, b} <= set(g.method)]
    return judge(((f"{p} {w} x{c:g}", cells.get(p, w, a, c), cells.get(p, w, b, c), cells.classes[p])
                  for p, w, c in settings), test, MARGIN)


def claims(cells: Cells, agg: pd.DataFrame, frame: pd.DataFrame) -> list[Claim]:
    present = set(agg.method)
    rigl = "RigL beats pruning at initialisation and random pruning with ERK densities at x10 and above"
    between = "SET falls between random pruning and RigL"
    lamp = "LAMP matches or beats global magnitude pruning at high compression"
    erk = "Random pruning with ERK densities beats uniform random pruning at initialisation at high compression"
    rules = [("rigl", "snip", "beats", TEN, "Evci et al. 2020", rigl),
             ("rigl", "random_erk_init", "beats", TEN, "Evci et al. 2020", rigl),
             ("set", "random_erk_init", "beats", TEN, "Evci et al. 2020", between),
             ("rigl", "set", "beats", TEN, "Evci et al. 2020", between),
             ("lamp", "global_magnitude", "matches or beats", HIGH, "Lee et al. 2021", lamp),
             ("random_erk_init", "random_init", "beats", HIGH, "Liu et al. 2022", erk)]
    out = []
    for a, b, test, minimum, source, group in rules:
        if {a, b} <= present:
            margin = f"within {MARGIN * 100:g} point of top-1; " if test != "beats" else ""
            out.append(Claim(f"{a} {test} {b} at x{minimum} and above", source, "all",
                             _tally(cells, agg, a, b, test, minimum), "settings", a,
                             note=f"{margin}{a} trains {epochs(agg, a)}, {b} {epochs(agg, b)}", group=group))
    return out
