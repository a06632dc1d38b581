"""``Tuner.restore`` after the driver was interrupted mid-rung: the scheduler continues its rungs (ray#30838).

A driver process runs successive halving (8 trials, targets 3 and 9, 2 slots) on the shared Ray session;
the test interrupts it (SIGINT, as Ctrl+C) once six trials wait at rung 0 (at least four in the scheduler's state), then restores the experiment in
a second driver process. The first driver passes ``scheduler.snapshot_callback()`` in its RunConfig, the one way
a plain Tuner's scheduler survives a restore: ``Tuner.restore`` unpickles the scheduler and that callback from
``tuner.pkl``, the callback loads the scheduler's state from Tune's snapshot, and Tune re-adds the unfinished
trials as PENDING; the adapter keeps the waiting trials paused and decides rung 0 over all 8. Without the
callback the restored run stops at once with an error naming it. (SIGKILL is not used: Tune copies its driver staging directory into the experiment directory
non-atomically, and a kill during that copy can leave a truncated search-algorithm state after which
``Tuner.restore`` silently starts a new experiment. A hard kill is simulated in ``test_schedulers.py``.)

Tune also writes the decisions it holds for trials saving a checkpoint into its snapshot, and restores them: a
snapshot taken while a trial was being paused at rung 0 held ``{trial: "PAUSE"}``, and after the restore that
trial, promoted, was paused again by its first result and the run never ended (2 of 5 runs under load). The
test puts such a decision into the snapshot for every waiting trial that will be promoted, so that case is
always exercised; the restore runs in its own process, so that a run that stalls fails the test by its timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ray.tune import Callback

from raynn.tune import SuccessiveHalving

pytestmark = pytest.mark.ray

DRIVER = Path(__file__).with_name("_restore_driver.py")
XS = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]
BEST = {0.1, 0.2, 0.3, 0.4}


def _read_state(experiment: Path) -> dict[str, Any]:
    """The scheduler's state in Tune's newest snapshot: its snapshot callback's (the first callback's) state."""
    import ray.cloudpickle as pickle

    return pickle.loads(max(experiment.glob("callback-states-*.pkl")).read_bytes())[0]["scheduler"]


def _at_rung_0(logs: Path) -> tuple[int, bool]:
    """Trials whose log reached epoch 3 (rung 0's target), and whether any went beyond (rung 0 decided)."""
    epochs = [[int(line.split()[0]) for line in f.read_text().split("\n") if line] for f in logs.glob("*.log")]
    return sum(3 in e for e in epochs), any(max(e, default=0) > 3 for e in epochs)


def _wait_for_free_cpus(timeout: float) -> None:
    import ray

    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU") != ray.cluster_resources().get("CPU"):
        assert time.monotonic() < deadline, (ray.available_resources(), ray.cluster_resources())
        time.sleep(0.2)


def test_restore_after_the_driver_is_interrupted_continues_the_rungs(ray_session: None, storage: str) -> None:
    import ray
    from ray import tune

    name, logs = "restore", Path(storage) / "restore-logs"
    logs.mkdir()
    experiment = Path(storage) / name
    address = ray.get_runtime_context().gcs_address
    with open(Path(storage) / "driver.log", "w") as out:
        driver = subprocess.Popen(
            [sys.executable, str(DRIVER), "run", address, storage, name, str(logs)], stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert driver.poll() is None, (Path(storage) / "driver.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the driver never got six trials to rung 0"
                waiting, decided = _at_rung_0(logs)
                # A trial logs an epoch before reporting it: with 2 slots up to 2 results are still on their
                # way to the scheduler, so 6 logged means at least 4 in its state (rung 0 decides at 8).
                if waiting >= 6 and not decided:
                    break
                time.sleep(0.05)
        finally:
            driver.send_signal(signal.SIGINT)  # Tune saves its experiment state and ends the run
            try:
                driver.wait(timeout=60)
            except subprocess.TimeoutExpired:
                driver.kill()
                driver.wait()
                raise
    assert driver.returncode == 0, (Path(storage) / "driver.log").read_text()[-3000:]
    at_interrupt = _read_state(experiment)
    (Path(storage) / "state-at-interrupt.json").write_text(json.dumps(at_interrupt))
    before = SuccessiveHalving(budget=48, num_configs=8)
    before.load_state_dict(at_interrupt)
    assert before.ledger().brackets[0].rounds[0].reached >= 4
    _wait_for_free_cpus(30)  # the driver's trial actors are gone

    assert tune.Tuner.can_restore(str(experiment))
    stale = _hold_stale_pauses(experiment, [t for t in _waiting_ids(before) if _x_of_dir(experiment, t) in BEST])
    assert stale, "no waiting trial of the best four to put a stale PAUSE on"
    out = Path(storage) / "restored.json"
    with open(Path(storage) / "restore.log", "w") as log:
        restored = subprocess.Popen(
            [sys.executable, str(DRIVER), "restore", address, storage, name, str(out)], stdout=log, stderr=log
        )
        try:
            restored.wait(timeout=240)
        except subprocess.TimeoutExpired:
            restored.kill()
            restored.wait()
            pytest.fail("the restored run never ended: " + (Path(storage) / "restore.log").read_text()[-3000:])
    assert restored.returncode == 0, (Path(storage) / "restore.log").read_text()[-3000:]
    grid = json.loads(out.read_text())
    assert len(grid["trials"]) == 8 and not any(t["error"] for t in grid["trials"]) and grid["terminated"] == 8
    _wait_for_free_cpus(15)

    x_of = {t["trial_id"]: t["x"] for t in grid["trials"]}
    seen_at_stop = {row[0]: row[5] for row in before.state_dict()["cores"][0]["trials"]}  # furthest epoch
    for trial_id, x in x_of.items():
        lines = (logs / f"{trial_id}.log").read_text().split("\n")
        seq = [tuple(int(v) for v in line.split()) for line in lines if line]  # (epoch, resumed from)
        epochs = [epoch for epoch, _ in seq]
        assert set(epochs) == set(range(1, max(epochs) + 1)), seq
        assert max(epochs) == (9 if x in BEST else 3), (x, seq)
        # One replay at most, of the epoch in flight at the interruption: a trial resumes from the latest
        # checkpoint in Tune's experiment snapshot, at most one result behind what the scheduler saw.
        back = [i for i in range(1, len(epochs)) if epochs[i] <= epochs[i - 1]]
        assert len(back) <= 1, seq
        if back:
            epoch, start = seq[back[0]]
            assert start == epoch - 1 >= seen_at_stop.get(trial_id, 0) - 1, (seq, seen_at_stop.get(trial_id))
    for trial_id in _waiting_ids(before):  # paused at rung 0 when the driver stopped
        if x_of[trial_id] not in BEST:  # eliminated after the restore: never started again
            assert (logs / f"{trial_id}.log").read_text() == "1 0\n2 0\n3 0\n"

    after = SuccessiveHalving(budget=48, num_configs=8)
    after.load_state_dict(_read_state(experiment))
    ledger = after.ledger()
    assert [(r.entered, r.reached) for r in ledger.brackets[0].rounds] == [(8, 8), (4, 4)]
    assert ledger.spent == 48 >= before.budget_spent
    assert set(after.state_dict()["owner"]) == set(x_of)


class _StopAfter(Callback):
    """Sends this driver Tune's own stop signal (SIGUSR1; Ctrl+C sends SIGINT) once a trial reported epoch 2:
    Tune ends the run and snapshots the experiment with its trials unfinished."""

    sent = False

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if not self.sent and result.get("epoch", 0) >= 2:
            self.sent = True
            os.kill(os.getpid(), signal.SIGUSR1)


def test_a_plain_tuner_restored_without_the_snapshot_callback_stops_with_one_clear_error(
    ray_session: None, storage: str
) -> None:
    """No ``snapshot_callback()`` in the RunConfig: Tune restores the trials with their results but not the
    scheduler's state. The restored run raises before any trial trains again, instead of deciding rungs without
    the results the trials already reported."""
    from ray import tune

    from raynn_testing.trainables import curve_trainable

    logs = Path(storage) / "plain-logs"
    logs.mkdir()
    space = {"x": tune.grid_search(XS[:4]), "log_dir": str(logs), "max_epoch": 20, "sleep": 0.05}
    config = tune.TuneConfig(scheduler=SuccessiveHalving(budget=24, num_configs=4), metric="loss", mode="min",
                             max_concurrent_trials=2)
    tune.Tuner(curve_trainable, param_space=space, tune_config=config,
               run_config=tune.RunConfig(name="plain", storage_path=storage, callbacks=[_StopAfter()],
                                         verbose=0)).fit()
    trained = {f.name: f.read_text() for f in logs.glob("*.log")}
    assert trained, "no trial reported before the stop"
    restored = tune.Tuner.restore(str(Path(storage) / "plain"), trainable=curve_trainable, resume_unfinished=True)
    with pytest.raises(RuntimeError, match=r"tune\.RunConfig\(callbacks=\[scheduler\.snapshot_callback\(\)\]\)"):
        restored.fit()
    assert {f.name: f.read_text() for f in logs.glob("*.log")} == trained


def _waiting_ids(scheduler: SuccessiveHalving) -> list[str]:
    """Trial ids that were paused at rung 0, waiting for its decision, in a loaded state."""
    return [row[0] for row in scheduler.state_dict()["cores"][0]["trials"] if row[4] == "waiting"]


def _x_of_dir(experiment: Path, trial_id: str) -> float:
    """A trial's ``x``, read from the name of its directory (``curve_trainable_<id>_<n>_x=<x>_<time>``)."""
    (directory,) = experiment.glob(f"*_{trial_id}_*")
    return float(directory.name.split("x=")[1].split("_")[0])


def _hold_stale_pauses(experiment: Path, trial_ids: list[str]) -> list[str]:
    """Put ``{trial_id: "PAUSE"}`` into the newest Tune snapshot's held decisions, as Tune writes them when its
    snapshot falls between a trial's PAUSE and the end of the pausing save; returns ``trial_ids``."""
    newest = max(experiment.glob("experiment_state-*.json"))
    state = json.loads(newest.read_text())
    state["runner_data"]["_cached_trial_decisions"].update(dict.fromkeys(trial_ids, "PAUSE"))
    newest.write_text(json.dumps(state))
    return trial_ids
