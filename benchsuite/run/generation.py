"""Measured generation speed of a language model, the pruned one beside the dense one: prefill (one forward pass over
`PREFILL` tokens, batch 1, no cache) and decode (`DECODE` new tokens one at a time, greedy, with the KV cache of that
prompt). Timed with torch.utils.benchmark on the run's device in interleaved rounds (each model leads a round in
turn), each model's time its fastest round, for the reasons `latency` gives for image models. A model runs in the form
it is in: an unstructured or N:M mask leaves a dense model with zeros, which a CPU runs at dense speed (measured, not
assumed); a structured method leaves a smaller dense model. Nothing here draws from the global random generators or
changes the models, so no perplexity can change."""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.utils import benchmark

PREFILL, DECODE = 512, 64  # prompt tokens; new tokens decoded
ROUNDS = 2  # interleaved rounds (each model leads one); each model's fastest is its time


class Decoder:
    """Greedy decoding from a prompt's KV cache: each call decodes one token and extends the cache."""

    def __init__(self, model: nn.Module, cache, token: Tensor) -> None:
        self.model, self.cache, self.token = model, cache, token

    def step(self) -> None:
        out = self.model(self.token, cache=self.cache, use_cache=True)
        self.cache, self.token = out.cache, out.logits[:, -1:].argmax(-1)


def _timers(model: nn.Module, prompt: Tensor) -> dict[str, benchmark.Timer]:
    """Prefill: one forward pass over the prompt. Decode: timed over `DECODE` calls of one step each from a fresh
    copy of the prompt's cache (timeit's setup), so that the context grows from the prompt's length as it decodes."""
    out = model(prompt, use_cache=True)
    state = {"model": model, "prompt": prompt, "Decoder": Decoder, "copy": copy, "cache0": out.cache,
             "token0": out.logits[:, -1:].argmax(-1)}
    threads = torch.get_num_threads()
    return {"prefill": benchmark.Timer("model(prompt, use_cache=False)", globals=state, num_threads=threads),
            "decode": benchmark.Timer("decoder.step()", setup="decoder = Decoder(model, copy.deepcopy(cache0), token0)",
                                      globals=state, num_threads=threads)}


@torch.no_grad()
def measure(dense: nn.Module, pruned: nn.Module, prompt: Tensor) -> dict:
    """Prefill time (ms) of the prompt (token ids, 1-d) and decode speed (tokens/s) of `DECODE` new tokens, of the
    dense and the pruned model: each its fastest of ROUNDS interleaved rounds (every round kept), and the pruned
    model's speedups over the dense one."""
    models = {"dense": dense.eval(), "pruned": pruned.eval()}
    device = next(dense.parameters()).device
    timers = {name: _timers(m, prompt[None].to(device)) for name, m in models.items()}
    rounds: dict[str, dict[str, list[float]]] = {name: {"prefill": [], "decode": []} for name in models}
    names = list(models)
    for r in range(ROUNDS):
        for name in names[r % 2:] + names[:r % 2]:
            rounds[name]["prefill"].append(timers[name]["prefill"].timeit(1).median)
            rounds[name]["decode"].append(timers[name]["decode"].timeit(DECODE).median)  # seconds per token
    prefill = {name: min(v["prefill"]) * 1e3 for name, v in rounds.items()}
    tokens_per_s = {name: 1 / min(v["decode"]) for name, v in rounds.items()}
    return {"device": str(device), "threads": torch.get_num_threads(), "prefill_tokens": len(prompt),
            "decode_tokens": DECODE, "rounds": ROUNDS, "prefill_ms": prefill, "decode_tokens_per_s": tokens_per_s,
            "prefill_rounds_ms": {n: [t * 1e3 for t in v["prefill"]] for n, v in rounds.items()},
            "decode_rounds_ms_per_token": {n: [t * 1e3 for t in v["decode"]] for n, v in rounds.items()},
            "prefill_speedup": prefill["dense"] / prefill["pruned"],
            "decode_speedup": tokens_per_s["pruned"] / tokens_per_s["dense"]}
