"""The driver-side event log of a tuning run: one JSON line per trial result in ``<exp_dir>/events.jsonl``.

A ``result`` line holds the time, trial, epoch, value, the incumbent (:mod:`raynn.tune.best`), node,
throughput and ``spent = sum_i max_epoch(i)`` (the ledger's ``budget_spent``); ``status`` lines record a trial
starting, pausing, ending or failing, ``recover`` lines a failed trial that Tune retries. A resumed experiment
appends to the same file and continues its clock.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ray.tune import Callback

from raynn.hpo.ledger import as_resource
from raynn.tune.progress import Progress

__all__ = ["EVENTS_FILE", "EventLog", "read_events", "best_so_far"]

EVENTS_FILE = "events.jsonl"


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events of a log, in order; a line that is not a JSON object (cut short by a crash) is skipped."""
    events = []
    with open(path) as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def best_so_far(events: Iterable[dict[str, Any]]) -> list[tuple[int, float]]:
    """``(spent, incumbent)`` after each result event that had one."""
    return [(int(e["spent"]), float(e["best"])) for e in events
            if e.get("event") == "result" and e.get("best") is not None and e.get("spent") is not None]


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class EventLog(Callback):
    """A Ray Tune callback (run in the driver) appending one JSON line per trial result to ``events.jsonl``.

    Lines (every one has ``event``, ``time``: Unix seconds, ``wall_s``: seconds since the experiment started):

    - ``start``: ``metric``, ``mode``, ``resumed``: once per ``Tuner.fit`` (again on ``--resume``).
    - ``result``: ``trial_id``, ``epoch``, ``metric``, ``value`` (null when not finite), ``best`` (the
      incumbent's value), ``best_trial``, ``best_epoch``, ``spent``, ``node_id``, and ``samples_per_s`` when
      the trial reported it.
    - ``status``: ``trial_id``, ``status`` (``RUNNING``, ``PAUSED``, ``TERMINATED``, ``ERROR``), ``epoch``
      (the trial's furthest), ``spent``.
    - ``recover``: ``trial_id``, ``epoch`` (the trial's furthest), ``from_epoch`` (the epoch of the checkpoint
      Tune restarts it from; null: from the start), ``failures``: a trial that failed and that Tune retries.
    - ``end``: ``spent``, ``best``, ``best_trial``, ``best_epoch``.

    ``spent = sum_i max_epoch(i)`` over trials ``i``: a paused and resumed trial is charged once per epoch.
    Each line is written and flushed on its own, so the log is complete up to the moment the driver stops.

    Args:
        exp_dir: The experiment directory; the log is ``exp_dir / "events.jsonl"``.
        metric: The result key to log as ``value`` and to track the best of.
        mode: ``"min"`` or ``"max"``: which values are better.
        resource_attr: The result key with the cumulative resource a trial has trained (its epoch).
        clock: Wall clock in seconds (tests pass a fake one).
        progress: The run's :class:`~raynn.tune.progress.Progress`, a callback before this one, which this
            log restores on ``--resume``; None: one of its own, which this log updates.
    """

    def __init__(self, exp_dir: str | Path, metric: str, mode: str, resource_attr: str = "epoch",
                 clock: Callable[[], float] = time.time, progress: Progress | None = None) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max', but got {mode=!r}")
        if progress is not None:
            progress.check(metric, mode, resource_attr)
        self.path = Path(exp_dir) / EVENTS_FILE
        self.metric, self.mode, self.resource_attr = metric, mode, resource_attr
        self._clock = clock
        self._loaded = False
        self._start = 0.0
        self._own = progress is None
        self.progress = Progress(metric, mode, resource_attr) if progress is None else progress

    @property
    def spent(self) -> int:
        """``sum_i max_epoch(i)``: the resource spent so far (kept as results arrive)."""
        return self.progress.spent

    @property
    def best(self) -> float | None:
        """The incumbent's value (:mod:`raynn.tune.best`)."""
        best = self.progress.incumbent.best
        return None if best is None else best.value

    def _best_fields(self) -> dict[str, Any]:
        best = self.progress.incumbent.best
        return {"best": self.best, "best_trial": None if best is None else best.trial_id,
                "best_epoch": None if best is None else best.epoch}

    # -- state, rebuilt from the file so that a resumed experiment continues it ----------------------------

    def _load(self) -> bool:
        """Take the clock from the log already on disk, and restore the progress (spent, best, statuses)
        from it; True if there was one."""
        self._loaded = True
        self._start = self._clock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            return False
        with open(self.path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    f.write(b"\n")  # a line cut short by a crash: the next line starts on its own
        events = read_events(self.path)
        if not events:
            return False
        first = events[0]
        self._start = float(first.get("time", self._start)) - float(first.get("wall_s", 0.0))
        self.progress.restore(events)
        return True

    def _write(self, event: str, **fields: Any) -> None:
        if not self._loaded:
            self._load()
        now = self._clock()
        line = {"event": event, "time": round(now, 3), "wall_s": round(now - self._start, 3), **fields}
        # Opened per line, in append mode: nothing to close if the driver dies, never a truncated experiment.
        with open(self.path, "a") as f:
            f.write(json.dumps(line, default=str) + "\n")

    def _log_status(self) -> None:
        """A ``status`` line for each trial whose status the progress's last status hook changed."""
        for trial_id in self.progress.changed:
            self._write("status", trial_id=trial_id, status=self.progress.status[trial_id],
                        epoch=self.progress.furthest.get(trial_id), spent=self.spent)

    # -- Tune hooks ----------------------------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        resumed = self._load()
        self._write("start", metric=self.metric, mode=self.mode, resumed=resumed)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        if not self._loaded:
            self._load()
        if self._own:
            self.progress.on_trial_result(iteration, trials, trial, result)
        trial_id = str(trial.trial_id)
        epoch = as_resource(result.get(self.resource_attr))
        fields: dict[str, Any] = {
            "trial_id": trial_id, "epoch": epoch, "metric": self.metric,
            "value": _finite(result.get(self.metric)), **self._best_fields(), "spent": self.spent,
            "node_id": result.get("node_id", result.get("node_ip")),
        }
        if result.get("samples_per_s") is not None:
            fields["samples_per_s"] = _finite(result["samples_per_s"])
        if result.get("diverged"):
            fields["diverged"] = True  # value is null: the loss was not finite (raynn.training.loop)
        self._write("result", **fields)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._own:
            self.progress.on_trial_start(iteration, trials, trial)
        self._log_status()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._own:
            self.progress.on_step_end(iteration, trials)
        self._log_status()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._own:
            self.progress.on_trial_complete(iteration, trials, trial)
        self._log_status()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._own:
            self.progress.on_trial_error(iteration, trials, trial)
        self._log_status()

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._own:
            self.progress.on_trial_recover(iteration, trials, trial)
        trial_id = str(trial.trial_id)
        checkpoint = trial.latest_checkpoint_result
        from_epoch = as_resource(checkpoint.metrics.get(self.resource_attr)) if checkpoint else None
        self._write("recover", trial_id=trial_id, epoch=self.progress.furthest.get(trial_id),
                    from_epoch=from_epoch, failures=int(trial.num_failures))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._write("end", spent=self.spent, **self._best_fields())
