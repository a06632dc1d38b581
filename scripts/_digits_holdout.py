"""scikit-learn's digits split once, by a fixed seed, into a search part and a held-out part.

The P3 table of ``scripts/bench_search.py`` is recorded on the search part (``data.class_path:
_digits_holdout.search_part``, raynn's "your own data set" path: the loop splits it into training and validation
by the run's seed); the held-out part is seen by no search method, only by the retrained winners
(``record_search_table.py`` scores every configuration retrained with fresh seeds on it).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 1797  # fixed: the same held-out images for every recording


class Digits(Dataset):
    """``(image 1x8x8 float32, label)`` samples; ``targets`` lets raynn stratify its validation split."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y
        self.targets = y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.y[i])


def _parts() -> tuple[Digits, Digits]:
    from raynn.data.datasets import load_digits, split

    search, held = split(load_digits(), HELD_OUT_FRACTION, seed=SPLIT_SEED)
    return Digits(search.x, search.y), Digits(held.x, held.y)


def search_part() -> Digits:
    """The 80% a search may train and validate on."""
    return _parts()[0]


def held_out() -> Digits:
    """The 20% no search sees: raw pixels (0..16) as the loop's inputs are, before preprocessing."""
    return _parts()[1]

