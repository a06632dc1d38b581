"""EventLog without Ray: fake trials and a fake clock drive the Tune hooks; the log on disk is checked.

The same log written by a real tuning run is checked in ``test_report.py``, which shares one run with the
report tests.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from raynn.tune.events import EVENTS_FILE, EventLog, best_so_far, read_events


class _Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _trial(trial_id: str, status: str = "RUNNING") -> Any:
    return SimpleNamespace(trial_id=trial_id, status=status)


def _result(log: EventLog, trial: Any, epoch: int, value: float, **extra: Any) -> None:
    log.on_trial_result(iteration=0, trials=[trial], trial=trial,
                        result={"epoch": epoch, "val_loss": value, "node_id": "n1", **extra})


def _results(path: Path) -> list[dict[str, Any]]:
    return [e for e in read_events(path) if e["event"] == "result"]


def test_spent_charges_each_epoch_once_across_a_pause_and_resume(tmp_path: Path) -> None:
    clock = _Clock()
    log = EventLog(tmp_path, "val_loss", "min", clock=clock)
    log.setup()
    a, b = _trial("a"), _trial("b")
    log.on_trial_start(iteration=0, trials=[a, b], trial=a)
    _result(log, a, 1, 0.9, samples_per_s=500.0)
    clock.now += 2
    _result(log, b, 1, 0.8)
    a.status = "PAUSED"  # a waits at rung 1, then resumes from its checkpoint at epoch 2
    log.on_step_end(iteration=1, trials=[a, b])
    log.on_step_end(iteration=2, trials=[a, b])  # still paused: no second line
    log.on_trial_start(iteration=3, trials=[a, b], trial=a)
    _result(log, a, 2, 0.5)
    _result(log, a, 3, 0.6)
    log.on_trial_complete(iteration=4, trials=[a, b], trial=b)
    log.on_experiment_end(trials=[a, b])

    results = _results(tmp_path / EVENTS_FILE)
    assert [(e["trial_id"], e["epoch"], e["spent"]) for e in results] == [
        ("a", 1, 1), ("b", 1, 2), ("a", 2, 3), ("a", 3, 4)]
    # The incumbent: the best value at the largest epoch reached (a's 0.6 at 3, not its 0.5 at 2).
    assert [(e["best"], e["best_trial"], e["best_epoch"]) for e in results] == [
        (0.9, "a", 1), (0.8, "b", 1), (0.5, "a", 2), (0.6, "a", 3)]
    assert results[0]["samples_per_s"] == 500.0 and "samples_per_s" not in results[1]
    assert results[0]["node_id"] == "n1" and results[0]["metric"] == "val_loss"
    assert [e["wall_s"] for e in results] == [0.0, 2.0, 2.0, 2.0]
    statuses = [(e["trial_id"], e["status"], e["epoch"]) for e in read_events(tmp_path / EVENTS_FILE)
                if e["event"] == "status"]
    assert statuses == [("a", "RUNNING", 0), ("a", "PAUSED", 1), ("a", "RUNNING", 1), ("b", "TERMINATED", 1)]
    events = read_events(tmp_path / EVENTS_FILE)
    assert events[0]["event"] == "start" and events[0]["resumed"] is False
    assert events[-1] == {**events[-1], "event": "end", "spent": 4, "best": 0.6, "best_trial": "a",
                          "best_epoch": 3}
    assert log.spent == 4


def test_a_resumed_experiment_appends_and_continues_clock_spent_and_best(tmp_path: Path) -> None:
    clock = _Clock(1000.0)
    first = EventLog(tmp_path, "val_loss", "min", clock=clock)
    first.setup()
    _result(first, _trial("a"), 1, 0.7)
    _result(first, _trial("b"), 1, 0.4)
    before = (tmp_path / EVENTS_FILE).read_text()

    # On --resume the log is continued by a new callback (raynn tune passes fresh ones; a pickled copy, as a
    # plain Tuner.restore would give, must behave the same).
    clock.now = 1100.0
    resumed = pickle.loads(pickle.dumps(EventLog(tmp_path, "val_loss", "min")))
    resumed._clock = clock
    resumed.setup()
    _result(resumed, _trial("c"), 1, 0.9)  # worse than b's 0.4 at epoch 1, which the file holds
    _result(resumed, _trial("a"), 2, 0.5)
    _result(resumed, _trial("a"), 2, 0.5)  # an epoch trained again after a crash is not charged twice

    text = (tmp_path / EVENTS_FILE).read_text()
    assert text.startswith(before)
    events = read_events(tmp_path / EVENTS_FILE)
    assert [e["resumed"] for e in events if e["event"] == "start"] == [False, True]
    results = [e for e in events if e["event"] == "result"]
    assert [e["spent"] for e in results] == [1, 2, 3, 4, 4]
    assert (results[2]["best"], results[2]["best_trial"]) == (0.4, "b")
    assert (results[-1]["best"], results[-1]["best_epoch"]) == (0.5, 2) and results[-1]["wall_s"] == 100.0


def test_best_follows_the_mode_and_skips_values_that_are_not_finite(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "val_loss", "max", clock=_Clock())
    for trial, epoch, value in [("a", 1, 0.2), ("b", 1, 0.5), ("a", 2, float("nan")), ("b", 2, 0.3), ("a", 2, 0.6)]:
        _result(log, _trial(trial), epoch, value)
    results = _results(tmp_path / EVENTS_FILE)
    assert [e["value"] for e in results] == [0.2, 0.5, None, 0.3, 0.6]
    # max: the larger wins at equal epoch; a NaN is no result; a larger epoch replaces a better smaller one.
    assert [e["best"] for e in results] == [0.2, 0.5, 0.5, 0.3, 0.6]
    assert best_so_far(results) == [(1, 0.2), (2, 0.5), (3, 0.5), (4, 0.3), (4, 0.6)]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / EVENTS_FILE
    path.write_text(json.dumps({"event": "result", "trial_id": "a", "epoch": 1, "value": 1.0, "time": 5.0,
                                "wall_s": 0.0}) + '\n{"event": "res')
    log = EventLog(tmp_path, "val_loss", "min", clock=_Clock(9.0))
    log.setup()
    assert log.spent == 1 and log.best == 1.0
    assert read_events(path)[-1]["wall_s"] == 4.0


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="`mode` must be 'min' or 'max', but got mode='maximum'"):
        EventLog("exp", "val_loss", "maximum")


def test_a_retried_trial_is_logged_with_the_checkpoint_it_restarts_from(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "val_loss", "min", clock=_Clock())
    log.setup()
    a, b = _trial("a"), _trial("b")
    _result(log, a, 1, 0.9)
    _result(log, a, 2, 0.8)
    a.latest_checkpoint_result = SimpleNamespace(metrics={"epoch": 1, "val_loss": 0.9})
    a.num_failures = 1
    log.on_trial_recover(iteration=1, trials=[a, b], trial=a)
    b.latest_checkpoint_result, b.num_failures = None, 2  # no checkpoint yet: Tune starts it over
    log.on_trial_recover(iteration=2, trials=[a, b], trial=b)

    recovered = [(e["trial_id"], e["epoch"], e["from_epoch"], e["failures"])
                 for e in read_events(tmp_path / EVENTS_FILE) if e["event"] == "recover"]
    assert recovered == [("a", 2, 1, 1), ("b", 0, None, 2)]
