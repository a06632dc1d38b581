"""Data-parallel training on a real local Ray instance (one session shared by every Ray test)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from raynn.api import TrainResult, train
from raynn_testing.checks import registered_checkpoints

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _cfg(storage: str, name: str, epochs: int) -> dict[str, Any]:
    return {
        "name": name, "storage": storage,
        "data": {"name": "digits"},
        "model": {"name": "mlp", "params": {"hidden": [128]}},
        "optimizer": {"name": "momentum", "lr": 0.05},
        "schedule": {"name": "cosine"},
        "scaling": {"reference_batch": 64},
        "train": {"epochs": epochs, "batch_size": 64, "workers": 2, "num_threads": 1},
    }


def test_two_workers_reach_95_percent_on_digits_with_linear_scaling(ray_session: None, s3: Any,
                                                                    capfd: Any) -> None:
    # Stored in the loopback S3 bucket, as on a cloud cluster: Ray Train's checkpoints are objects there.
    result = train(_cfg(s3.uri("dp-runs"), "dp-digits", epochs=12))
    assert result.metrics["val_accuracy"] >= 0.95
    assert [h["epoch"] for h in result.history] == list(range(1, 13))
    assert result.metrics["global_batch"] == 128
    out = capfd.readouterr()
    # the run says what the linear scaling rule chose: lr 0.05 x 128/64 with 1.2 warmup epochs (a tenth of 12)
    assert "global batch 128 = 64 x 2 worker(s); lr 0.1 = 0.05 x 2" in out.out + out.err
    assert result.checkpoint is not None and result.checkpoint.startswith("s3://bucket/dp-runs/dp-digits/checkpoint_")
    assert result.run_dir == s3.uri("dp-runs/dp-digits")
    key = result.checkpoint.split("?")[0][len("s3://bucket/"):] + "/checkpoint.pt"
    assert key in s3.keys("dp-runs/")
    from raynn.training.checkpoint import load_model

    assert load_model(result.checkpoint).predict(torch.zeros(2, 1, 8, 8)).shape == (2,)


def test_a_killed_worker_is_restarted_and_the_run_resumes_from_its_checkpoint(ray_session: None,
                                                                              storage: str) -> None:
    import ray
    from ray.util.state import list_actors

    epochs = 30
    box: dict[str, TrainResult | BaseException] = {}

    def run() -> None:
        try:
            box["result"] = train(_cfg(storage, "dp-fault", epochs=epochs))
        except BaseException as exc:  # surfaced by the assertion below
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    run_dir = Path(storage) / "dp-fault"
    deadline = time.monotonic() + 120
    while registered_checkpoints(run_dir) < 2 and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.2)
    assert registered_checkpoints(run_dir) >= 2, "no checkpoint was registered in time"
    # This session's cluster by address: with no address the state API refuses when other Ray instances run
    # on the machine ("Found multiple active Ray instances"), as on a shared CI host.
    workers = list_actors(address=ray.get_runtime_context().gcs_address,
                          filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
    assert len(workers) == 2
    registered_at_kill = registered_checkpoints(run_dir)
    os.kill(workers[1].pid, signal.SIGKILL)  # a real process, killed by PID
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert isinstance(result, TrainResult)
    history = result.history
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))
    restarted = [h for h in history if h["resumes"] >= 1]
    assert restarted, "the run never restarted"
    first_resumed_epoch = restarted[0]["epoch"]
    # It resumed from a checkpoint at least as new as the ones registered before the kill, not from scratch.
    assert first_resumed_epoch - 1 >= registered_at_kill
    assert result.metrics["val_accuracy"] >= 0.9
