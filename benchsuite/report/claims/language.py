"""The published claims of post-training pruning of language models (Wanda: Sun et al. 2023; SparseGPT: Frantar &
Alistarh 2023; RIA: Zhang et al. 2024; OWL: Yin et al. 2024; ShortGPT: Men et al. 2024; FLAP: An et al. 2024),
tested on a language-model leaderboard's numbers. The outcomes are each held-out chunk's mean token loss (seeds x
chunks); a comparison "won" supports the claim, and a difference is written as the ratio of the two perplexities;
a structured method's speed is taken from its timed rounds."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ...pruning.targets import STRUCTURED
from .rule import Claim, decided, judge

MAGNITUDE = "magnitude"
UNSTRUCTURED = ("50%", "60%", "70%")
SOURCE = "Sun et al. 2023; Frantar & Alistarh 2023"
BEATS = (("ria", "wanda", ("50%", "2:4"), "Zhang et al. 2024"),  # (method, baseline, where, source)
         ("owl", "wanda", ("70%",), "Yin et al. 2024"), ("owl_sparsegpt", "sparsegpt", ("70%",), "Yin et al. 2024"))
DEPTH_WIDTH = (("shortgpt", "flap", "25%"),)  # (layers removed, heads and channels removed, where): equal parameters
STRUCTURED_SOURCE = "Men et al. 2024; An et al. 2024"
SPEEDUP = 1.2  # what removing a quarter of a model's decoder layers (or their parameters) buys at least, claimed


def faster(generation: dict, phase: str, by: float = SPEEDUP) -> bool | None:
    """Whether the pruned model ran `phase` (prefill or decode) at least `by` times faster than the dense one, on
    every pair of their timed rounds (True), on none (False), or on some (None, undecided)."""
    key = "prefill_rounds_ms" if phase == "prefill" else "decode_rounds_ms_per_token"
    dense, pruned = generation[key]["dense"], generation[key]["pruned"]
    if min(dense) / max(pruned) >= by:
        return True
    return False if max(dense) / min(pruned) < by else None


def ratio(d: float) -> str:
    """A loss difference as the ratio of perplexities it stands for."""
    return f"{math.exp(d):.2f}x"


def claims(get: Callable[[str, str, str, str], np.ndarray | None], agg: pd.DataFrame,
           frame: pd.DataFrame | None = None) -> list[Claim]:
    """`get(pair, weights, method, compression)`: the cell's losses (seeds x chunks), or None; `frame`: every case's
    row (for the measured speed of structured methods)."""
    out = []
    blocks = agg[["pair", "weights"]].drop_duplicates()
    for pair, weights in blocks.itertuples(index=False):
        block = agg[(agg.pair == pair) & (agg.weights == weights)]
        cell = lambda m, c: get(pair, weights, m, c)  # noqa: E731
        prefix = f"{pair} {weights}: " if len(blocks) > 1 else ""
        others = sorted(set(block[~block.target.isin(STRUCTURED)].method) - {MAGNITUDE})  # that mask

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
        for depth, width, c in DEPTH_WIDTH:
            claim(f"removing whole layers ({depth}) costs more perplexity than removing heads and channels ({width}) "
                  f"of as many parameters, at {c}", [(c, cell(depth, c), cell(width, c), None)], "comparisons", width,
                  "Removing layers costs more than removing heads and channels",
                  f"won: {depth}'s perplexity / {width}'s", STRUCTURED_SOURCE)
        rows = pd.DataFrame() if frame is None else frame[(frame.pair == pair) & (frame.weights == weights)]
        for (m, c), g in rows[rows.target.isin(STRUCTURED)].groupby(["method", "compression"]) \
                if len(rows) else ():
            facts = [(f"{phase} seed {r.seed}", faster(r.generation, phase)) for r in g.itertuples()
                     for phase in ("prefill", "decode")]
            out.append(Claim(f"{prefix}{m} at {c} runs prefill and decode at least {SPEEDUP}x faster than the dense "
                             f"model", STRUCTURED_SOURCE, "all", decided(facts), "timed cases (prefill, decode)", m,
                             f"won: every timed round of the pruned model at least {SPEEDUP}x faster than every round "
                             f"of the dense model; lost: no pair of rounds is; undecided: some are",
                             f"{prefix}Structured pruning runs at least {SPEEDUP}x faster", ratio))
        for m in sorted(set(block.method)):
            claim(f"2:4 costs {m} more than 50% unstructured", [("2:4 vs 50%", cell(m, "2:4"), cell(m, "50%"), None)],
                  "comparisons", "50% unstructured", "2:4 costs more than 50% unstructured",
                  "won: 2:4's perplexity / 50%'s")
        for m in sorted(set(block.method)):
            claim(f"4:8 costs {m} less than 2:4", [("2:4 vs 4:8", cell(m, "2:4"), cell(m, "4:8"), None)],
                  "comparisons", "4:8", "4:8 costs less than 2:4", "won: 2:4's perplexity / 4:8's")
    return out
