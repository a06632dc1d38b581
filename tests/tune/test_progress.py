"""raynn/tune/progress.py: one Progress takes each result once; the view, event log and metrics read it (fake
trials, no Ray session), and agree; the event log restores it on ``--resume``."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from raynn.tune.events import EVENTS_FILE, EventLog, read_events
from raynn.tune.monitor import GAUGES, MetricsExporter
from raynn.tune.progress import Progress
from raynn.tune.view import ProgressView


def _trial(trial_id: str, status: str = "RUNNING", **fields: Any) -> Any:
    return SimpleNamespace(trial_id=trial_id, status=status, **fields)


class _Gauge:
    """Keeps the last value set per tag set, as Ray's metrics agent would serve it."""

    def __init__(self) -> None:
        self.values: dict[tuple[tuple[str, str], ...], float] = {}

    def set(self, value: float, tags: dict[str, str]) -> None:
        self.values[tuple(sorted(tags.items()))] = value


def _run(progress: Progress, tmp_path: Path) -> tuple[ProgressView, EventLog, MetricsExporter, list[Any]]:
    """The three readers on ``progress``, and the callbacks in ``raynn tune``'s order: the progress first."""
    view = ProgressView(object(), "val_loss", "min", budget=20, enabled=False, progress=progress)
    log = EventLog(tmp_path, "val_loss", "min", clock=lambda: 1000.0, progress=progress)
    exporter = MetricsExporter(object(), "val_loss", "min", "exp", progress=progress)
    exporter._gauges = {name: _Gauge() for name in GAUGES}
    return view, log, exporter, [progress, view, log, exporter]


def _call(callbacks: list[Any], hook: str, *args: Any) -> None:
    for callback in callbacks:
        getattr(callback, hook)(*args)


def test_progress_charges_each_furthest_epoch_once_and_keeps_the_incumbent() -> None:
    progress = Progress("val_loss", "min")
    a, b = _trial("a"), _trial("b")
    results = [(a, 1, 0.9), (b, 1, 0.5), (a, 2, 0.8), (a, 1, 0.1), (b, 2.5, 0.0), (a, -1, 0.0)]
    for trial, epoch, loss in results:  # a's epoch 1 again, then epochs that are not whole or not >= 0
        progress.on_trial_result(0, [a, b], trial, {"epoch": epoch, "val_loss": loss})
    assert (progress.spent, progress.furthest.resource) == (3, {"a": 2, "b": 1})
    assert (progress.incumbent.best.value, progress.incumbent.best.trial_id) == (0.8, "a")
    progress.on_trial_result(0, [a, b], b, {"epoch": 2, "val_loss": 0.7})
    assert progress.improved and progress.incumbent.best.trial_id == "b"
    progress.on_trial_result(0, [a, b], a, {"epoch": 3, "val_loss": float("inf"), "diverged": True})
    assert not progress.improved and progress.spent == 5 and progress.diverged == {"a"}


def test_progress_statuses_and_the_trials_each_hook_changed() -> None:
    progress = Progress("val_loss", "min")
    a, b = _trial("a"), _trial("b", last_result={"epoch": 4})  # b: handed back by Tuner.restore
    progress.on_trial_start(0, [a, b], a)
    assert progress.changed == ["a"] and progress.status == {"a": "RUNNING"}
    a.status = "PAUSED"
    progress.on_step_end(1, [a, b])
    assert progress.changed == ["a"] and progress.status["a"] == "PAUSED"
    assert progress.spent == 4  # b's last result, seen at the end of the step
    progress.on_step_end(2, [a, b])
    assert progress.changed == []
    progress.on_trial_complete(3, [a, b], b)
    progress.on_trial_error(4, [a, b], a)
    assert progress.status == {"a": "ERROR", "b": "TERMINATED"}


def test_restore_takes_an_event_logs_results_and_statuses_in_order() -> None:
    progress = Progress("acc", "max")
    progress.restore([
        {"event": "start"},
        {"event": "result", "trial_id": "a", "epoch": 1, "value": 0.4},
        {"event": "result", "trial_id": "b", "epoch": 2, "value": None},
        {"event": "status", "trial_id": "a", "status": "PAUSED"},
        {"event": "result", "trial_id": "a", "epoch": 1, "value": 0.6},  # trained again after a crash
    ])
    assert progress.spent == 3 and progress.status == {"a": "PAUSED"}
    assert (progress.incumbent.best.value, progress.incumbent.best.epoch) == (0.6, 1)


