"""The mask contract every registered method must meet, at every stage. A test module runs it on every registered
method (narrowed by --methods) with one line: `from benchsuite.testing import TestContract`.

A method acting once (after training, at initialisation) is called as `benchsuite.prune` calls it. A method acting
during training is run by the harness's own loop (`benchsuite.run.stages`) on a small model and a few random
images, with every prune event recorded: each must hit its exact count, and masks stay nested where the schedule
says so. The masks a method ends with must then hold in any training loop."""
from __future__ import annotations

import copy
import dataclasses
import io
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from ..data import Split, normalizer
from ..plan.pairs import Recipe
from ..pruning.context import Context, call_method, prunable, target_for
from ..pruning.masking import _keep_of, apply_masks
from ..pruning.methods import Method, get_method
from ..pruning.schedules import Dynamic, Gradual
from ..run.stages import LevelStore, all_kept, train_during, train_dynamic, train_levels, train_once
from ..run.train import steps_of

# the compression the contract asks of each kind of target
COMPRESSION = {"global": 8, "layer": 8, "row": "50%", "nm": "2:4", "channel": "ch-x2", "channel_global": "ch-x2",
               "erk": 8, "er": 8, "uniform+": 8}
TINY = Recipe("sgd", 0.05, 2, 16, momentum=0.9)  # 2 epochs of 4 steps on the 64 images below
FINAL: dict[tuple[str, str, str], dict] = {}  # final masks by (method, version, model class)


class SmallNet(nn.Module):
    """Conv + BatchNorm + Linear, so that BatchNorm safety is part of the contract."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.hidden = nn.Linear(8 * 7 * 7, 32)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(self.bn(self.conv(x)).relu(), 4)
        return self.out(self.hidden(x.flatten(1)).relu())


def images(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
                 torch.randint(0, 10, (n,), generator=g), normalizer((0.5,), (0.5,)))


class Recorder:
    """Wraps a method so that every call's target and answer are kept."""

    def __init__(self, method: Method) -> None:
        self.method, self.events = method, []
        self.wrapped = dataclasses.replace(method, fn=self)

    def __call__(self, ctx: Context, **kwargs: Any):
        out = self.method.fn(ctx, **kwargs)
        masks = out[0] if isinstance(out, tuple) else out
        self.events.append((ctx.target, None if ctx.masks is None else dict(ctx.masks), dict(masks), ctx.moves))
        return out


def run_during_training(method: Method, model: nn.Module, batch, tmp_path) -> tuple[Recorder, dict]:
    """The method run by the harness's own loop on `model`, to COMPRESSION, on 64 random images."""
    recorder = Recorder(method)
    schedule, kwargs = method.bind({})
    if isinstance(schedule, (Gradual, Dynamic)):
        schedule = dataclasses.replace(schedule, every=1 / steps_of(TINY, 64))  # events a step apart
    target = target_for(model, method.kinds[0], COMPRESSION[method.kinds[0]], batch[0])
    args = (model, recorder.wrapped, kwargs, schedule, target, batch, images(64, 2), images(32, 3), TINY, 0)
    if isinstance(schedule, Gradual):
        trained = train_during(*args)
    elif isinstance(schedule, Dynamic):  # the first masks as the runner's timed step chooses them, then training
        generator = torch.Generator().manual_seed(0)
        first = call_method(recorder.wrapped, Context(model, target, batch, generator, all_kept(model)), kwargs)
        trained = train_dynamic(*args[:5], first, generator, *args[6:])
    else:
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        trained = train_levels(*args, lambda step: initial, LevelStore(tmp_path / "levels"), "contract")
    return recorder, trained.masks


