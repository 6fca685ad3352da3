"""Fingerprints of source code, so that a stored result can never go stale: a case's hash covers the harness code
that decides its numbers and its method's module; a dense model's name covers the code that trains it. Editing
either recomputes what it affects, and nothing else: the report, the plugin, the store and the docs are not in
any fingerprint."""
from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the benchsuite package folder
TRAINING = ("models", "data", "run/train.py", "run/weights.py", "pruning/probes.py")  # what makes a dense model
HARNESS = ("models", "data", "pruning", "run")  # what makes a case's result from a dense model
NOT_DECIDING = ("run/store.py",)  # where results are kept, not what they are


@cache
def code_fingerprint(parts: tuple[str, ...]) -> str:
    """sha256 (12 hex digits) over the Python files of `parts` (folders or files of the package), by relative
    path; computed once per process."""
    root, files = PACKAGE, set()
    for part in parts:
        path = root / part
        files.update(path.rglob("*.py") if path.is_dir() else [path])
    h = hashlib.sha256()
    for f in sorted(files):
        rel = f.relative_to(root).as_posix()
        if rel not in NOT_DECIDING:
            h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def file_fingerprint(paths: tuple[str, ...]) -> str:
    """sha256 (12 hex digits) over the contents of source files, e.g. a method's module."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes() + b"\0")
    return h.hexdigest()[:12]
