"""The mask contract, run over every registered method."""
from benchsuite.testing import TestContract, TestPostTrainingContract, TestStructureContract  # noqa: F401
