"""Regression check for method repositories: is a method that ran significantly worse than the committed
leaderboard?

Rule, per (pair, weights, compression): the method's top-1 over its seeds is compared with the reference's seeds
in the committed `results.csv` (the method's own rows when it is there with the same ratios, else those of the
reference method). It is a regression when the mean drops by at least MIN_DROP and Welch's one-sided t-test says
the drop is unlikely to be seed noise (p < ALPHA). Welch's test uses each side's own seed variance, so noisy
settings need a larger drop; with no variance on either side the drop alone decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..pruning.methods import get_method, list_methods

ALPHA = 0.01
MIN_DROP = 0.005  # half a point of top-1
KEYS = ["pair", "weights", "compression"]


@dataclass
class Verdict:
    failed: bool = False
    lines: list[str] = field(default_factory=list)


def _reference(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"--compare-to {path}: no such file; pass the results.csv of a leaderboard")
    return pd.read_csv(path)


def changed_methods(path: Path) -> set[str]:
    """Registered methods that the reference file lacks, or whose source fingerprint differs from it."""
    ref = _reference(path)
    versions = ref.groupby("method")["method_version"].agg(set).to_dict()
    return {m for m in list_methods() if get_method(m).version not in versions.get(m, set())}


def check(ran: pd.DataFrame, path: Path, reference_method: str) -> Verdict:
    ref, verdict = _reference(path), Verdict()
    if ran.empty:
        verdict.lines.append("regression check: no stored result to compare")
        return verdict
    for (method, *key), new in ran.groupby(["method", *KEYS]):
        where = dict(zip(KEYS, key))
        mask = np.logical_and.reduce([ref[k] == v for k, v in where.items()])
        base_name = method if ((ref.method == method) & mask).any() else reference_method
        base = ref[(ref.method == base_name) & mask]["top1"].to_numpy()
        label = f"{method} on {where['pair']} {where['weights']} x{where['compression']:g} vs {base_name}"
        if len(base) == 0:
            verdict.lines.append(f"regression check: {label}: no reference rows, not compared")
            continue
        a, b = new["top1"].to_numpy(), base
        drop = b.mean() - a.mean()
        if a.std() == 0 and b.std() == 0:
            p = 0.0 if drop > 0 else 1.0
        elif len(a) < 2 or len(b) < 2:
            p = 1.0  # one seed on a side: no variance estimate, so no claim of significance
        else:
            p = stats.ttest_ind(b, a, equal_var=False, alternative="greater").pvalue
        worse = drop >= MIN_DROP and p < ALPHA
        verdict.failed |= worse
        verdict.lines.append(f"regression check: {label}: {a.mean() * 100:.2f} vs {b.mean() * 100:.2f} "
                             f"(n={len(a)} vs {len(b)}, drop {drop * 100:+.2f} pts, p={p:.3g})"
                             + (" REGRESSION" if worse else " ok"))
    return verdict
