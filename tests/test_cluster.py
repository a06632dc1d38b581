"""The fit check against a real Ray instance of exactly 2 CPUs (the suite's shared session has 4, so it cannot
see this): a trial or run that can never be placed exits 2 with the arithmetic and starts nothing, and
``--workers-per-trial 2`` on 2 CPUs finishes a search. Each case runs in a subprocess with its own Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DRIVER = Path(__file__).with_name("_two_cpu_driver.py")
SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [16]}},
             "train": {"epochs": 2, "batch_size": 128, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.5, "log": True}},
}

pytestmark = [pytest.mark.ray]


@pytest.fixture(autouse=True)
def _one_ray_instance() -> None:
    """One Ray instance at a time: the suite's shared session is stopped (conftest's ``ray_session`` starts it
    again when asked). With two instances on one machine, Ray Train's PlacementGroupCleaner cannot find its
    cluster and a paused trial's workers would keep their CPUs (see the README)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _drive(commands: list[list[str]], cwd: Path, timeout: float) -> tuple[list[tuple[int, float]], str]:
    """Run ``commands`` on a 2-CPU Ray in one subprocess: [(exit status, seconds)] and the whole stderr."""
    proc = subprocess.run([sys.executable, str(DRIVER), json.dumps(commands)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = [(int(rc), float(s)) for _, rc, s in (line.split() for line in proc.stdout.splitlines()
                                                  if line.startswith("RC "))]
    return codes, proc.stderr


def _space(tmp_path: Path) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return str(path)


def test_a_request_that_never_fits_exits_2_with_the_arithmetic(tmp_path: Path) -> None:
    space = _space(tmp_path)
    tune = ["tune", space, "--scheduler", "asha", "--searcher", "random", "--num-samples", "2", "--storage", "out"]
    codes, stderr = _drive([
        [*tune, "--workers-per-trial", "3", "--name", "three"],
        [*tune, "--gpus-per-worker", "1", "--name", "gpu"],
        ["train", "--workers", "3", "--storage", "runs", "--set", "train.epochs=1"],
    ], tmp_path, timeout=240)
    assert [rc for rc, _ in codes] == [2, 2, 2], stderr[-3000:]
    # Refused at once: the check reads the GCS, nothing waits for a placement (Ray's start is outside these).
    assert all(seconds < 30 for _, seconds in codes), codes
    errors = [line for line in stderr.splitlines() if line.startswith("raynn: error:")]
    assert errors == [
        "raynn: error: --workers-per-trial: --workers-per-trial 3 x 1 CPU = 3 CPUs, but the most this cluster can "
        "ever hold is 2 such workers (1 node of 2 CPUs); use --workers-per-trial 2 or fewer, or add nodes, got 3",
        "raynn: error: --workers-per-trial: --workers-per-trial 1 x (1 CPU + 1 GPU) = 1 CPU + 1 GPU, but no node of "
        "this cluster has 1 GPU (1 node of 2 CPUs); set --gpus-per-worker 0 or add nodes with GPUs, got 1",
        "raynn: error: train.workers: train.workers 3 x 1 CPU = 3 CPUs, but the most this cluster can ever hold is "
        "2 such workers (1 node of 2 CPUs); use train.workers 2 or fewer, or add nodes, got 3",
    ], stderr[-3000:]
    # Nothing started: no experiment settings, no trial, no Ray Train run directory.
    for name in ("three", "gpu"):
        assert not (tmp_path / "out" / name / "raynn_tune.json").exists()
        assert not list((tmp_path / "out").glob(f"{name}/trial-*"))
    assert not (tmp_path / "runs").exists()
    assert "worker group" not in stderr.lower()


@pytest.mark.slow
def test_two_workers_per_trial_run_on_two_cpus(tmp_path: Path) -> None:
    """The issue's case: each 2-worker trial needs the machine's 2 CPUs and its driver reserves none of them.
    HyperBand (R = 2, eta = 2: one bracket of 2 configurations at 1 epoch, the better one to 2) pauses both at
    rung 1, stops one and resumes the other: neither could start unless the trial before released every
    resource it held, paused or stopped."""
    codes, stderr = _drive([["tune", _space(tmp_path), "--scheduler", "hyperband", "--eta", "2",
                             "--searcher", "random", "--num-samples", "2", "--workers-per-trial", "2",
                             "--storage", "out", "--name", "fits", "--pending-timeout", "120"]], tmp_path, timeout=600)
    assert [rc for rc, _ in codes] == [0], stderr[-3000:]
    exp = tmp_path / "out" / "fits"
    curves = json.loads((exp / "summary.json").read_text())["curves"].values()
    assert sorted(max(e for e, _ in c) for c in curves) == [1, 2]
    assert all([e for e, _ in c] == list(range(1, len(c) + 1)) for c in curves)  # resumed, never restarted
    assert "timed out" not in stderr
    assert len(list((exp / "train-runs").iterdir())) == 2  # each trial ran its own Ray Train group
    # Ray Train's controller keeps its INFO lines (state transitions, worker placement) off the console, and
    # what it prints (Ray's deprecation warnings, Ray core's notes on its helper actors) goes to ray.log.
    assert "[State Transition]" not in stderr and "Started training worker group" not in stderr
    assert "TrainController" not in stderr and "TrainController pid=" in (exp / "ray.log").read_text()


@pytest.mark.slow
def test_a_trial_whose_workers_wait_past_the_timeout_is_reported_once(tmp_path: Path) -> None:
    """Two 2-worker trials at once on 2 CPUs: the second's worker group waits for the first's CPUs, past a 5 s
    pending timeout, and fails once with Ray Train's reason (its controller retries nothing: retrying, it would
    wait again and again, and the search would not end), while the first trial finishes."""
    codes, stderr = _drive([["tune", _space(tmp_path), "--scheduler", "fifo", "--searcher", "random",
                             "--num-samples", "2", "--workers-per-trial", "2", "--max-concurrent", "2",
                             "--storage", "out", "--name", "waits", "--pending-timeout", "5"]], tmp_path, timeout=600)
    assert codes and codes[0][0] == 0, stderr[-3000:]  # the search ends; the other trial finished
    reports = [line for line in stderr.splitlines() if line.startswith("raynn tune: trial ")]
    assert len(reports) == 1, stderr[-5000:]
    assert ("failed: The worker group startup timed out after 5.0 seconds waiting for 2 workers (cluster: "
            in reports[0]), reports
