"""The one record of a tuning run's progress that the view, the event log and the metrics read.

A :class:`Progress` keeps the incumbent (:mod:`raynn.tune.best`), each trial's furthest epoch and
``spent = sum_i max_epoch(i)`` (:class:`raynn.hpo.ledger.Furthest`), the trials that diverged and each trial's
last status. It is a Ray Tune callback: ``raynn tune`` puts it before the callbacks that read it (Tune calls
callbacks in list order), so each result is taken once. On ``--resume`` the event log restores it from
``events.jsonl`` (:meth:`Progress.restore`).
"""

from __future__ import annotations

from typing import Any, Iterable

from ray.tune import Callback

from raynn.hpo.ledger import Furthest, as_resource
from raynn.tune.best import Incumbent

__all__ = ["Progress"]


def _epoch(value: Any) -> int | None:
    """``value`` as a non-negative whole epoch, or None."""
    epoch = as_resource(value)
    return epoch if epoch is not None and epoch >= 0 else None


class Progress(Callback):
    """Takes each trial result and status once, in the driver; the view, event log and metrics read it.

    Attributes:
        incumbent: The best ``metric`` at the largest epoch reached.
        furthest: Each trial's furthest epoch and their sum, ``spent``.
        status: Each trial's last status: ``RUNNING`` (started), ``PAUSED`` (seen paused at the end of a
            step), ``TERMINATED``, ``ERROR``.
        diverged: Trials that reported ``diverged`` (a loss that was not finite).
        changed: The trials whose status the last status hook changed, in order.
        improved: Whether the last result changed the incumbent.

    Args:
        metric: The result key to track the best of.
        mode: ``"min"`` or ``"max"``: which values are better.
        resource_attr: The result key with the cumulative epochs a trial has trained.
    """

    def __init__(self, metric: str, mode: str, resource_attr: str = "epoch") -> None:
        self.metric, self.mode, self.resource_attr = metric, mode, resource_attr
        self.incumbent = Incumbent(mode)
        self.furthest = Furthest()
        self.status: dict[str, str] = {}
        self.diverged: set[str] = set()
        self.changed: list[str] = []
        self.improved = False

    @property
    def spent(self) -> int:
        """``sum_i max_epoch(i)``: each trial charged its furthest epoch once."""
        return self.furthest.spent

    def check(self, metric: str, mode: str, resource_attr: str) -> None:
        """Raise ``ValueError`` unless this tracks ``metric`` in ``mode`` by ``resource_attr``."""
        mine, theirs = (self.metric, self.mode, self.resource_attr), (metric, mode, resource_attr)
        if mine != theirs:
            raise ValueError(
                f"`progress` must track (metric, mode, resource_attr) = {theirs}, but got {mine}"
            )

    def restore(self, events: Iterable[dict[str, Any]]) -> None:
        """Take the results and statuses of an event log (:mod:`raynn.tune.events`), in order."""
        for event in events:
            trial_id = event.get("trial_id")
            epoch = as_resource(event.get("epoch"))
            if event.get("event") == "result" and trial_id is not None and epoch is not None:
                self._take(str(trial_id), epoch, event.get("value"))
            elif event.get("event") == "status" and trial_id is not None:
                self.status[str(trial_id)] = str(event.get("status"))

    def _take(self, trial_id: str, epoch: int, value: Any) -> None:
        self.furthest.reach(trial_id, epoch)  # an epoch trained again after a resume: not charged
        self.improved = self.incumbent.update(trial_id, epoch, value)

    def _see(self, trial: Any) -> None:
        """A trial seen for the first time may be one ``Tuner.restore`` hands back with its last result."""
        trial_id = str(trial.trial_id)
        if trial_id not in self.furthest.resource:
            last = getattr(trial, "last_result", None) or {}
            epoch = _epoch(last.get(self.resource_attr))
            if epoch is not None:
                self.furthest.reach(trial_id, epoch)

    def _set_status(self, trials: Iterable[Any], status: str) -> None:
        self.changed = []
        for trial in trials:
            self._see(trial)
            trial_id = str(trial.trial_id)
            if self.status.get(trial_id) != status:
                self.status[trial_id] = status
                self.changed.append(trial_id)

    # -- Tune hooks ----------------------------------------------------------------------------------------

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        trial_id = str(trial.trial_id)
        self._see(trial)
        self.improved = False
        if result.get("diverged"):
            self.diverged.add(trial_id)
        epoch = _epoch(result.get(self.resource_attr))
        if epoch is not None:
            self._take(trial_id, epoch, result.get(self.metric))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._set_status([trial], "RUNNING")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        # Tune has no pause hook; a status check per step over the trial list is cheap.
        for trial in trials:
            self._see(trial)
        self._set_status([t for t in trials if t.status == "PAUSED"], "PAUSED")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._set_status([trial], "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._set_status([trial], "ERROR")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._see(trial)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for trial in trials:
            self._see(trial)
