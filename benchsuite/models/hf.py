"""Llama checkpoints in Hugging Face's layout: one `*.safetensors` file with `config.json` and `tokenizer.json`
beside it, read with `safetensors`. Hugging Face's q and k projections pair dimension j of a head with j + d/2 for the
rotary embeddings; `llama.Llama` pairs 2j with 2j + 1 (Meta's and GGUF's layout), so their rows are permuted on load,
as llama.cpp's converter does."""
from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from .llama import Llama, LlamaConfig

NAMES = {"self_attn.q_proj": "attn.q", "self_attn.k_proj": "attn.k", "self_attn.v_proj": "attn.v",
         "self_attn.o_proj": "attn.o", "mlp.gate_proj": "mlp.gate", "mlp.up_proj": "mlp.up",
         "mlp.down_proj": "mlp.down", "input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}


def interleave(w: Tensor, heads: int) -> Tensor:
    """The rows of a q or k projection of `heads` heads, from half-split rotary pairs (j, j + d/2) to interleaved
    pairs (2j, 2j + 1)."""
    rows, cols = w.shape
    return w.reshape(heads, 2, rows // heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def _config(folder: Path) -> LlamaConfig:
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a safetensors checkpoint is read with the config.json and "
                                f"tokenizer.json of its Hugging Face folder beside it")
    c = json.loads(path.read_text())
    unsupported = [k for k in ("rope_scaling", "attention_bias", "mlp_bias") if c.get(k)]
    if c.get("model_type") != "llama" or c.get("hidden_act", "silu") != "silu" or unsupported:
        raise ValueError(f"{path}: model_type {c.get('model_type')!r}, hidden_act {c.get('hidden_act')!r}"
                         f"{', with ' + ', '.join(unsupported) if unsupported else ''}; only plain Llama models "
                         f"(SwiGLU, no biases, unscaled rotary embeddings) are read")
    heads = c["num_attention_heads"]
    if c.get("head_dim", c["hidden_size"] // heads) * heads != c["hidden_size"]:
        raise ValueError(f"{path}: head_dim {c['head_dim']} x {heads} heads is not hidden_size {c['hidden_size']}")
    return LlamaConfig(vocab=c["vocab_size"], dim=c["hidden_size"], layers=c["num_hidden_layers"], heads=heads,
                       kv_heads=c.get("num_key_value_heads", heads), hidden=c["intermediate_size"],
                       rope_base=c.get("rope_theta", 10000.0), eps=c.get("rms_norm_eps", 1e-6),
                       tied=c.get("tie_word_embeddings", False))


def load_hf(path: str | Path) -> tuple[Llama, object]:
    """The Llama model (float32, eval mode) of a safetensors file and the `tokenizers.Tokenizer` of its folder."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    path = Path(path)
    config = _config(path.parent)
    if not (path.parent / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{path.parent / 'tokenizer.json'} is missing: the checkpoint's tokenizer is read "
                                f"from its Hugging Face folder")
    try:
        tensors = {k.removeprefix("model."): v.float() for k, v in load_file(str(path)).items()}
    except Exception as e:  # safetensors speaks of headers and bytes, not of the file
        raise ValueError(f"{path}: not a readable safetensors file ({type(e).__name__}: {str(e)[:200]})") from None
    state = {"embed.weight": tensors.pop("embed_tokens.weight"), "norm.weight": tensors.pop("norm.weight")}
    state["head.weight"] = tensors.pop("lm_head.weight", state["embed.weight"])
    for name, value in tensors.items():
        _, i, rest = name.split(".", 2) if name.startswith("layers.") else ("", "", name)
        if rest.endswith("rotary_emb.inv_freq"):  # a buffer older checkpoints saved
            continue
        if rest.removesuffix(".weight") not in NAMES:
            raise ValueError(f"{path}: tensor {name!r} is not a weight of a plain Llama model")
        part = NAMES[rest.removesuffix(".weight")]
        heads = {"attn.q": config.heads, "attn.k": config.kv_heads}.get(part)
        state[f"blocks.{i}.{part}.weight"] = interleave(value, heads) if heads else value
    model = Llama(config)
    model.load_state_dict(state)
    return model.eval(), Tokenizer.from_file(str(path.parent / "tokenizer.json"))
