"""The rule of the regression check: validation outcomes, never the method itself as its reference, never vacuous."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchsuite.pruning.methods import get_method
from benchsuite.report.regression import changed_methods, check, read_reference
from benchsuite.run.store import pack

IMAGES = 500


def rows(method, accuracy, version="old", seeds=3, rng=None, difficulty=None, compression=8):
    """Rows of results.csv for a method whose models get `accuracy` of the validation images right."""
    rng = rng or np.random.default_rng(0)
    z = rng.normal(size=IMAGES) if difficulty is None else difficulty
    out = []
    for s in range(seeds):
        right = z + rng.normal(0, 0.3, IMAGES) > np.quantile(z, 1 - accuracy)
        out.append({"method": method, "method_version": version, "pair": "p", "weights": "A",
                    "compression": compression, "seed": s, "top1": right.mean(), "val_top1": right.mean(),
                    "val_correct": pack(right), "n_val": IMAGES})
    return out


@pytest.fixture
def z():
    return np.random.default_rng(1).normal(size=IMAGES)


def current(method):
    return get_method(method).version


def test_a_changed_method_clearly_worse_than_its_old_version_is_a_regression(z):
    ref = pd.DataFrame(rows("random", 0.90, difficulty=z))
    verdict = check(pd.DataFrame(rows("random", 0.70, current("random"), difficulty=z)), ref, "global_magnitude")
    assert verdict.failed and "random on p A x8 vs random" in verdict.lines[0] and "REGRESSION" in verdict.lines[0]
    assert "validation top-1" in verdict.lines[0] and "test top-1" in verdict.lines[0]


def test_a_drop_inside_the_noise_is_not(z):
    ref = pd.DataFrame(rows("random", 0.90, difficulty=z))
    verdict = check(pd.DataFrame(rows("random", 0.895, current("random"), difficulty=z,
                                      rng=np.random.default_rng(5))), ref, "global_magnitude")
    assert not verdict.failed and verdict.lines[0].endswith(" ok")


def test_a_new_method_is_compared_with_the_reference_method(z):
    ref = pd.DataFrame(rows("global_magnitude", 0.90, current("global_magnitude"), difficulty=z))
    verdict = check(pd.DataFrame(rows("layer_gradient", 0.60, current("layer_gradient"), difficulty=z)), ref,
                    "global_magnitude")
    assert verdict.failed and "vs global_magnitude" in verdict.lines[0]


def test_a_method_is_never_its_own_reference(z):
    """The vacuous case: the reference holds the method's current version, e.g. because it was overwritten."""
    same = rows("random", 0.90, current("random"), difficulty=z)
    verdict = check(pd.DataFrame(same), pd.DataFrame(same), "global_magnitude")
    assert not verdict.failed and verdict.lines == [
        f"regression check: random is unchanged since the reference (version {current('random')}): not compared"]


def test_no_comparable_rows_fails_the_check(z):
    ref = pd.DataFrame(rows("global_magnitude", 0.90, current("global_magnitude"), difficulty=z, compression=4))
    verdict = check(pd.DataFrame(rows("random", 0.90, current("random"), difficulty=z)), ref, "global_magnitude")
    assert verdict.failed and "holds no comparable rows" in verdict.lines[0]


def test_the_reference_method_with_no_rows_of_its_own_is_not_compared_with_itself(z):
    ref = pd.DataFrame(rows("random", 0.90, difficulty=z))
    changed = pd.DataFrame(rows("global_magnitude", 0.90, "new", difficulty=z))
    verdict = check(changed, ref, "global_magnitude")
    assert verdict.failed and "holds no comparable rows" in verdict.lines[0]


def test_changed_methods_are_those_whose_version_is_not_in_the_reference():
    ref = pd.DataFrame([{"method": "random", "method_version": current("random")},
                        {"method": "global_magnitude", "method_version": "stale"}])
    changed = changed_methods(ref)
    assert "random" not in changed and {"global_magnitude", "layer_magnitude"} <= changed


def test_a_reference_without_validation_outcomes_is_a_clear_error(tmp_path):
    path = tmp_path / "results.csv"
    pd.DataFrame([{"method": "m", "top1": 0.9}]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="lacks columns .*'val_correct'.*regenerate the reference"):
        read_reference(path)


def test_two_patterns_at_one_compression_are_checked_apart_against_their_own_reference(z, tmp_path):
    def patterned(accuracy, pattern, version="old"):
        return [{**r, "compression": 2.0, "pattern": pattern} for r in rows("nm_magnitude", accuracy, version,
                                                                            difficulty=z)]

    path = tmp_path / "results.csv"
    pd.DataFrame(rows("global_magnitude", 0.9, difficulty=z) + patterned(0.9, "2:4") + patterned(0.6, "4:8")) \
        .to_csv(path, index=False)
    ran = pd.DataFrame(patterned(0.6, "2:4", current("nm_magnitude")) + patterned(0.6, "4:8", current("nm_magnitude")))
    verdict = check(ran, read_reference(path), "global_magnitude")
    assert verdict.failed
    assert "nm_magnitude on p A 2:4 vs nm_magnitude" in verdict.lines[0] and "REGRESSION" in verdict.lines[0]
    assert "nm_magnitude on p A 4:8 vs nm_magnitude" in verdict.lines[1] and verdict.lines[1].endswith(" ok")


def test_language_model_results_are_refused_with_a_clear_reason(z, tmp_path):
    path = tmp_path / "results.csv"
    pd.DataFrame([{"method": "wanda", "perplexity": 60.0}]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="a language-model leaderboard; .* no check of perplexity yet"):
        read_reference(path)
    verdict = check(pd.DataFrame([{"method": "wanda", "perplexity": 60.0}]), pd.DataFrame(rows("wanda", 0.9)), "m")
    assert verdict.failed and "no check of perplexity yet" in verdict.lines[0]
