"""Your own model and data on Ray: torchvision's resnet18 and ImageFolder on 2 Ray Train workers, and a user
package that lives outside the repository and the working directory, trained and tuned by the real command.

Real parts throughout: torchvision's models and data sets, a DataLoader with worker processes, Ray Train's
worker group on the shared Ray session, ``raynn`` run as a separate process (its own Ray job on that session,
shipping the package with ``--py-module``), ``load_model`` in a fresh interpreter.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from raynn_testing import write_image_folder

import raynn
from raynn.training.checkpoint import CheckpointError, load_checkpoint, load_model

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FAKE = {"class_path": "torchvision.datasets.FakeData", "num_classes": 10,
        "init_args": {"size": 40, "image_size": [3, 32, 32], "num_classes": 10}}
LOGITS = """
import sys, torch
from raynn.training.checkpoint import load_model
x = torch.load(sys.argv[2])
torch.save(load_model(sys.argv[1]).logits(x), sys.argv[3])
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}


def _fresh_logits(checkpoint: str, x: torch.Tensor, tmp: Path, cwd: Path) -> torch.Tensor:
    torch.save(x, tmp / "x.pt")
    proc = subprocess.run([sys.executable, "-c", LOGITS, checkpoint, str(tmp / "x.pt"), str(tmp / "y.pt")],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(tmp / "y.pt")


def test_resnet18_trains_in_process_and_on_two_workers_and_loads_in_a_fresh_process(
        ray_session: None, tmp_path: Path) -> None:
    import torchvision

    base = {"model": {"class_path": torchvision.models.resnet18}, "data": FAKE, "storage": str(tmp_path / "runs"),
            "train": {"epochs": 1, "batch_size": 8, "num_threads": 1}}
    local = raynn.train({**base, "name": "resnet-local"})
    ddp = raynn.train({**base, "name": "resnet-ddp", "train": {**base["train"], "workers": 2}})
    # 32 training images: 4 steps of 8 in one process; each of 2 workers reads its 16 in 2 steps of 8.
    assert (local.metrics["step"], local.metrics["global_batch"]) == (4, 8)
    assert (ddp.metrics["step"], ddp.metrics["global_batch"]) == (2, 16)
    x = torch.rand(3, 3, 32, 32)
    for result in (local, ddp):
        assert math.isfinite(result.metrics["val_loss"])
        state = load_checkpoint(result.checkpoint)
        assert state["config"]["model"]["class_path"] == "torchvision.models.resnet.resnet18"  # an object given
        reference = torchvision.models.resnet18(num_classes=10)
        reference.load_state_dict(state["model"])
        reference.eval()
        with torch.no_grad():
            expected = reference(x)
        assert torch.equal(_fresh_logits(result.checkpoint, x, tmp_path, cwd=tmp_path), expected)


def test_an_image_folder_trains_on_two_workers_with_loader_processes(ray_session: None, tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    result = raynn.train({
        "name": "folder-ddp", "storage": str(tmp_path / "runs"),
        "model": {"name": "cnn", "params": {"channels": [8]}},
        "data": {"class_path": "torchvision.datasets.ImageFolder", "init_args": {"root": str(root)},
                 "num_workers": 2, "persistent_workers": True},
        "train": {"epochs": 2, "batch_size": 8, "workers": 2, "num_threads": 1}})
    # 29 training images sharded by a DistributedSampler: 15 per worker, 2 steps of 8 per epoch (4 unsharded).
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert (result.metrics["step"], result.metrics["global_batch"]) == (4, 16)
    assert math.isfinite(result.metrics["val_loss"])
    assert load_model(result.checkpoint).logits(torch.rand(2, 3, 8, 8)).shape == (2, 3)


SPACE: dict[str, Any] = {
    "base": {"model": {"class_path": "shapes.nets.ShapeNet", "init_args": {"depth": 1}},
             "data": {"class_path": "shapes.data.Shapes", "init_args": {"size": 150, "side": 16}},
             "train": {"epochs": 3, "batch_size": 32, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
              "model.init_args.width": {"type": "int", "low": 2, "high": 8}},
}


def test_a_user_package_outside_the_repository_trains_and_tunes_with_the_real_command(
        ray_session: None, tmp_path: Path) -> None:
    import ray

    project = tmp_path / "elsewhere" / "proj"
    shutil.copytree(ROOT / "examples" / "custom", project)  # the example project, moved out of the repository
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run = [sys.executable, "-m", "raynn.cli"]

    # In-process: the example's run.yaml names its own folder as code.working_dir, so `shapes` imports.
    train = subprocess.run([*run, "train", str(project / "run.yaml"), "--set", "train.epochs=1",
                            "--set", "data.init_args.size=150", "--set", "data.init_args.side=16",
                            "--storage", "runs", "--name", "shapes"],
                           cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-3000:]
    assert (cwd / "runs" / "shapes" / "checkpoint_000001").is_dir()

    # Tuned with HyperBand in 2 slots: a Ray job of its own on the shared session ships the package.
    (cwd / "space.yaml").write_text(yaml.safe_dump(SPACE))
    tune = subprocess.run([*run, "tune", "space.yaml", "--py-module", str(project / "shapes"),
                           "--scheduler", "hyperband", "--max-concurrent", "2", "--searcher", "random",
                           "--address", ray.get_runtime_context().gcs_address, "--storage", "exps", "--name", "t"],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    assert tune.returncode == 0, (tune.stdout[-3000:], tune.stderr[-3000:])
    summary = json.loads((cwd / "exps" / "t" / "summary.json").read_text())
    best = summary["best_checkpoint"]
    assert best and summary["best_params"]["model.init_args.width"] in range(2, 9)
    saved = json.loads((cwd / "exps" / "t" / "raynn_tune.json").read_text())
    assert saved["code"]["py_modules"] == [str(project / "shapes")] and saved["code_digest"]
    report = subprocess.run([*run, "report", "exps/t"], cwd=cwd, env=_env(), capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0 and (cwd / "exps" / "t" / "report.html").is_file(), report.stderr[-2000:]

    # The best checkpoint records where the package was: a fresh process with nothing on its path loads it...
    x = torch.rand(2, 3, 16, 16)
    assert _fresh_logits(best, x, tmp_path, cwd=cwd).shape == (2, 3)
    # ... and once the package is gone, says in one line which module it cannot import.
    shutil.move(project, tmp_path / "gone")
    proc = subprocess.run([sys.executable, "-c", LOGITS, best, str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "names model.class_path shapes.nets.ShapeNet, which this process cannot import" in proc.stderr
    assert "No module named 'shapes'" in proc.stderr
    with pytest.raises(CheckpointError, match="cannot import"):
        load_model(best)
