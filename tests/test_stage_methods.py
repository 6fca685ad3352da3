"""Reference tests of the methods that act at initialisation and during training: each against an independent
computation of what its paper defines."""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from benchsuite.methods.grasp import hessian_gradient
from torch import nn

import benchsuite as bs
from benchsuite.contract.masks import run_during_training
from benchsuite.plan.cases import Case
from benchsuite.plan.pairs import PAIRS, Recipe, get_pair, sgd
from benchsuite.pruning.context import call_method, prunable
from benchsuite.pruning.masks import MaskError, select_global
from benchsuite.pruning.methods import get_method
from benchsuite.pruning.schedules import Gradual, Levels


def batch(n=64, seed=0, shape=(1, 28, 28)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 10))


@pytest.mark.parametrize("arch", ["lenet300", "lenet5"])
def test_snip_chooses_what_global_gradient_chooses_on_the_initialised_model(arch):
    torch.manual_seed(0)
    model = bs.get_model(arch)
    snip = bs.prune(model, "snip", compression=8, batch=batch())
    gradient = bs.prune(model, "global_gradient", compression=8, batch=batch())
    assert all(torch.equal(snip[k], gradient[k]) for k in snip)


def test_synflow_scores_at_one_iteration_equal_the_closed_form_of_a_positive_network():
    """With every parameter made positive and an all-ones input, a ReLU MLP is linear: R = 1'(|W3|(|W2|(|W1|1 + |b1|)
    + |b2|) + |b3|), so dR/dW1 = (|W2|'|W3|'1) 1' and dR/dW2 = (|W3|'1) a1' with a1 = |W1|1 + |b1|."""
    model = mlp().double()
    w1, b1 = model[1].weight.detach().abs(), model[1].bias.detach().abs()
    w2, w3 = model[3].weight.detach().abs(), model[5].weight.detach().abs()
    a1 = w1 @ torch.ones(12, dtype=torch.float64) + b1
    scores = {"1.weight": w1 * torch.outer(w2.T @ w3.T @ torch.ones(10, dtype=torch.float64),
                                           torch.ones(12, dtype=torch.float64)),
              "3.weight": w2 * torch.outer(w3.T @ torch.ones(10, dtype=torch.float64), a1)}
    total = sum(p.numel() for p in model.parameters())
    for compression in (1.5, 2.5):
        keep = round(total / compression) - (total - 12 * 8 - 8 * 6)
        expected = select_global(scores, keep)
        masks = bs.prune(model, "synflow", compression, batch(8, shape=(12,)), iterations=1)
        assert all(torch.equal(masks[k], expected[k]) for k in expected)


def synflow_scores(model, shape):
    """SynFlow's first-round scores computed here: |w * dR/dw| of the network made positive, in float64."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for value in net.state_dict().values():
            if value.is_floating_point():
                value.abs_()
    params = {f"{n}.weight": m.weight for n, m in prunable(net).items()}
    grads = torch.autograd.grad(net(torch.ones(1, *shape, dtype=torch.float64)).sum(), list(params.values()))
    return {n: (g * w).detach().abs() for (n, w), g in zip(params.items(), grads)}


@pytest.mark.parametrize("arch, compression", [("resnet56", 8), ("resnet56", 32), ("vgg16", 8)])
def test_synflow_masks_equal_a_float64_ranking_of_its_scores_on_deep_networks(arch, compression):
    """ResNet-56's scores reach 1e67, beyond float32: ranked there, every score tied at +inf."""
    torch.manual_seed(0)
    model = bs.get_model(arch)
    scores = synflow_scores(model, (3, 32, 32))
    total = sum(p.numel() for p in model.parameters())
    keep = round(total / compression) - (total - sum(s.numel() for s in scores.values()))
    flat = np.concatenate([s.numpy().ravel() for s in scores.values()])
    order = np.argsort(-flat, kind="stable")[:keep]  # float64 ranking, ties to the earlier weight
    chosen = np.zeros(flat.size, bool)
    chosen[order] = True
    masks = bs.prune(model, "synflow", compression, batch(4, shape=(3, 32, 32)), iterations=1)
    assert np.array_equal(np.concatenate([masks[n].numpy().ravel() for n in scores]), chosen)
    if arch == "resnet56":
        assert max(float(s.max()) for s in scores.values()) > 1e38  # the case float32 could not rank


