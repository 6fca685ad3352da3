"""Structured pruning of language models: ShortGPT's and FLAP's choices against independent computations from the
same dense model, and the compacted models of several architectures against the dense model with the same parts
removed."""
from __future__ import annotations

import pytest
import torch
from datafiles import tiny_lm

from benchsuite.contract.structure import masked, skipped
from benchsuite.methods.flap import fluctuation
from benchsuite.models.causal import decoder_layers
from benchsuite.pruning.calibration import Calibration
from benchsuite.pruning.methods import get_method
from benchsuite.pruning.structure import StructureContext, StructureTarget, compact, prune_structure


def calibration(n=5, length=12, seed=1):
    return torch.randint(0, 259, (n, length), generator=torch.Generator().manual_seed(seed))


def test_shortgpt_removes_the_layers_whose_output_is_most_like_their_input():
    """Block Influence from transformers' own hidden states (the last layer's output caught before the final norm),
    one sequence at a time, against the method's."""
    model, x = tiny_lm("llama", layers=6), calibration()
    layers = decoder_layers(model)[1]
    bi = torch.zeros(len(layers), dtype=torch.float64)
    for seq in x:
        last = []
        hook = layers[-1].register_forward_hook(
            lambda m, a, out: last.append(out[0] if isinstance(out, tuple) else out))
        with torch.no_grad():
            hidden = model(seq[None], output_hidden_states=True).hidden_states
        hook.remove()
        states = [*hidden[:-1], last[0]]
        for i in range(len(layers)):
            a, b = states[i][0], states[i + 1][0]
            bi[i] += (1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)).double().sum()
    s = prune_structure(model, get_method("shortgpt"), "50%", x)
    assert s.blocks == tuple(sorted(torch.argsort(bi)[:3].tolist()))


def reference_flap(model, x, remove_share):
    """FLAP's WIFV / AL-AM as its code computes it, written out again: each o_proj and down_proj input added one
    sequence at a time (its running mean and fluctuation, the previous mean the same tensor as the new one), WIFV
    (squared for attention), standardized per layer, a key-value group's score the mean of its channels', one weighted
    threshold, and the bias of the removed inputs' mean."""
    layers = decoder_layers(model)[1]
    stats = {}

    def add(key):
        def hook(module, args):
            inp = args[0].reshape(-1, args[0].shape[-1]).t().float()
            n, base, fluc = stats.get(key, (0, torch.zeros(inp.shape[0]), torch.zeros(inp.shape[0])))
            old = base
            base *= n / (n + 1)
            base += inp.mean(1) / (n + 1)
            if n == 0:
                fluc = torch.zeros_like(base)
            else:
                fluc = fluc * (n - 1) / n + ((inp - base[:, None]) * (inp - old[:, None])).sum(1) / (n + 1)
            stats[key] = (n + 1, base, fluc)
        return hook

    hooks = [m.register_forward_pre_hook(add((i, name))) for i, layer in enumerate(layers)
             for name, m in (("o", layer.self_attn.o_proj), ("down", layer.mlp.down_proj))]
    with torch.no_grad():
        for seq in x:
            model(seq[None])
    for h in hooks:
        h.remove()
    z = lambda t: (t - t.mean(1, keepdim=True)) / t.std(1, keepdim=True)  # noqa: E731
    attn = z(torch.stack([(stats[i, "o"][2] * layer.self_attn.o_proj.weight.pow(2).sum(0)) ** 2
                          for i, layer in enumerate(layers)]))
    mlp = z(torch.stack([stats[i, "down"][2] * layer.mlp.down_proj.weight.pow(2).sum(0)
                         for i, layer in enumerate(layers)]))
    a0 = layers[0].self_attn
    groups = a0.k_proj.out_features // a0.head_dim
    attn = attn.reshape(len(layers), groups, -1).mean(2)
    hidden, shared = a0.o_proj.out_features, a0.q_proj.out_features // a0.k_proj.out_features
    head = (shared + 2) * a0.head_dim * hidden + shared * a0.head_dim * hidden
    metric = torch.cat([attn.flatten(), mlp.flatten()]).double()
    weight = torch.cat([torch.full((attn.numel(),), float(head)), torch.full((mlp.numel(),), 3.0 * hidden)]).double()
    order = torch.argsort(metric, descending=True)
    total = weight.sum()
    at = torch.argmin((torch.cumsum(weight[order], 0) - total * (1 - remove_share)).abs())
    threshold = metric[order[at]]
    keep_attn, keep_mlp = attn.double() > threshold, mlp.double() > threshold
    biases = []
    for i, layer in enumerate(layers):
        rows = keep_attn[i].repeat_interleave(shared * a0.head_dim)
        biases.append(((stats[i, "o"][1] * ~rows) @ layer.self_attn.o_proj.weight.T,
                       (stats[i, "down"][1] * ~keep_mlp[i]) @ layer.mlp.down_proj.weight.T))
    return keep_attn, keep_mlp, biases, stats


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_flap_keeps_the_heads_and_channels_and_adds_the_biases_its_reference_computation_gives(arch):
    model, x = tiny_lm(arch, layers=4), calibration(n=6)
    s = prune_structure(model, get_method("flap"), "25%", x)
    keep_attn, keep_mlp, biases, stats = reference_flap(model, x, 0.25)
    cal = Calibration(model, x)
    for i in range(4):  # the statistics themselves, which the choice may not reveal
        for key, name in (("o", "self_attn.o_proj.weight"), ("down", "mlp.down_proj.weight")):
            inputs = cal.layer_inputs(i)[name]
            mean, fluc = fluctuation(inputs.reshape(len(x), -1, inputs.shape[-1]))
            torch.testing.assert_close((mean, fluc), stats[i, key][1:], rtol=1e-5, atol=1e-6)
    assert [g.tolist() for g in s.groups] == [g.tolist() for g in keep_attn]
    assert [c.tolist() for c in s.channels] == [c.tolist() for c in keep_mlp]
    assert not all(g.all() for g in s.groups) and not all(c.all() for c in s.channels), "nothing removed"
    for i, (attn, mlp) in enumerate(biases):
        torch.testing.assert_close(s.attention_bias[i], attn, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(s.mlp_bias[i], mlp, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "mistral", "gemma2", "gemma3"])
