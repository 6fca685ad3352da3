"""Small datasets and models written in the real on-disk formats, for the loaders' tests."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import gguf
import numpy as np
import torch
from PIL import Image
from tokenizers import pre_tokenizers

from benchsuite.models.llama import Llama, LlamaConfig

# GGUF's tensor names for the layers of a block, written out here as the format states them (not imported)
NAMES = {"attn_norm": "attn_norm", "attn_q": "attn.q", "attn_k": "attn.k", "attn_v": "attn.v", "attn_output": "attn.o",
         "ffn_norm": "mlp_norm", "ffn_gate": "mlp.gate", "ffn_up": "mlp.up", "ffn_down": "mlp.down"}


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


def write_gguf(path, model):
    """`model` as a GGUF file with a byte-level BPE tokenizer: the 256 byte symbols and the merges t+h, th+e, Ġ+a."""
    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(c.layers), w.add_context_length(64), w.add_embedding_length(c.dim)
    w.add_feed_forward_length(c.hidden), w.add_head_count(c.heads), w.add_head_count_kv(c.kv_heads)
    w.add_rope_freq_base(c.rope_base), w.add_layer_norm_rms_eps(c.eps)
    tokens = sorted(pre_tokenizers.ByteLevel.alphabet()) + ["th", "the", "Ġa"]
    w.add_tokenizer_model("gpt2"), w.add_tokenizer_pre("smollm"), w.add_token_list(tokens)
    w.add_token_merges(["t h", "th e", "Ġ a"])
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", state.pop("embed.weight"))
    w.add_tensor("output_norm.weight", state.pop("norm.weight"))
    w.add_tensor("output.weight", state.pop("head.weight"))
    for i in range(c.layers):
        for gguf_name, name in NAMES.items():
            w.add_tensor(f"blk.{i}.{gguf_name}.weight", np.ascontiguousarray(state.pop(f"blocks.{i}.{name}.weight")))
    assert not state
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()


TINY = LlamaConfig(vocab=259, dim=16, layers=2, heads=4, kv_heads=2, hidden=24, rope_base=10000.0, tied=False)


def tiny_model(seed=0, config=TINY):
    """A tiny Llama with random weights (normal, std 0.3)."""
    torch.manual_seed(seed)
    model = Llama(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def write_hf(folder: Path, model, tokenizer) -> Path:
    """`model` as a Hugging Face Llama folder: config.json, model.safetensors and tokenizer.json. Hugging Face pairs
    rotary dimensions j and j + d/2 of a head, so the rows of q and k are reordered from interleaved pairs: each head's
    even rows, then its odd rows."""
    from safetensors.torch import save_file

    c = model.config
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_act": "silu", "vocab_size": c.vocab, "hidden_size": c.dim,
        "num_hidden_layers": c.layers, "num_attention_heads": c.heads, "num_key_value_heads": c.kv_heads,
        "intermediate_size": c.hidden, "rope_theta": c.rope_base, "rms_norm_eps": c.eps,
        "tie_word_embeddings": c.tied}))
    d = c.dim // c.heads
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = {"model.embed_tokens.weight": state.pop("embed.weight"), "model.norm.weight": state.pop("norm.weight"),
           "lm_head.weight": state.pop("head.weight")}
    hf = {"attn.q": "self_attn.q_proj", "attn.k": "self_attn.k_proj", "attn.v": "self_attn.v_proj",
          "attn.o": "self_attn.o_proj", "mlp.gate": "mlp.gate_proj", "mlp.up": "mlp.up_proj",
          "mlp.down": "mlp.down_proj", "attn_norm": "input_layernorm", "mlp_norm": "post_attention_layernorm"}
    for name, value in state.items():
        part = name.split(".", 2)[2].removesuffix(".weight")
        heads = {"attn.q": c.heads, "attn.k": c.kv_heads}.get(part)
        if heads:
            value = value[[h * d + 2 * j + r for h in range(heads) for r in (0, 1) for j in range(d // 2)]]
        out[f"model.layers.{name.split('.')[1]}.{hf[part]}.weight"] = value.contiguous()
    save_file(out, str(folder / "model.safetensors"))
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder / "model.safetensors"


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
