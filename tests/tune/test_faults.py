"""Faults injected into ``raynn tune`` with real processes killed by pid (issue 11).

Each test runs the CLI as a separate driver on the suite's shared Ray session (``--address``) and stops a process
at an exact moment with the fault hook (:mod:`raynn.faults`: ``RAYNN_FAULT_PAUSE`` names the moment, the process
that reaches it writes its pid to ``RAYNN_FAULT_MARKER`` and waits), then kills it with SIGKILL:

- a trial's actor killed after training an epoch it has not reported: Tune restarts the trial from its last
  checkpoint (``raynn.tune.run.TRIAL_MAX_FAILURES``), and the experiment equals an uninterrupted one;
- the same with the trial's latest checkpoint truncated first: it falls back to the checkpoint before, with a
  warning naming the file;
- the driver killed at five moments of one experiment, ``raynn tune --resume`` after each: the same experiment
  ends, no trial retrained from scratch, the budget ledger equal to an uninterrupted run's;
- one Ray Train worker of a 2-worker trial killed: Ray Train restarts the worker group from the checkpoint.

The experiment: digits, an MLP, HyperBand with R = 3 and eta = 3 (bracket s=1: 3 configurations at 1 epoch, the
best to 3; s=0: 2 at 3), seeded random search, so an uninterrupted run (the ``reference``) is reproducible:
training resumes bit for bit from a checkpoint (its RNG state included).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from raynn.faults import MARKER_ENV, PAUSE_ENV
from raynn.tune.events import EVENTS_FILE, read_events
from raynn_testing.checks import ONE_BAND_SPENT, check_resumed_band, registered_checkpoints

SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [32]}},
             "train": {"epochs": 3, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
              "model.dropout": {"type": "float", "low": 0.0, "high": 0.3}},
}
ARGS = ["--scheduler", "hyperband", "--max-concurrent", "2", "--seed", "3"]

pytestmark = [pytest.mark.ray, pytest.mark.slow]


class Driver:
    """A ``raynn tune`` process on the shared session, its output in ``<dir>/<name>.log``."""

    def __init__(self, cwd: Path, name: str, args: list[str], fault: str | None = None) -> None:
        import ray

        self.cwd, self.name = cwd, name
        self.log = cwd / f"{name}.log"
        self.marker = cwd / f"{name}.marker"
        env = {k: v for k, v in os.environ.items() if k not in (PAUSE_ENV, MARKER_ENV)}
        if fault is not None:
            env.update({PAUSE_ENV: fault, MARKER_ENV: str(self.marker)})
        address = ray.get_runtime_context().gcs_address
        self.start = time.monotonic()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "raynn.cli", "tune", *args, "--address", address],
                                         cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def paused(self, timeout: float = 180) -> tuple[int, str]:
        """(pid, label) of the process paused at the fault, once it is there."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.marker.read_text() if self.marker.exists() else ""
            if text.endswith("\n"):
                pid, _, label = text.strip().partition(" ")
                return int(pid), label
            assert self.proc.poll() is None, f"driver ended before the fault: {self.output()}"
            assert time.monotonic() < deadline, f"the fault was never reached: {self.output()}"
            time.sleep(0.05)

    def wait(self, timeout: float = 300) -> float:
        """Wall-clock seconds the driver ran, after checking that it succeeded."""
        rc = self.proc.wait(timeout=timeout)
        assert rc == 0, self.output()
        return time.monotonic() - self.start

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def output(self) -> str:
        return self.log.read_text()[-4000:]


def _summary(exp: Path) -> dict[str, Any]:
    return json.loads((exp / "summary.json").read_text())


def _by_config(exp: Path) -> dict[tuple[float, ...], list[tuple[int, float]]]:
    """Each configuration's learning curve, keyed by its searched values (trial ids differ between runs)."""
    summary = _summary(exp)
    trials = {t["trial_id"]: t for t in _trials(exp)}
    return {tuple(round(float(trials[tid][k]), 12) for k in sorted(SPACE["space"])): [tuple(p) for p in curve]
            for tid, curve in summary["curves"].items()}


def _trials(exp: Path) -> list[dict[str, Any]]:
    import csv

    with open(exp / "results.csv") as f:
        return list(csv.DictReader(f))


