"""benchsuite: a pytest benchmark suite for neural network pruning."""
from __future__ import annotations

from .masking import apply_masks
from .metrics import summarize
from .models import get_model
from .pruning import Context, Masks, get_method, list_methods, prune, register_method

__version__ = "0.1.0"
__all__ = [
    "Context", "Masks", "apply_masks", "get_method", "get_model", "list_methods", "prune", "register_method",
    "summarize",
]
