"""The sweep test. A test module runs the selected sweep by importing it:

    from benchsuite.testing import test_case  # noqa: F401
"""
from __future__ import annotations

from benchsuite.plan.cases import Case
from benchsuite.pruning.context import call_method
from benchsuite.pruning.methods import get_method
from benchsuite.run.runner import Runner
from benchsuite.run.store import Store

RESULT = "benchsuite_result"


def test_case(case: Case, benchmark, benchsuite_runner: Runner, benchsuite_store: Store, benchsuite_rounds: int,
              record_property):
    """Prune (timed), then take the result from the store or fine-tune and measure it, and record the metrics
    (also in the test report, which carries them to the controlling process's store from any xdist worker)."""
    method = get_method(case.method)
    latest = []  # the context of the last timed round: its model is the one that gets fine-tuned

    def fresh():
        latest[:] = [benchsuite_runner.context(case)]
        return (method, latest[0]), {}

    masks = benchmark.pedantic(call_method, setup=fresh, rounds=benchsuite_rounds)
    result = benchsuite_store.get(case.hash)
    if result is None:
        result = benchsuite_runner.finish(case, latest[0], masks)
        result["prune_seconds"] = benchmark.stats.stats.median if benchmark.stats else None
        benchsuite_store.put(result)
    assert result["nonzero_params"] <= result["params"]
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "layer_density"})
    record_property(RESULT, result)
