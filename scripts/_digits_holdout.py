"""scikit-learn's digits split once, by a fixed seed, into a search part and a held-out part.

The P3 table of ``scripts/bench_search.py`` is recorded on the search part (``data.class_path:
_digits_holdout.search_part``, raynn's "your own data set" path: the loop splits it into training and validation
by the run's seed); the held-out part is seen by no search method, only by the retrained winners
(``record_search_table.py`` scores every configuration retrained with fresh seeds on it).
"""

from __future__ import annotations

from typing import Any

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



def held_out_score(cfg: Any) -> tuple[float, float] | None:
    """Train a run config (its data the search part) to its last epoch in this process and score the model on
    the held-out part: (cross-entropy loss, accuracy), or None when the run diverged. With ``checkpoint_at``
    never, the loop's only checkpoint is its last epoch's."""
    import torch.nn.functional as F

    from raynn.training.checkpoint import load_model
    from raynn.training.loop import Env, run_training

    test, scored = held_out(), []

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        if checkpoint_dir is not None:
            logits = load_model(checkpoint_dir).logits(test.x)
            scored.append((F.cross_entropy(logits, test.y).item(), (logits.argmax(1) == test.y).float().mean().item()))

    history = run_training(cfg, Env(report=report, log=lambda line: None, checkpoint_at=lambda e: False))
    return None if not scored or history[-1].get("diverged") else scored[0]
