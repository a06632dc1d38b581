"""Every epoch a trial reports is in its results exactly once and in order, however often it was paused.

49 trials through each of raynn's schedulers with 1 and 2 slots, in a plain ``ray.tune.Tuner`` with the cheap
:func:`~raynn_testing.trainables.curve_trainable` (no sleep; a checkpoint at the scheduler's rungs only, where a
pause happens). The epoch sequence of every trial is read back from ``result.json``, ``progress.csv``, the
``ResultGrid``'s ``metrics_dataframe``, raynn's curves (:func:`raynn.tune.outputs.trial_curve`) and raynn's
``events.jsonl``, and must be ``1..n`` where ``n`` is what the trial trained (its own log).

Tune uploads the driver's staging copy of those logs to storage every few seconds and, when a trial with a
checkpoint starts again, copies the storage copy back over the staging one: rows logged between the last upload
and a resume were lost. Runs of a few seconds rarely see an upload at the wrong moment, so
:class:`_UploadAfterFirstResult` makes one happen, deterministically, right after each trial's first result
(an upload Tune may do at any moment). Before the fix in :func:`raynn.tune.persistence.push_trial_logs` every
trial resumed after more than one epoch lost rows here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from ray import tune
from ray.tune import Callback

from raynn.tune import AsyncHalving, HyperBand, SuccessiveHalving
from raynn.tune.events import EventLog, read_events
from raynn.tune.outputs import trial_curve
from raynn.tune.persistence import TrialLogsBeforeRetry
from raynn_testing.trainables import curve_trainable

pytestmark = pytest.mark.ray

N_TRIALS = 49


class _UploadAfterFirstResult(Callback):
    """Uploads a trial's staging directory to storage after its first result (as Tune's periodic upload of the
    whole staging directory may), and waits for it."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        if trial.trial_id in self.seen:
            return
        self.seen.add(trial.trial_id)
        storage = trial.storage
        storage.syncer.sync_up(trial.local_path, storage.trial_fs_path)
        storage.syncer.wait()


SCHEDULERS = {
    "sh": lambda: SuccessiveHalving(budget=64, num_configs=16),  # rungs 1, 3, 8; 3 bands of 16 and one of 1
    "hyperband": lambda: HyperBand(max_resource=9, eta=3),  # 17 trials a band: brackets at r = 1, 3, 9
    "asha": lambda: AsyncHalving(max_resource=9, eta=3),  # rungs 1, 3, 9
}


@pytest.mark.parametrize("slots", [1, 2])
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_reported_epoch_is_in_the_results_once_and_in_order(
    ray_session: None, storage: str, name: str, slots: int
) -> None:
    scheduler = SCHEDULERS[name]()
    rungs = scheduler.rungs()
    exp = f"complete-{name}-{slots}"
    logs = Path(storage) / f"{exp}-logs"
    logs.mkdir()
    xs = [((i * 37) % N_TRIALS) / N_TRIALS for i in range(N_TRIALS)]  # a shuffled order of distinct values
    uploads = _UploadAfterFirstResult()
    grid = tune.Tuner(
        curve_trainable,
        param_space={"x": tune.grid_search(xs), "log_dir": str(logs), "max_epoch": max(rungs), "sleep": 0.0,
                     "checkpoint_at": rungs},
        tune_config=tune.TuneConfig(scheduler=scheduler, metric="loss", mode="min", max_concurrent_trials=slots,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=exp, storage_path=storage, verbose=0,
                                  callbacks=[uploads, EventLog(Path(storage) / exp, "loss", "min")]),
    ).fit()
    assert len(grid) == N_TRIALS and grid.num_errors == 0 and grid.num_terminated == N_TRIALS

    events: dict[str, list[int]] = {}
    for event in read_events(Path(storage) / exp / "events.jsonl"):
        if event["event"] == "result":
            events.setdefault(event["trial_id"], []).append(event["epoch"])
    resumed = 0
    for result in grid:
        trial_id = result.metrics["trial_id"]
        trained = [tuple(map(int, line.split())) for line in (logs / f"{trial_id}.log").read_text().splitlines()]
        expected = list(range(1, len(trained) + 1))
        assert [epoch for epoch, _ in trained] == expected, (trial_id, trained)  # resumed at its checkpoint
        resumed += any(start > 0 for _, start in trained)
        path = Path(result.path)
        with open(path / "result.json") as f:
            assert [json.loads(line)["epoch"] for line in f] == expected, (trial_id, "result.json")
        with open(path / "progress.csv", newline="") as f:
            assert [int(row["epoch"]) for row in csv.DictReader(f)] == expected, (trial_id, "progress.csv")
        assert [int(e) for e in result.metrics_dataframe["epoch"]] == expected, (trial_id, "metrics_dataframe")
        curve = trial_curve(result, "loss")
        assert curve is not None and [epoch for epoch, _ in curve[1]] == expected, (trial_id, "curve")
        assert events[trial_id] == expected, (trial_id, "events.jsonl")
    assert resumed >= 3, resumed  # trials were paused and resumed from checkpoints, more than one epoch in


def test_a_retried_trial_keeps_every_row(ray_session: None, storage: str) -> None:
    """A trial whose process dies after epoch 3 (FIFO, one retry allowed): Tune starts it again from its epoch-3
    checkpoint, and its results hold epochs 1-5 once each. Tune retries a trial like a resume, copying the
    storage copy of its logs over the driver's newer one; without :class:`TrialLogsBeforeRetry` the rows since
    the last upload (here 2 and 3, the upload forced after epoch 1) were lost, as on a killed node."""
    logs = Path(storage) / "retry-logs"
    logs.mkdir()
    grid = tune.Tuner(
        curve_trainable,
        param_space={"x": tune.grid_search([0.1, 0.2]), "log_dir": str(logs), "max_epoch": 5, "sleep": 0.0,
                     "crash_after": 3},
        tune_config=tune.TuneConfig(metric="loss", mode="min", max_concurrent_trials=2),
        run_config=tune.RunConfig(name="retry", storage_path=storage, verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=1),
                                  callbacks=[_UploadAfterFirstResult(), TrialLogsBeforeRetry()]),
    ).fit()
    assert len(grid) == 2 and grid.num_errors == 0
    for result in grid:
        trial_id = result.metrics["trial_id"]
        assert (logs / f"{trial_id}.crashed").exists()  # it did die once
        trained = [tuple(map(int, line.split())) for line in (logs / f"{trial_id}.log").read_text().splitlines()]
        assert trained == [(1, 0), (2, 0), (3, 0), (4, 3), (5, 3)], trained  # resumed from its checkpoint
        with open(Path(result.path) / "result.json") as f:
            assert [json.loads(line)["epoch"] for line in f] == [1, 2, 3, 4, 5], (trial_id, "result.json")
        assert [int(e) for e in result.metrics_dataframe["epoch"]] == [1, 2, 3, 4, 5], trial_id

