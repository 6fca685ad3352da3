"""The published claim about structured sparsity, tested on a leaderboard's numbers, and the measurements beside it:
each N:M or channel cell against unstructured layerwise magnitude pruning (also a uniform fraction per layer) at the
compression the cell achieves (a pattern leaves layers whose input size is not a multiple of M dense; a channel ratio
removes a layer's inputs with its neighbour's outputs), interpolated between the two compressions of layer_magnitude
that bracket it."""
from __future__ import annotations

import pandas as pd

from ..cells import Cells
from .rule import Claim, Tally, judge, listed, points

LAYER = "layer_magnitude"
MARGIN = 0.01  # "keeps the accuracy": no more than 1 point of top-1 below


def _against_unstructured(cells: Cells, rows: pd.DataFrame, test: str) -> tuple[Tally, int]:
    """Each structured cell against layer_magnitude at the compression it achieves, and how many cells fell outside
    the compressions layer_magnitude ran."""
    comparisons = [(f"{r.method} on {r.pair} {r.weights} (x{r.compression_achieved:.2f})",
                    cells.get(r.pair, r.weights, r.method, r.compression),
                    cells.at(r.pair, r.weights, LAYER, r.compression_achieved, "compression_achieved"),
                    cells.classes[r.pair]) for r in rows.itertuples()]
    return judge(comparisons, test, MARGIN), sum(b is None for _, _, b, _ in comparisons)


def _split(agg: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Half-density N:M cells, sparser N:M cells and channel cells of the pairs where layer_magnitude ran."""
    comparable = agg[agg.pair.isin(agg[agg.method == LAYER].pair)]
    patterned = comparable[comparable.method.str.contains(r"\d:\d")]
    channels = comparable[comparable.method.str.contains(" ch-x")]
    half = patterned.method.str.extract(r"(\d+):(\d+)").astype(int).pipe(lambda nm: 2 * nm[0] == nm[1])
    return patterned[half], patterned[~half], channels


def claims(cells: Cells, agg: pd.DataFrame, frame: pd.DataFrame) -> list[Claim]:
    half = _split(agg)[0]
    if half.empty:
        return []
    tally, outside = _against_unstructured(cells, half, "matches or beats")
    return [Claim("Half-density N:M sparsity (2:4, 4:8) keeps the accuracy of unstructured pruning at the same density",
                  "Mishra et al. 2021, for 2:4 after fine-tuning", "all", tally, "cells",
                  note=f"each cell against {LAYER} at the compression it achieves: no more than {MARGIN * 100:g} point "
                       f"of top-1 below it" + (f"; {outside} outside the compressions {LAYER} ran" if outside else ""))]


def measurements(cells: Cells, agg: pd.DataFrame) -> list[str]:
    """Sparser N:M patterns and channel pruning against unstructured pruning at the same density: measured, not a
    claim (differences significant at 5% with Holm, either way)."""
    out, (_, sparser, channels) = [], _split(agg)
    for rows, what in ((sparser, "Sparser N:M patterns"), (channels, "Channel pruning")):
        if rows.empty:
            continue
        tally, outside = _against_unstructured(cells, rows, "beats")
        out.append(f"- {what} against {LAYER} at the compression each cell achieves (measured): "
                   f"{tally.counts('cells')} by the structured cell"
                   + (f" ({outside} outside the compressions {LAYER} ran)" if outside else "")
                   + (f"; better: {listed(tally.won, points)}" if tally.won else "")
                   + (f"; worse: {listed(tally.lost, points)}" if tally.lost else "") + ".")
    return out
