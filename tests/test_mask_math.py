"""Property tests of the selection math: any shapes, any reachable compression, ties, zeros."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from benchsuite.pruning.masks import (MaskError, below_kept, keep_count, layer_keep_counts, select_global,
                                     select_layerwise, validate)

shapes = st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple), min_size=1, max_size=4)
# few distinct values, so that ties and zeros are common
values = st.sampled_from([0.0, 0.0, 1.0, 2.0, -1.0, 0.5])


@st.composite
def layers(draw):
    out = {}
    for i, shape in enumerate(draw(shapes)):
        n = math.prod(shape)
        out[f"l{i}.weight"] = torch.tensor(draw(st.lists(values, min_size=n, max_size=n))).view(shape)
    return out


@given(total_extra=st.integers(0, 1000), prunable=st.integers(1, 10_000), compression=st.floats(1, 1e4))
def test_keep_count_meets_the_compression_or_says_it_cannot(total_extra, prunable, compression):
    total = prunable + total_extra
    try:
        keep = keep_count(total, prunable, compression)
    except ValueError as e:
        assert "unreachable" in str(e)
        assert total / compression < total_extra + 0.5
        return
    assert 0 <= keep <= prunable
    assert abs((keep + total_extra) - total / compression) <= 0.5 or keep == prunable


@given(scores=layers(), data=st.data())
def test_global_selection_keeps_exactly_the_top_scores(scores, data):
    n = sum(s.numel() for s in scores.values())
    keep = data.draw(st.integers(0, n))
    masks = select_global(scores, keep)
    assert sum(int(m.sum()) for m in masks.values()) == keep
    assert all(m.dtype == torch.bool and m.shape == scores[k].shape for k, m in masks.items())
    kept = torch.cat([s[masks[k]] for k, s in scores.items()])
    dropped = torch.cat([s[~masks[k]] for k, s in scores.items()])
    if len(kept) and len(dropped):
        assert kept.min() >= dropped.max()


@given(scores=layers(), data=st.data())
def test_ties_go_to_the_earlier_weight(scores, data):
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    keep = data.draw(st.integers(0, flat.numel()))
    chosen = torch.cat([m.reshape(-1) for m in select_global(scores, keep).values()])
    for value in flat.unique():
        among = chosen[flat == value]
        # within one score value, kept weights come before dropped ones
        assert not (among[1:] & ~among[:-1]).any()


@given(scores=layers(), keep_fraction=st.floats(0, 1))
def test_layerwise_selection_keeps_round_fraction_in_every_layer(scores, keep_fraction):
    sizes = {k: s.numel() for k, s in scores.items()}
    keep = round(keep_fraction * sum(sizes.values()))
    counts = layer_keep_counts(sizes, keep)
    masks = select_layerwise(scores, counts)
    for name, s in scores.items():
        exact = keep * s.numel() / sum(sizes.values())
        assert counts[name] == math.floor(exact + 0.5)
        assert int(masks[name].sum()) == counts[name]
        if 0 < counts[name] < s.numel():
            assert s[masks[name]].min() >= s[~masks[name]].max()


@given(scores=layers(), data=st.data())
def test_selection_is_deterministic(scores, data):
    keep = data.draw(st.integers(0, sum(s.numel() for s in scores.values())))
    a, b = select_global(scores, keep), select_global({k: v.clone() for k, v in scores.items()}, keep)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("bad, word", [(float("nan"), "NaN"), (float("inf"), r"\+inf"), (float("-inf"), "-inf")])
def test_a_score_that_is_not_finite_is_an_error_naming_the_layer(bad, word):
    scores = {"fc1.weight": torch.tensor([1.0, 2.0]), "fc2.weight": torch.tensor([bad, 1.0], dtype=torch.float64)}
    for select in (lambda: select_global(scores, 1), lambda: select_layerwise(scores, {n: 1 for n in scores})):
        with pytest.raises(MaskError, match=f"scores for fc2.weight contain 1 {word} \\(of 2\\)"):
            select()


def test_scores_beyond_float32_keep_their_order():
    """SynFlow's scores on ResNet-56 reach 1e67: cast to float32 they would all be +inf, a tie broken by index."""
    scores = {n: torch.tensor(v, dtype=torch.float64) for n, v in (("a", [1e60, 3e60]), ("b", [2e60, 4e60]))}
    masks = select_global(scores, 2)
    assert masks["a"].tolist() == [False, True] and masks["b"].tolist() == [False, True]
    assert select_layerwise(scores, {"a": 1, "b": 1})["b"].tolist() == [False, True]
    close = {"a": torch.tensor([1.0, 1.0 + 2**-40], dtype=torch.float64)}  # equal in float32, not in float64
    assert select_global(close, 1)["a"].tolist() == [False, True]


@given(scores=layers(), data=st.data())
def test_weights_already_pruned_rank_below_every_kept_one(scores, data):
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    pruned = data.draw(st.lists(st.booleans(), min_size=flat.numel(), max_size=flat.numel()))
    masks, start = {}, 0
    for name, s in scores.items():
        masks[name] = ~torch.tensor(pruned[start:start + s.numel()]).view(s.shape)
        start += s.numel()
    kept = sum(int(m.sum()) for m in masks.values())
    chosen = select_global(below_kept({n: s.double() * 1e300 for n, s in scores.items()}, masks),
                           data.draw(st.integers(0, kept)))
    assert all(not (chosen[n] & ~masks[n]).any() for n in masks)


@pytest.mark.parametrize("compression", [0.5, float("inf"), float("nan")])
def test_compression_below_one_or_not_finite_is_an_error(compression):
    with pytest.raises(ValueError, match="compression must be"):
        keep_count(100, 90, compression)


def test_unreachable_compression_names_the_highest_reachable():
    with pytest.raises(ValueError, match="highest reachable compression is 10.00"):
        keep_count(100, 90, 20)


def test_validate_rejects_a_wrong_count():
    with pytest.raises(MaskError, match="masks keep 2 weights in all, expected exactly 1"):
        validate({"w": torch.tensor([True, True])}, {"w": torch.Size([2])}, 1, "m")