@pytest.mark.parametrize("arch, compression", [("resnet56", 8), ("resnet56", 32), ("vgg16", 32)])
def test_synflow_keeps_every_layer_of_deep_networks(arch, compression):
    """Iterated, SynFlow avoids layer collapse (Tanaka et al. 2020); ranked in float32, ResNet-56 lost 18-20 of its
    55 prunable layers at x8 and x32, after 10 rounds as after the default 100 (10 here, for time)."""
    torch.manual_seed(0)
    masks = bs.prune(bs.get_model(arch), "synflow", compression, batch(4, shape=(3, 32, 32)), iterations=10)
    assert min(int(m.sum()) for m in masks.values()) > 0


@pytest.mark.parametrize("arch", ["lenet300", "lenet5"])
def test_synflow_masks_do_not_depend_on_the_data(arch):
    torch.manual_seed(0)
    model = bs.get_model(arch)
    a = bs.prune(model, "synflow", compression=16, batch=batch(seed=1), iterations=10)
    b = bs.prune(model, "synflow", compression=16, batch=batch(n=8, seed=2), iterations=10)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_synflow_prunes_iteratively_on_the_exponential_schedule():
    """100 rounds and 1 round disagree: the iterations matter (the paper's point about layer collapse)."""
    torch.manual_seed(0)
    model = bs.get_model("lenet5")
    many = bs.prune(model, "synflow", compression=32, batch=batch())
    one = bs.prune(model, "synflow", compression=32, batch=batch(), iterations=1)
    assert any(not torch.equal(many[k], one[k]) for k in many)


def test_grasp_hessian_gradient_agrees_with_finite_differences():
    """Over every weight, the classifier's included, and two halves: sum_h H_h g = (H_1 + H_2) g, the Hessian of the
    halves' summed loss times its gradient."""
    model = mlp().double()
    x, y = batch(16, shape=(12,))
    halves = [(x[:8].double(), y[:8]), (x[8:].double(), y[8:])]
    params = {n: p for n, p in model.named_parameters() if n.endswith("weight")}
    hg = hessian_gradient(model, params, halves, temperature=200.0)

    def gradient():
        loss = sum(F.cross_entropy(model(a) / 200.0, b) for a, b in halves)
        return torch.autograd.grad(loss, list(params.values()))

    g = gradient()
    eps = 1e-3 / math.sqrt(sum(float((v * v).sum()) for v in g))
    grads = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, v in zip(params.values(), g):
                p.add_(sign * eps * v)
        grads.append(gradient())
        with torch.no_grad():
            for p, v in zip(params.values(), g):
                p.sub_(sign * eps * v)
    assert set(hg) == {"1.weight", "3.weight", "5.weight"}
    for (name, exact), plus, minus in zip(hg.items(), *grads):
        estimate = (plus - minus) / (2 * eps)
        assert torch.allclose(exact, estimate, rtol=1e-5, atol=1e-12 * float(exact.abs().max())), name


