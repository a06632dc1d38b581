"""Data sets, preprocessing fitted on the training split, and training-batch augmentation (seed 4.2)."""

from __future__ import annotations

from raynn.data.augment import (
    AUGMENTATIONS,
    Augmentation,
    AugmentationPipeline,
    build_augmentation,
)
from raynn.data.datasets import DATASETS, ArrayDataset, DatasetInfo, load, read_idx, split
from raynn.data.preprocess import (
    PREPROCESSORS,
    Preprocessor,
    build_preprocessor,
    restore_preprocessor,
)

# The names the training loop imports.
load_dataset = load
split_dataset = split

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "PREPROCESSORS",
    "ArrayDataset",
    "Augmentation",
    "AugmentationPipeline",
    "DatasetInfo",
    "Preprocessor",
    "build_augmentation",
    "build_preprocessor",
    "load",
    "load_dataset",
    "read_idx",
    "restore_preprocessor",
    "split",
    "split_dataset",
]
