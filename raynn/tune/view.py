"""The terminal view of a tuning run: trials by state and rung, budget spent against B, the incumbent (the best
value at the largest epoch reached, :mod:`raynn.tune.best`)."""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from typing import Any

from ray.tune import Callback

from raynn.tune.progress import Progress

__all__ = ["ProgressView"]


class ProgressView(Callback):
    """Prints one status block at most every ``interval`` seconds while Tune runs (in the driver process).

    Args:
        scheduler: The Tune scheduler; raynn's adapters expose ``ledger()`` with rung counts and budget.
        budget: The budget B to show spending against (the scheduler's own when it has one).
        progress: The run's :class:`~raynn.tune.progress.Progress`, a callback before this one; None: one of
            its own, which this view updates.
    """

    def __init__(self, scheduler: Any, metric: str, mode: str, budget: int | None = None, interval: float = 5.0,
                 enabled: bool = True, heartbeat: float = 60.0, progress: Progress | None = None) -> None:
        if progress is not None:
            progress.check(metric, mode, "epoch")
        self.scheduler, self.metric, self.mode, self.budget = scheduler, metric, mode, budget
        self.interval, self.enabled, self.heartbeat = interval, enabled, heartbeat
        self.start = time.monotonic()
        self.last = -math.inf  # when a block was last printed
        self.looked = -math.inf  # when the state was last rendered
        self.shown = ""  # the state part of the last block printed
        self._own = progress is None
        self.progress = Progress(metric, mode) if progress is None else progress

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        if self._own:
            self.progress.on_trial_result(iteration, trials, trial, result)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Every ``interval`` seconds, print the block if the state changed (trial states, epochs, budget, best);
        an unchanged state is printed again only after ``heartbeat`` seconds, to show the run is alive (trials
        waiting for a slow start or a long epoch would otherwise repeat the same line every few seconds)."""
        now = time.monotonic()
        if not self.enabled or now - self.looked < self.interval:
            return
        self.looked = now
        state = self._state(trials)
        if state == self.shown and now - self.last < self.heartbeat:
            return
        self.last, self.shown = now, state
        print(self._stamped(state), file=sys.stderr, flush=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.enabled:
            print(self.render(trials), file=sys.stderr, flush=True)

    def render(self, trials: list) -> str:
        return self._stamped(self._state(trials))

    def _stamped(self, state: str) -> str:
        return f"[raynn tune {time.monotonic() - self.start:6.0f}s] {state}"

    def _state(self, trials: list) -> str:
        """Trial states, furthest epochs, budget and incumbent: what a block shows besides the time."""
        states = Counter(t.status for t in trials)
        state_text = "  ".join(f"{s.lower()} {n}" for s, n in sorted(states.items()))
        progress = self.progress
        if progress.diverged:
            state_text += f"  (diverged {len(progress.diverged)})"
        rungs = Counter(progress.furthest.resource.values())
        rung_text = "  ".join(f"r={r}: {n}" for r, n in sorted(rungs.items())) or "-"
        ledger = self.scheduler.ledger() if hasattr(self.scheduler, "ledger") else None
        # the core's books when there is a core
        spent = progress.spent if ledger is None else ledger.spent
        budget = self.budget or (None if ledger is None else ledger.planned)
        budget_text = f"{spent}/{budget}" if budget else f"{spent}"
        best = progress.incumbent.best.describe(self.metric) if progress.incumbent.best else "-"
        return (f"trials: {state_text} | furthest epoch: {rung_text} | budget spent {budget_text} epochs | "
                f"best {best}")

    def final(self, result: Any) -> None:
        best = (f"{self.metric} {result.best_value:.4g} (trial {result.best_trial}, epoch {result.best_epoch})"
                if result.best_value is not None else "-")
        print(f"raynn tune: best {best}; params {result.best_params}; checkpoint {result.best_checkpoint}; "
              f"results in {result.path}")