def reference_grasp_scores(model, data, classifier=True):
    """-w * Hg computed here with torch.func on a train-mode copy: g and Hg over the weights of every Conv2d and
    Linear layer (or all but the classifier), the batch in two halves, as in GraSP's pruner/GraSP.py."""
    net = torch.func.replace_all_batch_norm_modules_(copy.deepcopy(model).train())  # batch statistics, no updates
    layers = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    names = [f"{n}.weight" for n in (layers if classifier else layers[:-1])]
    fixed = {n: p.detach() for n, p in net.named_parameters() if n not in names}
    x, y = data
    halves = [(x[:len(x) // 2], y[:len(y) // 2]), (x[len(x) // 2:], y[len(y) // 2:])]

    def loss(*weights):
        values = {**fixed, **dict(zip(names, weights))}
        return sum(F.cross_entropy(torch.func.functional_call(net, values, (a,)) / 200.0, b) for a, b in halves)

    weights = tuple(net.get_parameter(n).detach() for n in names)
    g = torch.func.grad(loss, argnums=tuple(range(len(names))))(*weights)
    _, hg = torch.func.jvp(torch.func.grad(loss, argnums=tuple(range(len(names)))), weights, g)
    return {n: -w * h for n, w, h in zip(names, weights, hg)}


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")  # torch.func's own import, not ours
@pytest.mark.parametrize("arch", ["lenet300", "small_bn"])
def test_grasp_keeps_the_weights_of_lowest_minus_w_hg_over_every_weight(arch):
    """The classifier's weights belong in g and Hg (only the selection leaves them out): without them, other weights
    are kept. On a network with BatchNorm, the halves are normalised by their own statistics."""
    from benchsuite.contract.masks import SmallNet

    torch.manual_seed(0)
    model = bs.get_model("lenet300") if arch == "lenet300" else SmallNet()
    data = batch()
    masks = bs.prune(model, "grasp", compression=8, batch=data)
    for classifier, agrees in ((True, True), (False, False)):
        scores = reference_grasp_scores(model, data, classifier)
        score = torch.cat([scores[n].flatten() for n in masks])
        kept = torch.cat([masks[n].flatten() for n in masks])
        tolerance = 1e-6 * float(score.abs().max())
        assert (score[kept].max() <= score[~kept].min() + tolerance) == agrees


def test_gmp_counts_follow_the_cubic_schedule_at_every_event():
    """s_t = s_f + (s_i - s_f)(1 - (t - t0) / (n dt))^3 at t = t0 + k dt, computed here from the formula."""
    steps, prunable_n, keep = 110, 266_200, 2_746
    schedule = Gradual(begin=0.1, end=0.8, every=10 / 110, initial=0.05)
    t0, n = 11, (88 - 11) // 10
    s_f = 1 - keep / prunable_n
    expected = [(t0 + k * 10, prunable_n - round((s_f + (0.05 - s_f) * (1 - k / n) ** 3) * prunable_n))
                for k in range(n + 1)]
    expected[-1] = (expected[-1][0], keep)
    assert schedule.events(steps, prunable_n, keep) == expected


def test_gmp_prunes_at_the_fractions_of_rigls_mnist_runs():
    """begin 3000, end 7000, every 100 of 11,719 steps: on a 1,100-step run, from step 282 to 657 every 9 steps, the
    first event (s_i = 0) pruning nothing."""
    s_f = 1 - 2_746 / 266_200
    expected = [(282 + 9 * k, 266_200 - round((s_f - s_f * (1 - k / 41) ** 3) * 266_200)) for k in range(1, 42)]
    expected[-1] = (651, 2_746)
    assert get_method("gmp").schedule.events(1100, 266_200, 2_746) == expected


def test_the_harness_calls_gmp_at_its_events_with_their_counts(tmp_path):
    torch.manual_seed(0)
    recorder, masks = run_during_training(get_method("gmp"), bs.get_model("lenet5"), batch(32), tmp_path)
    shapes = {n: m.shape for n, m in masks.items()}
    total = sum(s.numel() for s in shapes.values())
    keep = sum(int(m.sum()) for m in masks.values())
    planned = dataclasses.replace(get_method("gmp").schedule, every=1 / 8).events(8, total, keep)  # the contract's
    assert [t.keep for t, *_ in recorder.events] == [count for _, count in planned]


def test_imp_density_after_l_levels_is_0_8_to_the_l(tmp_path):
    torch.manual_seed(0)
    model = bs.get_model("lenet5")
    recorder, masks = run_during_training(get_method("imp"), model, batch(32), tmp_path)
    total = sum(m.numel() for m in masks.values())
    kept = [t.keep for t, *_ in recorder.events]
    for level, count in enumerate(kept[:-1], start=1):
        assert count == round(total * 0.8**level)
    assert kept[-1] == sum(int(m.sum()) for m in masks.values())
    assert kept[-2] > kept[-1] >= round(total * 0.8 ** len(kept))  # the last level is partial, landing on the count


def test_levels_stop_at_the_first_count_at_or_below_the_target():
    counts = Levels(rate=0.2).counts(1000, 100)
    assert counts == [800, 640, 512, 410, 328, 262, 210, 168, 134, 107, 100]
    assert Levels(rate=0.5).counts(1000, 250) == [500, 250]
    assert Levels().counts(1000, 1000) == []


def test_a_method_during_training_is_not_pruned_outside_the_harness():
    with pytest.raises(ValueError, match="acts during training: the harness calls it at the prune events"):
        bs.prune(bs.get_model("lenet300"), "imp", 8, batch())


def test_method_info_tells_stage_target_schedule_hyperparameters_and_doc():
    info = bs.method_info("imp")
    assert info["stage"] == "during_training" and info["target"] == "global" and info["schedule"] == "Levels"
    assert info["hyperparameters"] == {"rate": 0.2, "rewind": 0.03}
    assert "Frankle" in info["doc"]
    assert bs.method_info("synflow")["hyperparameters"] == {"iterations": 100}
    assert bs.method_info("gmp_layer")["target"] == "layer"


def test_an_unknown_hyperparameter_names_the_known_ones():
    with pytest.raises(ValueError, match="method 'synflow' has no hyperparameter rounds; it has iterations"):
        bs.prune(bs.get_model("lenet300"), "synflow", 8, batch(), rounds=3)


def test_dynamic_updates_follow_rigls_cosine_decay_every_0_85_percent_to_75_percent_of_the_run():
    """On the embedded pairs' 1,100 steps: updates every round(1100 * 100 / 11719) = 9 steps up to step 825, with
    f_t = 0.3 (1 + cos(pi t / 825)) / 2, computed here from the formula."""
    events = get_method("rigl").schedule.events(1100)
    assert list(events) == list(range(9, 825, 9)) and len(events) == 91
    for t, f in events.items():
        assert f == pytest.approx(0.3 * (1 + math.cos(math.pi * t / 825)) / 2, rel=1e-12)
    assert get_method("rigl").schedule.moves(0.2999, 1000) == 299  # floor, as RigL casts it


def reference_update(weights, masks, grow, moves):
    """RigL's `_get_update_op` in numpy: keep the n_ones - n_prune largest |mask * w| (top_k over every entry, ties to
    the lower index), then grow the n_prune highest grow scores among the rest."""
    out = {}
    for name, w in weights.items():
        m = masks[name].numpy().reshape(-1)
        drop_score = np.abs(m * w.numpy().reshape(-1)).astype(np.float64)
        n_keep = int(m.sum()) - moves[name]
        mask1 = np.zeros(m.size, bool)
        mask1[np.argsort(-drop_score, kind="stable")[:n_keep]] = True
        g = grow[name].numpy().reshape(-1).astype(np.float64)
        lifted = np.where(mask1, g.min() - 1, g)
        mask2 = np.zeros(m.size, bool)
        mask2[np.argsort(-lifted, kind="stable")[:moves[name]]] = True
        assert not (mask1 & mask2).any()
        out[name] = torch.from_numpy(mask1 | mask2).view(w.shape)
    return out


@pytest.mark.parametrize("arch, shape", [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32))])
def test_a_rigl_update_drops_by_magnitude_and_grows_by_the_dense_gradient_as_the_reference(arch, shape):
    """On a small and a deep model: from random ERK masks, an update of f = 0.3 equals the reference's drop-then-grow
    on |dL/dw| computed here (BatchNorm in eval mode), and every layer grows floor(0.3 * kept)."""
    torch.manual_seed(0)
    model = bs.get_model(arch)
    x, y = batch(16, shape=shape)
    start = bs.prune(model, "random_erk_init", 10, (x, y))
    bs.apply_masks(model, start)
    params = {f"{n}.weight": m.weight for n, m in prunable(model).items()}
    model.eval()
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(params.values()))
    model.train()
    moves = {n: math.floor(0.3 * int(m.sum())) for n, m in start.items()}
    expected = reference_update({n: p.detach() for n, p in params.items()}, start,
                                {n: g.abs() for n, g in zip(params, grads)}, moves)
    ctx = bs.Context(model, start.target, (x, y), torch.Generator().manual_seed(0), dict(start), 9, moves)
    masks = call_method(get_method("rigl"), ctx)
    for name in masks:
        assert torch.equal(masks[name], expected[name]), name
        assert int((masks[name] & ~start[name]).sum()) <= moves[name]
    assert sum(int((masks[n] & ~start[n]).sum()) for n in masks) > 0.9 * sum(moves.values())  # few come back


