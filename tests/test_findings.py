"""Findings on constructed results whose answer is known: a clear win, a tie, a difference inside the noise, a
setting where both methods are at chance level, and the one verdict rule on constructed families."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

import pytest

from benchsuite.report.cells import Cells
from benchsuite.report.claims import baselines, shrinkbench, stages, structure
from benchsuite.report.claims.rule import SHOWN, Tally, judge, listed, verdict
from benchsuite.run.store import pack

IMAGES = 1000
Z = np.random.default_rng(0).normal(size=IMAGES)


def cell(method, compression, accuracy, weights="A", pair="p", seeds=3, speedup=None, noise=0.2, draw=None,
         measured=1.0):
    """Result rows of one cell: models that get the `accuracy` easiest images right, give or take `noise` (the
    larger, the more a model's errors are its own). `draw` names the random draw (default: the cell's own)."""
    rng = np.random.default_rng(zlib.crc32((draw or f"{method} {compression} {weights}").encode()))
    rows = []
    for s in range(seeds):
        right = Z + rng.normal(0, noise, IMAGES) > np.quantile(Z, 1 - accuracy)
        if accuracy <= 0.1:  # guessing: right on a random tenth
            right = rng.random(IMAGES) < accuracy
        rows.append({"pair": pair, "weights": weights, "method": method, "compression": compression, "seed": s,
                     "top1": right.mean(), "test_correct": pack(right), "n_test": IMAGES, "num_classes": 10,
                     "compression_achieved": compression, "speedup": speedup or compression,
                     "top1_after_pruning": 0.5, "dense_top1": 0.95, "train_epochs": 22.0, "stage": "after_training",
                     "measured_speedup": measured * (1 + 0.01 * s), "measured_speedup_b64": measured,
                     "dense_latency_ms": 0.1, "dense_latency_ms_b64": 1.0, "latency_form": "masked",
                     "latency_form_b64": ["masked", "csr", "csr"][s]})
    return rows


def claims(rows):
    frame = pd.DataFrame(rows)
    cells = Cells(frame)
    return [c.line() for c in shrinkbench.claims(cells, cells.aggregate(), frame)]


def test_a_clear_win_a_tie_and_a_chance_level_setting_are_counted_apart():
    rows = [*cell("global_magnitude", 2, 0.95), *cell("layer_magnitude", 2, 0.80),   # clear win
            *cell("global_magnitude", 4, 0.90, draw="same"), *cell("layer_magnitude", 4, 0.90, draw="same"),  # a tie
            *cell("global_magnitude", 8, 0.10), *cell("layer_magnitude", 8, 0.10)]   # both guessing
    size = claims(rows)[0]
    assert size.startswith("**Global beats layerwise magnitude pruning at equal model size** (ShrinkBench, Blalock et "
                           "al. 2020) — not shown: ")  # "beats" is every testable setting, and one is a tie
    assert ("of 2 testable (pair, weights, compression) settings, 1 won, 0 lost, 1 undecided; 1 left out with both "
            "sides at chance level by global_magnitude") in size


def test_half_a_point_on_a_thousand_images_is_not_a_win_when_models_err_on_images_of_their_own():
    """The differences sit on images each model gets wrong on its own: half a point is inside that noise. (When
    both err on the same images but one also on five more, the paired test does see it; see test_stats.)"""
    rows = [*cell("global_magnitude", 2, 0.935, noise=1.0), *cell("layer_magnitude", 2, 0.930, noise=1.0)]
    assert "0 won, 0 lost, 1 undecided" in claims(rows)[0]
    assert "— not shown" in claims(rows)[0]


def test_a_lost_setting_is_named_with_its_difference():
    rows = [*cell("global_magnitude", 2, 0.70), *cell("layer_magnitude", 2, 0.95)]
    size = claims(rows)[0]
    assert "— contradicted" in size and "Lost: p A x2 (-2" in size


@pytest.mark.parametrize("won, lost, undecided, quantifier, expected", [
    (3, 0, 0, "all", "reproduced"), (2, 0, 1, "all", "not shown"), (2, 1, 0, "all", "mixed"),
    (0, 1, 2, "all", "contradicted"), (0, 0, 3, "all", "not shown"), (0, 0, 0, "all", "untestable"),
    (1, 0, 2, "some", "reproduced"), (1, 1, 1, "some", "reproduced"), (0, 2, 0, "some", "contradicted"),
    (0, 0, 2, "some", "not shown"), (0, 0, 0, "some", "untestable")])
def test_one_verdict_rule_for_every_claim(won, lost, undecided, quantifier, expected):
    tally = Tally({f"w{i}": 0.1 for i in range(won)}, {f"l{i}": -0.1 for i in range(lost)},
                  [f"u{i}" for i in range(undecided)])
    assert verdict(tally, quantifier) == expected


def test_an_equivalence_claim_is_won_inside_its_margin_and_lost_outside_it():
    """1,000 images whose outcomes differ on 3 (inside 1 point) or on 50 (5 points, outside). With seeds that
    disagree, three of them leave too few degrees of freedom to show equivalence within a point."""
    outcomes = np.repeat(Z[None, :] > np.quantile(Z, 0.1), 3, axis=0)  # three seeds that agree: no seed term
    close, far = outcomes.copy(), outcomes.copy()
    right = np.flatnonzero(outcomes.all(0))
    close[:, right[:3]] = False  # 0.3 points worse
    far[:, right[:50]] = False  # 5 points worse
    for test, margin in (("matches", 0.01), ("matches or beats", 0.01)):
        tally = judge([("close", close, outcomes, 10), ("far", far, outcomes, 10)], test, margin)
        assert list(tally.won) == ["close"] and list(tally.lost) == ["far"], test
    beats = judge([("close", close, outcomes, 10)], "beats")
    assert beats.undecided == ["close"]  # 0.3 points is a difference "beats" cannot see, and "matches" can


def test_a_reversal_between_weights_needs_two_significant_opposite_results():
    rows = [*cell("global_magnitude", 2, 0.95, "A"), *cell("layer_magnitude", 2, 0.80, "A"),
            *cell("global_magnitude", 2, 0.80, "B"), *cell("layer_magnitude", 2, 0.95, "B"),
            *cell("global_magnitude", 4, 0.95, "A"), *cell("layer_magnitude", 4, 0.80, "A"),
            *cell("global_magnitude", 4, 0.90, "B"), *cell("layer_magnitude", 4, 0.90, "B")]
    weights = claims(rows)[2]
    assert "— reproduced: of 2 testable (pair, compression) settings with weights A and B, 1 won, 0 lost, " \
           "1 undecided" in weights
    assert "Won: global_magnitude vs layer_magnitude on p x2: ahead under A, behind under B." in weights


def test_layerwise_wins_at_equal_speedup_only_where_it_is_significant():
    """Equal at 2x, far apart at 4x (global's 8x saves only 4x the FLOPs; layer's interpolates to 92.5%)."""
    rows = [*cell("global_magnitude", 2, 0.95, speedup=2.0), *cell("global_magnitude", 8, 0.60, speedup=4.0),
            *cell("layer_magnitude", 2, 0.95, speedup=2.0), *cell("layer_magnitude", 8, 0.90, speedup=8.0)]
    speed = claims(rows)[1]
    assert speed.startswith("**Layerwise magnitude pruning can beat global at equal theoretical speedup** "
                            "(ShrinkBench, Blalock et al. 2020) — reproduced: ")
    assert "p A at 4.0x" in speed and "p A at 2.0x" not in speed


def test_no_list_is_cut_without_saying_how_many_more():
    items = [f"item {i}" for i in range(SHOWN + 4)]
    assert listed(items).endswith(f"item {SHOWN - 1}; and 4 more")
    assert listed(items[:3]) == "item 0; item 1; item 2"


def staged(method, compression, accuracy, stage, epochs, density=0.5, **kwargs):
    return [{**row, "stage": stage, "train_epochs": epochs, "density:fc1": density}
            for row in cell(method, compression, accuracy, **kwargs)]


def test_the_claims_about_stages_compare_at_equal_training_and_give_a_verdict_per_method():
    rows = [*staged("global_magnitude", 16, 0.95, "after_training", 22),
            *staged("global_magnitude [full]", 16, 0.96, "after_training", 40),
            *staged("global_magnitude [like-imp_lr]", 16, 0.95, "after_training", 300, noise=0.0, draw="x"),
            *staged("snip", 16, 0.85, "at_init", 20, 0.0), *staged("synflow", 16, 0.90, "at_init", 20),
            *staged("random_init", 16, 0.80, "at_init", 20),
            *staged("imp", 16, 0.955, "during_training", 290, noise=0.0, draw="x"),
            *staged("global_magnitude", 32, 0.90, "after_training", 22),
            *staged("global_magnitude [full]", 32, 0.91, "after_training", 40),
            *staged("imp", 32, 0.70, "during_training", 350)]
    frame = pd.DataFrame(rows)
    cells = Cells(frame)
    found = {c.statement: c for c in stages.claims(cells, cells.aggregate(), frame)}
    assert found["snip beats random pruning at initialisation"].verdict == "reproduced"
    assert found["global_magnitude [full] beats synflow at equal training under the mask"].verdict == "reproduced"
    under_mask = found["global_magnitude [full] beats snip at equal training under the mask"]
    assert "global_magnitude [full] 40 epochs from a random initialisation, snip 20 epochs" in under_mask.line()
    assert "global_magnitude beats snip at equal total training" in found
    total = found["imp matches or beats one-shot global_magnitude [like-imp_lr] at x16 and above, at equal total "
                  "training"]
    assert total.verdict == "reproduced" and len(total.tally.won) == 1  # x32 has no like-imp_lr baseline
    last = found["imp matches or beats one-shot global_magnitude [full] at x16 and above, at equal training under "
                 "the final mask"]
    assert last.verdict == "contradicted" and list(last.tally.lost) == ["p A x32"]
    assert last.tally.undecided == ["p A x16"]  # seeds that disagree: within a point is not shown
    collapse = found["SynFlow empties no layer, while SNIP may"]
    assert collapse.verdict == "reproduced" and list(collapse.tally.won) == [
        "p A x16: snip emptied a layer, synflow kept every one"]


def test_equal_total_training_leaves_out_settings_whose_training_differs_by_more_than_10_percent():
    rows = [*staged("global_magnitude", 16, 0.95, "after_training", 22), *staged("snip", 16, 0.85, "at_init", 30)]
    frame = pd.DataFrame(rows)
    cells = Cells(frame)
    total, = [c for c in stages.claims(cells, cells.aggregate(), frame) if c.statement.endswith("equal total training")]
    assert total.verdict == "untestable" and "1 settings left out, their training more than 10% apart" in total.line()


def test_layer_collapse_is_untestable_when_neither_method_empties_a_layer():
    rows = [*staged("snip", 16, 0.85, "at_init", 20), *staged("synflow", 16, 0.90, "at_init", 20)]
    frame = pd.DataFrame(rows)
    cells = Cells(frame)
    collapse, = [c for c in stages.claims(cells, cells.aggregate(), frame) if c.statement.startswith("SynFlow")]
    assert collapse.verdict == "untestable"


def test_measured_speed_under_half_the_theoretical_is_listed_largest_gap_first():
    from benchsuite.report.findings import speed_claims

    rows = [*cell("global_magnitude", 16, 0.9), *cell("global_magnitude", 2, 0.9, measured=1.5),
            *cell("layer_magnitude", 32, 0.9, measured=4.0)]
    agg = Cells(pd.DataFrame(rows)).aggregate()
    at_1, at_64 = speed_claims(agg)
    assert at_1.startswith("- At batch 1, measured speedup is under half the theoretical one in 2 of 3 settings: "
                           "global_magnitude on p A x16: 16.00x on paper, 1.01x measured (masked); layer_magnitude on "
                           "p A x32: 32.00x on paper, 4.04x measured (masked).")  # the median seed's; 16x gap first
    assert at_1.endswith("The largest measured speedup is 4.04x (layer_magnitude on p A x32, masked, 32.00x on paper).")
    assert "csr" in at_64  # the form most seeds found fastest


def test_a_cell_away_from_its_columns_compression_is_left_out_of_equal_size_and_named():
    from benchsuite.report.findings import leaders

    short = [{**r, "compression_achieved": 3.4} for r in cell("nm_magnitude 2:8", 4, 0.99)]
    rows = [*cell("global_magnitude", 4, 0.9, draw="one"), *cell("layer_magnitude", 4, 0.9, draw="one"), *short]
    cells = Cells(pd.DataFrame(rows))
    line, = leaders(cells, cells.aggregate())
    assert "x4: global_magnitude (tied: layer_magnitude)" in line  # the 99% of nm_magnitude 2:8 is not in it
    assert line.endswith("Left out at equal size, as they achieve a compression more than 5% from their column's: "
                         "nm_magnitude 2:8 x4 (3.40).")


def test_nm_patterns_are_compared_with_unstructured_pruning_at_the_compression_they_achieve():
    layer = [*cell("layer_magnitude", 1.5, 0.95, draw="a"), *cell("layer_magnitude", 2, 0.95, draw="a"),
             *cell("layer_magnitude", 4, 0.95, draw="a")]
    half = [{**r, "compression_achieved": 1.8} for r in cell("nm_magnitude 2:4", 2, 0.95, draw="a")]
    quarter = [{**r, "compression_achieved": 3.5} for r in cell("nm_magnitude 1:4", 4, 0.80)]
    frame = pd.DataFrame(layer + half + quarter)
    cells = Cells(frame)
    at_half, = structure.claims(cells, cells.aggregate(), frame)
    assert at_half.statement == ("Half-density N:M sparsity (2:4, 4:8) keeps the accuracy of unstructured pruning at "
                                 "the same density")
    assert at_half.verdict == "reproduced" and list(at_half.tally.won) == ["nm_magnitude 2:4 on p A (x1.80)"]
    sparser, = structure.measurements(cells, cells.aggregate())
    assert "of 1 testable cells, 0 won, 1 lost" in sparser
    assert "worse: nm_magnitude 1:4 on p A (x3.50) (-14.9" in sparser


def test_the_baseline_claims_are_judged_from_their_thresholds_up_with_the_training_each_side_had():
    rows = [*staged("rigl", 16, 0.92, "during_training", 20), *staged("snip", 16, 0.85, "at_init", 20),
            *staged("random_erk_init", 16, 0.86, "at_init", 20), *staged("set", 16, 0.89, "during_training", 20),
            *staged("random_init", 16, 0.80, "at_init", 20),
            *staged("lamp", 16, 0.95, "after_training", 22, draw="x", noise=0.0),
            *staged("global_magnitude", 16, 0.95, "after_training", 22, draw="x", noise=0.0),
            *staged("rigl", 4, 0.80, "during_training", 20), *staged("snip", 4, 0.95, "at_init", 20),  # below x10
            *staged("lamp", 8, 0.70, "after_training", 22), *staged("global_magnitude", 8, 0.95, "after_training", 22)]
    frame = pd.DataFrame(rows)
    cells = Cells(frame)
    found = {c.statement: c for c in baselines.claims(cells, cells.aggregate(), frame)}
    rigl = found["rigl beats snip at x10 and above"]
    assert rigl.verdict == "reproduced" and list(rigl.tally.won) == ["p A x16"]  # x4, where snip wins, is not claimed
    assert "rigl trains 20 epochs, snip 20 epochs" in rigl.line()
    assert found["rigl beats random_erk_init at x10 and above"].verdict == "reproduced"
    assert found["set beats random_erk_init at x10 and above"].verdict == "reproduced"
    assert found["rigl beats set at x10 and above"].verdict == "reproduced"
    lamp = found["lamp matches or beats global_magnitude at x16 and above"]
    assert lamp.verdict == "reproduced" and lamp.tally.testable == 1  # equal at x16; x8's loss is below the claim
    assert "within 1 point of top-1" in lamp.line()
    assert found["random_erk_init beats random_init at x16 and above"].verdict == "reproduced"


def test_a_baseline_claim_whose_methods_did_not_run_is_left_out():
    rows = [*staged("rigl", 16, 0.92, "during_training", 20), *staged("global_magnitude", 16, 0.9, "after_training", 22)]
    frame = pd.DataFrame(rows)
    cells = Cells(frame)
    assert baselines.claims(cells, cells.aggregate(), frame) == []
