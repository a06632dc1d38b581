"""The one definition of "best" in a tuning run: the incumbent, the best value at the largest resource reached.

    e* = max { e : some trial reported a finite value at epoch e },
    best = the best (min or max, by ``mode``) value reported at epoch e*, with its trial and e*,

as the cores' incumbent (Li et al. 2018, Sec. 2.3). Values that are not finite (a diverged trial) are ignored.
The final line, ``summary.json`` and the report use :class:`Incumbent`; the view, ``events.jsonl`` and the
metrics read the one a run's :class:`~raynn.tune.progress.Progress` keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

__all__ = ["Best", "Incumbent", "best_of_curves"]


@dataclass(frozen=True)
class Best:
    """The incumbent: ``value`` of trial ``trial_id`` at ``epoch``, the largest resource any trial reached."""

    value: float
    trial_id: str
    epoch: int

    def describe(self, metric: str) -> str:
        return f"{metric} {self.value:.4g} (trial {self.trial_id}, epoch {self.epoch})"


class Incumbent:
    """Keeps the best value at the largest resource reached, one result at a time, O(1) per result.

    Args:
        mode: ``"min"`` or ``"max"``.
    """

    def __init__(self, mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max', but got {mode=!r}")
        self.mode = mode
        self.best: Best | None = None

    def update(self, trial_id: str, epoch: Any, value: Any) -> bool:
        """Take one result; True if the incumbent changed."""
        try:
            epoch, value = int(epoch), float(value)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(value):
            return False
        current = self.best
        if current is not None:
            if epoch < current.epoch:
                return False
            if epoch == current.epoch and trial_id != current.trial_id and not self._better(value, current.value):
                return False
            if epoch == current.epoch and trial_id == current.trial_id and value == current.value:
                return False
        self.best = Best(value, str(trial_id), epoch)
        return True

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b


def best_of_curves(curves: Mapping[str, Iterable[tuple[int, float]]], mode: str) -> Best | None:
    """The incumbent of finished curves ``{trial_id: [(epoch, value), ...]}`` (each epoch once per trial)."""
    incumbent = Incumbent(mode)
    for trial_id, curve in sorted(curves.items()):
        for epoch, value in curve:
            incumbent.update(trial_id, epoch, value)
    return incumbent.best
