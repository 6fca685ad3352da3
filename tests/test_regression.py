"""The statistical rule of the regression check."""
from __future__ import annotations

import pandas as pd

from benchsuite.report.regression import changed_methods, check


def rows(method, top1s, compression=8):
    return [{"method": method, "pair": "p", "weights": "A", "compression": compression, "seed": s, "top1": t,
             "method_version": "v"} for s, t in enumerate(top1s)]


def write(tmp_path, data):
    path = tmp_path / "results.csv"
    pd.DataFrame(data).to_csv(path, index=False)
    return path


def test_a_drop_far_beyond_seed_noise_is_a_regression(tmp_path):
    ref = write(tmp_path, rows("m", [0.90, 0.91, 0.905]))
    verdict = check(pd.DataFrame(rows("m", [0.85, 0.86, 0.855])), ref, "global_magnitude")
    assert verdict.failed and "REGRESSION" in verdict.lines[0]


def test_a_drop_within_seed_noise_is_not(tmp_path):
    ref = write(tmp_path, rows("m", [0.90, 0.80, 0.85]))
    verdict = check(pd.DataFrame(rows("m", [0.84, 0.86, 0.82])), ref, "global_magnitude")
    assert not verdict.failed


def test_a_tiny_but_consistent_drop_is_not(tmp_path):
    ref = write(tmp_path, rows("m", [0.900, 0.901, 0.902]))
    verdict = check(pd.DataFrame(rows("m", [0.898, 0.899, 0.900])), ref, "global_magnitude")
    assert not verdict.failed  # below the half-point floor


def test_a_new_method_is_compared_with_the_reference_method(tmp_path):
    ref = write(tmp_path, rows("global_magnitude", [0.90, 0.91, 0.905]))
    verdict = check(pd.DataFrame(rows("new", [0.70, 0.71, 0.705])), ref, "global_magnitude")
    assert verdict.failed and "vs global_magnitude" in verdict.lines[0]


def test_changed_methods_are_those_whose_source_fingerprint_is_not_in_the_file(tmp_path):
    from benchsuite.pruning.methods import get_method

    ref = write(tmp_path, [{"method": "random", "method_version": get_method("random").version},
                           {"method": "global_magnitude", "method_version": "stale"}])
    changed = changed_methods(ref)
    assert "random" not in changed
    assert {"global_magnitude", "layer_magnitude"} <= changed
