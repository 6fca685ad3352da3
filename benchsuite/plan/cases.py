"""Cases: (pair, weights, method, compression, seed) with the pair's fine-tuning recipe. A case's hash names its
result: it covers everything that decides the result."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..pruning.methods import get_method
from .fingerprint import HARNESS, code_fingerprint
from .pairs import get_pair

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Case:
    pair: str
    weights: str
    method: str
    compression: float
    seed: int

    @property
    def id(self) -> str:
        """Readable test id, e.g. `global_magnitude-mnist5k-lenet5-A-x8-s0`."""
        return f"{self.method}-{self.pair}-{self.weights}-x{self.compression:g}-s{self.seed}"

    @cached_property
    def spec(self) -> dict[str, Any]:
        """Everything that decides the result: the pair and its fine-tuning, the dense model (its recipe and the
        code that trains it), the harness code, the method's module, the ratio and the seed."""
        pair = get_pair(self.pair)
        return {"schema": SCHEMA_VERSION, "pair": pair.spec(), "weights": self.weights,
                "weights_recipe": pair.weights_hash(self.weights), "harness": code_fingerprint(HARNESS),
                "method": self.method, "method_version": get_method(self.method).version,
                "compression": self.compression, "seed": self.seed}

    @cached_property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()[:20]
