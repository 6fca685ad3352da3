"""Channel targets: whole output channels with what belongs to them, coupled across residual adds, removed into a
smaller dense model that computes what the masked model computes and whose size matches an independent count."""
from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

import benchsuite as bs
from benchsuite.plan.cases import Case
from benchsuite.plan.pairs import PAIRS, Recipe, get_pair, sgd
from benchsuite.pruning.channels import UNFAITHFUL
from benchsuite.pruning.context import Context, call_method, target_for
from benchsuite.pruning.masks import MaskError
from benchsuite.pruning.methods import get_method
from benchsuite.run.runner import Runner


def pruned_and_compact(model, method, ratio, shape):
    torch.manual_seed(1)
    x = torch.randn(4, *shape)
    model.eval()
    with torch.no_grad():  # BatchNorm statistics and biases that are not the defaults
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.bias.uniform_(-1, 1)
    masks = bs.prune(model, method, compression=ratio, batch=(x, torch.zeros(4, dtype=torch.long)))
    reference = copy.deepcopy(model)
    bs.apply_masks(reference, masks)
    small = bs.compact(model, masks)
    with torch.no_grad():
        torch.testing.assert_close(small(x), reference(x), rtol=1e-4, atol=1e-5)
    return masks, small


def conv(cin, cout, k, hw, groups=1):
    """Parameters (no bias) and FLOPs (2 per multiply-accumulate) of a k x k convolution with an hw x hw output."""
    params = cout * cin // groups * k * k
    return params, 2 * params * hw * hw


@pytest.mark.parametrize("depth", [20, 56])
def test_cifar_resnets_prune_residual_channels_through_their_zero_padded_shortcuts(depth):
    masks, small = pruned_and_compact(bs.get_model(f"resnet{depth}"), "l1_filter", "ch-x2", (3, 32, 32))
    n = (depth - 2) // 6
    conv2 = [[f"blocks.{s * n + i}.conv2.weight" for i in range(n)] for s in range(3)]
    spans = {frozenset(g.layers): g.size for g in masks.target.groups if len(g.layers) > 1 or "conv2" in g.layers[0]}
    assert spans == {frozenset(["conv1.weight", *conv2[0], *conv2[1], *conv2[2]]): 16,  # a stage-1 channel, on
                     frozenset([*conv2[1], *conv2[2]]): 16,  # the channels padded in stage 2, on into stage 3
                     frozenset(conv2[2]): 32}  # those padded in stage 3
    assert not masks.target.whole and len(masks.target.groups) == 3 * n + 3  # and the inside of every block
    chain = next(g for g in masks.target.groups if "conv1.weight" in g.layers)
    assert chain.rows[conv2[1][0]].index == tuple(range(8, 24)) and chain.rows[conv2[2][0]].index == tuple(range(24, 40))
    params, flops = 8 * 3 * 9 + 2 * 8, conv(3, 8, 3, 32)[1]  # every width halved: the stem, then each block by hand
    cin = 8
    for i in range(3 * n):
        c, hw = 8 << i // n, 32 >> i // n
        p1, f1 = conv(cin, c, 3, hw)
        p2, f2 = conv(c, c, 3, hw)
        params, flops, cin = params + p1 + p2 + 4 * c, flops + f1 + f2, c
    params, flops = params + 32 * 10 + 10, flops + 2 * 32 * 10
    size = bs.summarize(small, (3, 32, 32))
    assert (size["params"], size["flops"]) == (params, flops)
    assert small.blocks[n].shortcut.out_channels == 16 and len(small.blocks[n].shortcut.out_index) == 8


