"""The method registry: how a method is registered with its stage, target, schedule and hyperparameters, found (in
`benchsuite.methods` and through the `benchsuite.methods` entry-point group), described and fingerprinted."""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..plan.fingerprint import file_fingerprint
from ..registry import Registry, discover
from .schedules import Dynamic, Gradual, Levels
from .targets import ALLOCATED, KINDS, STRUCTURED, fits

STAGES = {
    "after_training": "prunes the trained dense model once; the pair's fine-tuning follows",
    "at_init": "prunes the initialised model once; training from scratch with the pair's dense recipe follows",
    "during_training": "called by the harness at the prune events of its schedule while the harness trains",
    "post_training": "prunes a trained model once, block by block, from a small calibration set and without any "
                     "training (the language-model protocol of Wanda and SparseGPT)",
}


@dataclass(frozen=True)
class Method:
    """A registered pruning method: `fn(ctx, **hyperparameters)` returns masks. `stage` says when it acts,
    `target` which exact count its masks hit (a kind, or several: the case's compression picks the one it fits),
    `schedule` (during training only) when it is called."""

    name: str
    fn: Callable[..., Any]
    target: str | tuple[str, ...] = "global"
    stage: str = "after_training"
    schedule: Gradual | Levels | Dynamic | None = None
    depends: tuple[Any, ...] = ()

    @cached_property
    def version(self) -> str:
        """Fingerprint of the method's whole module and of the modules it declares in `depends`: editing any of
        them changes it, and the method's results are recomputed."""
        return file_fingerprint(tuple(inspect.getsourcefile(obj) for obj in (self.fn, *self.depends)))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The target kinds it meets, the first one its default."""
        return (self.target,) if isinstance(self.target, str) else tuple(self.target)

    def fits(self, compression: float | str) -> bool:
        return any(fits(kind, compression) for kind in self.kinds)

    def kind_for(self, compression: float | str) -> str:
        """The target kind that takes `compression`; a clear error if none does."""
        for kind in self.kinds:
            if fits(kind, compression):
                return kind
        return self.kinds[0]  # its target explains what it takes

    @property
    def from_init(self) -> bool:
        """Whether it starts from the pair's initialisation and trains for the dense recipe's length: at
        initialisation, and dynamic sparse training."""
        return self.stage == "at_init" or isinstance(self.schedule, Dynamic)

    @property
    def needs_recipe(self) -> bool:
        """Whether its dense model must come from a recipe: from the initialisation it prunes the recipe's
        initialisation, and iterative pruning retrains with the recipe (a user's checkpoint has neither)."""
        return self.from_init or isinstance(self.schedule, Levels)

    @cached_property
    def hyperparameters(self) -> dict[str, Any]:
        """Defaults of the schedule's fields and of the function's keyword-only parameters."""
        own = {p.name: p.default for p in inspect.signature(self.fn).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY}
        return {**(dataclasses.asdict(self.schedule) if self.schedule else {}), **own}

    def bind(self, overrides: Mapping[str, Any]) -> tuple[Gradual | Levels | Dynamic | None, dict[str, Any]]:
        """The schedule and the function's keyword arguments with `overrides` applied; unknown names are an
        error that lists the known ones."""
        unknown = sorted(set(overrides) - set(self.hyperparameters))
        if unknown:
            known = ", ".join(self.hyperparameters) or "none"
            raise ValueError(f"method {self.name!r} has no hyperparameter {', '.join(unknown)}; it has {known}")
        for key, value in overrides.items():
            default = self.hyperparameters[key]
            numbers = (int, float) if isinstance(default, float) else type(default)
            if default is not None and (not isinstance(value, numbers) or isinstance(value, bool) != isinstance(
                    default, bool)):
                raise ValueError(f"method {self.name!r}: hyperparameter {key} takes a {type(default).__name__} (its "
                                 f"default is {default!r}), got {value!r}")
        fields = {f.name for f in dataclasses.fields(self.schedule)} if self.schedule else set()
        schedule = dataclasses.replace(self.schedule, **{k: v for k, v in overrides.items() if k in fields}) \
            if self.schedule else None
        kwargs = {k: overrides.get(k, v) for k, v in self.hyperparameters.items() if k not in fields}
        return schedule, kwargs


METHODS: Registry[Method] = Registry("method")
_discovered = False


def register_method(name: str, target: str | tuple[str, ...] = "global", stage: str = "after_training",
                    schedule: Gradual | Levels | Dynamic | None = None, depends: tuple[Any, ...] = ()) -> Callable:
    """Decorator that registers `fn(ctx, *, hyperparameter=default, ...)` under `name`. It returns masks, or
    `(masks, new_weights)`, or `ctx.rewind(masks)` (during training). `depends` lists modules (or functions) outside
    the method's own module whose code decides its masks; benchsuite's own code is always covered."""
    kinds = (target,) if isinstance(target, str) else tuple(target)
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"method {name!r}: target must be one of {', '.join(KINDS)} (or a tuple of them), got "
                         f"{target!r}")
    if stage not in STAGES:
        raise ValueError(f"method {name!r}: stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if (stage == "during_training") != (schedule is not None):
        raise ValueError(f"method {name!r}: a method acting during training declares a schedule (Gradual, Levels "
                         f"or Dynamic), and only such a method does")
    if isinstance(schedule, Dynamic) and not set(kinds) <= {"layer", *ALLOCATED}:
        raise ValueError(f"method {name!r}: dynamic sparse training keeps every layer's count while its masks move, "
                         f"so its target gives each layer a count: layer, erk, er or uniform+, not {target!r}")
    if {"nm", "channel", "channel_global"} & set(kinds) and schedule is not None:
        raise ValueError(f"method {name!r}: an N:M or channel target is reached in one step; a method with target "
                         f"{target!r} acts after training or at initialisation")
    if set(STRUCTURED) & set(kinds) and (stage != "post_training" or len(kinds) > 1):
        raise ValueError(f"method {name!r}: a structured target (blocks, width) removes parts of a language model "
                         f"after training: stage 'post_training', that target alone")

    def wrap(fn: Callable) -> Callable:
        METHODS.add(name, Method(name, fn, target, stage, schedule, tuple(depends)))
        return fn

    return wrap


def _methods() -> Registry[Method]:
    global _discovered
    if not _discovered:
        _discovered = True
        discover("benchsuite.methods", "benchsuite.methods")
    return METHODS


def list_methods(pattern: str = "*", stage: str | None = None) -> list[str]:
    """Sorted names of the registered methods matching the glob pattern(s), of one stage if given."""
    names = _methods().names(pattern)
    return [n for n in names if stage is None or METHODS.get(n).stage == stage]


def get_method(name: str) -> Method:
    if not isinstance(name, str):
        raise TypeError(f"a method is named by a string, e.g. 'global_magnitude'; got {name!r}; benchsuite.list_methods() "
                        f"lists them")
    return _methods().get(name)


def method_info(name: str) -> dict[str, Any]:
    """What a notebook wants to know about a method: stage, target, schedule, hyperparameters with their defaults,
    version and docstring."""
    m = get_method(name)
    return {"name": m.name, "stage": m.stage, "target": m.target,
            "schedule": type(m.schedule).__name__ if m.schedule else None, "hyperparameters": m.hyperparameters,
            "version": m.version, "doc": inspect.getdoc(m.fn) or ""}
