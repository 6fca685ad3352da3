"""Post-training pruning of a language model, block by block: Wanda, RIA, OWL and SparseGPT against independent
computations of what their papers and reference code compute, on tiny transformers Llamas; the pass itself on each
architecture family's tiny model."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import dataclasses

import numpy as np

import benchsuite as bs
from datafiles import tiny_lm
from benchsuite.contract.post_training import tiny_llama, tokens
from benchsuite.models.causal import decoder_layers, prunable
from benchsuite.pruning import calibration
from benchsuite.pruning.calibration import prune_blocks
from benchsuite.pruning.methods import get_method
from benchsuite.methods.sparsegpt import prune_layer


def linear_inputs(model, x, block):
    """Each linear layer's input in block `block` over all tokens, by forward hooks on a whole-model forward."""
    seen, handles = {}, []
    for name, m in decoder_layers(model)[1][block].named_modules():
        if isinstance(m, nn.Linear):
            handles.append(m.register_forward_pre_hook(
                lambda mod, args, name=name: seen.__setitem__(f"{name}.weight", args[0].reshape(-1, args[0].shape[-1]))))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return seen


def test_wanda_keeps_the_top_of_w_times_input_norm_in_every_row_with_pruned_blocks_fed_forward():
    model, x = tiny_llama(), tokens()
    masks = prune_blocks(copy.deepcopy(model), get_method("wanda"), "60%", x)
    reference = copy.deepcopy(model)  # pruned here block by block with the masks found, to feed the next block
    for i, block in enumerate(decoder_layers(reference)[1]):
        inputs = linear_inputs(reference, x, i)
        for name, w in block.named_parameters():
            if name not in inputs:
                continue
            score = w.detach().abs() * inputs[name].norm(dim=0)  # |W_ij| * ||X_j||_2
            keep = w.shape[1] - int(0.6 * w.shape[1])
            expected = torch.zeros_like(score, dtype=torch.bool)
            expected.scatter_(1, score.argsort(dim=1, descending=True)[:, :keep], True)
            assert torch.equal(masks[f"model.layers.{i}.{name}"], expected), f"block {i} {name}"
        with torch.no_grad():
            for name, w in block.named_parameters():
                if f"model.layers.{i}.{name}" in masks:
                    w.mul_(masks[f"model.layers.{i}.{name}"])


@pytest.mark.parametrize("compression", ["50%", "2:4"])
def test_ria_keeps_the_top_relative_importance_times_input_norm_root_per_layer_or_n_of_m(compression):
    model, x = tiny_llama(), tokens()
    masks = prune_blocks(copy.deepcopy(model), get_method("ria"), compression, x)
    reference = copy.deepcopy(model)
    for i, block in enumerate(decoder_layers(reference)[1]):
        inputs = linear_inputs(reference, x, i)
        for name, w in block.named_parameters():
            if name not in inputs:
                continue
            a = w.detach().abs()
            rows, cols = a @ torch.ones(a.shape[1]), torch.ones(a.shape[0]) @ a  # sum_k |W_ik|, sum_k |W_kj|
            score = (a / rows[:, None] + a / cols[None, :]) * inputs[name].pow(2).sum(0).sqrt().sqrt()
            if compression == "50%":  # the lowest int(n / 2) of the whole layer
                expected = torch.zeros(score.numel(), dtype=torch.bool)
                expected[score.flatten().argsort(descending=True)[:score.numel() - score.numel() // 2]] = True
                expected = expected.view(score.shape)
            else:  # the top 2 of every 4 consecutive inputs of a row
                groups = score.reshape(score.shape[0], -1, 4)
                expected = torch.zeros_like(groups, dtype=torch.bool).scatter_(2, groups.topk(2, dim=2).indices, True)
                expected = expected.reshape(score.shape)
            assert torch.equal(masks[f"model.layers.{i}.{name}"], expected), f"block {i} {name}"
        with torch.no_grad():
            for name, w in block.named_parameters():
                if f"model.layers.{i}.{name}" in masks:
                    w.mul_(masks[f"model.layers.{i}.{name}"])


def test_ria_scores_a_weight_of_an_all_zero_row_or_column_zero_not_nan():
    from benchsuite.methods.ria import scores

    w = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0], [3.0, 0.0, 1.0]])
    s = scores(w, torch.ones_like(w))
    assert not s.isnan().any() and (s[0] == 0).all() and (s[:, 1] == 0).all()
    assert float(s[1, 0]) == pytest.approx(1 / 3 + 1 / 4)  # 1 of its row's 3, 1 of its column's 4


