"""Running a case of a language-model pair: the dense model (through transformers) and its tokenized text (loaded
once per process, the checkpoint checked against its sha256), the calibration sample the case's seed draws, the
block-by-block pruning pass (or a structured method's, and the compacted model), perplexity on the held-out chunks
beside the dense model's (computed once per model and kept in the store), and prefill and decode speed beside the
dense model's."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import Tensor, nn

from .. import __version__
from ..data.text import Text, lee, wikitext2
from ..files import package_file
from ..models.causal import checkpoint_sha256, decoder_layers, linears, load_causal_lm
from ..plan.cases import SCHEMA_VERSION, Case
from ..plan.pairs import PackagedFile, TextPair, WeightsFile, get_pair
from ..pruning.calibration import prune_blocks
from ..pruning.context import Masks
from ..pruning.methods import get_method
from ..pruning.structure import Structure, compact, prune_structure
from ..pruning.targets import STRUCTURED, nominal
from . import generation
from .generation import PREFILL
from .perplexity import chunk_nll, perplexity
from .store import Store


def _linear_weights(model: nn.Module) -> int:
    """The weights of the linear layers inside a causal LM's decoder layers (biases left out)."""
    return sum(m.weight.numel() for layer in decoder_layers(model)[1] for m in linears(layer).values())


@dataclass(frozen=True)
class Loaded:
    """A dense language model with its text (tokenized by the model's own tokenizer) and its checkpoint's sha256."""

    model: nn.Module
    text: Text
    sha256: str


@dataclass
class Prepared:
    """What a case's pruning pass starts from: a copy of the dense model (pruned in place) and the calibration token
    ids (sequences x length) its seed drew."""

    model: nn.Module
    tokens: Tensor


def model_file(source: PackagedFile | WeightsFile) -> Path:
    """The checkpoint (a GGUF file, or a Hugging Face model folder), checked against its sha256
    (`causal.checkpoint_sha256`: over a folder's config, tokenizer and weights)."""
    path = package_file(source.package, source.file, source.install) if isinstance(source, PackagedFile) \
        else Path(source.path)
    digest = checkpoint_sha256(path)
    if digest != source.sha256:
        fix = f"reinstall it with: {source.install}" if isinstance(source, PackagedFile) else \
            "check the checkpoint, or give this sha256 if the checkpoint is the one you mean"
        raise ValueError(f"checkpoint {path} has sha256 {digest}, not the expected {source.sha256}; {fix}")
    return path


def read_text(name: str, encode, data_root: Path | None) -> Text:
    """The pair's text, tokenized: the Lee corpus from gensim's wheel, or WikiText-2 from the data root."""
    if name == "lee":
        return lee(encode)
    root = data_root or os.environ.get("BENCHSUITE_DATA")
    if not root:
        raise ValueError(f"text {name!r} is read from a data root: pass --data-root DIR or set BENCHSUITE_DATA")
    return wikitext2(root, encode)


