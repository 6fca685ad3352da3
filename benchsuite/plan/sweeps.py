"""Named sets of cases (`smoke` for the tests, `quick` for the default job), narrowed by filters."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

from ..pruning.methods import get_method, list_methods
from ..registry import Registry
from . import budgets
from .cases import Case
from .pairs import PAIRS, WeightsFile


@dataclass(frozen=True)
class Block:
    """Pairs x weights x methods (glob patterns over method names, of one stage if `stage` is given) x
    compressions x seeds x hyperparameter settings (each a dict of values that differ from the methods' defaults;
    a setting applies to the methods that have those hyperparameters) x retraining budgets (`budgets`: each applies
    to the methods that take it). A compression is a ratio (for methods
    with a global or layer target), an N:M pattern such as "2:4" (N:M target) or a channel ratio such as "ch-x2"
    (channel targets), or a sparsity such as "50%" (post-training targets); each applies to the methods that can
    meet it. Methods matching `first_seed_only` (glob patterns) give the same result for every seed (they draw
    nothing) and run with the first seed alone."""

    pairs: tuple[str, ...]
    weights: tuple[str, ...]
    methods: str
    compressions: tuple[float | str, ...]
    seeds: tuple[int, ...]
    stage: str | None = None
    hparams: tuple[dict[str, Any], ...] = ({},)
    first_seed_only: str = ""
    budgets: tuple[str, ...] = ("",)


@dataclass(frozen=True)
class Sweep:
    name: str
    blocks: tuple[Block, ...]

    def cases(self) -> list[Case]:
        """Every case of the sweep, in a stable order, each once. A user's checkpoint of a pair (--checkpoint)
        joins every block that has the pair, for the methods that can start from a checkpoint (not those that
        need its initialisation or steps of its training)."""
        seen: dict[Case, None] = {}
        for b in self.blocks:
            for budget in b.budgets:
                budgets.check(budget)  # fail early on a typo
            for pair in b.pairs:
                files = [n for n, w in PAIRS.get(pair).weights.items() if isinstance(w, WeightsFile)]
                for weights in (*b.weights, *files):
                    PAIRS.get(pair).source(weights)  # fail early on a typo
                    for method, setting, budget in product(list_methods(b.methods, b.stage), b.hparams, b.budgets):
                        m = get_method(method)
                        if not set(setting) <= set(m.hyperparameters) or not budgets.takes(m, budget) \
                                or (weights in files and (m.needs_recipe or budget)) \
                                or not PAIRS.get(pair).takes(m.stage):
                            continue
                        m.bind(setting)  # fail early on a bad value
                        seeds = b.seeds[:1] if b.first_seed_only and method in list_methods(b.first_seed_only) \
                            else b.seeds
                        for c, s in product(b.compressions, seeds):
                            if m.fits(c):
                                seen[Case(pair, weights, method, c, s, tuple(sorted(setting.items())), budget)] = None
        return list(seen)


class NoMethodCases(ValueError):
    """--methods names registered methods of which the sweep has no case: an error for a session that runs the
    sweep, none for one that runs only the contract on them."""


def narrow(cases: list[Case], field: str, allowed: set | None, sweep: str) -> list[Case]:
    """Keep the cases whose `field` is in `allowed` (None keeps all); a filter that keeps nothing is an error."""
    if allowed is None:
        return cases
    kept = [c for c in cases if getattr(c, field) in allowed]
    if not kept:
        have = sorted({getattr(c, field) for c in cases}, key=str)
        raise ValueError(f"no case of sweep {sweep!r} has {field} in {sorted(allowed, key=str)}; it has {have}. A "
                         f"filter narrows a sweep; for other values define a sweep of your own with "
                         f"benchsuite.add_sweep (README, 'A sweep of your own')")
    return kept


def _words(value: str | None, kind=str, option: str = "") -> set | None:
    if value is None:
        return None
    try:
        return {kind(v.strip()) for v in value.split(",") if v.strip()}
    except ValueError:
        raise ValueError(f"--{option} {value!r}: comma-separated {kind.__name__} values, e.g. 0,1,2") from None


def _compression(word: str) -> float | str:
    """A --compressions word: a ratio (`8`), or a pattern as case ids write it (`2:4`, `ch-x2`, `50%`)."""
    try:
        return float(word)
    except ValueError:
        return word


def _shard(cases: list[Case], spec: str) -> list[Case]:
    try:
        i, n = (int(v) for v in spec.split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise ValueError(f"--shard {spec!r}: expected I/N with 0 <= I < N, e.g. 0/4") from None
    return cases[i::n]


def select(sweep: str, methods: str | None = None, pairs: str | None = None, weights: str | None = None,
           compressions: str | None = None, seeds: str | None = None, shard: str | None = None,
           only_methods: set[str] | None = None) -> list[Case]:
    """The cases of a sweep narrowed by the command-line filters (comma-separated values; glob patterns for
    methods and pairs); `only_methods` keeps the cases of those methods alone. A filter that keeps nothing is an
    error."""
    cases = SWEEPS.get(sweep).cases()
    if methods:
        try:
            cases = narrow(cases, "method", set(list_methods(methods)), sweep)
        except ValueError as e:
            raise NoMethodCases(str(e)) from None
    if pairs:
        cases = narrow(cases, "pair", set(PAIRS.names(pairs)), sweep)
    cases = narrow(cases, "weights", _words(weights), sweep)
    cases = narrow(cases, "compression", _words(compressions, _compression), sweep)
    cases = narrow(cases, "seed", _words(seeds, int, "seeds"), sweep)
    if shard:
        cases = _shard(cases, shard)
    if only_methods is not None:
        cases = [c for c in cases if c.method in only_methods]
    return cases


SWEEPS: Registry[Sweep] = Registry("sweep")


def add_sweep(name: str, *blocks: Block) -> Sweep:
    """Register a sweep of your own, e.g. in your conftest.py or your methods' module, and run it with `--sweep NAME`:
    `add_sweep("mine", Block(("mnist5k-lenet300",), ("A",), "lamp,global_magnitude", (16, 50), (0, 1, 2)))`."""
    if not blocks or not all(isinstance(b, Block) for b in blocks):
        raise ValueError(f"sweep {name!r}: give one or more benchsuite.Block(pairs, weights, methods, compressions, "
                         f"seeds)")
    return SWEEPS.add(name, Sweep(name, tuple(blocks)))
MNIST5K = ("mnist5k-lenet300", "mnist5k-lenet5")
RATIOS = (2, 4, 8, 16, 32)
ONE_SHOT = "after_training"
SWEEPS.add("smoke", Sweep("smoke", (Block(MNIST5K[:1], ("A",), "*", (4,), (0,), ONE_SHOT),)))
SWEEPS.add("quick", Sweep("quick", (
    Block(MNIST5K, ("A",), "*", RATIOS, (0, 1, 2), ONE_SHOT),
    Block(MNIST5K, ("B",), "global_magnitude,layer_magnitude", RATIOS, (0, 1, 2)),
)))
# Every method of every stage on the embedded pairs, to x64 where the model reaches it (LeNet-5 reaches x57), with the
# baselines that compare stages at equal training: one-shot and gradual magnitude pruning retrained for the dense
# recipe's length (as long as methods at initialisation train under their masks, and as iterative pruning's last
# level), and one-shot global magnitude pruning retrained for iterative pruning's (imp_lr's) total at x16 and at each
# pair's highest compression.
LIFECYCLE = ((MNIST5K[0], (*RATIOS, 64), (16, 64)), (MNIST5K[1], RATIOS, (16, 32)))
SWEEPS.add("lifecycle", Sweep("lifecycle", tuple(block for pair, ratios, high in LIFECYCLE for block in (
    Block((pair,), ("A",), "*", ratios, (0, 1, 2)),
    Block((pair,), ("A",), "global_magnitude,layer_magnitude,gmp,gmp_layer", ratios, (0, 1, 2), budgets=("full",)),
    Block((pair,), ("A",), "global_magnitude", high, (0, 1, 2), budgets=("like-imp_lr",)),
))))
# Structured sparsity beside unstructured pruning: N:M patterns (2:4 and 4:8 keep half, 1:4 and 2:8 a quarter, 1:8
# an eighth) and whole channels (half and a quarter of them, per layer and over the network) next to global and
# layerwise magnitude, with measured speed. x1.5 and x16 bracket the structured cells, so that each is compared at the
# compression it achieves.
SWEEPS.add("structure", Sweep("structure", (
    Block(MNIST5K, ("A",), "global_magnitude,layer_magnitude,nm_magnitude,l1_filter,group_l1",
          (1.5, 2, 4, 8, 16, "2:4", "4:8", "1:4", "2:8", "1:8", "ch-x2", "ch-x4"), (0, 1, 2)),
)))
# ShrinkBench's CIFAR-10 experiments, every baseline on ResNet-56 (weights A and B) and VGG-16, and magnitude
# pruning of ResNet-18 on ImageNet (one seed: each of its cases fine-tunes on the whole of ImageNet).
SWEEPS.add("paper", Sweep("paper", (
    Block(("cifar10-resnet56",), ("A", "B"), "*", (1, *RATIOS, "2:4", "ch-x2"), (0, 1, 2), ONE_SHOT),
    Block(("cifar10-vgg16",), ("A",), "*", (1, *RATIOS), (0, 1, 2), ONE_SHOT),
    Block(("imagenet-resnet18",), ("sgd",), "global_magnitude,layer_magnitude", (1, 2, 4, 8, 16), (0,)),
)))
# Post-training pruning of a pretrained language model (SmolLM2-135M) scored by perplexity on held-out news text:
# every post-training method at 50-70% of each layer's weights and at 2:4 and 4:8, over three calibration samples;
# magnitude reads no calibration data, so one is all it has.
LM = (("50%", "60%", "70%", "2:4", "4:8"), (0, 1, 2))
LM_BASE = "magnitude,wanda,sparsegpt"
SWEEPS.add("lm", Sweep("lm", (
    Block(("lee-smollm2",), ("smollm2",), LM_BASE, *LM, "post_training", first_seed_only="magnitude"),
)))
# The same on WikiText-2 at the papers' calibration size (128 x 2048 tokens): a data root and a GPU.
SWEEPS.add("lm-wikitext2", Sweep("lm-wikitext2", (
    Block(("wikitext2-smollm2",), ("smollm2",), LM_BASE, *LM, "post_training", first_seed_only="magnitude"),
)))
# The methods that language-model pruning papers compare against now, each beside the baseline its paper claims to
# beat, at that paper's settings: RIA and Wanda at 50% and 2:4, OWL on Wanda and on SparseGPT beside each at 70%; and
# structured pruning, whole
# layers (ShortGPT) against heads and channels (FLAP) removed at equal size, a quarter of the layers' weights.
SWEEPS.add("lm-methods", Sweep("lm-methods", (
    Block(("lee-smollm2",), ("smollm2",), "ria,wanda", ("50%", "2:4"), (0, 1, 2), "post_training"),
    Block(("lee-smollm2",), ("smollm2",), "owl,wanda,owl_sparsegpt,sparsegpt", ("70%",), (0, 1, 2), "post_training"),
    Block(("lee-smollm2",), ("smollm2",), "shortgpt,flap", ("25%",), (0, 1, 2), "post_training"),
)))
