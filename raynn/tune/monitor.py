"""Watching a tuning run from outside: raynn's own Ray metrics, and one TensorBoard run per trial.

:class:`MetricsExporter` keeps ``ray.util.metrics`` gauges tagged with the experiment name (trials by state and
rung, budget, best so far, samples/s); :class:`TensorBoardLogger` writes ``<exp_dir>/tensorboard/<trial_id>/``.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import time
from collections import Counter
from numbers import Real
from pathlib import Path
from typing import Any, Iterator

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.result import (
    AUTO_RESULT_KEYS,
    DONE,
    EXPERIMENT_TAG,
    RESULT_DUPLICATE,
    SHOULD_CHECKPOINT,
    TRAINING_ITERATION,
    TRIAL_ID,
)

from raynn.hpo import Mode
from raynn.hpo.ledger import as_resource
from raynn.tune.progress import Progress

__all__ = ["GAUGES", "STATES", "MetricsExporter", "TensorBoardLogger"]

STATES = (Trial.PENDING, Trial.RUNNING, Trial.PAUSED, Trial.TERMINATED, Trial.ERROR)
"""Tune's trial states; every one is exported, 0 when no trial is in it."""

GAUGES: dict[str, tuple[str, str | None]] = {
    "raynn_trials": ("Trials of the experiment by Tune state.", "state"),
    "raynn_trials_at_rung": (
        "Trials by the highest rung (resource level, epochs) their furthest epoch has reached; "
        "0: below the first rung. Without a rung plan (FIFO) every epoch is a level.",
        "rung",
    ),
    "raynn_budget_spent": ("Epochs trained, each trial counted once at its furthest epoch.", None),
    "raynn_budget": ("The budget (epochs) the experiment spends against.", None),
    "raynn_best_metric": ("Incumbent: best value of the tuned metric at the largest epoch reached.", "metric"),
    "raynn_trial_samples_per_second": ("Training samples/s each running trial reported last.", "trial_id"),
}
"""Gauge name -> (description, its label besides ``experiment``)."""

_ENDED = (Trial.TERMINATED, Trial.ERROR)
# Tune's own bookkeeping, not something the trial reported.
_TUNE_KEYS = frozenset(AUTO_RESULT_KEYS) | {
    DONE, TRIAL_ID, EXPERIMENT_TAG, SHOULD_CHECKPOINT, RESULT_DUPLICATE,
}


def _count(value: Any) -> int | None:
    """``value`` as a non-negative integer (an epoch), or None."""
    count = as_resource(value)
    return count if count is not None and count >= 0 else None


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    return float(value)


def _rungs_of(scheduler: Any) -> list[int] | None:
    """The scheduler's rungs (raynn's adapters: :meth:`HalvingAdapter.rungs`), sorted; None without them."""
    return (scheduler.rungs() or None) if hasattr(scheduler, "rungs") else None


