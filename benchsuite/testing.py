"""What a test module imports to run benchsuite on its methods, one line each:

    from benchsuite.testing import test_case      # noqa: F401  the selected sweep, one test per case
    from benchsuite.testing import TestContract   # noqa: F401  the mask contract, for every registered method
    from benchsuite.testing import TestPostTrainingContract  # noqa: F401  the same for post-training methods
    from benchsuite.testing import TestStructureContract  # noqa: F401  and for structured language-model methods
"""
from __future__ import annotations

import hashlib
import math
import statistics
import time
from typing import TYPE_CHECKING

from benchsuite.run.numerics import pin

pin()  # before anything below can run a torch kernel: the kernels are chosen at the first one

from benchsuite.contract import TestContract, TestPostTrainingContract, TestStructureContract
from benchsuite.plan.cases import Case
from benchsuite.plan.pairs import get_pair
from benchsuite.plugin import RESULT, SOURCE, SWEEP_GROUP, TWINS
from benchsuite.pruning.methods import get_method, list_methods
from benchsuite.run.store import Store

if TYPE_CHECKING:
    from benchsuite.run.runner import Runner

__all__ = ["TestContract", "TestPostTrainingContract", "TestStructureContract", "test_case"]


def test_case(benchsuite_case: Case, benchmark, benchsuite_store: Store, benchsuite_rounds: int, benchsuite_gate: bool,
              record_property, request):
    """Take the result from the store, or prune (timed: the method's call; for a method that acts during training,
    its first prune event; for a post-training method, the pass over all the blocks of a language model, timed once:
    it takes minutes) with the runner its pair names, train as the method's stage says and measure; then record the
    metrics (also in the test report, which carries them to the controlling process's store from any xdist worker).
    A stored case is not pruned again, but in a regression check, which compares its masks with other methods'."""
    case, method = benchsuite_case, get_method(benchsuite_case.method)
    runner = request.getfixturevalue(get_pair(case.pair).runner)
    latest = []  # the context of the last timed round: its model is the one that gets trained

    def fresh():
        latest[:] = [runner.context(case)]
        return (latest[0],), {}

    seconds = []  # each round timed here too: pytest-benchmark does not time under xdist or --benchmark-disable

    def timed(ctx):
        start = time.perf_counter()
        masks = runner.prune(case, ctx)
        seconds.append(time.perf_counter() - start)
        return masks

    result = benchsuite_store.get(case.hash)
    benchmark.group = SWEEP_GROUP  # a new case's step is timed --prune-rounds times; a stored one is not run again
    gate = benchsuite_gate and method.stage in ONCE
    if result is None:
        rounds = 1 if method.stage == "post_training" else benchsuite_rounds
        masks = benchmark.pedantic(timed, setup=fresh, rounds=rounds)
    elif gate:
        masks = runner.prune(case, runner.context(case))
    record_property(SOURCE, "store" if result else "computed")
    if gate:
        record_property(TWINS, twins(case, runner, masks))
    if result is None:
        if benchmark.stats:
            median, timer = benchmark.stats.stats.median, "pytest-benchmark"
        else:
            median, timer = statistics.median(seconds), "perf_counter"
        result = runner.finish(case, latest[0], masks)
        result.update(prune_seconds=median, prune_timer=timer)
        benchsuite_store.put(result)
    assert result["nonzero_params"] <= result["params"]
    if "perplexity" in result:
        assert math.isfinite(result["perplexity"]) and result["perplexity"] >= 1.0
    else:
        assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "layer_density"})
    record_property(RESULT, result)


ONCE = ("after_training", "at_init")  # the stages whose whole pruning step a case times


def digest(masks) -> str:
    h = hashlib.sha256()
    for name in sorted(masks):
        h.update(name.encode() + masks[name].cpu().numpy().tobytes())
    return h.hexdigest()


def twins(case: Case, runner: Runner, masks) -> list[str]:
    """For a regression check: the other registered methods of the case's stage and target kind whose masks, on the
    case's own starting model, batch and seed, equal the masks its method chose (a method edited into another one
    shows here)."""
    own, method = digest(masks), get_method(case.method)
    kind, out = method.kind_for(case.compression), []
    for name in list_methods(stage=method.stage):
        other = get_method(name)
        if name == case.method or not other.fits(case.compression) or other.kind_for(case.compression) != kind:
            continue
        twin = Case(case.pair, case.weights, name, case.compression, case.seed)
        try:
            if digest(runner.prune(twin, runner.context(twin))) == own:
                out.append(name)
        except Exception:  # another method's failure is its own test's business
            continue
    return out
