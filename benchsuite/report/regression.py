"""Regression check for method repositories: did a change make a method worse, and is it worse than a floor?

The reference is a sealed file (`reference.read`: every row's checksum verified, no case twice, one version per
method), made on purpose by `benchsuite-leaderboard SWEEP --methods ... --reference FILE`, or a leaderboard's
`results.csv`. For each method the session ran and each setting (pair, weights, compression, pattern, budget,
hyperparameters) it answers up to two questions:

- a method whose current version the reference lacks is compared with its own rows there (an older version): did
  the change make it worse?
- with `floor` (--reference-method), every method is compared with the floor's rows, changed or not.

A comparison is the paired test of `stats.compare` on the validation images (`val_correct`; seeds paired when both
sides ran the same seeds), one-sided: a regression is a drop significantly larger than `margin` (points of top-1),
Holm-corrected over all the comparisons of the check at 5%. It decides on the validation split because an author who
iterates until the check passes would otherwise tune on the test set; test top-1 is printed beside, for the reader.
A changed or new method with nothing to compare fails the check: a check that compared nothing must not pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..pruning.methods import get_method
from ..run.store import unpack
from .stats import ALPHA, compare, holm

SETTING = ["pair", "weights", "compression", "pattern", "budget", "hyperparameters"]


@dataclass
class Verdict:
    """The check's lines, its comparisons, those that regressed, and the settings where a method compared nothing."""

    lines: list[str] = field(default_factory=list)
    compared: int = 0
    regressed: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.regressed or self.empty)

    @property
    def final(self) -> str:
        """The one line a session ends with."""
        if not self.failed:
            what = "none regressed" if self.compared else "every method in scope is unchanged since the reference"
            return f"benchsuite regression check: passed ({self.compared} comparisons, {what})"
        parts = []
        if self.regressed:
            shown = "; ".join(self.regressed[:5]) + (f"; and {len(self.regressed) - 5} more" if
                                                     len(self.regressed) > 5 else "")
            parts.append(f"{len(self.regressed)} of {self.compared} comparisons regressed: {shown}")
        if self.empty:
            parts.append(f"{len(self.empty)} settings compared nothing: {'; '.join(self.empty[:5])}"
                         + (f"; and {len(self.empty) - 5} more" if len(self.empty) > 5 else ""))
        return f"benchsuite regression check: FAILED ({'; '.join(parts)})"


def settings(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with their setting's columns as comparable strings ("" for a ratio's pattern, the stage's own budget,
    or columns an older file lacks)."""
    out = {}
    for column in SETTING:
        if column not in frame:
            out[column] = ""
        elif column == "compression":
            out[column] = frame[column].astype(float)
        else:
            out[column] = frame[column].map(lambda v: "" if v is None or v != v else str(v))
    return frame.assign(**out)


def changed_methods(ref: pd.DataFrame, methods: list[str]) -> set[str]:
    """Of `methods`, those whose current version the reference does not hold."""
    versions = ref.groupby("method")["method_version"].agg(set).to_dict()
    return {m for m in methods if get_method(m).version not in versions.get(m, set())}


def _outcomes(rows: pd.DataFrame) -> np.ndarray:
    return np.stack([unpack(b, int(n)) for b, n in zip(rows.val_correct, rows.n_val)])


def _label(method: str, key: tuple) -> str:
    pair, weights, compression, pattern, budget, hparams = key
    return (f"{method} on {pair} {weights} {pattern or f'x{compression:g}'}" + (f" [{budget}]" if budget else "")
            + (f" {hparams}" if hparams and hparams != str(get_method(method).hyperparameters) else ""))


def check(ran: pd.DataFrame, ref: pd.DataFrame, floor: str | None = None, margin: float = 0.0,
          twins: dict[str, list[str]] | None = None) -> Verdict:
    """The check of the cases that ran against the reference (see the module's docstring); `margin` in top-1 (0.01
    is a point); `twins` names, per method, the other methods whose masks equal its own in every case it ran."""
    verdict = Verdict()
    if ran.empty:
        verdict.lines.append("regression check: no case of a method in scope ran")
        verdict.empty.append("no case ran")
        return verdict
    ran, ref = settings(ran), settings(ref)
    changed = changed_methods(ref, sorted(ran.method.unique()))
    tests = []
    for method, rows in ran.groupby("method"):
        if method not in changed and floor in (None, method):
            verdict.lines.append(f"regression check: {method} is unchanged since the reference (version "
                                 f"{get_method(method).version}): not compared")
        for key, new in rows.groupby(SETTING):
            where = np.logical_and.reduce([ref[k] == v for k, v in zip(SETTING, key)])
            bases = []
            if method in changed:
                own = ref[where & (ref.method == method)]
                if len(own):
                    bases.append((f"{method} (version {own.method_version.iloc[0]})", own))
            if floor is not None and floor != method:
                base = ref[where & (ref.method == floor)]
                if len(base):
                    bases.append((f"{floor} (floor)", base))
                else:
                    verdict.empty.append(f"{_label(method, key)}: no {floor} rows")
            if method in changed and not bases and floor is None:
                verdict.empty.append(f"{_label(method, key)}: {'new' if method not in set(ref.method) else 'changed'}"
                                     f", and no rows of it or of a floor")
            for name, base in bases:
                if int(base.n_val.iloc[0]) != int(new.n_val.iloc[0]):
                    verdict.empty.append(f"{_label(method, key)} vs {name}: other validation images")
                    continue
                new, base = new.sort_values("seed"), base.sort_values("seed")
                paired = list(new.seed) == list(base.seed)
                c = compare(_outcomes(new), _outcomes(base), paired_seeds=paired)
                tests.append((_label(method, key), name, new, base, c, paired, c.p_below(-margin)))
    verdict.compared = len(tests)
    for (label, name, new, base, c, paired, p), worse in zip(tests, holm([t[-1] for t in tests])):
        if worse:
            verdict.regressed.append(f"{label} vs {name} ({c.difference * 100:+.2f} pts)")
        verdict.lines.append(
            f"regression check: {label} vs {name}: validation top-1 {new.val_top1.mean() * 100:.2f} vs "
            f"{base.val_top1.mean() * 100:.2f} ({c.difference * 100:+.2f} pts, one-sided p={p:.3g} for a drop of more "
            f"than {margin * 100:g} pts, {len(new)} vs {len(base)} seeds{', paired' if paired else ''}); test top-1 "
            f"{new.top1.mean() * 100:.2f} vs {base.top1.mean() * 100:.2f}"
            + (f" REGRESSION (Holm at {ALPHA:.0%})" if worse else " ok"))
    for method, others in sorted((twins or {}).items()):
        if others and method in changed:
            verdict.lines.append(f"regression check: {method}'s masks equal {', '.join(others)}'s in every case it "
                                 f"ran: it now prunes exactly as {' and as '.join(others)} does")
    for line in verdict.empty:
        verdict.lines.append(f"regression check: {line}: nothing compared (add its rows to the reference with "
                             f"benchsuite-leaderboard ... --reference, or name a floor with --reference-method)")
    return verdict
