"""The method registry: how a method is registered, found (in `benchsuite.methods` and through the
`benchsuite.methods` entry-point group) and fingerprinted."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Union

from torch import Tensor

from ..plan.fingerprint import file_fingerprint
from ..registry import Registry, discover

if TYPE_CHECKING:
    from .context import Context

MethodOutput = Union[Mapping[str, Tensor], tuple[Mapping[str, Tensor], Mapping[str, Tensor]]]


@dataclass(frozen=True)
class Method:
    """A registered pruning method. `scope` says which count its masks must hit exactly: "global" (the
    model's keep count in all) or "layer" (round(fraction * n) in every layer)."""

    name: str
    fn: Callable[[Context], MethodOutput]
    scope: str
    depends: tuple[Any, ...] = ()

    @cached_property
    def version(self) -> str:
        """Fingerprint of the method's whole module and of the modules it declares in `depends`: editing any of
        them changes it, and the method's results are recomputed."""
        return file_fingerprint(tuple(inspect.getsourcefile(obj) for obj in (self.fn, *self.depends)))


METHODS: Registry[Method] = Registry("method")
_discovered = False


def register_method(name: str, scope: str = "global", depends: tuple[Any, ...] = ()) -> Callable:
    """Decorator that registers `fn(ctx) -> masks` (or `(masks, new_weights)`) under `name`. `depends` lists
    modules (or functions) outside the method's own module whose code decides its masks, e.g. a helper module of
    your repository; benchsuite's own code is always covered."""
    if scope not in ("global", "layer"):
        raise ValueError(f"method {name!r}: scope must be 'global' or 'layer', got {scope!r}")

    def wrap(fn: Callable) -> Callable:
        METHODS.add(name, Method(name, fn, scope, tuple(depends)))
        return fn

    return wrap


def _methods() -> Registry[Method]:
    global _discovered
    if not _discovered:
        _discovered = True
        discover("benchsuite.methods", "benchsuite.methods")
    return METHODS


def list_methods(pattern: str = "*") -> list[str]:
    """Sorted names of the registered methods (from `methods/` and the `benchsuite.methods` entry points)."""
    return _methods().names(pattern)


def get_method(name: str) -> Method:
    return _methods().get(name)