def test_any_channels_kept_in_a_cifar_resnet_compact_to_the_masked_function():
    torch.manual_seed(0)
    model, x = bs.get_model("resnet20"), torch.randn(2, 3, 32, 32)
    for trial in range(4):
        scores = torch.Generator().manual_seed(trial)
        pick = dataclasses.replace(get_method("group_l1"), fn=lambda ctx: ctx.select_channels(
            [torch.rand(g.size, generator=scores) for g in ctx.target.groups]))
        masks = call_method(pick, Context(model, target_for(model, "channel_global", f"ch-x{2 + trial}", x),
                                          (x, torch.zeros(2, dtype=torch.long)), torch.Generator()))
        reference = copy.deepcopy(model).eval()
        bs.apply_masks(reference, masks)
        with torch.no_grad():
            torch.testing.assert_close(bs.compact(model, masks).eval()(x), reference(x), rtol=1e-4, atol=1e-5)


class PaddedBlock(nn.Module):
    """A user's residual block whose shortcut zero-pads with F.pad, an operation torch-pruning maps one to one."""

    def __init__(self):
        super().__init__()
        self.stem, self.inner = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
        self.conv, self.head = nn.Conv2d(6, 8, 3, padding=1), nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        return self.head((self.conv(self.inner(x).relu()) + nn.functional.pad(x, (0, 0, 0, 0, 2, 2))).mean((2, 3)))


class FixedStemPad(nn.Module):
    """A user's model whose padded shortcut reads a layer that is not prunable."""

    def __init__(self):
        super().__init__()
        from benchsuite.models.cifar import ChannelPad

        self.stem, self.inner = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
        self.conv, self.pad, self.head = nn.Conv2d(6, 8, 3, padding=1), ChannelPad(4, 8, 1), nn.Linear(8, 10)
        self.not_prunable = ["stem"]

    def forward(self, x):
        x = self.stem(x)
        return self.head((self.conv(self.inner(x).relu()) + self.pad(x)).mean((2, 3)))


def test_an_index_map_from_a_layer_that_is_not_prunable_keeps_the_channels_it_reaches():
    model, x = FixedStemPad(), torch.randn(2, 3, 8, 8)
    target = target_for(model, "channel", "ch-x2", x)
    assert dict(target.whole) == {"conv.weight": UNFAITHFUL} and [g.layers for g in target.groups] == [("inner.weight",)]
    masks, small = pruned_and_compact(model, "l1_filter", "ch-x2", (3, 8, 8))
    assert small.inner.out_channels == 3 and small.conv.out_channels == 8


def test_a_shortcut_padded_with_f_pad_keeps_its_channels_and_says_how_to_write_it():
    model, x = PaddedBlock(), torch.randn(2, 3, 8, 8)
    target = target_for(model, "channel", "ch-x2", x)
    assert dict(target.whole) == {"stem.weight": UNFAITHFUL, "conv.weight": UNFAITHFUL}
    assert [g.layers for g in target.groups] == [("inner.weight",)]
    assert "index map (`out_index`, `out_channels`" in UNFAITHFUL


def test_residual_channels_are_pruned_together_in_a_torchvision_resnet():
    model = bs.get_model("imagenet_resnet18", num_classes=10)
    masks, small = pruned_and_compact(model, "group_l1", "ch-x2", (3, 64, 64))
    joined = next(g for g in masks.target.groups if "conv1.weight" in g.layers)
    assert {"layer1.0.conv2.weight", "layer1.1.conv2.weight"} <= set(joined.layers)  # added to the stem's output
    kept = int(joined.kept(masks).sum())
    assert small.conv1.out_channels == small.layer1[0].conv2.out_channels == small.layer1[1].conv2.out_channels == kept
    assert small.bn1.num_features == kept and small.layer2[0].conv1.in_channels == kept
    assert small.layer2[0].downsample[0].in_channels == kept


