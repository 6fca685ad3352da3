"""The harness owns all training: the starting model of each stage, the training each stage calls for, shared levels of
iterative pruning, and the training cost every result records from one origin."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from benchsuite.data import load_dataset
from benchsuite.models import get_model
from benchsuite.plan.cases import Case
from benchsuite.plan.pairs import PAIRS, Recipe, WeightsFile, get_pair, sgd
from benchsuite.plan.sweeps import Block, Sweep
from benchsuite.run import stages
from benchsuite.run.runner import Runner
from benchsuite.run.train import steps_of
from benchsuite.run.weights import _run, load_snapshot, load_weights

MNIST5K = load_dataset("mnist5k")
TINY = "tiny-stages-lenet300"
if TINY not in PAIRS:
    PAIRS.add(TINY, dataclasses.replace(get_pair("mnist5k-lenet300"), name=TINY,
                                        weights={"A": Recipe("adam", 1e-3, 1, 256)}, finetune=sgd(0.01, 1, 256)))


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path)


def run(runner, case):
    ctx = runner.context(case)
    return runner.finish(case, ctx, runner.prune(case, ctx))


def test_the_initialisation_is_the_one_the_dense_run_starts_from_and_the_run_replays_exactly(tmp_path):
    pair = get_pair(TINY)
    dense = load_weights(pair, "A", tmp_path, MNIST5K)
    torch.manual_seed(0)
    fresh = get_model(pair.model).state_dict()
    init = load_snapshot(pair, "A", tmp_path, MNIST5K, 0)
    assert all(torch.equal(init[k], fresh[k]) for k in fresh)
    replayed, images, _ = _run(pair, "A", MNIST5K, "cpu")  # the whole run again, from the same seed
    assert all(torch.equal(v, dense.state[k]) for k, v in replayed.state_dict().items())
    assert images == dense.info["train_images"] == 3500


def test_a_snapshot_within_the_run_is_made_once_and_lies_between_init_and_dense(tmp_path):
    pair = get_pair(TINY)
    step = load_snapshot(pair, "A", tmp_path, MNIST5K, 5)
    again = load_snapshot(pair, "A", tmp_path, MNIST5K, 5)
    assert all(torch.equal(step[k], again[k]) for k in step)
    init, dense = load_snapshot(pair, "A", tmp_path, MNIST5K, 0), load_weights(pair, "A", tmp_path, MNIST5K).state
    assert not torch.equal(step["fc1.weight"], init["fc1.weight"])
    assert not torch.equal(step["fc1.weight"], dense["fc1.weight"])
    assert len(list(tmp_path.glob("*-step5.pt"))) == 1


def test_a_checkpoint_file_has_no_initialisation_to_go_back_to(tmp_path):
    path = tmp_path / "mine.pt"
    torch.save(get_model("lenet300").state_dict(), path)
    pair = dataclasses.replace(get_pair(TINY), weights={"mine": WeightsFile(str(path), "0" * 64)})
    with pytest.raises(ValueError, match="are a checkpoint file: there is no initialisation"):
        load_snapshot(pair, "mine", tmp_path, MNIST5K, 0)


def test_each_stage_records_the_training_it_consumed_from_one_origin(runner):
    epochs = {}
    for method in ("global_magnitude", "snip", "gmp", "imp_lr"):
        result = run(runner, Case(TINY, "A", method, 4, 0))
        epochs[method] = result["train_epochs"]
        assert result["train_images"] == round(result["train_epochs"] * 3500)
    assert epochs["global_magnitude"] == epochs["gmp"] == 2  # the dense run and one epoch of fine-tuning
    assert epochs["snip"] == 1  # one run of the dense recipe from the initialisation
    levels = len(stages.Levels(0.2, 0.0).counts(266_200, 66_242))
    assert epochs["imp_lr"] == 1 + levels  # the dense run, then every level retrains the whole recipe


def test_a_method_at_initialisation_prunes_the_initialisation(runner):
    case = Case(TINY, "A", "snip", 4, 0)
    ctx = runner.context(case)
    init = runner.snapshot(case, 0)
    assert all(torch.equal(v, init[k]) for k, v in ctx.model.state_dict().items())


def test_iterative_cases_share_their_full_levels_and_train_only_their_own_last_one(runner, monkeypatch):
    calls = []
    real_fit = stages.fit
    monkeypatch.setattr(stages, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    levels = {c: len(stages.Levels(0.2, 0.0).counts(266_200, keep)) for c, keep in ((2, 132_895), (4, 66_242))}
    run(runner, Case(TINY, "A", "imp_lr", 2, 0))
    assert len(calls) == levels[2]
    calls.clear()
    run(runner, Case(TINY, "A", "imp_lr", 4, 0))
    assert len(calls) == levels[4] - levels[2] + 1  # its levels past x2's full ones, then its own last
    calls.clear()
    run(runner, Case(TINY, "A", "imp_lr", 4, 0))
    assert len(calls) == 1
    calls.clear()
    run(runner, Case(TINY, "A", "imp_lr", 4, 1))  # another seed is another chain
    assert len(calls) == levels[4]


def test_shared_levels_give_the_result_a_fresh_chain_gives(tmp_path):
    a = run(Runner(tmp_path / "a"), Case(TINY, "A", "imp_lr", 2, 0))
    shared = Runner(tmp_path / "b")
    run(shared, Case(TINY, "A", "imp_lr", 4, 0))  # leaves more levels than x2 needs
    b = run(shared, Case(TINY, "A", "imp_lr", 2, 0))
    assert a["test_correct"] == b["test_correct"] and a["train_images"] == b["train_images"]


def test_hyperparameters_enter_the_case_id_and_hash_only_when_they_differ():
    default = Case(TINY, "A", "imp", 8, 0)
    same = Case(TINY, "A", "imp", 8, 0, (("rate", 0.2),))
    other = Case(TINY, "A", "imp", 8, 0, (("rate", 0.5),))
    assert default.id == f"imp-{TINY}-A-x8-s0" and other.id == f"imp-{TINY}-A-x8-s0-rate0.5"
    assert default.hash == same.hash != other.hash
    assert default.spec["hyperparameters"] == {"rate": 0.2, "rewind": 0.03}


def test_a_sweep_varies_hyperparameters_of_the_methods_that_have_them():
    sweep = Sweep("t", (Block((TINY,), ("A",), "imp,global_magnitude", (8,), (0,), hparams=({}, {"rate": 0.5})),))
    assert sorted(c.id for c in sweep.cases()) == [f"global_magnitude-{TINY}-A-x8-s0", f"imp-{TINY}-A-x8-s0",
                                                    f"imp-{TINY}-A-x8-s0-rate0.5"]


def test_a_checkpoint_joins_only_the_methods_that_can_start_from_one(tmp_path):
    path = tmp_path / "mine.pt"
    torch.save(get_model("lenet300").state_dict(), path)
    pair = get_pair(TINY)
    pair.weights["mine"] = WeightsFile(str(path), "0" * 64)
    try:
        cases = Sweep("t", (Block((TINY,), ("A",), "*", (8,), (0,)),)).cases()
    finally:
        del pair.weights["mine"]
    mine = {c.method for c in cases if c.weights == "mine"}
    assert "gmp" in mine and "global_magnitude" in mine and not mine & {"snip", "imp", "imp_lr", "random_init"}


def test_steps_of_a_run_count_its_last_partial_batch():
    assert steps_of(Recipe("sgd", 0.1, 2, 64), 3500) == 2 * 55


def test_a_retraining_budget_sets_how_long_a_method_after_training_trains_under_its_masks(runner):
    """Dense recipe of 1 epoch and fine-tuning of 1: `full` retrains the recipe's length, `like-imp_lr` as many
    epochs as imp_lr's levels retrain in all; the stage's own budget is the fine-tuning."""
    levels = len(stages.Levels(0.2, 0.0).counts(266_200, 66_242))
    for budget, retraining in (("", 1), ("full", 1), ("like-imp_lr", levels)):
        result = run(runner, Case(TINY, "A", "global_magnitude", 4, 0, (), budget))
        assert result["budget"] == budget and result["train_epochs"] == 1 + retraining
    imp = run(runner, Case(TINY, "A", "imp_lr", 4, 0))
    assert imp["train_epochs"] == 1 + levels  # what like-imp_lr matches


def test_a_gradual_method_prunes_across_the_run_its_budget_gives(runner, monkeypatch):
    long = dataclasses.replace(get_pair(TINY), name=TINY + "-long", weights={"A": Recipe("adam", 1e-3, 4, 256)})
    monkeypatch.setitem(PAIRS._items, long.name, long)
    steps = {budget: steps_of(recipe, 3500) for budget, recipe in (("", long.finetune), ("full", long.weights["A"]))}
    schedule = stages.Gradual(begin=3000 / 11719, end=7000 / 11719, every=100 / 11719)
    for budget in ("", "full"):
        result = run(runner, Case(long.name, "A", "gmp", 4, 0, (), budget))
        assert result["prune_events"] == len(schedule.events(steps[budget], 266_200, 66_242))
        assert result["train_epochs"] == 4 + {"": 1, "full": 4}[budget]


def test_the_budget_enters_the_case_id_and_hash_and_applies_to_the_methods_that_take_it():
    default, full = Case(TINY, "A", "global_magnitude", 8, 0), Case(TINY, "A", "global_magnitude", 8, 0, (), "full")
    assert full.id == f"global_magnitude-{TINY}-A-x8-s0-full" and default.hash != full.hash
    sweep = Sweep("t", (Block((TINY,), ("A",), "global_magnitude,gmp,snip,imp", (8,), (0,), budgets=("", "full")),))
    assert sorted(c.id for c in sweep.cases()) == sorted(
        f"{m}-{TINY}-A-x8-s0{b}" for m in ("global_magnitude", "gmp", "snip", "imp") for b in ("", "-full")
        if not (b and m in ("snip", "imp")))
    with pytest.raises(ValueError, match="unknown training budget 'like-snip'"):
        Sweep("t", (Block((TINY,), ("A",), "global_magnitude", (8,), (0,), budgets=("like-snip",)),)).cases()