def deeper_llama(layers=6):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(3)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, num_hidden_layers=layers, num_attention_heads=4,
                                         num_key_value_heads=2, intermediate_size=32)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def test_owl_gives_each_block_the_sparsity_of_its_outlier_share_around_the_target_and_prunes_it_as_wanda():
    model, x = deeper_llama(), tokens()
    ratios = []  # each block's share of Wanda scores above 5 x their mean, on the dense model (numpy, by hand)
    for i, block in enumerate(decoder_layers(model)[1]):
        inputs = linear_inputs(model, x, i)
        scores = np.concatenate([(w.detach().abs() * inputs[n].norm(dim=0)).numpy().ravel()
                                 for n, w in block.named_parameters() if n in inputs])
        ratios.append(100.0 * (scores > 5 * scores.mean()).sum() / scores.size)  # a percentage, as the reference
    d = np.array(ratios)
    d = (d - d.min()) * (1 / (d.max() - d.min()) * 0.08 * 2)
    expected = 1 - (d - d.mean() + (1 - 0.6))
    assert len(set(ratios)) > 2 and abs(expected.mean() - 0.6) < 1e-12
    masks = prune_blocks(copy.deepcopy(model), get_method("owl"), "60%", x)
    reference = copy.deepcopy(model)  # pruned here with Wanda at each block's sparsity, fed forward
    for i, block in enumerate(decoder_layers(reference)[1]):
        inputs = linear_inputs(reference, x, i)
        for name, w in block.named_parameters():
            if name not in inputs:
                continue
            score = w.detach().abs() * inputs[name].norm(dim=0)
            keep = w.shape[1] - int(w.shape[1] * expected[i])
            want = torch.zeros_like(score, dtype=torch.bool).scatter_(
                1, score.argsort(dim=1, descending=True)[:, :keep], True)
            assert torch.equal(masks[f"model.layers.{i}.{name}"], want), f"block {i} {name}"
        with torch.no_grad():
            for name, w in block.named_parameters():
                if f"model.layers.{i}.{name}" in masks:
                    w.mul_(masks[f"model.layers.{i}.{name}"])
    assert {round(float(masks[f"model.layers.{i}.mlp.down_proj.weight"].float().mean()), 6) for i in range(6)} != {0.4}


def test_owl_sparsegpt_runs_sparsegpt_at_the_block_sparsities_owls_allocation_gives():
    from benchsuite.methods.sparsegpt import prune_layer

    model, x = deeper_llama(), tokens()
    shares = calibration.allocate(get_method("owl_sparsegpt"), calibration.Calibration(model, x), "60%", None)
    assert shares == calibration.allocate(get_method("owl"), calibration.Calibration(model, x), "60%", None)
    assert len(set(shares)) > 2
    masks = prune_blocks(copy.deepcopy(model), get_method("owl_sparsegpt"), "60%", x)
    for name, mask in masks.items():  # int(s_i * n) of every layer of block i
        assert int((~mask).sum()) == int(shares[int(name.split(".")[2])] * mask.numel()), name
    inputs = linear_inputs(model, x, 0)  # block 0 sees the dense model's inputs: SparseGPT's own step at s_0
    for name, w in decoder_layers(model)[1][0].named_parameters():
        if name in inputs:
            keep, _ = prune_layer(w.detach(), 2 * inputs[name].T @ inputs[name] / len(inputs[name]), shares[0], None,
                                  128, 0.01)
            assert torch.equal(masks[f"model.layers.0.{name}"], keep), name