def test_the_view_event_log_and_metrics_read_one_progress_updated_once_per_result(tmp_path: Path) -> None:
    progress = Progress("val_loss", "min")
    view, log, exporter, callbacks = _run(progress, tmp_path)
    taken: list[tuple[str, int]] = []
    update = progress.incumbent.update

    def counted(trial_id: str, epoch: Any, value: Any) -> bool:
        taken.append((trial_id, epoch))
        return update(trial_id, epoch, value)

    progress.incumbent.update = counted  # type: ignore[method-assign]
    a, b = _trial("a"), _trial("b")
    _call(callbacks, "setup")
    for trial in (a, b):
        _call(callbacks, "on_trial_start", 0, [a, b], trial)
    for trial, epoch, loss in [(a, 1, 0.9), (b, 1, 0.5), (a, 2, 0.8), (a, 2, 0.8), (b, 2, 0.6)]:
        _call(callbacks, "on_trial_result", 0, [a, b], trial, {"epoch": epoch, "val_loss": loss})
    a.status = "PAUSED"
    _call(callbacks, "on_step_end", 1, [a, b])
    _call(callbacks, "on_trial_complete", 2, [a, b], b)
    _call(callbacks, "on_experiment_end", [a, b])

    assert taken == [("a", 1), ("b", 1), ("a", 2), ("a", 2), ("b", 2)]  # once per result, not once per reader
    assert view.progress is log.progress is exporter.progress is progress
    best = progress.incumbent.best
    assert (best.value, best.trial_id, best.epoch, progress.spent) == (0.6, "b", 2, 4)
    events = read_events(tmp_path / EVENTS_FILE)
    assert events[-1] == {**events[-1], "event": "end", "spent": 4, "best": 0.6, "best_trial": "b",
                          "best_epoch": 2}
    assert [(e["trial_id"], e["status"]) for e in events if e["event"] == "status"] == [
        ("a", "RUNNING"), ("b", "RUNNING"), ("a", "PAUSED"), ("b", "TERMINATED")]
    gauges = exporter._gauges
    assert gauges["raynn_best_metric"].values == {(("experiment", "exp"), ("metric", "val_loss")): 0.6}
    assert gauges["raynn_budget_spent"].values == {(("experiment", "exp"),): 4.0}
    assert exporter.series()["raynn_trials_at_rung"] == {"0": 0.0, "1": 0.0, "2": 2.0}
    assert "budget spent 4/20 epochs" in view.render([a, b])
    assert "best val_loss 0.6 (trial b, epoch 2)" in view.render([a, b])


def test_on_resume_the_event_log_restores_the_progress_the_others_read(tmp_path: Path) -> None:
    first = EventLog(tmp_path, "val_loss", "min", clock=lambda: 1000.0)
    first.setup()
    a = _trial("a")
    for epoch, loss in [(1, 0.9), (2, 0.7)]:
        first.on_trial_result(0, [a], a, {"epoch": epoch, "val_loss": loss})

    progress = Progress("val_loss", "min")
    view, log, exporter, callbacks = _run(progress, tmp_path)
    _call(callbacks, "setup")
    assert (progress.spent, progress.incumbent.best.value, progress.status) == (2, 0.7, {})
    assert "best val_loss 0.7 (trial a, epoch 2)" in view.render([a])
    assert exporter.series()["raynn_best_metric"] == {"val_loss": 0.7}
    _call(callbacks, "on_trial_result", 0, [a], a, {"epoch": 3, "val_loss": 0.8})
    last = read_events(tmp_path / EVENTS_FILE)[-1]
    assert (last["spent"], last["best"], last["best_epoch"]) == (3, 0.8, 3)


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda p: ProgressView(object(), "val_loss", "max", progress=p), "('val_loss', 'max', 'epoch')"),
        (lambda p: EventLog("exp", "loss", "min", progress=p), "('loss', 'min', 'epoch')"),
        (lambda p: MetricsExporter(None, "val_loss", "min", "e", resource_key="step", progress=p),
         "('val_loss', 'min', 'step')"),
    ],
)
def test_a_reader_must_track_what_the_progress_tracks(build: Any, needle: str) -> None:
    progress = Progress("val_loss", "min")
    message = f"`progress` must track (metric, mode, resource_attr) = {needle}, but got "
    with pytest.raises(ValueError, match=re.escape(message + "('val_loss', 'min', 'epoch')")):
        build(progress)
