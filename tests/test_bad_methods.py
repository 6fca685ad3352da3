"""A method that breaks the contract gets a clear error naming the method and the parameter."""
from __future__ import annotations

import pytest
import torch

import benchsuite as bs
from benchsuite.pruning.context import Context, call_method, target_for
from benchsuite.pruning.masks import MaskError
from benchsuite.pruning.methods import METHODS, Method


def run(fn, target="global"):
    torch.manual_seed(0)
    model = bs.get_model("lenet300")
    batch = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    ctx = Context(model, target_for(model, target, 4), batch, torch.Generator().manual_seed(0))
    return call_method(Method("hostile", fn, target), ctx)


def magnitude(ctx):
    return ctx.select_global({n: w.abs() for n, w in ctx.weights.items()})


def test_wrong_keys_name_the_missing_parameter():
    with pytest.raises(MaskError, match=r"'hostile'.*missing \['fc2.weight'\]"):
        run(lambda ctx: {k: v for k, v in magnitude(ctx).items() if k != "fc2.weight"})


def test_wrong_shape_names_the_parameter():
    with pytest.raises(MaskError, match="'hostile': mask for fc1.weight has shape"):
        run(lambda ctx: {**magnitude(ctx), "fc1.weight": magnitude(ctx)["fc1.weight"].T})


def test_float_masks_are_rejected():
    with pytest.raises(MaskError, match="mask for fc1.weight is torch.float32, not a torch.bool"):
        run(lambda ctx: {k: v.float() for k, v in magnitude(ctx).items()})


@pytest.mark.parametrize("make, word", [(lambda w: w / 0 * 0, "NaN"), (lambda w: w.abs() / 0, r"\+inf"),
                                        (lambda w: -w.abs() / 0, "-inf")])
def test_scores_that_are_not_finite_are_rejected_naming_method_and_layer(make, word):
    with pytest.raises(MaskError, match=f"method 'hostile': scores for fc1.weight contain [0-9,]+ {word}"):
        run(lambda ctx: ctx.select_global({n: make(w) for n, w in ctx.weights.items()}))


def test_a_wrong_count_is_rejected():
    with pytest.raises(MaskError, match="'hostile': masks keep"):
        run(lambda ctx: {n: w > 0 for n, w in ctx.weights.items()})


def test_a_layer_method_must_hit_each_layer_count():
    with pytest.raises(MaskError, match="mask for fc1.weight keeps"):
        run(magnitude, target="layer")


def test_editing_the_model_in_place_is_rejected():
    def edit(ctx):
        ctx.weights["fc1.weight"].zero_()
        return magnitude(ctx)

    with pytest.raises(MaskError, match="'hostile' changed the model in place \\(fc1.weight\\)"):
        run(edit)


def test_new_weights_must_be_finite():
    with pytest.raises(MaskError, match="new values for fc1.weight contain NaN"):
        run(lambda ctx: (magnitude(ctx), {"fc1.weight": torch.full_like(ctx.weights["fc1.weight"], float("nan"))}))


def test_new_weights_are_applied_under_the_masks():
    masks = run(lambda ctx: (magnitude(ctx), {"fc1.weight": torch.ones_like(ctx.weights["fc1.weight"])}))
    model = bs.get_model("lenet300")
    bs.apply_masks(model, masks)
    assert torch.equal(model.fc1.weight.detach(), masks["fc1.weight"].float())


def test_unknown_method_suggests_a_name():
    with pytest.raises(KeyError, match="did you mean global_magnitude"):
        bs.prune(bs.get_model("lenet300"), "global_magnitud", 4, (torch.zeros(1, 784), torch.zeros(1).long()))


def test_registering_a_name_twice_is_an_error():
    bs.list_methods()
    with pytest.raises(ValueError, match="registered twice"):
        METHODS.add("random", METHODS.get("random"))


@pytest.mark.parametrize("target", ["global", ("layer", "global")])
def test_dynamic_sparse_training_needs_a_target_that_gives_each_layer_its_count(target):
    with pytest.raises(ValueError, match="dynamic sparse training keeps every layer's count"):
        bs.register_method("drifting", target=target, stage="during_training", schedule=bs.Dynamic())
    assert "drifting" not in bs.list_methods()
