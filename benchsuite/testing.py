"""What a test module imports to run benchsuite on its methods, one line each:

    from benchsuite.testing import test_case      # noqa: F401  the selected sweep, one test per case
    from benchsuite.testing import TestContract   # noqa: F401  the mask contract, for every registered method
    from benchsuite.testing import TestPostTrainingContract  # noqa: F401  the same for post-training methods
"""
from __future__ import annotations

import statistics
import time

from benchsuite.contract import TestContract
from benchsuite.post_training_contract import TestPostTrainingContract
from benchsuite.plan.cases import Case
from benchsuite.plugin import RESULT, SOURCE, SWEEP_GROUP
from benchsuite.run.runner import Runner
from benchsuite.run.store import Store

__all__ = ["TestContract", "TestPostTrainingContract", "test_case"]


def test_case(benchsuite_case: Case, benchmark, benchsuite_runner: Runner, benchsuite_store: Store,
              benchsuite_rounds: int, record_property):
    """Prune (timed: the method's call; for a method that acts during training, one prune event), then take the
    result from the store or train as the method's stage says and measure it, and record the metrics (also in the
    test report, which carries them to the controlling process's store from any xdist worker)."""
    case = benchsuite_case
    latest = []  # the context of the last timed round: its model is the one that gets trained

    def fresh():
        latest[:] = [benchsuite_runner.context(case)]
        return (latest[0],), {}

    seconds = []  # each round timed here too: pytest-benchmark does not time under xdist or --benchmark-disable

    def timed(ctx):
        start = time.perf_counter()
        masks = benchsuite_runner.prune(case, ctx)
        seconds.append(time.perf_counter() - start)
        return masks

    result = benchsuite_store.get(case.hash)
    benchmark.group = SWEEP_GROUP  # a stored case's step is timed once more, a new one --prune-rounds times
    masks = benchmark.pedantic(timed, setup=fresh, rounds=1 if result else benchsuite_rounds)
    if benchmark.stats:
        median, timer = benchmark.stats.stats.median, "pytest-benchmark"
    else:
        median, timer = statistics.median(seconds), "perf_counter"
    record_property(SOURCE, "store" if result else "computed")
    if result is None:
        result = benchsuite_runner.finish(case, latest[0], masks)
        result.update(prune_seconds=median, prune_timer=timer)
        benchsuite_store.put(result)
    assert result["nonzero_params"] <= result["params"]
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "layer_density"})
    record_property(RESULT, result)
