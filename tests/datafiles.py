"""Small datasets and models written in the real on-disk formats, for the loaders' tests."""
from __future__ import annotations

import pickle
from pathlib import Path

import gguf
import numpy as np
import torch
from PIL import Image
from tokenizers import pre_tokenizers

# GGUF's tensor names for the layers of a Llama block and Hugging Face's, written out here as the formats state them
NAMES = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
         "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
         "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def write_mnist(root: Path, n_train: int = 120, n_test: int = 40) -> None:
    """torchvision's MNIST layout: raw IDX files (magic 2051 for images, 2049 for labels, big-endian sizes)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        header = np.array([2051, n, 28, 28], ">i4").tobytes()
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, n], ">i4").tobytes() + labels.tobytes())


def write_cifar(root: Path, classes: int = 10, per_batch: int = 40, n_test: int = 40) -> None:
    """The unpacked python archive: pickled dicts of uint8 rows (3,072 = 3 x 32 x 32, channel-major) and labels."""
    rng = np.random.default_rng(0)
    ten = classes == 10
    folder = root / ("cifar-10-batches-py" if ten else "cifar-100-python")
    folder.mkdir(parents=True)
    key = "labels" if ten else "fine_labels"

    def dump(name: str, n: int) -> None:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), key: [i % classes for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)

    if ten:
        for i in range(1, 6):
            dump(f"data_batch_{i}", per_batch)
        dump("test_batch", n_test)
        meta = {"label_names": [f"c{i}" for i in range(classes)]}
    else:
        dump("train", 5 * per_batch)
        dump("test", n_test)
        meta = {"fine_label_names": [f"c{i}" for i in range(classes)]}
    with open(folder / ("batches.meta" if ten else "meta"), "wb") as f:
        pickle.dump(meta, f)


def write_imagenet(root: Path, classes: int = 3, train_per_class: int = 100, val_per_class: int = 2) -> None:
    """An ImageFolder tree: imagenet/{train,val}/<wnid>/*.JPEG."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for c in range(classes):
            folder = root / "imagenet" / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{split}_{c}_{i}.JPEG", format="JPEG")


def byte_tokenizer():
    """Byte-level BPE: the 256 byte symbols and the merges t+h, th+e, Ġ+a (259 tokens)."""
    from tokenizers import Tokenizer, decoders, models

    tokens = sorted(pre_tokenizers.ByteLevel.alphabet()) + ["th", "the", "Ġa"]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, [("t", "h"), ("th", "e"), ("Ġ", "a")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def tiny_lm(arch="llama", seed=0, layers=2):
    """A tiny transformers causal LM with random weights (normal, std 0.3), built from its config class: Llama, Qwen2
    (q, k and v with biases), Mistral (sliding-window attention), OPT (LayerNorm, learned positions, fc1/fc2), and
    models whose layers get different masks or rotary embeddings: Qwen2 with sliding windows after its first layer,
    Gemma2 and Gemma3 (sliding-window and full attention alternating; Gemma3 with a rotary embedding for each)."""
    import transformers as t

    width = dict(vocab_size=259, hidden_size=16, num_hidden_layers=layers, num_attention_heads=4)
    config = {"llama": lambda: t.LlamaConfig(**width, num_key_value_heads=2, intermediate_size=24,
                                             tie_word_embeddings=False),
              "qwen2": lambda: t.Qwen2Config(**width, num_key_value_heads=2, intermediate_size=24),
              "mistral": lambda: t.MistralConfig(**width, num_key_value_heads=2, intermediate_size=24,
                                                 sliding_window=8),
              "opt": lambda: t.OPTConfig(**width, ffn_dim=24, word_embed_proj_dim=16),
              # layers that differ: sliding-window attention in the later half, or alternating with full attention
              "qwen2-swa": lambda: t.Qwen2Config(**width, num_key_value_heads=2, intermediate_size=24,
                                                 use_sliding_window=True, sliding_window=4, max_window_layers=1),
              "gemma2": lambda: t.Gemma2Config(**width, num_key_value_heads=2, intermediate_size=24, head_dim=4,
                                               sliding_window=4),
              "gemma3": lambda: t.Gemma3TextConfig(**width, num_key_value_heads=2, intermediate_size=24, head_dim=4,
                                                   sliding_window=4, layer_types=[("sliding_attention",
                                                   "full_attention")[i % 2] for i in range(layers)])}[arch]()
    torch.manual_seed(seed)
    model = t.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def write_hf(folder: Path, model, tokenizer=None, shard: str | None = None) -> Path:
    """`model` as a Hugging Face folder (config.json, safetensors weights, sharded if `shard` is a size such as
    "20KB") with `tokenizer` (the byte-level one if None) as tokenizer.json."""
    model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
    (tokenizer or byte_tokenizer()).save(str(folder / "tokenizer.json"))
    return folder


def write_gguf(path, model):
    """A transformers Llama as a GGUF file, as llama.cpp's converter writes one: its tensors under GGUF's names, the
    rows of q and k reordered from Hugging Face's half-split rotary pairs (j, j + d/2) to interleaved pairs
    (2j, 2j + 1), and the byte-level BPE tokenizer of `byte_tokenizer`."""
    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(c.num_hidden_layers), w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size), w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads), w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(c.rope_parameters["rope_theta"]), w.add_layer_norm_rms_eps(c.rms_norm_eps)
    tokens = sorted(pre_tokenizers.ByteLevel.alphabet()) + ["th", "the", "Ġa"]
    w.add_tokenizer_model("gpt2"), w.add_tokenizer_pre("smollm"), w.add_token_list(tokens)
    w.add_token_merges(["t h", "th e", "Ġ a"])
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}

    def interleave(x, heads):
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    w.add_tensor("token_embd.weight", state.pop("model.embed_tokens.weight"))
    w.add_tensor("output_norm.weight", state.pop("model.norm.weight"))
    w.add_tensor("output.weight", state.pop("lm_head.weight"))
    for i in range(c.num_hidden_layers):
        for gguf_name, name in NAMES.items():
            x = state.pop(f"model.layers.{i}.{name}.weight")
            heads = {"attn_q": c.num_attention_heads, "attn_k": c.num_key_value_heads}.get(gguf_name)
            w.add_tensor(f"blk.{i}.{gguf_name}.weight", np.ascontiguousarray(interleave(x, heads) if heads else x))
    assert not state
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()


def method_package(root: Path, source: str, name: str = "mymethods") -> Path:
    """What a method repository is: a distribution (installed in `root / "site"`, to put on PYTHONPATH) declaring its
    module `name` in the `benchsuite.methods` entry-point group, and a test module of two import lines in `root`."""
    site = root / "site"
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[benchsuite.methods]\nmine = {name}\n")
    (site / f"{name}.py").write_text(source)
    (root / "test_benchsuite.py").write_text("from benchsuite.testing import TestContract  # noqa: F401\n"
                                            "from benchsuite.testing import test_case  # noqa: F401\n")
    return site
