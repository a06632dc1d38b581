"""Trials and Ray Train workers given GPUs each train on their own: on the shared session, which declares 4
logical GPUs on this CPU machine, with ``train.device: cpu`` (no CUDA here); without it, one line names the node.

Real Ray Tune and Ray Train: ``raynn tune`` runs as its own driver process on the session (``--address``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import raynn
from raynn.errors import ConfigError

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits", "subset": 300}, "model": {"name": "mlp", "params": {"hidden": [16]}},
             "train": {"epochs": 1, "batch_size": 32, "num_threads": 1, "device": "cpu"}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True}},
}


def _tune(tmp_path: Path, space: dict[str, Any], name: str, *args: str) -> subprocess.CompletedProcess[str]:
    import ray

    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(space))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, "-m", "raynn.cli", "tune", f"{name}.yaml", "--scheduler", "fifo",
                           "--searcher", "random", "--gpus-per-worker", "1", "--address",
                           ray.get_runtime_context().gcs_address, "--storage", "exps", "--name", name, *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def _rows(exp: Path) -> dict[str, list[dict[str, Any]]]:
    return {p.parent.name: [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
            for p in exp.glob("trial-*/result.json")}


def test_four_trials_each_get_their_own_gpu(ray_session: None, tmp_path: Path) -> None:
    proc = _tune(tmp_path, SPACE, "four", "--num-samples", "4", "--max-concurrent", "4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _rows(tmp_path / "exps" / "four")
    assert len(rows) == 4 and all([r["epoch"] for r in trial] == [1] for trial in rows.values()), rows
    ids = [trial[0]["gpu_ids"] for trial in rows.values()]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 4, ids  # 4 different GPUs


def test_a_two_worker_trial_puts_its_workers_on_different_gpus(ray_session: None, tmp_path: Path) -> None:
    proc = _tune(tmp_path, SPACE, "ddp", "--num-samples", "1", "--workers-per-trial", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (trial,) = _rows(tmp_path / "exps" / "ddp").values()
    assert trial, (proc.stdout[-3000:], proc.stderr[-3000:])
    workers = trial[-1]["worker_gpu_ids"]
    assert [r["epoch"] for r in trial] == [1] and len(workers) == 2, trial
    assert all(len(w) == 1 for w in workers) and workers[0] != workers[1], workers


def test_without_device_cpu_a_gpu_node_without_cuda_is_one_line(ray_session: None, tmp_path: Path) -> None:
    space = {**SPACE, "base": {**SPACE["base"], "train": {**SPACE["base"]["train"], "device": "auto"}}}
    proc = _tune(tmp_path, space, "nocuda", "--num-samples", "1")
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("raynn: error:")]
    assert len(errors) == 1 and errors[0].startswith("raynn: error: train.device: node "), proc.stderr[-3000:]
    assert "finds no CUDA device" in errors[0] and "train.device: cpu" in errors[0]
    assert not list((tmp_path / "exps" / "nocuda").glob("trial-*"))  # no trial started
    with pytest.raises(ConfigError, match="finds no CUDA device"):  # raynn.train on Ray Train says the same
        raynn.train({"data": {"subset": 100}, "train": {"epochs": 1, "workers": 2, "gpus_per_worker": 1},
                     "storage": str(tmp_path / "runs")})
