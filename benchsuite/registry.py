"""A small generic registry: named things, looked up with "did you mean", discovered from packages."""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
import traceback
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to objects of one kind (methods, models, pairs, sweeps)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if not name or name != name.strip() or "," in name:
            raise ValueError(f"{self.kind} name {name!r} must be a non-empty word without commas or spaces")
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice; rename one of them")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(self.names())}"
            raise KeyError(f"unknown {self.kind} {name!r}; {hint}") from None

    def names(self, patterns: str | Iterable[str] = "*") -> list[str]:
        """Sorted names matching any of the glob patterns (a comma-separated string or a list)."""
        if isinstance(patterns, str):
            patterns = [p.strip() for p in patterns.split(",") if p.strip()]
        patterns = list(patterns)
        chosen = sorted(n for n in self._items if any(fnmatch.fnmatchcase(n, p) for p in patterns))
        unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in self._items)]
        if unmatched:
            self.get(unmatched[0])  # raises with a suggestion
        return chosen

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


def discover(package: str, group: str) -> None:
    """Import every module of `package` and every entry point of `group` so that they register themselves."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{package}.{info.name}")
    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as e:
            frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith("<")]
            where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames and not isinstance(e, SyntaxError) else ""
            raise ImportError(f"the {group!r} entry point {ep.name} = {ep.value!r} of package "
                              f"{ep.dist.name if ep.dist else '?'} cannot be loaded ({type(e).__name__}: {e}{where}); "
                              f"it must name a module that imports, e.g. my_methods = \"my_package.methods\" in its "
                              f"pyproject.toml") from e