def test_an_allocation_that_cannot_keep_its_mean_is_a_clear_error():
    with pytest.raises(ValueError, match=r"'owl': its allocation must give each of the 6 blocks a sparsity in "
                                         r"\[0, 1\) with mean 10%.*its hyperparameters may not fit this sparsity"):
        bs.prune(deeper_llama(), "owl", "10%", (tokens(), tokens()), lamda=0.3)
    with pytest.raises(ValueError, match="'owl': an allocation gives the blocks their sparsities, so it takes a "
                                         "sparsity .'50%'. for a layer or row target, not '2:4'"):
        calibration.allocate(dataclasses.replace(get_method("owl"), target=("row", "nm")),
                             calibration.Calibration(deeper_llama(), tokens()), "2:4", None)


def test_magnitude_reads_no_calibration_data(monkeypatch):
    def refuse(self, i):
        raise AssertionError("magnitude ran a calibration pass")

    monkeypatch.setattr(calibration.Calibration, "inputs", refuse)
    masks = prune_blocks(tiny_llama(), get_method("magnitude"), "50%", tokens())
    assert len(masks) == 7 * 2


def correlated_inputs(n=512, k=32, seed=0):
    """Calibration inputs with correlated features and a few large ones (as in language models)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, k, generator=g) @ torch.randn(k, k, generator=g)
    x[:, :3] *= 8
    return x.double()


def test_sparsegpt_at_zero_sparsity_returns_the_weights_unchanged():
    x, w = correlated_inputs(), torch.randn(16, 32, dtype=torch.float64)
    keep, new = prune_layer(w, 2 * x.T @ x / len(x), 0.0, None)
    assert keep.all() and torch.allclose(new, w, rtol=0, atol=1e-10)


@pytest.mark.parametrize("pattern", [None, (2, 4)])
def test_sparsegpt_reconstructs_a_layer_better_than_magnitude_with_the_same_count(pattern):
    x, w = correlated_inputs(), torch.randn(16, 32, dtype=torch.float64)
    keep, new = prune_layer(w, 2 * x.T @ x / len(x), 0.5, pattern)
    if pattern:
        assert (keep.reshape(16, -1, 4).sum(-1) == 2).all()
        by_size = torch.zeros_like(keep).scatter_(1, torch.cat([  # the two largest |w| of every group of four
            g.abs().argsort(dim=1, descending=True)[:, :2] + 4 * j for j, g in enumerate(w.split(4, dim=1))], 1), True)
    else:
        assert int(keep.sum()) == 16 * 32 - int(0.5 * 16 * 32)
        by_size = torch.zeros(w.numel(), dtype=torch.bool)
        by_size[w.abs().flatten().argsort(descending=True)[:int(keep.sum())]] = True
        by_size = by_size.view_as(w)
    assert torch.count_nonzero(new[~keep]) == 0
    error = (x @ (w - new).T).norm()
    assert error < 0.8 * (x @ (w - w * by_size).T).norm()


def test_sparsegpt_in_the_harness_writes_its_new_weights_and_improves_on_magnitude_layer_by_layer():
    model, x = tiny_llama(), tokens()
    dense = copy.deepcopy(model)
    pruned, by_size = copy.deepcopy(model), copy.deepcopy(model)
    masks = prune_blocks(pruned, get_method("sparsegpt"), "50%", x)
    prune_blocks(by_size, get_method("magnitude"), "50%", x)
    inputs = linear_inputs(dense, x, 0)  # block 0 sees the same inputs in all three models
    for name, w in decoder_layers(dense)[1][0].named_parameters():
        if name in inputs:
            new = decoder_layers(pruned)[1][0].get_parameter(name)
            assert torch.count_nonzero(new[~masks[f"model.layers.0.{name}"]]) == 0 and not torch.equal(new, w * masks[
                f"model.layers.0.{name}"])  # kept weights were updated
            ours = (inputs[name] @ (w - new).T).norm()
            theirs = (inputs[name] @ (w - decoder_layers(by_size)[1][0].get_parameter(name)).T).norm()
            assert ours < theirs, name


def test_a_method_of_another_stage_or_a_ratio_is_a_clear_error():
    with pytest.raises(ValueError, match="'layer_magnitude' acts at stage 'after_training'.*'post_training'"):
        prune_blocks(tiny_llama(), get_method("layer_magnitude"), "50%", tokens())
    with pytest.raises(ValueError, match=r"'wanda' \(targets row, nm\): compression 'x8' does not fit a post-training target 'nm': .* \('50%'\)"):
        prune_blocks(tiny_llama(), get_method("wanda"), "x8", tokens())


def test_bs_prune_runs_a_post_training_method_on_a_copy_and_returns_its_new_weights():
    import benchsuite as bs

    model, x = tiny_llama(), tokens()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = bs.prune(model, "sparsegpt", compression="2:4", batch=(x, x))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert set(masks) == set(prunable(model)) and set(masks.weights) == set(masks)
    assert all((m.reshape(m.shape[0], -1, 4).sum(-1) == 2).all() for m in masks.values())
    assert not bs.prune(model, "wanda", compression="50%", batch=(x, x)).weights  # Wanda keeps the weights it keeps
    with pytest.raises(ValueError, match="LeNet300 is not a Hugging Face causal language model"):
        bs.prune(bs.get_model("lenet300"), "wanda", compression="50%", batch=(torch.randn(2, 1, 28, 28), x))


ARCHITECTURES = ("llama", "qwen2", "mistral", "opt")


@pytest.mark.parametrize("arch", ARCHITECTURES + ("qwen2-swa", "gemma2", "gemma3"))
def test_each_layers_calibration_inputs_are_what_a_whole_model_forward_feeds_it_in_every_architecture(arch):
    """The hidden states caught at layer 0 and each layer's own keyword arguments (attention mask, rotary or learned
    positions, a sliding window in some layers only) carry every later layer's inputs as the model's own forward
    computes them, in chunks of 8 sequences and a last one of 2."""
    model, x = tiny_lm(arch, layers=4), torch.randint(0, 259, (10, 24), generator=torch.Generator().manual_seed(1))
    caught = calibration.Calibration(model, x)
    for i in range(4):
        expected, seen = linear_inputs(model, x, i), caught.layer_inputs(i)
        assert set(seen) == set(expected) and len(seen) == (6 if arch == "opt" else 7)
        for name, inputs in expected.items():
            torch.testing.assert_close(seen[name], inputs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("method, compression", [("magnitude", "50%"), ("wanda", "60%"), ("wanda", "2:4")])
def test_the_pass_prunes_every_decoder_linear_layer_of_every_architecture_to_its_exact_count(arch, method, compression):
    model, x = tiny_lm(arch), torch.randint(0, 259, (4, 24), generator=torch.Generator().manual_seed(0))
    before = copy.deepcopy(model.state_dict())
    masks = bs.prune(model, method, compression=compression, batch=(x, x))
    prefix, layers = decoder_layers(model)
    assert set(masks) == {f"{prefix}.{i}.{n}.weight" for i, layer in enumerate(layers)
                          for n, m in layer.named_modules() if isinstance(m, nn.Linear)}
    for name, m in masks.items():
        if compression == "2:4":
            assert (m.reshape(m.shape[0], -1, 4).sum(-1) == 2).all(), name
        else:  # Wanda: int(s k) of each row of k pruned; magnitude: int(s n) of the layer's n
            groups = m if method == "wanda" else m.reshape(1, -1)
            k = groups.shape[1]
            assert (groups.sum(1) == k - int(float(compression[:-1]) / 100 * k)).all(), name
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
