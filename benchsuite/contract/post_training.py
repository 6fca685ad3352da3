"""The mask contract of post-training methods (language models pruned from calibration data, block by block). A test
module runs it on every registered method of stage `post_training` with one line:
`from benchsuite.testing import TestPostTrainingContract`. It runs the harness's own pass (`prune_blocks`) on a tiny
transformers Llama with random weights and random calibration tokens, for every target kind the method meets."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from ..models.causal import decoder_layers, linears, prunable
from ..pruning.calibration import BlockContext, Calibration, allocate, block_target, prune_blocks
from ..pruning.masking import apply_masks
from ..pruning.methods import Method, get_method

COMPRESSION = {"layer": "50%", "row": "50%", "nm": "2:4"}  # what the contract asks of each kind of target
VOCAB = 64


def tiny_llama():
    """A transformers Llama of 2 decoder layers (width 16, 4 heads, 2 key-value heads), weights normal(0, 0.5)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, intermediate_size=32)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def tokens(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (4, 12), generator=torch.Generator().manual_seed(seed))


class TestPostTrainingContract:
    """Exact counts in every layer (or row, or group) of every block, boolean masks for exactly the prunable weights,
    each block untouched by the method, determinism for a seed, zeros where masked in the pruned model, and masks
    that hold under training. `benchsuite_method` runs over the registered post-training methods."""

    benchsuite_stages = ("post_training",)
    benchsuite_kinds = ("layer", "row", "nm")  # structured methods: TestStructureContract

    @pytest.fixture
    def method(self, benchsuite_method) -> Method:
        return get_method(benchsuite_method)

    @pytest.fixture(params=["sparsity", "nm"])
    def compression(self, request, method) -> str:
        kinds = [k for k in method.kinds if (k == "nm") == (request.param == "nm")]
        if not kinds:
            pytest.skip(f"method {method.name!r} meets no {request.param} target (its targets: {method.kinds})")
        return COMPRESSION[kinds[0]]

    def test_every_layer_of_every_block_hits_its_exact_count(self, method, compression):
        """At the case's sparsity, or at each block's own where the method allocates them (around the same mean)."""
        model = tiny_llama()
        kind = method.kind_for(compression)
        shares = None if kind == "nm" else allocate(method, Calibration(tiny_llama(), tokens()), compression, None)
        masks = prune_blocks(model, method, compression, tokens())
        params = dict(model.named_parameters())
        assert set(masks) == set(prunable(model))
        assert all(m.dtype == torch.bool and m.shape == params[n].shape for n, m in masks.items())
        for name, mask in masks.items():
            k, s = mask.shape[1], 0.5 if shares is None else shares[int(name.split(".")[2])]
            if kind == "nm":
                assert (mask.reshape(mask.shape[0], -1, 4).sum(-1) == 2).all(), f"{name}: a group breaks 2:4"
            elif kind == "row":
                assert (mask.sum(1) == k - int(s * k)).all(), f"{name}: a row keeps another count"
            else:
                assert int(mask.sum()) == mask.numel() - int(s * mask.numel()), f"{name}: another count"

    def test_the_method_leaves_the_block_unchanged(self, method, compression):
        model = tiny_llama()
        block = decoder_layers(model)[1][0]
        before = {k: v.clone() for k, v in block.state_dict().items()}
        shapes = {n: m.weight.shape for n, m in linears(block).items()}
        ctx = BlockContext(block, block_target(method.kind_for(compression), shapes, compression),
                           (tokens(), tokens()), torch.Generator().manual_seed(0), calibration=Calibration(model,
                                                                                                           tokens()))
        method.fn(ctx, **method.bind({})[1])  # called directly: nothing between the method and the block
        assert all(torch.equal(before[k], v) for k, v in block.state_dict().items())
        assert all(p.grad is None for p in block.parameters()) and not block.training

    def test_same_seed_gives_the_same_masks_and_weights(self, method, compression):
        a, b = tiny_llama(), tiny_llama()
        ma, mb = prune_blocks(a, method, compression, tokens()), prune_blocks(b, method, compression, tokens())
        assert all(torch.equal(ma[k], mb[k]) for k in ma)
        assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters()))

    def test_the_pruned_model_is_zero_where_masked_and_stays_so_under_training(self, method, compression):
        model = tiny_llama()
        masks = prune_blocks(model, method, compression, tokens())
        params = dict(model.named_parameters())
        assert all(params[n][~m].count_nonzero() == 0 for n, m in masks.items())
        trained = copy.deepcopy(model).train()
        apply_masks(trained, masks)
        opt = torch.optim.AdamW(trained.parameters(), lr=1e-2, weight_decay=0.1)
        x = tokens(2)
        for _ in range(3):
            opt.zero_grad()
            logits = trained(x).logits
            F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), x[:, 1:].reshape(-1)).backward()
            opt.step()
        params = dict(trained.named_parameters())
        assert all(params[n][~m].count_nonzero() == 0 for n, m in masks.items())
        assert any(not torch.equal(params[n], p) for n, p in model.named_parameters()), "nothing trained"
