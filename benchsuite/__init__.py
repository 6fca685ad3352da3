"""benchsuite: a pytest benchmark suite for neural network pruning."""
from __future__ import annotations

from .models import get_model
from .pruning.context import Context, Masks, prune
from .pruning.masking import apply_masks
from .pruning.methods import get_method, list_methods, register_method
from .run.metrics import summarize

__version__ = "0.1.0"
__all__ = [
    "Context", "Masks", "apply_masks", "get_method", "get_model", "list_methods", "prune", "register_method",
    "summarize",
]