def test_set_grows_where_its_random_draw_says_and_rigl_where_the_gradient_says(tmp_path):
    torch.manual_seed(0)
    model = bs.get_model("lenet5")
    x, y = batch(16)
    start = bs.prune(model, "random_erk_init", 10, (x, y))
    bs.apply_masks(model, start)
    moves = {n: math.floor(0.3 * int(m.sum())) for n, m in start.items()}

    def update(name, seed):
        ctx = bs.Context(model, start.target, (x, y), torch.Generator().manual_seed(seed), dict(start), 9, moves)
        return call_method(get_method(name), ctx)

    assert all(torch.equal(update("set", 1)[n], update("set", 1)[n]) for n in start)
    assert any(not torch.equal(update("set", 1)[n], update("set", 2)[n]) for n in start)
    assert any(not torch.equal(update("set", 1)[n], update("rigl", 1)[n]) for n in start)


def test_the_harness_runs_dynamic_sparse_training_from_the_initialisation_at_a_constant_count(tmp_path):
    torch.manual_seed(0)
    recorder, masks = run_during_training(get_method("rigl"), bs.get_model("lenet5"), batch(32), tmp_path)
    first, *updates = recorder.events
    assert first[3] is None and len(updates) == 5  # the contract's 8 steps: after steps 1..5 (f = 0 at t_end = 6)
    schedule = dataclasses.replace(get_method("rigl").schedule, every=1 / 8)
    for (target, before, after, moves), f in zip(updates, schedule.events(8).values()):
        assert moves == {n: math.floor(f * int(m.sum())) for n, m in before.items()}
        assert {n: int(m.sum()) for n, m in after.items()} == target.layer_keep
    assert any(not torch.equal(updates[-1][2][n], first[2][n]) for n in masks), "the masks never moved"