def _wait_for_free_cpus(timeout: float = 90) -> None:
    import ray

    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU") != ray.cluster_resources().get("CPU"):
        assert time.monotonic() < deadline, (ray.available_resources(), ray.cluster_resources())
        time.sleep(0.2)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, _ray_teardown: None) -> Path:
    from raynn.api import ensure_ray

    ensure_ray(num_cpus=4)  # the shared session (the ray_session fixture is per test)
    path = tmp_path_factory.mktemp("faults")
    (path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    return path


@pytest.fixture(scope="module")
def reference(workdir: Path) -> Iterator[tuple[Path, float]]:
    """The uninterrupted experiment and its driver's wall-clock seconds."""
    driver = Driver(workdir, "reference", ["space.yaml", *ARGS, "--searcher", "random", "--name", "reference",
                                           "--storage", "out"])
    seconds = driver.wait()
    _wait_for_free_cpus()
    yield workdir / "out" / "reference", seconds


def test_a_killed_trial_actor_resumes_from_its_checkpoint(workdir: Path, reference: tuple[Path, float]) -> None:
    # The first trial to finish epoch 2 stops before reporting it (its checkpoints: epochs 1 and 3, the rungs);
    # its actor is killed there, so epoch 2 is lost and must be trained again from the epoch-1 checkpoint.
    driver = Driver(workdir, "actor", ["space.yaml", *ARGS, "--searcher", "random", "--name", "actor",
                                       "--storage", "out"], fault="epoch:2")
    pid, trial = driver.paused()
    assert pid != driver.proc.pid  # the trial's actor, not the driver
    os.kill(pid, signal.SIGKILL)
    seconds = driver.wait()
    exp, ref_exp = workdir / "out" / "actor", reference[0]

    # Same configurations, same rung decisions (who reached 3 epochs), same curves to the last digit.
    assert _by_config(exp) == _by_config(ref_exp)
    assert _summary(exp)["ledger"] == _summary(ref_exp)["ledger"]
    assert _summary(exp)["ledger"]["budget_spent"] == ONE_BAND_SPENT
    # Restarted once, from the epoch-1 checkpoint: its next result is epoch 2 (epoch 1 is not trained again).
    events = [e for e in read_events(exp / EVENTS_FILE) if e.get("trial_id") == trial]
    recovered = [i for i, e in enumerate(events) if e["event"] == "recover"]
    assert len(recovered) == 1, events
    assert events[recovered[0]] | {"time": 0, "wall_s": 0} == {
        "event": "recover", "time": 0, "wall_s": 0, "trial_id": trial, "epoch": 1, "from_epoch": 1, "failures": 1}
    after = [e["epoch"] for e in events[recovered[0]:] if e["event"] == "result"]
    assert after[0] == 2, events
    print(f"\nactor killed: trial {trial} restored from its epoch-1 checkpoint; epochs recomputed: 1; "
          f"wall {seconds:.1f} s vs uninterrupted {reference[1]:.1f} s")
    _wait_for_free_cpus()


def test_a_truncated_latest_checkpoint_falls_back_during_tune(workdir: Path,
                                                              reference: tuple[Path, float]) -> None:
    # Checkpoints every epoch; the first trial about to checkpoint epoch 3 stops there (epochs 1 and 2 are on
    # disk). Its latest checkpoint is truncated, then its actor killed: Tune restarts it from that checkpoint.
    driver = Driver(workdir, "corrupt", ["space.yaml", *ARGS, "--searcher", "random", "--name", "corrupt",
                                         "--storage", "out", "--checkpoint-every", "1"], fault="checkpoint:3")
    pid, trial = driver.paused()
    exp = workdir / "out" / "corrupt"
    checkpoints = sorted((exp / f"trial-{trial}").glob("checkpoint_*/checkpoint.pt"))
    assert len(checkpoints) == 2, checkpoints
    latest = checkpoints[-1]
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2])
    os.kill(pid, signal.SIGKILL)
    seconds = driver.wait()

    output = driver.log.read_text()
    assert "cannot resume from checkpoint" in output and str(latest) in output, output[-4000:]
    # It went on from epoch 1: epoch 2 is logged twice, with the same value; every curve, once per epoch,
    # equals the uninterrupted run's.
    curves = _by_config(exp)
    assert sorted(len(c) - len(dict(c)) for c in curves.values()) == [0, 0, 0, 0, 1], curves
    assert {k: sorted(set(c)) for k, c in curves.items()} == _by_config(reference[0])
    assert _summary(exp)["ledger"]["budget_spent"] == ONE_BAND_SPENT
    print(f"\ncheckpoint truncated: trial {trial} fell back to epoch 1; epochs recomputed: 2; "
          f"wall {seconds:.1f} s vs uninterrupted {reference[1]:.1f} s")
    _wait_for_free_cpus()


