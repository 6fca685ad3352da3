"""The standard dataset-model pairs with their recipes: how to train each dense starting model ("weights")
and how to fine-tune after pruning."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .registry import Registry
from .train import Recipe


@dataclass(frozen=True)
class Pair:
    """A dataset with a model. `weights` maps a recipe name (A, B, ...) to the recipe of a dense model;
    `finetune` is applied after every pruning; `prune_batch` is the size of the batch a method sees."""

    name: str
    dataset: str
    model: str
    weights: dict[str, Recipe]
    finetune: Recipe
    prune_batch: int

    def spec(self) -> dict[str, Any]:
        """Everything that decides this pair's numbers, for hashing."""
        return {"name": self.name, "dataset": self.dataset, "model": self.model, "prune_batch": self.prune_batch,
                "finetune": asdict(self.finetune)}

    def recipe(self, weights: str) -> Recipe:
        if weights not in self.weights:
            raise KeyError(f"pair {self.name!r} has no weights recipe {weights!r}; it has {', '.join(self.weights)}")
        return self.weights[weights]


PAIRS: Registry[Pair] = Registry("pair")


def get_pair(name: str) -> Pair:
    return PAIRS.get(name)


# Weights A and B are the paper's two starting points (ShrinkBench, Figure 3): the same model trained with Adam
# at learning rate 1e-3 (A) and 1e-4 (B). Fine-tuning is the same for every method and ratio.
def _mnist5k(model: str, epochs: int, finetune_epochs: int) -> Pair:
    return Pair(
        name=f"mnist5k-{model}",
        dataset="mnist5k",
        model=model,
        weights={"A": Recipe("adam", 1e-3, epochs, 64), "B": Recipe("adam", 1e-4, epochs, 64)},
        finetune=Recipe("sgd", 0.01, finetune_epochs, 64, momentum=0.9, weight_decay=5e-4, cosine=True),
        prune_batch=256,
    )


PAIRS.add("mnist5k-lenet300", _mnist5k("lenet300", epochs=20, finetune_epochs=2))
PAIRS.add("mnist5k-lenet5", _mnist5k("lenet5", epochs=20, finetune_epochs=2))