TINY = "tiny-dst-lenet300"  # one epoch of 14 steps, so that a case trains in a moment
if TINY not in PAIRS:
    PAIRS.add(TINY, dataclasses.replace(get_pair("mnist5k-lenet300"), name=TINY,
                                        weights={"A": Recipe("adam", 1e-3, 1, 256)}, finetune=sgd(0.01, 1, 256)))


def test_dynamic_sparse_training_trains_from_the_masks_its_timed_step_chose(tmp_path, monkeypatch):
    from benchsuite.run import runner as runner_module
    from benchsuite.run.runner import Runner

    started = []
    train = runner_module.train_dynamic
    monkeypatch.setattr(runner_module, "train_dynamic", lambda *args: started.append(args[5]) or train(*args))
    runner = Runner(tmp_path)
    case = Case(TINY, "A", "set", 10, 0)
    ctx = runner.context(case)
    timed = runner.prune(case, ctx)
    result = runner.finish(case, ctx, timed)
    assert started == [timed]  # not a second draw of the first masks
    assert result["prune_events"] == 1 + len(get_method("set").schedule.events(14))


def test_a_mask_update_that_moves_more_than_its_count_is_refused():
    torch.manual_seed(0)
    model = bs.get_model("lenet5")
    x, y = batch(16)
    start = bs.prune(model, "random_erk_init", 10, (x, y))
    reshuffled = bs.prune(model, "random_erk_init", 10, (x, y), seed=1)
    method = dataclasses.replace(get_method("rigl"), fn=lambda ctx: dict(reshuffled))
    ctx = bs.Context(model, start.target, (x, y), torch.Generator(), dict(start), 9, {n: 1 for n in start})
    with pytest.raises(MaskError, match=r"grows .* weights at step 9, but this update drops and grows at most 1"):
        call_method(method, ctx)
