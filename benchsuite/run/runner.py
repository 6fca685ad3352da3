"""Running a case: prune the dense model, fine-tune under the masks and measure the outcome."""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data import Dataset, load_dataset
from ..plan.cases import SCHEMA_VERSION, Case
from ..plan.pairs import get_pair
from ..pruning.context import Context, Masks
from ..pruning.masking import apply_masks
from .metrics import summarize
from .store import pack
from .train import evaluate, fit
from .weights import Checkpoint, load_weights


class Runner:
    """Runs cases on one device, loading each dataset and dense model once per process."""

    def __init__(self, weights_dir: Path, data_root: Path | None = None, device: str = "cpu") -> None:
        self.weights_dir, self.data_root, self.device = weights_dir, data_root, torch.device(device)
        self._checkpoints: dict[tuple[str, str], Checkpoint] = {}
        self._dense: dict[tuple[str, str], torch.nn.Module] = {}
        self._data: dict[str, Dataset] = {}

    def data(self, name: str) -> Dataset:
        if name not in self._data:
            self._data[name] = load_dataset(name, self.data_root).to(self.device)
        return self._data[name]

    def checkpoint(self, case: Case) -> Checkpoint:
        key = (case.pair, case.weights)
        if key not in self._checkpoints:
            pair = get_pair(case.pair)
            self._checkpoints[key] = load_weights(pair, case.weights, self.weights_dir, self.data(pair.dataset),
                                                  str(self.device))
        return self._checkpoints[key]

    def context(self, case: Case) -> Context:
        """A fresh dense model and the case's seeded generator, which draws the pruning batch and then whatever
        the method draws."""
        pair = get_pair(case.pair)
        data = self.data(pair.dataset)
        torch.manual_seed(case.seed)
        generator = torch.Generator().manual_seed(case.seed)
        batch = data.train.sample(pair.prune_batch, generator)
        return Context(copy.deepcopy(self._dense_model(case)), case.compression, batch, generator)

    def _dense_model(self, case: Case) -> torch.nn.Module:
        """The dense model on the device, built once; each case works on a deep copy (cheaper than a rebuild)."""
        key = (case.pair, case.weights)
        if key not in self._dense:
            pair = get_pair(case.pair)
            model = self.checkpoint(case).model(pair, self.data(pair.dataset).num_classes).to(self.device)
            if self.device.type == "cuda":
                model = model.to(memory_format=torch.channels_last)
            self._dense[key] = model
        return self._dense[key]

    def finish(self, case: Case, ctx: Context, masks: Masks) -> dict[str, Any]:
        """Apply the masks, fine-tune, check the masks held, and measure. Returns the result record."""
        pair = get_pair(case.pair)
        data = self.data(pair.dataset)
        model = ctx.model
        apply_masks(model, masks)
        before = evaluate(model, data.test)
        start = time.perf_counter()
        fit(model, data.train, pair.finetune, torch.Generator().manual_seed(case.seed))
        finetune_seconds = time.perf_counter() - start
        params = dict(model.named_parameters())
        leaked = {n: int(params[n][~m].count_nonzero()) for n, m in masks.items()}
        if any(leaked.values()):
            raise AssertionError(f"{case.id}: masked weights became nonzero during fine-tuning: {leaked}")
        val, test = evaluate(model, data.val), evaluate(model, data.test)
        size = summarize(model, data.input_shape)
        checkpoint = self.checkpoint(case)
        return {
            "hash": case.hash, "schema": SCHEMA_VERSION, "suite_version": __version__,
            "method_version": case.spec["method_version"], "torch": str(torch.__version__),
            "pair": case.pair, "weights": case.weights, "method": case.method,
            "compression": case.compression, "seed": case.seed, "weights_sha256": checkpoint.sha256,
            "dense_top1": checkpoint.info["test_top1"], "dense_top5": checkpoint.info["test_top5"],
            "num_classes": data.num_classes, "top1": test.top1, "top5": test.top5, "loss": test.loss,
            "correct1": test.correct1, "n_test": test.n, "test_correct": pack(test.correct), "val_top1": val.top1,
            "n_val": val.n, "val_correct": pack(val.correct), "top1_before_finetune": before.top1,
            "top5_before_finetune": before.top5,
            "params": size["params"], "nonzero_params": size["nonzero_params"],
            "compression_achieved": size["compression"], "flops": size["flops"],
            "nonzero_flops": size["nonzero_flops"], "speedup": size["speedup"],
            "layer_density": {row["layer"]: row["density"] for row in size["layers"]},
            "finetune_seconds": finetune_seconds,
        }
