"""Start-up checks of a session's inputs: every selected pair's data and every checkpoint file, once, before any case
runs, so that a missing dataset or a broken checkpoint stops the session with one message instead of failing each case
with the same error (or, worse, running on a model of NaNs)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..data.images import CLASSES
from ..data.images import missing as missing_images
from ..data.text import missing as missing_text
from ..plan.cases import Case
from ..plan.pairs import PackagedFile, TextPair, WeightsFile, get_pair
from .weights import check_checkpoint


def problems(cases: Iterable[Case], data_root: str | Path | None) -> list[str]:
    """One line per problem with the data or the checkpoints the cases need (none: the session may run)."""
    root = data_root or os.environ.get("BENCHSUITE_DATA")
    out, seen = [], set()
    for case in cases:
        pair = get_pair(case.pair)
        data = ("text", pair.text) if isinstance(pair, TextPair) else ("images", pair.dataset)
        if data not in seen:
            seen.add(data)
            lacking = missing_text(pair.text, root) if data[0] == "text" else missing_images(pair.dataset, root)
            out += [f"{data[1]}, for pair {pair.name}: missing {', '.join(lacking)}"] if lacking else []
        source = pair.source(case.weights)
        if (case.pair, case.weights) in seen or not isinstance(source, (WeightsFile, PackagedFile)):
            continue
        seen.add((case.pair, case.weights))
        try:
            if isinstance(pair, TextPair):
                from .language import model_file

                model_file(source)
            else:
                check_checkpoint(pair, case.weights, CLASSES[pair.dataset])
        except (ValueError, FileNotFoundError) as e:
            out.append(str(e))
    return out
