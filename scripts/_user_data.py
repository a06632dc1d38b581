"""A user's own map-style Dataset for scripts/bench_train.py: the bundled MNIST test set, one sample at a time.

It lives in a module of its own (not in the script's ``__main__``) so that raynn can name it by import path,
as a user's package would be named (``data.class_path: _user_data.MnistSamples``, with ``scripts/`` on the path).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class MnistSamples(Dataset):
    """The 10,000 images of raynn's bundled MNIST test set, scaled to [0, 1], as ``(image, label)`` samples."""

    def __init__(self) -> None:
        from raynn.data import load_dataset

        data = load_dataset("mnist")
        self.x, self.targets = data.x / 255.0, data.y
        self.classes = list(range(10))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.targets[i])
