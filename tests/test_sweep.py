"""The selected sweep (`--sweep`, default quick), one test per case."""
from benchsuite.testing import test_case  # noqa: F401
