"""The mask contracts a method repository imports (through `benchsuite.testing`): `TestContract` for methods that
act on a model the harness trains (after training, at initialisation, during training), `TestPostTrainingContract`
for language-model methods that prune block by block from calibration data, `TestStructureContract` for those that
remove a language model's layers, heads or channels."""
from __future__ import annotations

from .masks import TestContract
from .post_training import TestPostTrainingContract
from .structure import TestStructureContract

__all__ = ["TestContract", "TestPostTrainingContract", "TestStructureContract"]