class DepthwiseNet(nn.Module):
    """A user's model: convolution, BatchNorm, a depthwise convolution, a pointwise one, a classifier."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.depthwise, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8)
        self.pointwise, self.bn3 = nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.bn2(self.depthwise(self.bn1(self.stem(x)).relu())).relu()
        return self.head(self.bn3(self.pointwise(x)).relu().mean((2, 3)))


def test_a_users_model_with_batchnorm_and_a_depthwise_convolution_compacts_to_an_independent_count():
    masks, small = pruned_and_compact(DepthwiseNet(), "l1_filter", "ch-x2", (3, 12, 12))
    groups = {frozenset(g.layers): g.size for g in masks.target.groups}
    assert groups == {frozenset({"stem.weight", "depthwise.weight"}): 8, frozenset({"pointwise.weight"}): 16}
    params = 3 * 4 * 9 + 2 * 4 + 4 * 9 + 2 * 4 + 4 * 8 + 8 + 2 * 8 + 8 * 10 + 10
    flops = 2 * 144 * (3 * 4 * 9 + 4 * 9 + 4 * 8) + 2 * 8 * 10
    size = bs.summarize(small, (3, 12, 12))
    assert (size["params"], size["flops"]) == (params, flops)


@pytest.fixture
def lenet5_ctx():
    torch.manual_seed(0)
    model, x = bs.get_model("lenet5"), torch.randn(8, 1, 28, 28)
    target = target_for(model, "channel", "ch-x2", x)
    return Context(model, target, (x, torch.zeros(8, dtype=torch.long)), torch.Generator().manual_seed(0))


def broken(rule):
    """l1_filter's answer for scores that keep the later channels, then broken by `rule`."""

    def fn(ctx):
        masks = ctx.select_channels([torch.arange(g.size, dtype=torch.float) for g in ctx.target.groups])
        rule(masks)
        return masks
    return dataclasses.replace(get_method("l1_filter"), fn=fn)


@pytest.mark.parametrize(("rule", "message"), [
    (lambda m: m["conv2.weight"][15, 0].fill_(False), r"mask for conv2.weight keeps part of output channel 15"),
    (lambda m: m["conv2.weight"][0].fill_(True), r"keep 9 of the 16 channels of conv2.weight, expected exactly 8"),
])
def test_a_mask_that_breaks_whole_channels_or_their_count_is_rejected_naming_the_layer(lenet5_ctx, rule, message):
    with pytest.raises(MaskError, match=message):
        call_method(broken(rule), lenet5_ctx)


def test_layers_joined_by_a_residual_add_must_keep_the_same_channels():
    torch.manual_seed(0)
    model, x = bs.get_model("imagenet_resnet18", num_classes=10), torch.randn(2, 3, 64, 64)
    ctx = Context(model, target_for(model, "channel", "ch-x2", x), (x, torch.zeros(2, dtype=torch.long)),
                  torch.Generator())

    def swap(masks):
        m = masks["layer1.0.conv2.weight"]
        m[:] = m.flip(0)

    with pytest.raises(MaskError, match="conv1.weight and layer1.0.conv2.weight share output channels .* keep different ones"):
        call_method(broken(swap), ctx)


def test_compact_needs_the_masks_of_a_channel_method():
    model, x = bs.get_model("lenet300"), torch.randn(2, 1, 28, 28)
    masks = bs.prune(model, "global_magnitude", compression=4, batch=(x, torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ValueError, match="compact needs the masks of a channel method"):
        bs.compact(model, masks)


TINY = "tiny-channels-lenet5"
if TINY not in PAIRS:
    PAIRS.add(TINY, dataclasses.replace(get_pair("mnist5k-lenet5"), name=TINY,
                                        weights={"A": Recipe("adam", 1e-3, 1, 256)}, finetune=sgd(0.01, 1, 256)))


def test_a_channel_result_reports_its_compacted_size_and_times_the_compacted_model(tmp_path):
    runner = Runner(tmp_path)
    case = Case(TINY, "A", "group_l1", "ch-x2", 0)
    ctx = runner.context(case)
    result = runner.finish(case, ctx, runner.prune(case, ctx))
    assert result["pattern"] == "ch-x2" and result["compression"] == 2.0
    assert result["compact_params"] < result["params"] and result["compact_flops"] < result["flops"]
    assert result["compact_flops"] == result["nonzero_flops"]  # what is left of each layer is what it computes
    assert "compact" in result["latency"]["1"]["ms"] and "compact" not in result["latency"]["skipped"]
