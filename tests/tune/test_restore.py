"""``Tuner.restore`` after the driver was interrupted mid-rung: the scheduler continues its rungs (ray#30838).

A driver process runs successive halving (8 trials, targets 3 and 9, 2 slots) on the shared Ray session;
the test interrupts it (SIGINT, as Ctrl+C) once four trials wait at rung 0, then restores the experiment in
a second driver process. Tune hands the restored experiment a fresh copy of the scheduler and re-adds the
unfinished trials as PENDING; the adapter reloads its state file, keeps the waiting trials paused, and decides
rung 0 over all 8. (SIGKILL is not used: Tune copies its driver staging directory into the experiment directory
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
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.fs
import pytest

from raynn.tune import SuccessiveHalving
from raynn.tune.persistence import read_state

pytestmark = pytest.mark.ray

DRIVER = Path(__file__).with_name("_restore_driver.py")
XS = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]
BEST = {0.1, 0.2, 0.3, 0.4}


def _read_state(experiment: Path) -> dict[str, Any] | None:
    """The scheduler's state file with its journal replayed (raynn.tune.persistence), None while there is none."""
    storage = SimpleNamespace(storage_filesystem=pyarrow.fs.LocalFileSystem(), experiment_fs_path=str(experiment))
    return read_state(storage)


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
                assert time.monotonic() < deadline, "the driver never got four trials to rung 0"
                state = _read_state(experiment)
                if state and state["cores"]:
                    core = state["cores"][0]
                    waiting = [row[0] for row in core["trials"] if row[4] == "waiting"]
                    if len(waiting) >= 4 and core["brackets"][0][3] == 0:  # rung 0 not decided yet
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
