"""Causal language models as Hugging Face `transformers` runs them (Llama, Qwen2, Mistral, OPT, Phi, Gemma, ...), read
offline in float32 from a local checkpoint: a folder in Hugging Face's layout (`config.json`, `tokenizer.json` and the
weights in one or several `*.safetensors` files), or a GGUF file (llama.cpp's format, dequantized by transformers).
A checkpoint is named by one sha256 over every file that decides its numbers. As in Wanda's and SparseGPT's code, the
prunable weights are the linear layers inside the decoder layers; the embeddings, norms and output head stay dense."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..files import sha256

DECIDING = ("config.json", "tokenizer.json", "model.safetensors.index.json")  # with every *.safetensors file


def checkpoint_files(path: str | Path) -> list[Path]:
    """The files of a checkpoint that decide its numbers: the GGUF file, or the folder's config, tokenizer, shard
    index and weights; a clear error for a folder without its config, tokenizer or weights."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path}: not a GGUF file (.gguf) nor a Hugging Face model folder "
                                f"(config.json, tokenizer.json and *.safetensors)")
    weights = sorted(path.glob("*.safetensors"))
    missing = [n for n in DECIDING[:2] if not (path / n).is_file()] + ([] if weights else ["*.safetensors"])
    if missing:
        raise FileNotFoundError(f"checkpoint folder {path} lacks {', '.join(missing)}: a model is read from its "
                                f"config.json, tokenizer.json and safetensors weights (save_pretrained writes them)")
    return [path / n for n in DECIDING if (path / n).is_file()] + weights


def checkpoint_sha256(path: str | Path) -> str:
    """The sha256 of a GGUF file, or of a folder's deciding files: over their names and their own sha256s."""
    files = checkpoint_files(path)
    if Path(path).is_file():  # a GGUF file
        return sha256(path)
    return hashlib.sha256("".join(f"{f.name} {sha256(f)}\n" for f in files).encode()).hexdigest()


def load_causal_lm(path: str | Path) -> tuple[nn.Module, Callable[[str], list[int]]]:
    """The model (float32, eval mode, no download ever) and its tokenizer's `encode` (text to token ids, with the
    special tokens its tokenizer.json adds). A GGUF file's tokenizer is rebuilt as llama.cpp runs it
    (`gguf.tokenizer`); transformers' own GGUF conversion drops SmolLM2's split of digits."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    path = Path(path)
    checkpoint_files(path)
    gguf = path.suffix == ".gguf"
    if gguf:
        from .gguf import gguf_tokenizer
        tokenizer = gguf_tokenizer(path)  # first: it checks that the file states its model's sizes
    else:
        from tokenizers import Tokenizer
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    try:
        with _quiet(logging):
            model, info = AutoModelForCausalLM.from_pretrained(
                path.parent if gguf else path, dtype=torch.float32, local_files_only=True, output_loading_info=True,
                **({"gguf_file": path.name} if gguf else {}))
    except Exception as e:  # transformers speaks of configs, keys and tensors, not of the checkpoint
        raise ValueError(f"{path}: transformers cannot read it as a causal language model ({type(e).__name__}: "
                         f"{str(e)[:300]}); check the checkpoint (its sha256 is what it was given with)") from None
    if info["missing_keys"]:  # transformers would draw them at random and say so only in a warning
        missing = sorted(info["missing_keys"])
        raise ValueError(f"{path}: the checkpoint lacks {len(missing)} of its model's weights ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''}); a model is scored only as it was trained")
    decoder_layers(model)
    return model.eval(), lambda text: tokenizer.encode(text).ids


@contextmanager
def _quiet(logging):
    """transformers' progress bars and warnings off while loading (a sweep loads a model once per worker)."""
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The decoder layers of a transformers causal LM (`model.get_decoder().layers`) and their qualified name in it
    (`model.layers` for Llama, `model.decoder.layers` for OPT); a clear error for any other model."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, nn.ModuleList) or not len(layers):
        raise ValueError(f"{type(model).__name__} is not a Hugging Face causal language model whose decoder holds its "
                         f"layers in `.layers` (as Llama, Qwen2, Mistral, OPT, Phi and Gemma do); load one with "
                         f"transformers (AutoModelForCausalLM) or benchsuite.models.causal.load_causal_lm")
    name = next(n for n, m in model.named_modules() if m is layers)
    return name, layers


def linears(layer: nn.Module) -> dict[str, nn.Linear]:
    """The linear layers of a decoder layer by weight name within it (`self_attn.q_proj.weight`, ...)."""
    return {f"{n}.weight": m for n, m in layer.named_modules() if isinstance(m, nn.Linear)}


def prunable(model: nn.Module) -> list[str]:
    """The weights post-training pruning may prune: every linear layer's inside the decoder layers."""
    prefix, layers = decoder_layers(model)
    return [f"{prefix}.{i}.{name}" for i, layer in enumerate(layers) for name in linears(layer)]
