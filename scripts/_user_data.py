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


class RandomImages(Dataset):
    """``size`` random images of ``shape`` with random labels among ``classes``, held as one tensor (the GPU
    benchmark's data: what is measured is the loop, not a decoder)."""

    def __init__(self, size: int = 4096, shape: tuple[int, ...] = (3, 32, 32), classes: int = 10, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, *shape, generator=g)
        self.targets = torch.randint(0, classes, (size,), generator=g)
        self.classes = list(range(classes))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.targets[i]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        idx = torch.as_tensor(indices)
        return list(zip(self.x[idx], self.targets[idx]))
