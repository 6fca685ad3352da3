"""The published claims of post-training pruning of language models (Wanda: Sun et al. 2023; SparseGPT: Frantar &
Alistarh 2023; RIA: Zhang et al. 2024; OWL: Yin et al. 2024), tested on a language-model leaderboard's numbers. The
outcomes are each held-out chunk's mean token loss (seeds x chunks); a comparison "won" supports the claim, and a
difference is written as the ratio of the two perplexities."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from .rule import Claim, judge

MAGNITUDE = "magnitude"
UNSTRUCTURED = ("50%", "60%", "70%")
SOURCE = "Sun et al. 2023; Frantar & Alistarh 2023"
BEATS = (("ria", "wanda", ("50%", "2:4"), "Zhang et al. 2024"),  # (method, baseline, where, source)
         ("owl", "wanda", ("70%",), "Yin et al. 2024"))


def ratio(d: float) -> str:
    """A loss difference as the ratio of perplexities it stands for."""
    return f"{math.exp(d):.2f}x"


def claims(get: Callable[[str, str, str, str], np.ndarray | None], agg: pd.DataFrame) -> list[Claim]:
    """`get(pair, weights, method, compression)`: the cell's losses (seeds x chunks), or None."""
    out = []
    blocks = agg[["pair", "weights"]].drop_duplicates()
    for pair, weights in blocks.itertuples(index=False):
        block = agg[(agg.pair == pair) & (agg.weights == weights)]
        cell = lambda m, c: get(pair, weights, m, c)  # noqa: E731
        prefix = f"{pair} {weights}: " if len(blocks) > 1 else ""
        others = sorted(set(block.method) - {MAGNITUDE})

        def gap(m: str, c: str) -> np.ndarray | None:
            a, b = cell(MAGNITUDE, c), cell(m, c)
            return None if a is None or b is None else a.mean(0) - b  # magnitude draws nothing: one seed

        def claim(statement: str, comparisons, what: str, by: str, group: str, note: str = "",
                  source: str = SOURCE) -> None:
            """A claim, if any of its comparisons has both sides here."""
            comparisons = [c for c in comparisons if c[1] is not None and c[2] is not None]
            if comparisons:
                out.append(Claim(prefix + statement, source, "all", judge(comparisons, proportion=False), what, by,
                                 note, prefix + group, ratio))

        for m in others:
            claim(f"{m} has a lower perplexity than magnitude pruning at 50% and at 2:4",
                  ((c, cell(MAGNITUDE, c), cell(m, c), None) for c in ("50%", "2:4")), "sparsities", m,
                  "Wanda and SparseGPT beat magnitude pruning at 50% and at 2:4",
                  "won: magnitude's perplexity / the method's")
        for m, base, where, source in BEATS:
            claim(f"{m} has a lower perplexity than {base} at {' and at '.join(where)}",
                  ((c, cell(base, c), cell(m, c), None) for c in where), "sparsities", m,
                  f"{m} beats {base}", f"won: {base}'s perplexity / {m}'s", source)
        for m in others:
            claim(f"{m}'s gap to magnitude pruning grows with sparsity",
                  ((f"{lo}->{hi}", gap(m, hi), gap(m, lo), None) for lo, hi in zip(UNSTRUCTURED, UNSTRUCTURED[1:])),
                  "steps (50->60%, 60->70%)", m, "The gap to magnitude pruning grows with sparsity",
                  "won: the ratio of the two gaps' perplexity ratios")
        for m in sorted(set(block.method)):
            claim(f"2:4 costs {m} more than 50% unstructured", [("2:4 vs 50%", cell(m, "2:4"), cell(m, "50%"), None)],
                  "comparisons", "50% unstructured", "2:4 costs more than 50% unstructured",
                  "won: 2:4's perplexity / 50%'s")
        for m in sorted(set(block.method)):
            claim(f"4:8 costs {m} less than 2:4", [("2:4 vs 4:8", cell(m, "2:4"), cell(m, "4:8"), None)],
                  "comparisons", "4:8", "4:8 costs less than 2:4", "won: 2:4's perplexity / 4:8's")
    return out
