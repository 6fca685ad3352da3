"""benchsuite: a pytest benchmark suite for neural network pruning.

The public API is imported on first use, so that loading the pytest plugin (`benchsuite.plugin`) in a session
that does not use benchsuite imports neither torch nor anything else heavy.
"""
from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# torch.utils.benchmark (latency) imports torch.utils.cpp_extension, which warns on every machine without CUDA that it
# found none; benchsuite builds no extension, so the warning only hides the lines that matter.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

_API = {
    "Block": "benchsuite.plan.sweeps",
    "Context": "benchsuite.pruning.context",
    "Masks": "benchsuite.pruning.context",
    "prune": "benchsuite.pruning.calibration",
    "compact": "benchsuite.pruning.context",
    "add_sweep": "benchsuite.plan.sweeps",
    "apply_masks": "benchsuite.pruning.masking",
    "get_method": "benchsuite.pruning.methods",
    "list_methods": "benchsuite.pruning.methods",
    "method_info": "benchsuite.pruning.methods",
    "register_method": "benchsuite.pruning.methods",
    "Gradual": "benchsuite.pruning.schedules",
    "Levels": "benchsuite.pruning.schedules",
    "Dynamic": "benchsuite.pruning.schedules",
    "get_model": "benchsuite.models",
    "summarize": "benchsuite.run.metrics",
}
__all__ = sorted(_API)

if TYPE_CHECKING:  # what editors, type checkers and the API docs read; at run time, __getattr__ imports on first use
    from .models import get_model as get_model
    from .plan.sweeps import Block as Block
    from .plan.sweeps import add_sweep as add_sweep
    from .pruning.calibration import prune as prune
    from .pruning.context import Context as Context
    from .pruning.context import Masks as Masks
    from .pruning.context import compact as compact
    from .pruning.masking import apply_masks as apply_masks
    from .pruning.methods import get_method as get_method
    from .pruning.methods import list_methods as list_methods
    from .pruning.methods import method_info as method_info
    from .pruning.methods import register_method as register_method
    from .pruning.schedules import Dynamic as Dynamic
    from .pruning.schedules import Gradual as Gradual
    from .pruning.schedules import Levels as Levels
    from .run.metrics import summarize as summarize


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'benchsuite' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