class TestContract:
    """Exact counts at every prune event, boolean masks with the right keys and shapes, nesting, the model
    untouched, determinism, no gradient to a masked weight, and masked weights still zero in any training loop.
    `benchsuite_method` runs over the registered methods of these stages (`TestPostTrainingContract` checks the
    others)."""

    benchsuite_stages = ("after_training", "at_init", "during_training")

    @pytest.fixture(params=["lenet5", "small_bn"])
    def model(self, request):
        torch.manual_seed(0)
        from ..models import get_model

        m = get_model("lenet5") if request.param == "lenet5" else SmallNet()
        if request.param == "small_bn":  # give the running statistics values that a reset would change
            m.bn.running_mean.uniform_(-1, 1)
            m.bn.running_var.uniform_(0.5, 2)
        return m.train()

    @pytest.fixture
    def batch(self):
        g = torch.Generator().manual_seed(1)
        return torch.randn(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)

    @pytest.fixture
    def method(self, benchsuite_method):
        return get_method(benchsuite_method)

    def final_masks(self, method: Method, model: nn.Module, batch, tmp_path, cached: bool = True) -> dict:
        """The masks the method ends with at COMPRESSION: one call, or the last event of a run of its schedule
        (computed once per method and model for the tests of training under masks)."""
        key = (method.name, method.version, type(model).__name__)
        if cached and key in FINAL:
            return {k: v.clone() for k, v in FINAL[key].items()}
        if method.stage == "during_training":
            masks = run_during_training(method, copy.deepcopy(model), batch, tmp_path)[1]
        else:
            ctx = Context(model, target_for(model, method.kinds[0], COMPRESSION[method.kinds[0]], batch[0]), batch,
                          torch.Generator().manual_seed(0))
            masks = dict(call_method(method, ctx))
        FINAL[key] = {k: v.clone() for k, v in masks.items()}
        return masks

    def test_every_prune_event_hits_its_exact_count_and_nests_as_its_schedule_says(self, method, model, batch,
                                                                                          tmp_path):
        if method.stage == "during_training":
            events = run_during_training(method, copy.deepcopy(model), batch, tmp_path)[0].events
        else:
            recorder = Recorder(method)
            ctx = Context(model, target_for(model, method.kinds[0], COMPRESSION[method.kinds[0]], batch[0]), batch,
                          torch.Generator())
            call_method(recorder.wrapped, ctx)
            events = recorder.events
        assert events, f"method {method.name!r} was never called"
        final = target_for(model, method.kinds[0], COMPRESSION[method.kinds[0]], batch[0])
        assert events[-1][0] == final
        params = dict(model.named_parameters())
        nested = method.schedule is not None and method.schedule.nested
        for target, before, masks, moves in events:
            assert set(masks) == {f"{n}.weight" for n in prunable(model)}
            assert all(m.dtype == torch.bool and m.shape == params[n].shape for n, m in masks.items())
            if target.groups:  # whole output channels, the same across a group's layers, the exact count
                kept = []
                for g in target.groups:
                    rows = [masks[n].flatten(1) for n in g.layers]
                    assert all(((r.all(1)) | (~r.any(1))).all() and torch.equal(r.all(1), rows[0].all(1)) for r in rows)
                    kept.append(int(rows[0].all(1).sum()))
                assert kept == target.group_keep if target.kind == "channel" else sum(kept) == target.keep
                assert all(masks[n].all() for n, _ in target.whole)
            elif target.kind == "global":
                assert sum(int(m.sum()) for m in masks.values()) == target.keep
            else:
                assert {n: int(m.sum()) for n, m in masks.items()} == target.layer_keep
            if target.pattern:  # N of every M along the input dimension, at each kernel position
                n, m = target.pattern
                for name, mask in masks.items():
                    rows = (mask.movedim(1, -1) if mask.dim() == 4 else mask).reshape(-1, mask.shape[1])
                    if mask.shape[1] % m == 0:
                        assert (rows.reshape(len(rows), -1, m).sum(-1) == n).all(), f"{name}: a group breaks {n}:{m}"
            if nested:
                assert all(not (masks[n] & ~before[n]).any() for n in masks), "a pruned weight came back"
            if moves is not None:  # a mask update: each layer grows as many as it drops, at most its count
                for n in masks:
                    grown, dropped = int((masks[n] & ~before[n]).sum()), int((before[n] & ~masks[n]).sum())
                    assert grown == dropped <= moves[n], f"{n}: grew {grown}, dropped {dropped}, may move {moves[n]}"

    def test_at_every_step_of_the_harness_masked_weights_their_gradients_and_optimizer_state_are_zero(
            self, method, model, batch, tmp_path):
        """Checked after every optimizer step of the harness's own training (for a method during training, between
        its events): so a weight that a later mask update grows joins at zero with no optimizer state."""
        steps = []

        def check(optimizer, args, kwargs) -> None:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    keep = _keep_of(p)
                    if keep is None:
                        continue
                    pruned = keep == 0
                    tensors = {"weight": p, "gradient": p.grad, **optimizer.state.get(p, {})}
                    for what, t in tensors.items():
                        if isinstance(t, torch.Tensor) and t.shape == p.shape and t[pruned].count_nonzero():
                            raise AssertionError(f"method {method.name!r}: after step {len(steps) + 1}, the {what} of "
                                                 f"{int(t[pruned].count_nonzero())} masked weights is not zero")
            steps.append(1)

        handle = register_optimizer_step_post_hook(check)
        try:
            if method.stage == "during_training":
                run_during_training(method, copy.deepcopy(model), batch, tmp_path)
            else:
                train_once(model, self.final_masks(method, model, batch, tmp_path), images(64, 2), images(32, 3),
                           TINY, 0)
        finally:
            handle.remove()
        assert len(steps) >= steps_of(TINY, 64), "the harness's training did not run"

    def test_pruning_leaves_the_model_unchanged(self, method, model, batch):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        modes = [m.training for m in model.modules()]
        masks = {f"{n}.weight": torch.ones_like(m.weight, dtype=torch.bool) for n, m in prunable(model).items()}
        ctx = Context(model, target_for(model, method.kinds[0], COMPRESSION[method.kinds[0]], batch[0]), batch,
                      torch.Generator().manual_seed(0),
                      masks if method.stage == "during_training" else None)
        method.fn(ctx, **method.bind({})[1])  # called directly: nothing between the method and the model
        changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
        assert not changed, f"method {method.name!r} changed the model in place: {', '.join(changed)}"
        assert [m.training for m in model.modules()] == modes, f"method {method.name!r} changed a train/eval mode"
        graded = [n for n, p in model.named_parameters() if p.grad is not None]
        assert not graded, f"method {method.name!r} left gradients on the model: {', '.join(graded)}"

    def test_same_seed_gives_the_same_masks(self, method, model, batch, tmp_path):
        a = self.final_masks(method, model, batch, tmp_path / "a", cached=False)
        b = self.final_masks(method, model, batch, tmp_path / "b", cached=False)
        differ = [k for k in a if not torch.equal(a[k], b[k])]
        assert not differ, (f"method {method.name!r} chose other masks for {', '.join(differ)} from the same seed; draw "
                            f"only from ctx.generator")

    def test_no_gradient_reaches_a_masked_weight(self, method, model, batch, tmp_path):
        masks = self.final_masks(method, model, batch, tmp_path)
        apply_masks(model, masks)
        F.cross_entropy(model(batch[0]), batch[1]).backward()
        params = dict(model.named_parameters())
        for name, mask in masks.items():
            assert params[name].grad[~mask].count_nonzero() == 0, f"a masked weight of {name} got a gradient"
        assert any(p.grad.count_nonzero() for p in params.values()), "no gradient at all: the test proves nothing"

    @pytest.mark.parametrize("optimizer", [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.Adam(p, lr=1e-2),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True),
        lambda p: torch.optim.Adagrad(p, lr=0.1),
    ], ids=["sgd_momentum_wd", "sgd_nesterov", "adam", "adamw", "amsgrad", "rmsprop", "adagrad"])
    def test_masked_weights_stay_zero_under_an_optimizer_that_stepped_before_pruning(self, method, model, batch,
                                                                                   optimizer, tmp_path):
        masks = self.final_masks(method, model, batch, tmp_path)
        opt = optimizer(model.parameters())
        train(model, opt, batch, 3)  # momentum and moments from the dense model
        apply_masks(model, masks)
        assert_trains_under(model, masks, opt, batch)

    def test_masked_weights_stay_zero_after_deepcopy(self, method, model, batch, tmp_path):
        masks = self.final_masks(method, model, batch, tmp_path)
        apply_masks(model, masks)
        copied = copy.deepcopy(model)
        assert_trains_under(copied, masks, torch.optim.SGD(copied.parameters(), lr=0.1), batch)

    def test_masked_weights_stay_zero_after_save_and_load(self, method, model, batch, tmp_path):
        masks = self.final_masks(method, model, batch, tmp_path)
        apply_masks(model, masks)
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        assert_trains_under(loaded, masks, torch.optim.SGD(loaded.parameters(), lr=0.1, momentum=0.9), batch)

    def test_masked_weights_stay_zero_after_changing_dtype(self, method, model, batch, tmp_path):
        masks = self.final_masks(method, model, batch, tmp_path)
        apply_masks(model, masks)
        model.to(torch.float64)
        batch = (batch[0].double(), batch[1])
        assert_trains_under(model, masks, torch.optim.Adam(model.parameters(), lr=1e-2), batch)

    def test_masks_reapplied_during_training_hold_with_the_same_optimizer(self, method, model, batch, tmp_path):
        masks = self.final_masks(method, model, batch, tmp_path)
        looser = {n: m | (torch.rand(m.shape, generator=torch.Generator().manual_seed(0)) < 0.5)
                  for n, m in masks.items()}
        apply_masks(model, looser)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        train(model, opt, batch, 3)
        apply_masks(model, masks)  # tighter masks, the same optimizer and its state
        assert_trains_under(model, masks, opt, batch)


def train(model: nn.Module, opt: torch.optim.Optimizer, batch, steps: int) -> None:
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(batch[0]), batch[1]).backward()
        opt.step()


def assert_trains_under(model: nn.Module, masks: dict, opt: torch.optim.Optimizer, batch) -> None:
    """Five optimizer steps: the masked weights stay exactly zero while the model trains."""
    params = dict(model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    train(model, opt, batch, 5)
    for name, mask in masks.items():
        assert params[name][~mask].count_nonzero() == 0, f"masked weights of {name} moved"
    assert any(not torch.equal(p.detach(), before[n]) for n, p in params.items()), "nothing trained"
