"""Running a case: the starting model of its method's stage, the pruning step, the training the stage calls for
(`stages`), and the measurement of the outcome, with the training it consumed counted from one origin."""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data import Dataset, load_dataset
from ..plan.cases import SCHEMA_VERSION, Case
from ..plan.pairs import Pair, Recipe, get_pair
from ..pruning.channels import compact as compact_channels
from ..pruning.context import Context, Masks, call_method, target_for
from ..pruning.methods import Method, get_method
from ..pruning.schedules import Dynamic, Gradual
from ..pruning.targets import CHANNEL, nominal
from . import latency, stages
from .metrics import summarize
from .stages import LevelStore, Trained, all_kept, chain_key, train_during, train_dynamic, train_levels, train_once
from .store import pack
from .train import evaluate
from .weights import Checkpoint, holding, load_snapshot, load_weights


class Runner:
    """Runs cases on one device, loading each dataset, dense model and initialisation once per process. `bench_dir`
    holds the weights store (`weights/`) and the snapshots of iterative pruning (`levels/`)."""

    def __init__(self, bench_dir: Path, data_root: Path | None = None, device: str = "cpu") -> None:
        self.bench_dir, self.data_root, self.device = Path(bench_dir), data_root, torch.device(device)
        self.levels = LevelStore(self.bench_dir / "levels")
        self._checkpoints: dict[tuple[str, str], Checkpoint] = {}
        self._models: dict[tuple[str, str, str], torch.nn.Module] = {}
        self._data: dict[str, Dataset] = {}

    def data(self, name: str) -> Dataset:
        if name not in self._data:
            self._data[name] = load_dataset(name, self.data_root).to(self.device)
        return self._data[name]

    def checkpoint(self, case: Case) -> Checkpoint:
        key = (case.pair, case.weights)
        if key not in self._checkpoints:
            pair = get_pair(case.pair)
            self._checkpoints[key] = load_weights(pair, case.weights, self.bench_dir / "weights",
                                                  self.data(pair.dataset), str(self.device))
        return self._checkpoints[key]

    def snapshot(self, case: Case, step: int) -> dict[str, torch.Tensor]:
        """The state of the dense run of the case's weights recipe after `step` steps (0: the initialisation)."""
        pair = get_pair(case.pair)
        return load_snapshot(pair, case.weights, self.bench_dir / "weights", self.data(pair.dataset), step,
                             str(self.device))

    def _model(self, case: Case, which: str) -> torch.nn.Module:
        """The dense (`which="dense"`) or initialised (`"init"`) model on the device, built once; each case works on
        a deep copy (cheaper than a rebuild)."""
        key = (case.pair, case.weights, which)
        if key not in self._models:
            pair = get_pair(case.pair)
            state = self.checkpoint(case).state if which == "dense" else self.snapshot(case, 0)
            model = holding(pair, self.data(pair.dataset).num_classes, state).to(self.device)
            if self.device.type == "cuda":
                model = model.to(memory_format=torch.channels_last)
            self._models[key] = model
        return self._models[key]

    def context(self, case: Case) -> Context:
        """What the method sees at its pruning step: a copy of the stage's starting model (the initialisation for
        a method at initialisation or of dynamic sparse training, else the dense model), the case's target, and the
        case's seeded generator, which draws the pruning batch and then whatever the method draws. For a method that
        acts during training this is its first prune event, taken straight to the case's count: the step that is
        timed."""
        method, pair = get_method(case.method), get_pair(case.pair)
        data = self.data(pair.dataset)
        torch.manual_seed(case.seed)
        generator = torch.Generator().manual_seed(case.seed)
        batch = data.train.sample(pair.prune_batch, generator)
        model = copy.deepcopy(self._model(case, "init" if method.from_init else "dense"))
        masks = all_kept(model) if method.stage == "during_training" else None
        target = target_for(model, method.kind_for(case.compression), case.compression, batch[0])
        return Context(model, target, batch, generator, masks)

    def prune(self, case: Case, ctx: Context) -> Masks:
        """The timed pruning step: the method's call on the context, checked."""
        return call_method(get_method(case.method), ctx, get_method(case.method).bind(dict(case.hparams))[1])

    def finish(self, case: Case, ctx: Context, masks: Masks) -> dict[str, Any]:
        """Train as the method's stage says, check the masks held, and measure. Returns the result record."""
        method, pair = get_method(case.method), get_pair(case.pair)
        data = self.data(pair.dataset)
        start = time.perf_counter()
        trained = self._train(case, method, pair, data, ctx, masks)
        seconds = time.perf_counter() - start
        params = dict(trained.model.named_parameters())
        leaked = {n: int(params[n][~m].count_nonzero()) for n, m in trained.masks.items()}
        if any(leaked.values()):
            raise AssertionError(f"{case.id}: masked weights became nonzero during training: {leaked}")
        val, test = evaluate(trained.model, data.val), evaluate(trained.model, data.test)
        size = summarize(trained.model, data.input_shape)
        small = self._compact(ctx, trained)
        small_size = None if small is None else summarize(small, data.input_shape)
        speed = self._latency(case, trained, data.input_shape, small)
        checkpoint = self.checkpoint(case)
        dense_images = 0 if method.from_init else checkpoint.info["train_images"]
        images = None if dense_images is None else dense_images + trained.images
        after = trained.after_pruning
        return {
            "hash": case.hash, "schema": SCHEMA_VERSION, "suite_version": __version__,
            "method_version": case.spec["method_version"], "torch": str(torch.__version__),
            "pair": case.pair, "weights": case.weights, "method": case.method, "stage": method.stage,
            "target": method.kind_for(case.compression), "hyperparameters": case.hyperparameters,
            "budget": case.budget,
            "compression": nominal(case.compression),
            "pattern": case.compression if isinstance(case.compression, str) else "",
            "dense_layers": ctx.target.dense_layers, "tied_rankings": masks.tied, "seed": case.seed,
            "weights_sha256": checkpoint.sha256,
            "dense_top1": checkpoint.info["test_top1"], "dense_top5": checkpoint.info["test_top5"],
            "num_classes": data.num_classes, "top1": test.top1, "top5": test.top5, "loss": test.loss,
            "correct1": test.correct1, "n_test": test.n, "test_correct": pack(test.correct), "val_top1": val.top1,
            "n_val": val.n, "val_correct": pack(val.correct), "top1_after_pruning": after.top1,
            "top5_after_pruning": after.top5, "prune_events": trained.events,
            "params": size["params"], "nonzero_params": size["nonzero_params"],
            "compression_achieved": size["compression"], "flops": size["flops"],
            "nonzero_flops": size["nonzero_flops"], "speedup": size["speedup"],
            "layer_density": {row["layer"]: row["density"] for row in size["layers"]},
            "train_images": images, "train_epochs": None if images is None else images / len(data.train),
            "train_seconds": seconds, "latency": speed, **latency.columns(speed),
            **{f"compact_{k}": None if small_size is None else small_size[k] for k in ("params", "flops")},
        }

    def _compact(self, ctx: Context, trained: Trained) -> torch.nn.Module | None:
        """For a channel target: the final model without its pruned channels (checked to compute the same)."""
        if ctx.target.kind not in CHANNEL:
            return None
        return compact_channels(trained.model, trained.masks, ctx.batch[0][:1], ctx.target.groups)

    def _latency(self, case: Case, trained: Trained, input_shape: tuple[int, ...],
                 small: torch.nn.Module | None) -> dict:
        """Measured latency of the final model beside the dense model of its pair, on a plain copy (no masking
        hooks) holding the final weights, and of its compacted form if it has one."""
        dense = self._model(case, "dense")
        plain = copy.deepcopy(dense)
        plain.load_state_dict(trained.model.state_dict())
        return latency.measure(dense, plain, trained.masks, input_shape, self.device, small)

    def _train(self, case: Case, method: Method, pair: Pair, data: Dataset, ctx: Context, masks: Masks) -> Trained:
        schedule, kwargs = method.bind(dict(case.hparams))
        recipe = pair.source(case.weights)
        retraining = stages.retraining(case.budget, pair.finetune, recipe if isinstance(recipe, Recipe) else None,
                                       sum(ctx.target.sizes.values()), ctx.target.keep)
        if method.stage == "after_training":
            return train_once(ctx.model, masks, data.train, data.test, retraining, case.seed)
        if method.stage == "at_init":
            return train_once(ctx.model, masks, data.train, data.test, recipe, case.seed)
        if isinstance(schedule, Dynamic):
            return train_dynamic(ctx.model, method, kwargs, schedule, ctx.target, masks, ctx.generator, data.train,
                                 data.test, recipe, case.seed)
        model = copy.deepcopy(self._model(case, "dense"))
        if isinstance(schedule, Gradual):
            return train_during(model, method, kwargs, schedule, ctx.target, ctx.batch, data.train, data.test,
                                retraining, case.seed)
        if not isinstance(recipe, Recipe):
            raise ValueError(f"{case.id}: iterative pruning retrains with the dense recipe, and weights "
                             f"{case.weights!r} are a checkpoint file")
        return train_levels(model, method, kwargs, schedule, ctx.target, ctx.batch, data.train, data.test, recipe,
                            case.seed, lambda step: self.snapshot(case, step), self.levels, chain_key(case.spec))
