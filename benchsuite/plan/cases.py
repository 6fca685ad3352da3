"""Cases: (pair, weights, method with its hyperparameters, compression, seed) with the pair's recipes. A case's hash
names its result: it covers everything that decides the result."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from ..pruning.methods import get_method
from ..pruning.targets import label
from . import budgets
from .fingerprint import code_fingerprint
from .pairs import get_pair

SCHEMA_VERSION = 5


@dataclass(frozen=True)
class Case:
    pair: str
    weights: str
    method: str
    compression: float | str  # total / nonzero parameters, or an N:M pattern ("2:4")
    seed: int
    hparams: tuple[tuple[str, Any], ...] = ()  # the method's hyperparameters that differ from its defaults
    budget: str = ""  # the retraining budget (`budgets`): "" for the stage's own, "full", "like-imp_lr"

    @property
    def id(self) -> str:
        """Readable test id, e.g. `global_magnitude-mnist5k-lenet5-A-x8-s0`, `imp-mnist5k-lenet5-A-x8-s0-rate0.5`,
        `nm_magnitude-mnist5k-lenet300-A-2:4-s0`, `global_magnitude-mnist5k-lenet5-A-x8-s0-full`."""
        extra = "".join(f"-{k}{v:g}" if isinstance(v, float) else f"-{k}{v}" for k, v in self.hparams)
        budget = f"-{self.budget}" if self.budget else ""
        return f"{self.method}-{self.pair}-{self.weights}-{label(self.compression)}-s{self.seed}{extra}{budget}"

    @cached_property
    def hyperparameters(self) -> dict[str, Any]:
        """All the method's hyperparameters for this case: its defaults with the case's own values."""
        method = get_method(self.method)
        schedule, kwargs = method.bind(dict(self.hparams))
        return {**(asdict(schedule) if schedule else {}), **kwargs}

    @cached_property
    def spec(self) -> dict[str, Any]:
        """Everything that decides the result: the pair and its fine-tuning, the dense model (its recipe and the
        code that trains it), the harness code, the method's module, stage and hyperparameters, the ratio, the seed and
        the retraining budget."""
        pair = get_pair(self.pair)
        return {"schema": SCHEMA_VERSION, "pair": pair.spec(), "weights": self.weights,
                "weights_recipe": pair.weights_hash(self.weights), "harness": code_fingerprint(pair.harness),
                "method": self.method, "method_version": get_method(self.method).version,
                "stage": get_method(self.method).stage, "hyperparameters": self.hyperparameters,
                "compression": self.compression, "seed": self.seed, "budget": budgets.spec(self.budget)}

    @cached_property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()[:20]
