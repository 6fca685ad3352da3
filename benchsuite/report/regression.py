"""Regression check for method repositories: is a method that ran significantly worse than a committed reference
(the `results.csv` of a leaderboard)?

It decides on the validation split, never on the test split: a method author who iterates until the check passes
would otherwise be tuning on the test set. Test top-1 is reported beside, for the reader.

For each method that ran, per (pair, weights, compression, N:M pattern): the reference is the method's own rows in
the file when they come from an older version of it, else the rows of the reference method (never the method
itself). A method whose current version is already in the file is unchanged and not compared. The comparison is the
paired test of `stats.compare` on the validation images (per-example outcomes in `val_correct`), one-sided,
Holm-corrected over all the comparisons of the check at 5%. A method that needs a comparison and finds no comparable
rows fails the check: a check that compares nothing must not pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..pruning.methods import get_method, list_methods
from ..run.store import unpack
from .stats import ALPHA, compare, holm

KEYS = ["pair", "weights", "compression", "pattern", "budget"]
NEEDED = {"method", "method_version", "pair", "weights", "compression", "seed", "top1", "val_top1", "val_correct",
          "n_val"}


@dataclass
class Verdict:
    failed: bool = False
    lines: list[str] = field(default_factory=list)


def read_reference(path: Path) -> pd.DataFrame:
    """The reference rows, read once, before the session writes anything."""
    if not path.is_file():
        raise FileNotFoundError(f"--compare-to {path}: no such file; pass the results.csv of a leaderboard")
    ref = pd.read_csv(path)
    if "perplexity" in ref.columns:
        raise ValueError(f"--compare-to {path}: a language-model leaderboard; the regression check compares top-1 on "
                         f"the validation images of image pairs, and has no check of perplexity yet")
    missing = sorted(NEEDED - set(ref.columns))
    if missing:
        raise ValueError(f"--compare-to {path}: the file lacks columns {missing}; it was written by an older "
                         f"benchsuite or is not a leaderboard's results.csv; regenerate the reference leaderboard")
    return ref


def changed_methods(ref: pd.DataFrame) -> set[str]:
    """Registered methods that the reference lacks, or whose current version it does not hold."""
    versions = ref.groupby("method")["method_version"].agg(set).to_dict()
    return {m for m in list_methods() if get_method(m).version not in versions.get(m, set())}


def _outcomes(rows: pd.DataFrame) -> np.ndarray:
    return np.stack([unpack(b, n) for b, n in zip(rows.val_correct, rows.n_val)])


def _patterned(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row with its N:M pattern and its budget ("" for a ratio or the stage's own budget: read back from a csv
    as NaN, or absent from older files)."""
    return frame.assign(**{k: frame[k].fillna("") if k in frame else "" for k in ("pattern", "budget")})


def check(ran: pd.DataFrame, ref: pd.DataFrame, reference_method: str) -> Verdict:
    verdict = Verdict()
    ran, ref = _patterned(ran), _patterned(ref)
    if ran.empty:
        verdict.lines.append("regression check: no method ran, nothing to compare")
        return verdict
    if "perplexity" in ran:
        return Verdict(True, ["regression check: language-model cases ran; the check compares top-1 on the "
                              "validation images of image pairs, and has no check of perplexity yet"])
    unchanged = {m for m in ran.method.unique() if m not in changed_methods(ref)}
    for m in sorted(unchanged):
        verdict.lines.append(f"regression check: {m} is unchanged since the reference (version "
                             f"{get_method(m).version}): not compared")
    tests = []
    for (method, *key), new in ran[~ran.method.isin(unchanged)].groupby(["method", *KEYS]):
        where = np.logical_and.reduce([ref[k] == v for k, v in zip(KEYS, key)])
        label = f"{method} on {key[0]} {key[1]} {key[3] or f'x{key[2]:g}'}" + (f" [{key[4]}]" if key[4] else "")
        own = ref[where & (ref.method == method)]
        base_name = method if len(own) else reference_method
        base = own if len(own) else ref[where & (ref.method == reference_method) & (reference_method != method)]
        if base.empty or int(base.n_val.iloc[0]) != int(new.n_val.iloc[0]):
            verdict.failed = True
            verdict.lines.append(f"regression check: {label}: the reference holds no comparable rows (of {method} or "
                                 f"{reference_method}, on the same validation images): FAILED, nothing was compared")
            continue
        c = compare(_outcomes(new), _outcomes(base))
        p_worse = c.p_below(0.0)
        tests.append((label, base_name, new, base, c, p_worse))
    for (label, base_name, new, base, c, p), worse in zip(tests, holm([t[-1] for t in tests])):
        verdict.failed |= worse
        verdict.lines.append(
            f"regression check: {label} vs {base_name}: validation top-1 {new.val_top1.mean() * 100:.2f} vs "
            f"{base.val_top1.mean() * 100:.2f} ({c.difference * 100:+.2f} pts, one-sided p={p:.3g}, n={len(new)} vs "
            f"{len(base)} seeds); test top-1 {new.top1.mean() * 100:.2f} vs {base.top1.mean() * 100:.2f}"
            + (f" REGRESSION (Holm at {ALPHA:.0%})" if worse else " ok"))
    return verdict
