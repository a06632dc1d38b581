"""A transform of one's own, used like any ``torchvision.transforms.v2`` transform (a callable on one input)."""

from __future__ import annotations

import torch


class Jitter:
    """Scale the brightness of an image by a random factor in ``[1 - amount, 1 + amount]``, clamped to [0, 1].

    Args:
        amount: The largest relative change, in [0, 1).
    """

    def __init__(self, amount: float = 0.2) -> None:
        if not 0 <= amount < 1:
            raise ValueError(f"`0 <= amount < 1` must hold, but got {amount=}")
        self.amount = amount

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        factor = 1 + (torch.rand(()) * 2 - 1) * self.amount
        return (image * factor).clamp(0, 1)
