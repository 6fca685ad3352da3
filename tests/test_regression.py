"""The regression check's rule and its reference files: validation outcomes, a method's own older rows or a floor,
never vacuous, and a reference that is refused by name when it cannot be trusted."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from benchsuite.pruning.methods import get_method
from benchsuite.report.reference import ReferenceError, read, seal
from benchsuite.report.regression import changed_methods, check
from benchsuite.report.stats import _half, compare
from benchsuite.run.store import pack

IMAGES = 500


def rows(method, accuracy, version="old", seeds=3, rng=None, difficulty=None, compression=8.0, pattern=""):
    """Result rows of a method whose models get `accuracy` of the validation images right."""
    rng = rng or np.random.default_rng(0)
    z = rng.normal(size=IMAGES) if difficulty is None else difficulty
    out = []
    for s in range(seeds):
        right = z + rng.normal(0, 0.3, IMAGES) > np.quantile(z, 1 - accuracy)
        out.append({"method": method, "method_version": version, "pair": "p", "weights": "A",
                    "compression": compression, "pattern": pattern, "budget": "",
                    "hyperparameters": str(get_method(method).hyperparameters), "seed": s, "top1": right.mean(),
                    "val_top1": right.mean(), "val_correct": pack(right), "n_val": IMAGES})
    return out


@pytest.fixture
def z():
    return np.random.default_rng(1).normal(size=IMAGES)


def current(method):
    return get_method(method).version


def frame(*parts):
    return pd.DataFrame([r for p in parts for r in p])


def test_a_changed_method_clearly_worse_than_its_old_version_is_a_regression(z):
    verdict = check(frame(rows("random", 0.70, current("random"), difficulty=z)), frame(rows("random", 0.90,
                                                                                          difficulty=z)))
    assert verdict.failed and verdict.regressed[0].startswith("random on p A x8 vs random (version old)")
    line = next(line for line in verdict.lines if "REGRESSION" in line)
    assert "validation top-1" in line and "test top-1" in line and "3 vs 3 seeds, paired" in line
    assert verdict.final.startswith("benchsuite regression check: FAILED (1 of 1 comparisons regressed: random on p")


def test_a_drop_inside_the_noise_is_not(z):
    ref = frame(rows("random", 0.90, difficulty=z))
    verdict = check(frame(rows("random", 0.895, current("random"), difficulty=z, rng=np.random.default_rng(5))), ref)
    assert not verdict.failed and verdict.lines[0].endswith(" ok")
    assert verdict.final == "benchsuite regression check: passed (1 comparisons, none regressed)"


def test_a_margin_lets_a_significant_but_small_drop_pass(z):
    ref = frame(rows("random", 0.90, difficulty=z))
    worse = frame(rows("random", 0.86, current("random"), difficulty=z))
    assert check(worse, ref).failed
    assert not check(worse, ref, margin=0.10).failed


def test_an_unchanged_method_passes_uncompared_unless_a_floor_is_asked_and_then_fails_far_below_it(z):
    same = rows("random", 0.60, current("random"), difficulty=z)
    floor = rows("global_magnitude", 0.95, "any", difficulty=z)
    verdict = check(frame(same), frame(same, floor))
    assert not verdict.failed and verdict.compared == 0
    assert verdict.lines == [f"regression check: random is unchanged since the reference (version "
                             f"{current('random')}): not compared"]
    assert verdict.final.endswith("passed (0 comparisons, every method in scope is unchanged since the reference)")
    floored = check(frame(same), frame(same, floor), floor="global_magnitude")
    assert floored.failed and "random on p A x8 vs global_magnitude (floor)" in floored.regressed[0]
    assert not check(frame(same), frame(same, rows("global_magnitude", 0.5, "any", difficulty=z)),
                     floor="global_magnitude").failed


def test_a_new_method_with_no_rows_and_no_floor_compares_nothing_and_fails(z):
    verdict = check(frame(rows("layer_gradient", 0.9, current("layer_gradient"), difficulty=z)),
                    frame(rows("global_magnitude", 0.9, difficulty=z)))
    assert verdict.failed and verdict.compared == 0
    assert verdict.final == ("benchsuite regression check: FAILED (1 settings compared nothing: layer_gradient on p A "
                             "x8: new, and no rows of it or of a floor)")
    assert "or name a floor with --reference-method" in verdict.lines[-1]


def test_a_floor_without_rows_at_a_setting_fails_there(z):
    verdict = check(frame(rows("random", 0.9, current("random"), difficulty=z)),
                    frame(rows("global_magnitude", 0.9, difficulty=z, compression=4.0)), floor="global_magnitude")
    assert verdict.failed and verdict.empty == ["random on p A x8: no global_magnitude rows"]


def test_patterns_are_checked_apart_against_their_own_rows(z):
    ref = frame(rows("nm_magnitude", 0.9, difficulty=z, compression=2.0, pattern="2:4"),
                rows("nm_magnitude", 0.6, difficulty=z, compression=2.0, pattern="4:8"))
    ran = frame(rows("nm_magnitude", 0.6, current("nm_magnitude"), difficulty=z, compression=2.0, pattern="2:4"),
                rows("nm_magnitude", 0.6, current("nm_magnitude"), difficulty=z, compression=2.0, pattern="4:8"))
    verdict = check(ran, ref)
    assert [r.split(" (")[0] for r in verdict.regressed] == ["nm_magnitude on p A 2:4 vs nm_magnitude"]


def test_a_method_whose_masks_equal_another_ones_is_named(z):
    old = rows("random", 0.9, difficulty=z)
    verdict = check(frame(rows("random", 0.9, current("random"), difficulty=z)), frame(old),
                    twins={"random": ["global_magnitude"]})
    assert ("regression check: random's masks equal global_magnitude's in every case it ran: it now prunes exactly "
            "as global_magnitude does") in verdict.lines


def test_changed_methods_are_those_whose_version_is_not_in_the_reference():
    ref = pd.DataFrame([{"method": "random", "method_version": current("random")},
                        {"method": "global_magnitude", "method_version": "stale"}])
    assert changed_methods(ref, ["random", "global_magnitude", "layer_magnitude"]) == {"global_magnitude",
                                                                                      "layer_magnitude"}


@pytest.fixture
def sealed(z, tmp_path):
    path = tmp_path / "reference.csv"
    path.write_text(seal(frame(rows("random", 0.9, difficulty=z), rows("global_magnitude", 0.9, difficulty=z))))
    return path


def test_a_sealed_reference_reads_back_with_every_row(sealed):
    ref = read(sealed)
    assert len(ref) == 6 and set(ref.method) == {"random", "global_magnitude"} and (ref.pattern == "").all()


@pytest.mark.parametrize("damage, words", [
    (lambda lines: [lines[0], lines[1].replace(",p,A,", ",p,B,", 1), *lines[2:]],
     r"line 2 \(method random pair p weights B compression 8.0 seed 0\): its checksum does not match"),
    (lambda lines: [*lines, lines[1]], "lines 2, 8 are the same case"),
    (lambda lines: [*lines[:-1], lines[-1][: len(lines[-1]) // 2]], "line 7: .* fields where the header has"),
    (lambda lines: [line.rsplit(",", 1)[0] for line in lines], "has no row_checksum column"),
    (lambda lines: lines[:1], "holds no rows"),
    (lambda lines: [], "has no row_checksum column"),  # an empty file
])
def test_a_damaged_reference_is_refused_naming_the_file_and_the_line(sealed, damage, words):
    lines = sealed.read_text().splitlines()
    sealed.write_text("\n".join(damage(lines)) + "\n")
    with pytest.raises(ReferenceError, match=f"reference {sealed}.*{words}"):
        read(sealed)


def test_garbage_or_a_missing_file_is_refused(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(ReferenceError, match="is not a CSV file"):
        read(junk)
    with pytest.raises(ReferenceError, match="no such file; make one with: benchsuite-leaderboard"):
        read(tmp_path / "none.csv")


def test_two_versions_of_a_method_are_refused(z, tmp_path):
    path = tmp_path / "reference.csv"
    other = {**rows("random", 0.9, "b", difficulty=z)[0], "compression": 4.0}
    path.write_text(seal(frame(rows("random", 0.9, "a", difficulty=z), [other])))
    with pytest.raises(ReferenceError, match="holds several versions of random"):
        read(path)


def test_language_model_results_are_refused_with_a_clear_reason(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text(seal(pd.DataFrame([{**rows("random", 0.9)[0], "perplexity": 60.0}])))
    with pytest.raises(ReferenceError, match="language-model results; .* no check of perplexity yet"):
        read(path)


A = 0.3  # each model's own per-image noise beside the images' shared difficulty


def versions(rng, accuracy, drop, seeds=3, images=IMAGES, seed_sd=0.005):
    """Validation outcomes of a method's old and new version: a seed's two runs share its shift (the same pruning
    batch and data order), each model errs on images of its own beyond a shared difficulty."""
    z, shift = rng.normal(size=images), seed_sd * rng.normal(size=seeds)

    def models(acc):
        q = scipy_stats.norm.ppf(np.clip(acc + shift, 0.001, 0.999)) * math.sqrt(1 + A**2)
        return z[None, :] + A * rng.normal(size=(seeds, images)) < q[:, None]

    return models(accuracy - drop), models(accuracy)


def caught(drop, trials, comparisons=10):
    """How often the check flags a drop at one setting of `comparisons` (Holm's first step: one-sided at 5% / n)."""
    rng, hits = np.random.default_rng(0), 0
    for _ in range(trials):
        new, old = versions(rng, 0.9, drop)
        c = compare(new, old, paired_seeds=True)
        hits += c.difference < -_half(c.terms, 0.05 / comparisons)
    return hits / trials


def test_the_power_the_readme_states_at_quick_sizes():
    """500 validation images, 3 seeds paired, the 10 settings of a method in the quick sweep: a setting with no change
    is flagged well under 1% of the time (10 of them, about 1%), a 2-point drop at one setting about 40% of the time,
    and 6 points is the smallest drop caught 80% of the time (measured on 1,500 trials: 0.13%, 39%, 73% at 4 points,
    80% at 6)."""
    assert caught(0.0, 400) <= 0.01
    assert 0.3 <= caught(0.02, 400) <= 0.5
    assert caught(0.04, 400) < 0.8 <= caught(0.06, 400)
