"""Sealed result tables: a leaderboard's `results.csv`, and the reference file a method repository's regression check
reads. Every row carries `row_checksum`, a sha256 of its own values as written, so that a row edited by hand, a
truncated file or a duplicated row is refused by name instead of silently changing a verdict."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pandas as pd

CHECKSUM = "row_checksum"
KEY = ["method", "pair", "weights", "compression", "pattern", "budget", "hyperparameters", "seed"]  # one case
NEEDED = {"method", "method_version", "pair", "weights", "compression", "seed", "top1", "val_top1", "val_correct",
          "n_val"}
MAKE = "make one with: benchsuite-leaderboard SWEEP --methods 'PATTERNS' --reference FILE"


class ReferenceError(ValueError):
    """A reference file that cannot be trusted: what is wrong, where, and what to do."""


def _digest(header: list[str], values: list[str]) -> str:
    return hashlib.sha256(json.dumps(dict(zip(header, values)), sort_keys=True).encode()).hexdigest()


def seal(frame: pd.DataFrame) -> str:
    """The frame as CSV text with each row's checksum in a last column."""
    rows = list(csv.reader(io.StringIO(frame.to_csv(index=False))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*rows[0], CHECKSUM])
    for values in rows[1:]:
        writer.writerow([*values, _digest(rows[0], values)])
    return out.getvalue()


def read(path: Path) -> pd.DataFrame:
    """The rows of a sealed file, each checked: its checksum, its fields, no case twice, one version per method."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceError(f"reference {path}: no such file; {MAKE}")
    try:
        text = path.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
    except (UnicodeDecodeError, csv.Error) as e:
        raise ReferenceError(f"reference {path} is not a CSV file ({e}); {MAKE}") from None
    if not rows or CHECKSUM not in rows[0]:
        raise ReferenceError(f"reference {path} has no {CHECKSUM} column: it is not a sealed reference (or was written "
                             f"by an older benchsuite); {MAKE}")
    header = rows[0]
    if header[-1] != CHECKSUM:
        raise ReferenceError(f"reference {path}: {CHECKSUM} must be its last column; the file was edited; {MAKE}")
    missing = sorted(NEEDED - set(header))
    if missing:
        raise ReferenceError(f"reference {path} lacks columns {missing}; {MAKE}")
    if "perplexity" in header:
        raise ReferenceError(f"reference {path} holds language-model results; the regression check compares top-1 on "
                             f"the validation images of image pairs, and has no check of perplexity yet")
    for line, values in enumerate(rows[1:], start=2):
        if len(values) != len(header):
            raise ReferenceError(f"reference {path}, line {line}: {len(values)} fields where the header has "
                                 f"{len(header)}: the file is truncated or damaged; {MAKE}")
        if values[-1] != _digest(header[:-1], values[:-1]):
            raise ReferenceError(f"reference {path}, line {line} ({_name(header, values)}): its checksum does not "
                                 f"match its values: it was edited by hand or damaged; {MAKE}")
    if len(rows) < 2:
        raise ReferenceError(f"reference {path} holds no rows; {MAKE}")
    frame = pd.read_csv(io.StringIO(text), dtype={"pattern": str, "budget": str, "hyperparameters": str})
    for column in ("pattern", "budget", "hyperparameters"):
        frame[column] = frame[column].fillna("") if column in frame else ""
    twice = frame[frame.duplicated(KEY, keep=False)]
    if not twice.empty:
        lines = ", ".join(str(i + 2) for i in twice.index[:6])
        raise ReferenceError(f"reference {path}: lines {lines} are the same case "
                             f"({_name(header, rows[twice.index[0] + 1])}): a duplicated row would count as a seed of "
                             f"its own; {MAKE}")
    versions = frame.groupby("method")["method_version"].nunique()
    if (versions > 1).any():
        raise ReferenceError(f"reference {path} holds several versions of {', '.join(versions[versions > 1].index)}; "
                             f"a reference holds one version of each method; {MAKE}")
    return frame.drop(columns=CHECKSUM)


def _name(header: list[str], values: list[str]) -> str:
    row = dict(zip(header, values))
    return " ".join(f"{k} {row[k]}" for k in ("method", "pair", "weights", "compression", "pattern", "budget", "seed")
                    if row.get(k))