def test_width_pruning_compacts_any_llama_family_model_to_what_zeroing_its_heads_and_channels_computes(arch):
    """Qwen2's q, k and v biases go with their rows; a layer that loses every key-value group keeps only its
    compensation bias and still counts its tokens in the KV cache."""
    model, x = tiny_lm(arch, layers=4), calibration()
    target = StructureTarget.of("width", model, "25%")
    ctx = StructureContext(model, target, Calibration(model, x), torch.Generator())
    groups = torch.rand(4, 2, generator=torch.Generator().manual_seed(0))
    groups[1] = -10  # every group of layer 1 goes
    channels = torch.rand(4, 24, generator=torch.Generator().manual_seed(1))
    s = ctx.remove_width(groups, channels, torch.randn(4, 16), torch.randn(4, 24))
    assert not s.groups[1].any()
    small = compact(model, s)
    torch.testing.assert_close(small(x).logits, masked(model, s)(x).logits, atol=1e-4, rtol=1e-4)
    prompt = x[:1, :6]
    assert torch.equal(small.generate(prompt, max_new_tokens=8, do_sample=False),
                       small.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=False))


@pytest.mark.parametrize("arch", ["llama", "opt", "gemma3", "qwen2-swa"])
def test_removing_layers_compacts_any_causal_lm_to_what_skipping_them_computes(arch):
    """OPT's biases make a zeroed layer no identity: the layers go. The kept layers are renumbered for the KV cache,
    and their types (sliding-window or full attention) kept."""
    model, x = tiny_lm(arch, layers=4), calibration()
    s = prune_structure(model, get_method("shortgpt"), "50%", x)
    small = compact(model, s)
    hooks = skipped(model, s.blocks)
    with torch.no_grad():
        expected = model(x).logits
    for h in hooks:
        h.remove()
    torch.testing.assert_close(small(x).logits, expected, atol=1e-5, rtol=1e-5)
    config = small.config
    assert config.num_hidden_layers == 2 and len(decoder_layers(small)[1]) == 2
    if getattr(model.config, "layer_types", None):
        assert config.layer_types == [t for i, t in enumerate(model.config.layer_types) if i not in s.blocks]
    prompt = x[:1, :6]
    assert torch.equal(small.generate(prompt, max_new_tokens=8, do_sample=False),
                       small.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=False))


def test_a_structured_target_that_cannot_be_met_or_a_model_width_pruning_does_not_know_is_a_clear_error():
    with pytest.raises(ValueError, match=r"removes round\(0.1 x 4 decoder layers\) = 0 layers"):
        prune_structure(tiny_lm("llama", layers=4), get_method("shortgpt"), "10%", calibration())
    with pytest.raises(ValueError, match="MLP channels from a Llama-family layer.*lacks self_attn.o_proj, mlp.gate"):
        prune_structure(tiny_lm("opt", layers=4), get_method("flap"), "25%", calibration())
    with pytest.raises(ValueError, match="does not fit a post-training|target 'width'"):
        prune_structure(tiny_lm("llama", layers=4), get_method("flap"), "2:4", calibration())
