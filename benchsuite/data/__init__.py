"""Datasets by name with fixed train / validation / test splits; nothing is ever downloaded."""
from __future__ import annotations

from .images import DATASETS, STATS, data_root, load_dataset
from .splits import Dataset, FolderSplit, Split, crop_flip, normalizer

__all__ = ["DATASETS", "STATS", "Dataset", "FolderSplit", "Split", "crop_flip", "data_root", "load_dataset",
           "normalizer"]
