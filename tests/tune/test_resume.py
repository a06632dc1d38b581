"""``raynn tune --resume`` after the driver process was killed (SIGKILL) mid-experiment, through the CLI.

The driver connects to the suite's shared Ray session (``--address``), so killing it leaves the cluster up, as
on a real cluster when the machine that submitted the search dies. The resumed run must continue the same
HyperBand brackets and budget ledger: every configuration of the band trained to the rung HyperBand gives it,
no trial retrained from scratch, the budget spent exactly what the plan allows.
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
import yaml

pytestmark = pytest.mark.ray

SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [32]}},
             "train": {"epochs": 3, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
              "model.dropout": {"type": "float", "low": 0.0, "high": 0.3}},
}


def _raynn(*args: str, cwd: Path, **kwargs: Any) -> Any:
    return subprocess.Popen([sys.executable, "-m", "raynn.cli", *args], cwd=cwd, **kwargs)


def _paused(events: Path) -> int:
    """Trials paused at a rung so far, from the driver's event log."""
    try:
        lines = events.read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum('"status": "PAUSED"' in line for line in lines)


def _wait_for_free_cpus(timeout: float) -> None:
    import ray

    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU") != ray.cluster_resources().get("CPU"):
        assert time.monotonic() < deadline, (ray.available_resources(), ray.cluster_resources())
        time.sleep(0.2)


def test_resume_after_the_driver_is_killed_continues_the_brackets(ray_session: None, tmp_path: Path) -> None:
    import ray

    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    address = ray.get_runtime_context().gcs_address
    experiment = tmp_path / "out" / "killed"
    args = ["--name", "killed", "--storage", "out", "--address", address]
    with open(tmp_path / "first.log", "w") as log:
        driver = _raynn("tune", "space.yaml", "--scheduler", "hyperband", "--searcher", "optuna-gp",
                        "--max-concurrent", "2", "--seed", "3", *args, cwd=tmp_path, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while _paused(experiment / "events.jsonl") < 1:  # bracket s=1's first rung is being decided
                assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the driver never reached a rung"
                time.sleep(0.05)
        finally:
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()
    assert not (experiment / "summary.json").exists()  # it really was killed mid-run
    _wait_for_free_cpus(60)  # the killed driver's trial actors die with it

    # Only --name and --storage: the settings come from the experiment (raynn_tune.json).
    with open(tmp_path / "second.log", "w") as log:
        resumed = _raynn("tune", "--resume", *args, cwd=tmp_path, stdout=log, stderr=log)
        assert resumed.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]

    summary = json.loads((experiment / "summary.json").read_text())
    curves = {trial: [epoch for epoch, _ in curve] for trial, curve in summary["curves"].items()}
    # HyperBand R=3, eta=3, one band: bracket s=1 (3 configs at 1 epoch, the best to 3), s=0 (2 configs at 3).
    assert sorted(max(epochs) for epochs in curves.values()) == [1, 1, 3, 3, 3], curves
    for trial, epochs in curves.items():
        # Resumed from checkpoints, never from scratch: every epoch is there, at most the one in flight when
        # the driver died is trained twice (Tune's snapshot may be a result behind the trial).
        assert set(epochs) == set(range(1, max(epochs) + 1)), (trial, epochs)
        assert len(epochs) - max(epochs) <= 1, (trial, epochs)
    ledger = summary["ledger"]
    assert ledger["budget_spent"] == 1 + 1 + 3 + 3 + 3 <= ledger["budget"]
    assert summary["best_trial"] in curves and max(curves[summary["best_trial"]]) == 3
    _wait_for_free_cpus(60)
