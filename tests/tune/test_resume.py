"""``raynn tune --resume`` after the driver process was killed (SIGKILL) mid-experiment, through the CLI.

The driver connects to the suite's shared Ray session (``--address``), so killing it leaves the cluster up, as
on a real cluster when the machine that submitted the search dies. The resumed run must continue the same
HyperBand brackets and budget ledger: every configuration of the band trained to the rung HyperBand gives it,
no trial retrained from scratch, the budget spent exactly what the plan allows.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from raynn_testing.checks import ONE_BAND_SPENT, check_resumed_band

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


@pytest.mark.ray
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
    # At most the epoch in flight when the driver died is trained twice (Tune's snapshot may be a result
    # behind the trial).
    curves = check_resumed_band(summary, replays=1)
    ledger = summary["ledger"]
    assert ledger["budget_spent"] == ONE_BAND_SPENT <= ledger["budget"]
    assert summary["best_trial"] in curves and max(curves[summary["best_trial"]]) == 3
    _wait_for_free_cpus(60)


def _experiment(tmp_path: Path) -> Path:
    """A stand-in experiment directory with readable settings and Tune state files."""
    exp = tmp_path / "out" / "exp"
    exp.mkdir(parents=True)
    settings = {"space": SPACE, "scheduler": "hyperband", "searcher": "random", "budget": None, "num_samples": 5,
                "workers_per_trial": 1, "gpus_per_worker": 0, "max_concurrent": 2, "metric": "val_loss",
                "mode": "min", "eta": 3, "seed": 0}
    (exp / "raynn_tune.json").write_text(json.dumps(settings))
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": []}')
    (exp / "tuner.pkl").write_bytes(pickle.dumps({"ok": 1}))
    return exp


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--resume", "--name", "missing"], "--resume: must name the directory of an experiment started by raynn tune"),
        (["--resume", "--name", "exp", "--eta", "4"], "--eta: is not taken with --resume"),
        (["space.yaml", "--name", "exp"], "--name: names an experiment that exists; continue it with --resume"),
    ],
)
def test_resume_input_is_checked_before_anything_starts(tmp_path: Path, args: list[str], needle: str) -> None:
    exp = _experiment(tmp_path)
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    before = sorted(p.name for p in exp.iterdir())
    proc = subprocess.run([sys.executable, "-m", "raynn.cli", "tune", *args, "--storage", "out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert sorted(p.name for p in exp.iterdir()) == before  # nothing written


@pytest.mark.parametrize("name", ["callback-states-2026-01-01_00-00-00.pkl",
                                  "search_gen_state-2026-01-01_00-00-00.json",
                                  "experiment_state-2026-01-01_00-00-01.json"])
def test_resume_names_a_truncated_tune_state_file(tmp_path: Path, name: str) -> None:
    from raynn.errors import ConfigError
    from raynn.tune.run import run_tune

    exp = _experiment(tmp_path)
    (exp / name).write_bytes(b"")  # what a kill during Tune's copy leaves
    with pytest.raises(ConfigError, match=f"--resume: Tune's state file is unreadable.*{name}"):
        run_tune(None, resume=True, name="exp", storage=tmp_path / "out")


@pytest.mark.ray
def test_an_experiment_in_a_bucket_resumes_from_a_fresh_machine_with_only_the_uri(
        ray_session: None, s3: Any, tmp_path: Path) -> None:
    """The driver of a search on S3 storage is killed; another driver, in a fresh working directory and with
    no working copy of the first's (a new head node), continues it with only ``--name`` and the URI; then
    ``raynn report`` and ``load_model`` read the experiment from the bucket. Nothing is written locally."""
    import shutil

    import ray

    from raynn import storage
    from raynn.cli import main
    from raynn.training.checkpoint import load_model

    first, fresh = tmp_path / "first", tmp_path / "fresh"
    first.mkdir()
    fresh.mkdir()
    (first / "space.yaml").write_text(yaml.safe_dump(SPACE))
    uri, name = s3.uri("exps"), "in-bucket"
    args = ["--name", name, "--storage", uri, "--address", ray.get_runtime_context().gcs_address]
    prefix = f"exps/{name}/"

    def uploaded() -> bool:  # a snapshot went up with raynn's files, and a trial has a checkpoint there
        keys = s3.keys(prefix)
        return (f"{prefix}optuna.db" in keys and any(k.startswith(f"{prefix}experiment_state-") for k in keys)
                and any("/checkpoint_" in k for k in keys))

    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}  # a snapshot every second: one lands before the kill
    with open(tmp_path / "first.log", "w") as log:
        driver = _raynn("tune", "space.yaml", "--scheduler", "hyperband", "--searcher", "optuna-tpe",
                        "--max-concurrent", "2", "--seed", "3", *args, cwd=first, stdout=log, stderr=log, env=env)
        try:
            deadline = time.monotonic() + 120
            while not uploaded():
                assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "nothing reached the bucket"
                time.sleep(0.1)
        finally:
            os.kill(driver.pid, signal.SIGKILL)
            driver.wait()
    assert f"{prefix}summary.json" not in s3.keys(prefix)  # it really was killed mid-run
    _wait_for_free_cpus(60)
    shutil.rmtree(storage.work_dir(storage.join(uri, name)))  # the new head has no working copy

    with open(tmp_path / "second.log", "w") as log:
        resumed = _raynn("tune", "--resume", *args, cwd=fresh, stdout=log, stderr=log)
        assert resumed.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]

    keys = s3.keys(prefix)
    for file in ("summary.json", "results.csv", "events.jsonl", "optuna.db", "raynn_tune.json", "curves.png"):
        assert prefix + file in keys, keys
    assert any(k.startswith(f"{prefix}tensorboard/") for k in keys) and any("/.raynn-last-state/" in k for k in keys)
    summary = json.loads(storage.read_text(storage.join(uri, name, "summary.json")))
    check_resumed_band(summary, replays=2)
    # Every trial wrote to the bucket only: nothing under either working directory but what the test put there.
    assert sorted(p.name for p in first.iterdir()) == ["space.yaml"] and list(fresh.iterdir()) == []

    assert main(["report", storage.join(uri, name)]) == 0
    assert f"{prefix}report.html" in s3.keys(prefix)
    assert summary["best_checkpoint"].startswith("s3://bucket/exps/in-bucket/trial-")
    assert load_model(summary["best_checkpoint"]).predict(torch.zeros(3, 1, 8, 8)).shape == (3,)
    _wait_for_free_cpus(60)


def test_a_cut_state_file_in_a_bucket_is_replaced_by_the_guards_copy_there(s3: Any, tmp_path: Path) -> None:
    """``--resume`` of an experiment at a URI checks Tune's newest state files there, as for a directory, and
    puts the guard's last whole copy back in the bucket (a cut-short newer file set aside)."""
    from raynn import storage
    from raynn.tune.run import _resume_settings

    exp = _experiment(tmp_path)
    (exp / ".raynn-last-state").mkdir()
    (exp / ".raynn-last-state" / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": [1]}')
    (exp / "experiment_state-2026-01-01_00-00-09.json").write_text('{"trial_d')  # cut short
    uri = s3.uri("cut")
    storage.upload_dir(exp, storage.join(uri, "exp"))
    settings = _resume_settings(uri, "exp")
    assert settings["scheduler"] == "hyperband"
    names = set(storage.listdir(storage.join(uri, "exp")))
    assert "experiment_state-2026-01-01_00-00-09.json" not in names
    assert "experiment_state-2026-01-01_00-00-09.json.unreadable" in names
    assert json.loads(storage.read_text(storage.join(uri, "exp", "experiment_state-2026-01-01_00-00-00.json"))) == \
        {"trial_data": [1]}
