"""Early stopping on a validation metric, the seed's section 4.6.3.

Stop when the validation error stops going down. The chapter warns that the validation curve may rise
before it falls, so the rule needs slack: ``patience`` epochs without improvement are tolerated, and during
the first ``warmup`` epochs it never stops (and does not count bad epochs) at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from raynn.mode import Mode
from raynn.registry import Registry
from raynn.values import check_int, value_error

__all__ = ["METRICS", "EarlyStopping", "Mode"]

METRICS: Registry[Mode] = Registry("early-stopping metric")
"""``train.early_stopping.metric``: the validation metrics an epoch reports, each with the direction that is better."""
METRICS.add("val_loss", Mode.MIN, "validation loss, smaller is better")
METRICS.add("val_accuracy", Mode.MAX, "validation accuracy, larger is better")


class EarlyStopping:
    """Stop training once the monitored value has not improved for ``patience`` epochs.

    A value improves on the best so far when it is better by more than ``min_delta``
    (``value < best - min_delta`` for ``"min"``, ``value > best + min_delta`` for ``"max"``). Each
    :meth:`step` is one epoch; epochs are numbered from 0 in call order. NaN never improves. Once it
    has said stop, :meth:`step` keeps returning True.

    Args:
        patience: Epochs without improvement tolerated; it stops at the ``patience``-th one. ``>= 1``.
        min_delta: Smallest change that counts as an improvement, ``>= 0``.
        mode: ``"min"`` or ``"max"`` (or a :class:`Mode`).
        warmup: Epochs at the start during which the best value is tracked but bad epochs are not counted
            and it never stops, ``>= 0``; covers an initial rise of the validation curve.
    """

    def __init__(
        self, patience: int, min_delta: float = 0.0, mode: str | Mode = "min", warmup: int = 0
    ) -> None:
        check_int("patience", patience, 1, rule="must be an int >= 1", error=value_error)
        if not (min_delta >= 0 and math.isfinite(min_delta)):
            raise ValueError(f"`min_delta >= 0` must hold, but got {min_delta=}")
        try:
            self.mode = Mode(mode)
        except ValueError:
            raise ValueError(f"`mode` must be one of {[m.value for m in Mode]}, but got {mode=!r}") from None
        check_int("warmup", warmup, 0, rule="must be an int >= 0", error=value_error)
        self.patience, self.min_delta, self.warmup = patience, float(min_delta), warmup
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.epoch = -1  # index of the last step; -1 before the first
        self.num_bad_epochs = 0
        self.stopped = False

    def is_improvement(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode is Mode.MIN:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float) -> bool:
        """Record one epoch's value; True means stop."""
        value = float(value)
        self.epoch += 1
        if self.is_improvement(value):
            self.best, self.best_epoch = value, self.epoch
            self.num_bad_epochs = 0
        elif self.epoch >= self.warmup:
            self.num_bad_epochs += 1
        if self.epoch >= self.warmup and self.num_bad_epochs >= self.patience:
            self.stopped = True
        return self.stopped

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "epoch": self.epoch,
            "num_bad_epochs": self.num_bad_epochs,
            "stopped": self.stopped,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"best", "best_epoch", "epoch", "num_bad_epochs", "stopped"} - set(state)
        if missing:
            raise ValueError(
                f"early-stopping state must have keys {sorted(missing)}, but got {sorted(state)}"
            )
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
        self.epoch = int(state["epoch"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.stopped = bool(state["stopped"])

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, mode={self.mode.value!r}, "
            f"warmup={self.warmup}, best={self.best}, best_epoch={self.best_epoch})"
        )
