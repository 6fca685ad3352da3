"""Structured targets and measured speed: N:M masks (exactly N in every group of M along the input dimension),
their validation, their cases and results, and the latency measurement beside the dense model."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import benchsuite as bs
from benchsuite.plan.cases import Case
from benchsuite.plan.pairs import PAIRS, Recipe, get_pair, sgd
from benchsuite.plan.sweeps import SWEEPS, select
from benchsuite.pruning.context import target_for
from benchsuite.pruning.masks import MaskError
from benchsuite.pruning.targets import Target, fits, label, nominal
from benchsuite.run import latency
from benchsuite.run.runner import Runner


def groups_of(mask: torch.Tensor, m: int) -> torch.Tensor:
    """Rows of M along the input dimension, at each kernel position, written out with explicit loops."""
    rows = []
    for o in range(mask.shape[0]):
        for pos in [()] if mask.dim() == 2 else [(a, b) for a in range(mask.shape[2]) for b in range(mask.shape[3])]:
            for start in range(0, mask.shape[1], m):
                rows.append(torch.stack([mask[(o, i, *pos)] for i in range(start, start + m)]))
    return torch.stack(rows)


@st.composite
def layers(draw):
    m = draw(st.integers(2, 8))
    n = draw(st.integers(1, m - 1))
    inputs = m * draw(st.integers(1, 3)) + draw(st.sampled_from([0, 0, 1]))  # now and then not a multiple of M
    shape = (draw(st.integers(1, 4)), inputs, *draw(st.sampled_from([(), (1, 1), (2, 3)])))
    scores = torch.randint(0, 4, shape).float() if draw(st.booleans()) else torch.randn(shape)  # ties, or none
    return n, m, scores


@settings(max_examples=60, deadline=None)
@given(layers())
def test_nm_masks_keep_exactly_n_of_the_largest_in_every_group_for_random_shapes(layer):
    n, m, scores = layer
    target = Target.nm({"w": scores.shape}, n, m)
    mask = target.select({"w": scores})["w"]
    if scores.shape[1] % m:
        assert mask.all() and target.dense_layers == ["w"]
        return
    kept, score = groups_of(mask, m), groups_of(scores, m)
    assert (kept.sum(1) == n).all()
    lowest_kept = score.masked_fill(~kept, float("inf")).min(1).values
    highest_dropped = score.masked_fill(kept, float("-inf")).max(1).values
    assert (lowest_kept >= highest_dropped).all()
    target.validate({"w": mask}, "nm_magnitude")


@settings(max_examples=40, deadline=None)
@given(layers(), st.data())
def test_validation_rejects_a_mask_that_breaks_one_group_and_names_the_layer(layer, data):
    n, m, scores = layer
    if scores.shape[1] % m or scores.numel() < 2 * m:
        return
    target = Target.nm({"conv.weight": scores.shape}, n, m)
    mask = target.select({"conv.weight": scores})["conv.weight"]
    flat = mask.clone().reshape(-1)
    kept, dropped = flat.nonzero().squeeze(1), (~flat).nonzero().squeeze(1)
    i, j = data.draw(st.sampled_from(kept.tolist())), data.draw(st.sampled_from(dropped.tolist()))
    flat[i], flat[j] = False, True  # the same count, one weight moved
    moved = flat.view(mask.shape)
    if (groups_of(moved, m).sum(1) == n).all():
        return  # moved within one group: still a valid N:M mask
    with pytest.raises(MaskError, match=rf"conv\.weight keeps \d of the {m} weights in the group at output"):
        target.validate({"conv.weight": moved}, "mine")


def test_nm_magnitude_keeps_the_largest_magnitudes_of_each_group_as_asp_does():
    conv = nn.Conv2d(8, 3, 3)
    torch.manual_seed(0)
    net = nn.Sequential(conv, nn.Flatten(), nn.Linear(3 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 2))
    x = torch.randn(2, 8, 6, 6)
    masks = bs.prune(net, "nm_magnitude", compression="2:4", batch=(x, torch.zeros(2, dtype=torch.long)))
    w = conv.weight.detach().abs()
    for o in range(3):
        for a in range(3):
            for b in range(3):
                for start in (0, 4):
                    values = [(float(w[o, i, a, b]), i) for i in range(start, start + 4)]
                    best = {i for _, i in sorted(values, key=lambda v: -v[0])[:2]}
                    assert {i for i in range(start, start + 4) if masks["0.weight"][o, i, a, b]} == best
    assert masks["2.weight"].sum() == 48 * 16 // 2


def test_a_layer_whose_inputs_do_not_split_into_groups_stays_dense_and_is_named():
    target = target_for(bs.get_model("lenet5"), "nm", "2:4")
    assert target.dense_layers == ["conv1.weight", "conv2.weight"]  # 1 and 6 input channels
    assert target.layer_keep["conv2.weight"] == 2400 and target.layer_keep["fc1.weight"] == 24_000


@pytest.mark.parametrize(("method", "compression", "message"), [
    ("nm_magnitude", 8, "needs compression written 'N:M' with 0 < N < M"),
    ("nm_magnitude", "4:2", "needs compression written 'N:M' with 0 < N < M"),
    ("global_magnitude", "2:4", "'2:4' does not fit a method with a 'global' target: .* takes a number"),
    ("global_magnitude", "50%", "'50%' does not fit a method with a 'global' target"),
    ("layer_magnitude", "150%", "sparsity target is written 'S%' with 0 <= S < 100"),
])
def test_a_compression_of_the_wrong_kind_is_a_clear_error_naming_the_method(method, compression, message):
    x = torch.randn(4, 1, 28, 28)
    with pytest.raises(ValueError, match=f"method '{method}': .*{message}"):
        bs.prune(bs.get_model("lenet300"), method, compression=compression, batch=(x, torch.zeros(4).long()))


def test_the_structure_sweep_gives_patterns_to_nm_methods_and_ratios_to_the_others():
    cases = SWEEPS.get("structure").cases()
    assert {c.compression for c in cases if c.method == "nm_magnitude"} == {"2:4", "4:8", "1:4", "2:8", "1:8"}
    assert {c.compression for c in cases if c.method in ("l1_filter", "group_l1")} == {"ch-x2", "ch-x4"}
    assert {c.compression for c in cases if c.method.endswith("_magnitude") and c.method != "nm_magnitude"} == \
        {1.5, 2, 4, 8, 16}
    assert "nm_magnitude-mnist5k-lenet300-A-2:4-s0" in {c.id for c in cases}
    assert not any(c.method == "nm_magnitude" for c in SWEEPS.get("quick").cases())
    picked = select("structure", compressions="2:4,8", pairs="mnist5k-lenet5", seeds="0")
    assert {(c.method, c.compression) for c in picked} == {("nm_magnitude", "2:4"), ("global_magnitude", 8),
                                                           ("layer_magnitude", 8)}
    assert {c.method for c in select("structure", compressions="ch-x2", pairs="mnist5k-lenet5", seeds="0")} == \
        {"l1_filter", "group_l1"}  # a channel ratio as case ids write it


TINY = "tiny-structure-lenet300"
if TINY not in PAIRS:
    PAIRS.add(TINY, dataclasses.replace(get_pair("mnist5k-lenet300"), name=TINY,
                                        weights={"A": Recipe("adam", 1e-3, 1, 256)}, finetune=sgd(0.01, 1, 256)))


def test_an_nm_result_names_its_pattern_its_dense_layers_and_its_measured_speed_which_changes_no_accuracy(
        tmp_path, monkeypatch):
    runner = Runner(tmp_path)
    case = Case(TINY, "A", "nm_magnitude", "4:8", 0)

    def run():
        ctx = runner.context(case)
        return runner.finish(case, ctx, runner.prune(case, ctx))

    timed = run()
    assert timed["pattern"] == "4:8" and timed["compression"] == 2.0
    assert timed["dense_layers"] == ["fc2.weight"]  # 300 inputs: not a multiple of 8
    assert timed["compression_achieved"] < 2  # fc2 stays dense
    assert timed["latency_form"] in {"masked", "csr"} and timed["measured_speedup"] > 0
    assert set(timed["latency"]["1"]["ms"]) == {"dense", "masked", "csr"}
    monkeypatch.setattr(latency, "measure", lambda *a: timed["latency"])  # the same case, nothing timed
    untimed = run()
    assert untimed["test_correct"] == timed["test_correct"] and untimed["val_correct"] == timed["val_correct"]


def test_measuring_touches_neither_the_models_nor_the_random_generators():
    torch.manual_seed(0)
    dense = bs.get_model("lenet300").train()
    pruned = bs.get_model("lenet300").eval()
    with torch.no_grad():
        pruned.fc1.weight[:, ::2] = 0
    masks = {n: p != 0 for n, p in pruned.named_parameters() if n in ("fc1.weight", "fc2.weight")}
    states = [{k: v.clone() for k, v in m.state_dict().items()} for m in (dense, pruned)]
    rng = torch.get_rng_state()
    record = latency.measure(dense, pruned, masks, (1, 28, 28), torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng)
    assert dense.training and not pruned.training
    for model, state in zip((dense, pruned), states):
        assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    for batch in latency.BATCHES:
        r = record[str(batch)]
        assert all(r["ms"][name] <= q1 <= med <= q3 for name, (q1, med, q3) in r["quartiles"].items())
        assert r["best"] in {"masked", "csr"}
    assert "CUDA" in record["skipped"]["2:4"]


def test_the_csr_form_computes_what_the_masked_model_computes():
    torch.manual_seed(0)
    pruned = bs.get_model("lenet300").eval()
    with torch.no_grad():
        pruned.fc1.weight[torch.rand_like(pruned.fc1.weight) < 0.9] = 0
    masks = {"fc1.weight": pruned.fc1.weight != 0, "fc2.weight": torch.ones_like(pruned.fc2.weight, dtype=torch.bool)}
    forms = latency.forms(pruned, masks, torch.device("cpu"))[0]
    assert isinstance(forms["csr"].fc1, latency.CsrLinear) and isinstance(forms["csr"].fc2, nn.Linear)  # fc2 unpruned
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(forms["csr"](x), pruned(x))
    assert latency.forms(bs.get_model("lenet5"), {}, torch.device("cpu"))[1]["csr"] == "no pruned Linear layer"


def test_the_speedup_is_the_ratio_of_the_fastest_rounds_so_that_load_which_only_adds_time_cancels(monkeypatch):
    slow = [2.0] * 3 + [9.0] * 18  # most rounds of the dense model slowed by other load
    times = {"dense": iter(slow * 2), "masked": iter([2.5] * 42), "csr": iter(([1.0] * 2 + [3.0] * 19) * 2)}

    class Fake:
        def __init__(self, name):
            self.name = name

        def timeit(self, number):
            return type("M", (), {"median": 1.0})() if number == 2 else \
                type("M", (), {"median": next(times[self.name]) / 1e3})()

    models = {}
    monkeypatch.setattr(latency, "_timer", lambda model, x: Fake(models[id(model)]))
    dense, pruned = bs.get_model("lenet300"), bs.get_model("lenet300")
    real_forms = latency.forms

    def forms(p, masks, device, compacted=None):
        out, skipped = real_forms(p, masks, device, compacted)
        models.update({id(m): name for name, m in out.items()})
        return out, skipped

    models[id(dense)] = "dense"
    monkeypatch.setattr(latency, "forms", forms)
    masks = {"fc1.weight": torch.rand(300, 784) < 0.5, "fc2.weight": torch.ones(100, 300, dtype=torch.bool)}
    record = latency.measure(dense, pruned, masks, (1, 28, 28), torch.device("cpu"))
    assert record["1"]["best"] == "csr" and record["1"]["ms"] == {"dense": 2.0, "masked": 2.5, "csr": 1.0}
    assert record["1"]["speedup"] == 2.0  # the medians would say 3.0 (9 / 3): the load, not the model
    assert record["1"]["ratios"][1] == 3.0 and record["1"]["quartiles"]["dense"] == (9.0, 9.0, 9.0)
    assert latency.columns(record)["measured_speedup"] == 2.0
    assert latency.columns(record)["dense_latency_ms_b64"] == 2.0


def test_a_sparsity_prunes_int_s_n_of_every_layer_or_of_every_row_exactly():
    shapes = {"a.weight": torch.Size([6, 10]), "b.weight": torch.Size([4, 3, 3, 3])}
    layer, row = Target.sparse("layer", shapes, 0.6), Target.sparse("row", shapes, 0.6)
    assert layer.layer_keep == {"a.weight": 60 - 36, "b.weight": 108 - 64}  # int(0.6 * 108) = 64
    assert row.row_keep == {"a.weight": 4, "b.weight": 27 - 16} and row.layer_keep == {"a.weight": 24, "b.weight": 44}
    scores = {"a.weight": torch.arange(60.).view(6, 10) % 7, "b.weight": torch.zeros(4, 3, 3, 3)}
    masks = row.select(scores)
    assert all(int(m.sum()) == 4 for m in masks["a.weight"])
    assert masks["b.weight"].flatten(1)[:, :11].all() and not masks["b.weight"].flatten(1)[:, 11:].any()  # ties: earlier
    assert row.validate(masks, "mine") and layer.validate(layer.select(scores), "mine")
    moved = {k: v.clone() for k, v in masks.items()}
    moved["a.weight"][2], moved["a.weight"][3] = torch.arange(10) < 5, torch.arange(10) < 3  # the layer's count holds
    with pytest.raises(MaskError, match=r"'mine': mask for a.weight keeps 5 weights in output row 2 \(2 of 6 rows"):
        row.validate(moved, "mine")
    assert label("50%") == "50%" and nominal("75%") == 4 and fits("row", "50%") and not fits("row", 8)
