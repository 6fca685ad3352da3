"""The contract of structured language-model methods (target `blocks` or `width`): run on every registered one on a
tiny transformers Llama with random weights (`post_training.tiny_llama`), through the harness's own pass
(`prune_structure`) and compaction (`compact`)."""
from __future__ import annotations

import copy

import pytest
import torch

from ..models.causal import decoder_layers
from ..pruning.methods import Method, get_method
from ..pruning.structure import Structure, compact, layout, prune_structure
from .post_training import tiny_llama, tokens

COMPRESSION = "50%"  # one of the tiny model's two decoder layers, or as many parameters of its heads and channels


def masked(model, s: Structure):
    """The dense model with the removed key-value groups' query, key and value rows and output columns, and the
    removed channels' gate and up rows and down columns, set to zero, and the compensation biases added: what the
    compacted model must compute."""
    model = copy.deepcopy(model)
    prefix, layers = decoder_layers(model)
    with torch.no_grad():
        for i, layer in enumerate(layers):
            u, a, m = layout(layer, f"{prefix}.{i}"), layer.self_attn, layer.mlp
            heads = (~s.groups[i]).repeat_interleave(u.shared * u.head_dim)
            kv = (~s.groups[i]).repeat_interleave(u.head_dim)
            for linear, rows in ((a.q_proj, heads), (a.k_proj, kv), (a.v_proj, kv), (m.gate_proj, ~s.channels[i]),
                                 (m.up_proj, ~s.channels[i])):
                linear.weight[rows] = 0
                if linear.bias is not None:
                    linear.bias[rows] = 0
            a.o_proj.weight[:, heads] = 0
            m.down_proj.weight[:, ~s.channels[i]] = 0
            for linear, bias in ((a.o_proj, s.attention_bias), (m.down_proj, s.mlp_bias)):
                if bias is not None:
                    linear.bias = torch.nn.Parameter(bias[i].clone())
    return model


def skipped(model, blocks) -> list:
    """Hooks that make decoder layers `blocks` of `model` pass their input through unchanged (remove them after)."""
    def through(module, args, kwargs, out):
        x = args[0] if args else kwargs["hidden_states"]
        return (x, *out[1:]) if isinstance(out, tuple) else x

    layers = decoder_layers(model)[1]
    return [layers[i].register_forward_hook(through, with_kwargs=True) for i in blocks]


class TestStructureContract:
    """The parameters removed match the target, the compacted model computes what the dense model computes without
    the removed layers (or with the removed heads and channels zeroed and the compensation added), generates with the
    KV cache as without it, the dense model is untouched and the same calibration gives the same structure."""

    benchsuite_stages = ("post_training",)
    benchsuite_kinds = ("blocks", "width")

    @pytest.fixture
    def method(self, benchsuite_method) -> Method:
        return get_method(benchsuite_method)

    def test_it_removes_the_targets_parameters_and_the_compacted_model_counts_them(self, method):
        model = tiny_llama()
        s = prune_structure(model, method, COMPRESSION, tokens())
        small = compact(model, s)
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        layers = decoder_layers(model)[1]
        if method.kind_for(COMPRESSION) == "blocks":
            assert len(s.blocks) == s.target.blocks == 1
            removed = sum(count(layers[i]) for i in s.blocks)
            assert count(small) == count(model) - removed
            return
        u = layout(layers[0], "layer 0")
        groups, channels = sum(int((~g).sum()) for g in s.groups), sum(int((~c).sum()) for c in s.channels)
        removed = groups * u.group_params + channels * u.channel_params
        assert abs(removed - s.target.remove) <= u.group_params, "the removed parameters miss the target"
        added = sum(linear.out_features for layer in layers for linear, bias in (
            (layer.self_attn.o_proj, s.attention_bias), (layer.mlp.down_proj, s.mlp_bias))
            if bias is not None and linear.bias is None)  # compensation biases where the layer had none
        assert count(small) == count(model) - removed + added

    def test_the_compacted_model_computes_what_removing_them_computes(self, method):
        model, x = tiny_llama(), tokens(2)
        s = prune_structure(model, method, COMPRESSION, tokens())
        small = compact(model, s)
        if method.kind_for(COMPRESSION) == "blocks":
            hooks = skipped(model, s.blocks)
            try:
                expected = model(x).logits
            finally:
                for h in hooks:
                    h.remove()
        else:
            expected = masked(model, s)(x).logits
        torch.testing.assert_close(small(x).logits, expected, atol=1e-4, rtol=1e-4)

    def test_the_compacted_model_generates_with_its_kv_cache_as_without(self, method):
        model = tiny_llama()
        small = compact(model, prune_structure(model, method, COMPRESSION, tokens()))
        x = tokens(3)[:1, :6]
        cached = small.generate(x, max_new_tokens=6, do_sample=False, use_cache=True)
        uncached = small.generate(x, max_new_tokens=6, do_sample=False, use_cache=False)
        assert torch.equal(cached, uncached)

    def test_the_dense_model_is_untouched_and_the_same_calibration_gives_the_same_structure(self, method):
        model = tiny_llama()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        a, b = (prune_structure(model, method, COMPRESSION, tokens()) for _ in range(2))
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
        assert a.summary() == b.summary()
