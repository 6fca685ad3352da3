"""Named sets of cases (`smoke` for the tests, `quick` for the default job), narrowed by filters."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from ..pruning.methods import list_methods
from ..registry import Registry
from .cases import Case
from .pairs import PAIRS, WeightsFile


@dataclass(frozen=True)
class Block:
    """Pairs x weights x methods (glob patterns over method names) x compressions x seeds."""

    pairs: tuple[str, ...]
    weights: tuple[str, ...]
    methods: str
    compressions: tuple[float, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Sweep:
    name: str
    blocks: tuple[Block, ...]

    def cases(self) -> list[Case]:
        """Every case of the sweep, in a stable order, each once. A user's checkpoint of a pair (--checkpoint)
        joins every block that has the pair."""
        seen: dict[Case, None] = {}
        for b in self.blocks:
            for pair in b.pairs:
                files = [n for n, w in PAIRS.get(pair).weights.items() if isinstance(w, WeightsFile)]
                for weights in (*b.weights, *files):
                    PAIRS.get(pair).source(weights)  # fail early on a typo
                    for method, c, s in product(list_methods(b.methods), b.compressions, b.seeds):
                        seen[Case(pair, weights, method, c, s)] = None
        return list(seen)


def narrow(cases: list[Case], field: str, allowed: set | None, sweep: str) -> list[Case]:
    """Keep the cases whose `field` is in `allowed` (None keeps all); a filter that keeps nothing is an error."""
    if allowed is None:
        return cases
    kept = [c for c in cases if getattr(c, field) in allowed]
    if not kept:
        have = sorted({getattr(c, field) for c in cases}, key=str)
        raise ValueError(f"no case of sweep {sweep!r} has {field} in {sorted(allowed, key=str)}; it has {have}")
    return kept


SWEEPS: Registry[Sweep] = Registry("sweep")
MNIST5K = ("mnist5k-lenet300", "mnist5k-lenet5")
RATIOS = (2, 4, 8, 16, 32)
SWEEPS.add("smoke", Sweep("smoke", (Block(MNIST5K[:1], ("A",), "*", (4,), (0,)),)))
SWEEPS.add("quick", Sweep("quick", (
    Block(MNIST5K, ("A",), "*", RATIOS, (0, 1, 2)),
    Block(MNIST5K, ("B",), "global_magnitude,layer_magnitude", RATIOS, (0, 1, 2)),
)))
# ShrinkBench's CIFAR-10 experiments, every baseline on ResNet-56 (weights A and B) and VGG-16, and magnitude
# pruning of ResNet-18 on ImageNet (one seed: each of its cases fine-tunes on the whole of ImageNet).
SWEEPS.add("paper", Sweep("paper", (
    Block(("cifar10-resnet56",), ("A", "B"), "*", (1, *RATIOS), (0, 1, 2)),
    Block(("cifar10-vgg16",), ("A",), "*", (1, *RATIOS), (0, 1, 2)),
    Block(("imagenet-resnet18",), ("sgd",), "global_magnitude,layer_magnitude", (1, 2, 4, 8, 16), (0,)),
)))
