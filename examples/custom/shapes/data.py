"""Shapes: colour images of a square, a disc or a cross at a random place and size, drawn on the fly.

A stand-in for your own data set: any map-style ``torch.utils.data.Dataset`` that returns ``(image, label)``
works the same way (or a mapping such as ``{"image": ..., "label": ...}`` with ``data.batch_keys``).
``targets`` and ``classes`` let raynn stratify the validation split and know the number of classes.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

CLASSES = ("square", "disc", "cross")


class Shapes(Dataset):
    """``size`` images of 3 x ``side`` x ``side`` pixels in [0, 1], drawn deterministically from ``seed``.

    Args:
        size: Number of images.
        side: Image height and width in pixels.
        noise: Standard deviation of the Gaussian background noise.
        seed: Seed of the drawing.
    """

    classes = CLASSES

    def __init__(self, size: int = 1200, side: int = 32, noise: float = 0.3, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.targets = torch.randint(0, len(CLASSES), (size,), generator=g).tolist()
        ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        r = torch.randint(side // 8, side // 4, (size,), generator=g)
        cy = (torch.rand(size, generator=g) * (side - 2 * r) + r).long()
        cx = (torch.rand(size, generator=g) * (side - 2 * r) + r).long()
        colour = torch.rand(size, 3, generator=g) * 0.7 + 0.3
        images = torch.rand(size, 3, side, side, generator=g) * noise
        for i, label in enumerate(self.targets):
            dy, dx = (ys - cy[i]).abs(), (xs - cx[i]).abs()
            if label == 0:
                mask = (dy <= r[i]) & (dx <= r[i])
            elif label == 1:
                mask = dy**2 + dx**2 <= r[i] ** 2
            else:
                mask = ((dy <= r[i] // 3) & (dx <= r[i])) | ((dx <= r[i] // 3) & (dy <= r[i]))
            images[i, :, mask] = colour[i, :, None]
        self.images = images.clamp(0, 1)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], self.targets[i]
