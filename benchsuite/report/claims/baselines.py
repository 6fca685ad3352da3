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
from .rule import Claim
from .stages import HIGH, MARGIN, versus, epochs

TEN = 10  # "x10 and above": Evci et al. 2020 compare at 90% sparsity and above


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
                             versus(cells, agg, a, b, test, minimum)[0], "settings", a,
                             note=f"{margin}{a} trains {epochs(agg, a)}, {b} {epochs(agg, b)}", group=group))
    return out
