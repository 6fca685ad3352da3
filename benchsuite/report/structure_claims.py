"""Published claims about structured sparsity, checked on a sweep's numbers. Every comparative word is a paired test
(see `findings`)."""
from __future__ import annotations

import pandas as pd

from .cells import Cells
from .findings import LAYER, Tally, judge, listed


def _against_unstructured(cells: Cells, rows: pd.DataFrame) -> tuple[Tally, int]:
    """Each structured cell against layer_magnitude at the compression it achieves (interpolated between the two
    compressions of layer_magnitude that bracket it), and how many cells fell outside its range."""
    comparisons = [(f"{r.method} on {r.pair} {r.weights} (x{r.compression_achieved:.2f})",
                    cells.get(r.pair, r.weights, r.method, r.compression),
                    cells.at(r.pair, r.weights, LAYER, r.compression_achieved, "compression_achieved"),
                    cells.classes[r.pair]) for r in rows.itertuples()]
    return judge(comparisons), sum(b is None for _, _, b, _ in comparisons)


def structure_claims(cells: Cells, agg: pd.DataFrame) -> list[str]:
    """N:M patterns and channel ratios against unstructured layerwise magnitude pruning (also a uniform fraction per
    layer) at the compression each achieves: a pattern leaves layers whose input size is not a multiple of M dense,
    and a channel ratio removes inputs of one layer with outputs of the other, so each is compared at its own size,
    not at its nominal ratio. The published claim is about half the weights (2:4; 4:8 keeps the same fraction);
    sparser patterns and channels are counted on lines of their own."""
    comparable = agg[agg.pair.isin(agg[agg.method == LAYER].pair)]
    patterned = comparable[comparable.method.str.contains(":")]
    channels = comparable[comparable.method.str.contains(" ch-x")]
    half = patterned.method.str.extract(r"(\d+):(\d+)$").astype(int).pipe(lambda nm: 2 * nm[0] == nm[1])
    out = []
    for rows, claim in ((patterned[half], "**Half-density N:M sparsity (2:4, 4:8) keeps the accuracy of unstructured "
                                          "pruning at the same density** (Mishra et al. 2021, for 2:4 after "
                                          "fine-tuning)"),
                        (patterned[~half], "Sparser N:M patterns against unstructured pruning at the same density"),
                        (channels, "Channel pruning against unstructured pruning at the same density")):
        if rows.empty:
            continue
        tally, outside = _against_unstructured(cells, rows)
        verdict = "reproduced" if tally.testable and not tally.lost else "not shown" if tally.lost else "untestable"
        out.append(f"- {claim} — {verdict if claim.startswith('**') else 'measured'}: each cell against {LAYER} at "
                   f"the compression the cell achieves, {tally.counts('cells')} by the structured cell"
                   + (f" ({outside} outside the compressions {LAYER} ran)" if outside else "")
                   + (f"; structure wins {listed(tally.won)}" if tally.won else "")
                   + (f"; structure loses {listed(tally.lost)}" if tally.lost else "") + ".")
    return out