class MetricsExporter(Callback):
    """Exports a tuning run's progress as Ray metrics (Prometheus gauges), from the driver.

    Series (Prometheus adds Ray's ``ray_`` prefix; every series has the label ``experiment``):

    * ``raynn_trials{state}``: trials in each Tune state (all five always exported, 0 when empty).
    * ``raynn_trials_at_rung{rung}``: trials whose furthest epoch ``e`` has reached rung ``r`` and not the
      next one, ``r = max{r_k <= e}`` over the scheduler's planned levels (0 below the first; every epoch
      its own level when the scheduler has no plan). Sums to ``raynn_trials``.
    * ``raynn_budget_spent``: the scheduler's ``budget_spent`` (each trial charged its furthest epoch once);
      without one, the same sum kept here. ``raynn_budget``: ``budget``, else the scheduler's
      ``ledger()["budget"]``; absent when neither has one (FIFO, ASHA).
    * ``raynn_best_metric{metric}``: the incumbent (:mod:`raynn.tune.best`): the best finite ``metric`` at the
      largest epoch any trial reached, in ``mode``.
    * ``raynn_trial_samples_per_second{trial_id}``: ``throughput_key`` of each RUNNING trial's last
      result. Only running trials are kept set, so the series of a paused or finished trial leaves the
      endpoint (Ray drops a gauge not set for two report intervals) and a sum over trials is the
      experiment's current throughput.

    Per result it does O(1) work and sets the few series that changed (every rung's the first time it sees
    a trial). Every ``refresh_s`` (at the end of a Tune step) and at the end of the experiment it reads every
    trial's status (Tune has no hook for a pause) and the scheduler's budget (``ledger()`` may be
    O(trials)), and sets every series again, which keeps them alive in Ray's metrics agent.

    Args:
        scheduler: The Tune scheduler; raynn's adapters give ``rungs()``, ``budget_spent`` and ``ledger()``.
        metric: The result key being tuned.
        mode: ``"min"`` or ``"max"``.
        experiment: The experiment name, the ``experiment`` label of every series.
        budget: The budget B to show (None: the scheduler's ledger's).
        resource_key: Result key of the cumulative epochs trained.
        throughput_key: Result key of the trial's samples/s.
        refresh_s: Seconds between full refreshes; at most 1, Ray's shortest report interval.
        progress: The run's :class:`~raynn.tune.progress.Progress`, a callback before this one; None: one of
            its own, which this exporter updates.
    """

    def __init__(
        self,
        scheduler: Any,
        metric: str,
        mode: Mode | str,
        experiment: str,
        budget: int | None = None,
        *,
        resource_key: str = "epoch",
        throughput_key: str = "samples_per_s",
        refresh_s: float = 1.0,
        progress: Progress | None = None,
    ) -> None:
        for key, value in (("metric", metric), ("experiment", experiment), ("resource_key", resource_key),
                           ("throughput_key", throughput_key)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"`{key}` must be a non-empty string, but got {key}={value!r}")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise ValueError(f"`budget` must be None or an integer >= 1, but got {budget=!r}")
        if not 0 < refresh_s <= 1.0:
            raise ValueError(
                f"`0 < refresh_s <= 1` must hold (Ray's shortest report interval), but got {refresh_s=}"
            )
        self.scheduler, self.metric, self.mode = scheduler, metric, Mode.parse(mode)
        if progress is not None:
            progress.check(metric, self.mode.value, resource_key)
        self.experiment, self.budget = experiment, budget
        self.resource_key, self.throughput_key, self.refresh_s = resource_key, throughput_key, refresh_s
        self._rungs = _rungs_of(scheduler)
        self._status: dict[str, str] = {}
        self._states: Counter[str] = Counter({state: 0 for state in STATES})
        self._own = progress is None
        self.progress = Progress(metric, self.mode.value, resource_key) if progress is None else progress
        self._level: dict[str, int] = {}
        self._levels: Counter[int] = Counter({r: 0 for r in [0, *(self._rungs or [])]})
        self._throughput: dict[str, float] = {}
        self._ledger_spent: int | None = None
        self._ledger_budget: int | None = None
        self._last_refresh = -math.inf
        self._gauges: dict[str, Any] | None = None

    # -- what is exported ------------------------------------------------------------------------------------

    def series(self) -> dict[str, dict[str, float]]:
        """Every series' current value: ``{gauge: {label value: value}}``, ``""`` for unlabelled gauges."""
        spent, best = self._ledger_spent, self.progress.incumbent.best
        out: dict[str, dict[str, float]] = {
            "raynn_trials": {state: float(self._states[state]) for state in STATES},
            "raynn_trials_at_rung": {str(r): float(n) for r, n in sorted(self._levels.items())},
            "raynn_budget_spent": {"": float(self.progress.spent if spent is None else spent)},
            "raynn_trial_samples_per_second": {
                t: v for t, v in self._throughput.items() if self._status.get(t) == Trial.RUNNING
            },
        }
        budget = self.budget if self.budget is not None else self._ledger_budget
        if budget is not None:
            out["raynn_budget"] = {"": float(budget)}
        if best is not None:
            out["raynn_best_metric"] = {self.metric: best.value}
        return out

    def _set(self, name: str, label: str, value: float) -> None:
        if self._gauges is None:
            self._gauges = self._make_gauges()
        key = GAUGES[name][1]
        tags = {"experiment": self.experiment} if key is None else {"experiment": self.experiment, key: label}
        self._gauges[name].set(value, tags=tags)

    @staticmethod
    def _make_gauges() -> dict[str, Any]:
        from ray.util.metrics import Gauge

        return {
            name: Gauge(name, description, tag_keys=("experiment",) if key is None else ("experiment", key))
            for name, (description, key) in GAUGES.items()
        }

    def _publish(self) -> None:
        for name, values in self.series().items():
            for label, value in values.items():
                self._set(name, label, value)

    # -- bookkeeping, O(1) per event -------------------------------------------------------------------------

    def _see(self, trial: Any, status: str) -> str | None:
        """Record ``trial`` in ``status``; returns the state it left ("" if new), None if nothing changed."""
        trial_id = trial.trial_id
        old = self._status.get(trial_id)
        if old == status:
            return None
        if old is None:
            self._level[trial_id] = 0
            self._levels[0] += 1
            self._reach(trial_id)  # a trial handed back by Tuner.restore: the level of its last result
        else:
            self._states[old] -= 1
        self._states[status] += 1
        self._status[trial_id] = status
        if status in _ENDED:
            self._throughput.pop(trial_id, None)
        return old or ""

    def _reach(self, trial_id: str) -> tuple[int, int] | None:
        """Move ``trial_id`` to the level of its furthest epoch; (old level, new level) if it moved."""
        epoch = self.progress.furthest.get(str(trial_id))
        if self._rungs is None:
            level = epoch
        else:
            index = bisect.bisect_right(self._rungs, epoch)
            level = self._rungs[index - 1] if index else 0
        old = self._level[trial_id]
        if level == old:
            return None
        self._levels[old] -= 1
        self._levels[level] += 1
        self._level[trial_id] = level
        return old, level

    def _status_changed(self, trial: Any, status: str) -> None:
        left = self._see(trial, status)
        if left is None:
            return
        if left:
            self._set("raynn_trials", left, float(self._states[left]))
        else:  # a new trial joins level 0, or the level its restored last result holds
            for level, n in self._levels.items():
                self._set("raynn_trials_at_rung", str(level), float(n))
        self._set("raynn_trials", status, float(self._states[status]))

    def _refresh(self, trials: list[Any]) -> None:
        for trial in trials:
            self._see(trial, trial.status)
        spent = getattr(self.scheduler, "budget_spent", None)
        self._ledger_spent = _count(spent)
        if self.budget is None and hasattr(self.scheduler, "ledger"):
            self._ledger_budget = _count(self.scheduler.ledger().planned)
        self._publish()
        self._last_refresh = time.monotonic()

    # -- Tune hooks ------------------------------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        self._refresh([])

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # Called just before Tune sets RUNNING.
        if self._own:
            self.progress.on_trial_start(iteration, trials, trial)
        self._status_changed(trial, Trial.RUNNING)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        if self._own:
            self.progress.on_trial_result(iteration, trials, trial, result)
        trial_id = trial.trial_id
        self._status_changed(trial, Trial.RUNNING)
        moved = self._reach(trial_id)
        if moved is not None:
            for level in moved:
                self._set("raynn_trials_at_rung", str(level), float(self._levels[level]))
        if _count(result.get(self.resource_key)) is not None and self._ledger_spent is None:
            self._set("raynn_budget_spent", "", float(self.progress.spent))
        if self.progress.improved:
            self._set("raynn_best_metric", self.metric, self.progress.incumbent.best.value)
        throughput = _real(result.get(self.throughput_key))
        if throughput is not None:
            self._throughput[trial_id] = throughput
            self._set("raynn_trial_samples_per_second", trial_id, throughput)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # Called just before Tune sets TERMINATED.
        if self._own:
            self.progress.on_trial_complete(iteration, trials, trial)
        self._status_changed(trial, Trial.TERMINATED)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._own:
            self.progress.on_trial_error(iteration, trials, trial)
        self._status_changed(trial, Trial.ERROR)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._own:
            self.progress.on_trial_recover(iteration, trials, trial)
        self._status_changed(trial, trial.status)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._own:
            self.progress.on_step_end(iteration, trials)
        if time.monotonic() - self._last_refresh >= self.refresh_s:
            self._refresh(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self._own:
            self.progress.on_experiment_end(trials)
        self._refresh(trials)


def _scalars(result: dict[str, Any], skip: str, prefix: str = "") -> Iterator[tuple[str, float]]:
    """(tag, value) of every real-valued entry the trial reported, nested dicts as ``a/b``."""
    for key, value in result.items():
        if not prefix and (key in _TUNE_KEYS or key == skip):
            continue
        if isinstance(value, dict):
            yield from _scalars(value, skip, f"{prefix}{key}/")
            continue
        number = _real(value)
        if number is not None:
            yield f"{prefix}{key}", number


def _hparams(config: dict[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """``config`` flattened to ``a/b`` keys, with values the HParams plugin takes (others as JSON)."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_hparams(value, f"{name}/"))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif value is not None:
            out[name] = json.dumps(value, default=str)
    return out


class TensorBoardLogger(Callback):
    """One TensorBoard run per trial at ``<exp_dir>/tensorboard/<trial_id>/``: ``tensorboard --logdir`` it.

    Each result adds a scalar for every real-valued metric the trial reported (nested dicts as ``a/b``;
    Tune's own keys such as ``training_iteration`` or ``time_total_s`` are left out), at global step = the
    result's ``step_key`` (the epoch; Tune's ``training_iteration`` when absent). A trial that Tune pauses and
    resumes from its checkpoint, or that ``Tuner.restore`` brings back, continues its curve at the next
    epoch: the writer is reopened with ``purge_step`` = that epoch, so TensorBoard also drops points a trial
    logged past the checkpoint it restarted from.

    The first time a trial's run is created, its ``config`` is written twice: as the HParams plugin's session
    start info (the HPARAMS tab compares trials by hyperparameter and by their scalars' last values; no
    separate sub-run as ``SummaryWriter.add_hparams`` makes) and as a JSON text summary ``config`` (values the
    plugin cannot show, such as lists, and the nesting).

    Writers are closed when a trial completes, fails or is seen no longer running (paused), so open files
    and writer threads stay bounded by the running trials.

    Args:
        exp_dir: The experiment directory.
        step_key: Result key of the global step.
        flush_secs: Seconds between a writer's flushes to disk (what a live TensorBoard sees).
    """

    def __init__(
        self, exp_dir: str | os.PathLike[str], *, step_key: str = "epoch", flush_secs: float = 10.0
    ) -> None:
        if not isinstance(step_key, str) or not step_key:
            raise ValueError(f"`step_key` must be a non-empty string, but got {step_key=!r}")
        if not flush_secs > 0:
            raise ValueError(f"`flush_secs > 0` must hold, but got {flush_secs=}")
        self.root = Path(exp_dir) / "tensorboard"
        self.step_key, self.flush_secs = step_key, flush_secs
        self._writers: dict[str, tuple[Any, Any]] = {}  # trial id -> (trial, SummaryWriter)

    def log_dir(self, trial_id: str) -> Path:
        """The TensorBoard run directory of ``trial_id``."""
        return self.root / trial_id

    def _writer(self, trial: Any, step: int) -> Any:
        entry = self._writers.get(trial.trial_id)
        if entry is not None:
            return entry[1]
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        log_dir = self.log_dir(trial.trial_id)
        resumed = log_dir.is_dir() and any(log_dir.iterdir())
        writer = SummaryWriter(str(log_dir), purge_step=step if resumed else None, flush_secs=self.flush_secs)
        if not resumed:
            config = dict(getattr(trial, "config", None) or {})
            _, start, _ = hparams(_hparams(config), {})
            writer.file_writer.add_summary(start)
            writer.add_text("config", "```json\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)
        self._writers[trial.trial_id] = (trial, writer)
        return writer

    def _close(self, trial_id: str) -> None:
        entry = self._writers.pop(trial_id, None)
        if entry is not None:
            entry[1].close()

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        step = _count(result.get(self.step_key))
        if step is None:
            step = _count(result.get(TRAINING_ITERATION))
        if step is None:
            return
        from tensorboard.compat.proto.summary_pb2 import Summary

        # One event holding every scalar: a writer costs about 0.1 ms per event, however many values it holds.
        values = [Summary.Value(tag=tag, simple_value=v) for tag, v in _scalars(result, self.step_key)]
        if values:
            self._writer(trial, step).file_writer.add_summary(Summary(value=values), step)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial.trial_id)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial.trial_id)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        # Tune has no pause hook; a paused trial's writer is closed here (the loop is over open writers only).
        for trial_id, (trial, _) in list(self._writers.items()):
            if trial.status != Trial.RUNNING:
                self._close(trial_id)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for trial_id in list(self._writers):
            self._close(trial_id)