class LanguageRunner:
    """Runs cases of language-model pairs on one device, loading each model and text once per process. The dense
    models' per-chunk losses are kept in `bench_dir/results` beside the cases'."""

    def __init__(self, bench_dir: Path, data_root: Path | None = None, device: str = "cpu") -> None:
        self.store = Store(Path(bench_dir) / "results")
        self.data_root, self.device = data_root, torch.device(device)
        self._loaded: dict[tuple[str, str], Loaded] = {}

    def loaded(self, case: Case) -> Loaded:
        key = (case.pair, case.weights)
        if key not in self._loaded:
            pair: TextPair = get_pair(case.pair)
            source = pair.source(case.weights)
            model, encode = load_causal_lm(model_file(source))
            text = read_text(pair.text, encode, self.data_root)
            self._loaded[key] = Loaded(model.to(self.device), text, source.sha256)
        return self._loaded[key]

    def chunks(self, case: Case) -> Tensor:
        pair: TextPair = get_pair(case.pair)
        return self.loaded(case).text.chunks(pair.length, pair.chunks)

    def dense(self, case: Case) -> Tensor:
        """The dense model's summed loss on each held-out chunk: from the store, or computed and stored."""
        spec = {k: case.spec[k] for k in ("schema", "pair", "weights_recipe", "harness")}
        key = "dense-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
        stored = self.store.get(key)
        if stored is None:
            stored = {"hash": key, "schema": SCHEMA_VERSION, "chunk_nll": chunk_nll(self.loaded(case).model,
                                                                                    self.chunks(case)).tolist()}
            self.store.put(stored)
        return torch.tensor(stored["chunk_nll"], dtype=torch.float64)

    def context(self, case: Case) -> Prepared:
        pair: TextPair = get_pair(case.pair)
        tokens = self.loaded(case).text.sample(pair.calibration, pair.length, case.seed)
        return Prepared(copy.deepcopy(self.loaded(case).model), tokens)

    def prune(self, case: Case, ctx: Prepared) -> Masks | Structure:
        """The timed step: the method's pass over every block, which leaves the pruned weights in `ctx.model`; a
        structured method's pass, and the compacted model in `ctx.model`."""
        method = get_method(case.method)
        kwargs = method.bind(dict(case.hparams))[1]
        if method.kind_for(case.compression) in STRUCTURED:
            structure = prune_structure(ctx.model, method, case.compression, ctx.tokens, case.seed, kwargs)
            ctx.model = compact(ctx.model, structure)
            return structure
        return prune_blocks(ctx.model, method, case.compression, ctx.tokens, case.seed, kwargs)

    def finish(self, case: Case, ctx: Prepared, masks: Masks | Structure) -> dict[str, Any]:
        """Check that the pruned weights are zero (or gone), count what is left, and measure perplexity."""
        pair: TextPair = get_pair(case.pair)
        model, method = ctx.model, get_method(case.method)
        dense_model = self.loaded(case).model
        if isinstance(masks, Structure):
            kept, prunable, layers = _linear_weights(model), _linear_weights(dense_model), masks.summary()
            density, share = {}, masks.target.blocks / masks.target.layers  # the share round(s * L) / L
        else:
            weights = {name: model.get_parameter(name) for name in masks}
            leaked = {n: int(w[~masks[n]].count_nonzero()) for n, w in weights.items() if w[~masks[n]].any()}
            if leaked:
                raise AssertionError(f"{case.id}: masked weights are nonzero in the pruned model: {leaked}")
            prunable = sum(w.numel() for w in weights.values())
            kept = sum(int(w.count_nonzero()) for w in weights.values())
            layers, density = {}, {n: float(m.float().mean()) for n, m in masks.items()}
            share = 1 - 1 / nominal(case.compression)
        dense, start = self.dense(case), time.perf_counter()
        nll = chunk_nll(model, self.chunks(case))
        seconds = time.perf_counter() - start
        speed = generation.measure(dense_model, model, self.loaded(case).text.evaluation[:PREFILL])
        return {
            "hash": case.hash, "schema": SCHEMA_VERSION, "suite_version": __version__,
            "method_version": case.spec["method_version"], "torch": str(torch.__version__),
            "pair": case.pair, "weights": case.weights, "method": case.method, "stage": method.stage,
            "target": method.kind_for(case.compression), "hyperparameters": case.hyperparameters,
            "compression": case.compression, "sparsity": share, "seed": case.seed,
            "weights_sha256": self.loaded(case).sha256, "text": pair.text,
            "calibration_text": "c4" if pair.text == "wikitext2" else pair.text,
            "calibration_sequences": pair.calibration,
            "sequence_length": pair.length, "calibration_seed": case.seed, "eval_chunks": len(nll),
            "eval_tokens": len(nll) * (pair.length - 1), "perplexity": perplexity(nll, pair.length),
            "dense_perplexity": perplexity(dense, pair.length), "chunk_nll": nll.tolist(),
            "dense_chunk_nll": dense.tolist(), "params": sum(p.numel() for p in model.parameters()),
            "dense_params": sum(p.numel() for p in dense_model.parameters()),
            "nonzero_params": sum(int(p.count_nonzero()) for p in model.parameters()), "prunable_params": prunable,
            "sparsity_achieved": 1 - kept / prunable, "layer_density": density, **layers, "eval_seconds": seconds,
            "generation": speed, "prefill_speedup": speed["prefill_speedup"], "decode_speedup": speed["decode_speedup"],
            "transformers": transformers.__version__,
        }