MOMENTS = ["result", "checkpoint", "snapshot", "rung-decision", "searcher-told"]  # in the order they come


def test_the_driver_killed_at_five_moments_resumes_each_time(workdir: Path, reference: tuple[Path, float]) -> None:
    # One experiment, its driver SIGKILLed five times, each time at the next moment, and resumed after each:
    # five separate experiments would cost ten drivers' start-ups instead of six.
    name = "driver"
    common = ["--name", name, "--storage", "out"]
    exp = workdir / "out" / name
    seconds = []
    for i, moment in enumerate(MOMENTS):
        args = ["space.yaml", *ARGS, "--searcher", "optuna-tpe"] if i == 0 else ["--resume"]
        driver = Driver(workdir, f"{name}-{moment}", [*args, *common], fault=moment)
        pid, label = driver.paused()
        # The driver's own moments stop the driver; "checkpoint" stops a trial's actor, and the driver dies.
        assert (pid == driver.proc.pid) == (moment != "checkpoint"), (moment, pid, label)
        driver.kill()
        seconds.append(time.monotonic() - driver.start)
        assert not (exp / "summary.json").exists()
        _wait_for_free_cpus()  # the killed driver's actors die with it
    resumed = Driver(workdir, f"{name}-end", ["--resume", *common])
    seconds.append(resumed.wait())

    summary = _summary(exp)
    # The same band, resumed from checkpoints: at each kill at most the epoch in flight is trained again, from
    # the checkpoint in Tune's last snapshot (a trial killed in its first epoch, or before Tune took in its
    # epoch-1 checkpoint, trains epoch 1 again).
    curves = check_resumed_band(summary, replays=len(MOMENTS))
    recomputed = sum(len(epochs) - max(epochs) for epochs in curves.values())
    assert recomputed <= 2 * len(MOMENTS)  # 2 trials at once: at most 2 epochs in flight per kill
    assert summary["ledger"] == _summary(reference[0])["ledger"]
    print(f"\ndriver killed at {', '.join(MOMENTS)}: epochs logged twice {recomputed}; drivers ran "
          f"{' + '.join(f'{s:.0f}' for s in seconds)} = {sum(seconds):.0f} s vs uninterrupted {reference[1]:.1f} s")
    _wait_for_free_cpus()


def test_a_killed_ray_train_worker_of_a_tune_trial_restarts_its_group(workdir: Path) -> None:
    # One 2-worker data-parallel trial (its checkpoints: every epoch, by rank 0). The first worker to finish
    # epoch 2 stops before reporting it and is killed: Ray Train restarts the worker group from the epoch-1
    # checkpoint (train.max_failures, 3 by default) and the trial goes on to its last epoch.
    driver = Driver(workdir, "dp", ["space.yaml", "--scheduler", "fifo", "--searcher", "random", "--num-samples",
                                    "1", "--workers-per-trial", "2", "--max-concurrent", "1", "--seed", "3",
                                    "--name", "dp", "--storage", "out"], fault="epoch:2")
    pid, _ = driver.paused(timeout=300)
    assert pid != driver.proc.pid
    exp = workdir / "out" / "dp"
    # Ray Train registers a reported checkpoint when its controller next polls the workers (every 0.5 s here);
    # a worker killed before that restarts the group from the checkpoint before. Epochs take milliseconds on
    # digits, so the kill waits for the epoch-1 checkpoint's registration, as a real failure minutes later would.
    deadline = time.monotonic() + 60
    while sum(registered_checkpoints(run) for run in exp.glob("train-runs/*")) < 1:
        assert time.monotonic() < deadline, "the epoch-1 checkpoint was never registered"
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    seconds = driver.wait()
    summary = _summary(exp)
    (trial, curve), = summary["curves"].items()
    assert [epoch for epoch, _ in curve] == [1, 2, 3], curve
    assert summary["ledger"]["budget_spent"] == 3
    assert [t["status"] for t in _trials(exp)] == ["TERMINATED"]
    # The restarted group resumed from the epoch-1 checkpoint (its results count one resume), not from scratch.
    rows = [json.loads(line) for line in (exp / f"trial-{trial}" / "result.json").read_text().splitlines()]
    assert [(r["epoch"], r["resumes"]) for r in rows] == [(1, 0), (2, 1), (3, 1)], rows
    print(f"\nRay Train worker killed: trial {trial} restarted its worker group, epochs recomputed: 1; "
          f"wall {seconds:.1f} s")
    _wait_for_free_cpus()
