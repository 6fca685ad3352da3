"""Fingerprints of source code, so that a stored result can never go stale: a case's hash covers the harness code
that decides its numbers and its method's module; a dense model's name covers the code that trains it. Each is the
code its entry module imports, followed through the package's deciding folders (models, data, pruning, run), so
editing that code recomputes what it affects, and nothing else does: the report, the plugin, the store, the docs
and modules the entry never imports (another kind of pair's) are in no fingerprint."""
from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the benchsuite package folder
DECIDING = ("models", "data", "pruning", "run")  # folders whose code can decide a number
TRAINING = ("run/weights.py",)  # what makes a dense model: the weights store and what it imports
HARNESS = ("run/runner.py",)  # what makes a case's result from a dense model
LANGUAGE = ("run/language.py",)  # the same for a language model
NOT_DECIDING = ("run/store.py",)  # where results are kept, not what they are


def _imports(path: Path) -> set[Path]:
    """The package's files that `path` imports (anywhere in it, lazy imports included), with their packages'
    `__init__.py`."""
    package = path.parent.relative_to(PACKAGE.parent).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            base += node.module.split(".") if node.module else []
            names = [base] + [base + [alias.name] for alias in node.names]
        else:
            continue
        for name in names:
            if name[:1] != [PACKAGE.name]:
                continue
            for i in range(2, len(name) + 1):
                stem = PACKAGE.parent.joinpath(*name[:i])
                found |= {f for f in (stem.with_suffix(".py"), stem / "__init__.py") if f.is_file()}
    return found


@cache
def code_fingerprint(roots: tuple[str, ...]) -> str:
    """sha256 (12 hex digits) over the files of the package that `roots` import, directly or not, within the
    deciding folders, by relative path; computed once per process."""
    def deciding(f: Path) -> bool:
        rel = f.relative_to(PACKAGE).as_posix()
        return rel.split("/")[0] in DECIDING and rel not in NOT_DECIDING

    todo, files = [PACKAGE / r for r in roots], set()
    while todo:
        f = todo.pop()
        if f not in files:
            files.add(f)
            todo += [g for g in _imports(f) if deciding(g)]
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def file_fingerprint(paths: tuple[str, ...]) -> str:
    """sha256 (12 hex digits) over the contents of source files, e.g. a method's module."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes() + b"\0")
    return h.hexdigest()[:12]
