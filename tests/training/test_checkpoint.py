"""Checkpoints as the run reads them: a pickled payload is refused, never run; a damaged latest checkpoint
costs the epochs since the one before it, with a warning naming the file. No Ray: the loop in this process."""

from __future__ import annotations

import ast
import builtins
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import raynn
from raynn.errors import ConfigError
from raynn.nn.init import load_pretrained_
from raynn.training.checkpoint import CHECKPOINT_FILE, CheckpointError, checkpoint_candidates, load_checkpoint
from raynn.training.local import checkpoint_dirs

ROOT = Path(__file__).resolve().parents[2]
FAST: dict[str, Any] = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "params": {"hidden": [32]}},
    "optimizer": {"name": "momentum", "lr": 0.05},
    "train": {"epochs": 3, "batch_size": 64, "num_threads": 1},
}


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears if and only if the pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.open, (self.marker, "w"))


def _malicious(path: Path, marker: Path, like: dict[str, Any] | None = None) -> Path:
    """A file ``torch.save`` wrote, shaped like a raynn checkpoint (or ``like``), with a payload inside."""
    state = dict(like or {"epoch": 1, "model": {"w": torch.zeros(2)}})
    state["payload"] = _Payload(marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def test_the_payload_is_real_it_runs_when_loaded_without_weights_only(tmp_path: Path) -> None:
    """The control: the same kind of file, loaded the unsafe way, creates its marker."""
    marker = tmp_path / "ran"
    path = _malicious(tmp_path / "evil.pt", marker)
    loaded = torch.load(path, weights_only=False)  # runs open(marker, "w")
    loaded["payload"].close()
    assert marker.exists()


def test_load_checkpoint_refuses_a_payload_and_names_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _malicious(tmp_path / "ckpt" / CHECKPOINT_FILE, marker)
    with pytest.raises(CheckpointError, match="refused: it holds Python objects") as info:
        load_checkpoint(path.parent)
    assert str(path) in str(info.value) and "open" in str(info.value)
    with pytest.raises(CheckpointError, match="refused"):
        load_pretrained_(torch.nn.Linear(2, 2), path)
    assert not marker.exists()


@pytest.mark.parametrize("key", ["model.init.path", "targets.distillation.teacher"])
def test_a_pretrained_model_or_teacher_with_a_payload_is_a_config_error_before_anything_starts(
        tmp_path: Path, key: str) -> None:
    marker = tmp_path / "ran"
    evil = _malicious(tmp_path / "evil.pt", marker)
    cfg: dict[str, Any] = {**FAST, "storage": str(tmp_path / "runs"), "name": "x"}
    if key == "model.init.path":
        cfg["model"] = {**FAST["model"], "init": {"name": "pretrained", "path": str(evil)}}
    else:
        cfg["targets"] = {"distillation": {"teacher": str(evil)}}
    with pytest.raises(ConfigError) as info:
        raynn.train(cfg)
    message = str(info.value)
    assert message.startswith(f"{key}: must be a checkpoint raynn can load: it is refused"), message
    assert str(evil) in message
    assert not marker.exists() and not (tmp_path / "runs").exists()


def test_every_torch_load_in_raynn_is_weights_only() -> None:
    calls = []
    for path in (ROOT / "raynn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                weights_only = [k.value for k in node.keywords if k.arg == "weights_only"]
                calls.append((path.name, node.lineno, weights_only))
    assert calls  # the scan finds the loader
    for name, line, weights_only in calls:
        assert len(weights_only) == 1 and isinstance(weights_only[0], ast.Constant), (name, line)
        assert weights_only[0].value is True, (name, line)
    # Plain unpickling only of Tune's own state files, which Tune unpickles itself on --resume (the storage
    # guard checks they are whole first): an experiment directory is trusted as Ray Tune trusts it.
    unpickles = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "raynn").rglob("*.py")
                       if "pickle.load" in p.read_text())
    assert unpickles == ["raynn/tune/guard.py"]


# ---- a damaged latest checkpoint ---------------------------------------------------------------------------


def test_checkpoint_candidates_are_newest_first_and_skip_unfinished_ones(tmp_path: Path) -> None:
    for name in ("checkpoint_000001", "checkpoint_000002", "checkpoint_000003", "checkpoint_000004.tmp"):
        (tmp_path / name).mkdir()
        (tmp_path / name / CHECKPOINT_FILE).write_bytes(b"x")
    (tmp_path / "checkpoint_000000").mkdir()  # no checkpoint file: not a candidate
    assert checkpoint_candidates(tmp_path / "checkpoint_000003") == [
        str(tmp_path / f"checkpoint_00000{i}") for i in (3, 2, 1)]
    assert checkpoint_candidates(tmp_path / "checkpoint_000002")[1:] == [str(tmp_path / "checkpoint_000001")]
    assert checkpoint_candidates(None) == []
    assert [p.name for p in checkpoint_dirs(tmp_path)] == [f"checkpoint_00000{i}" for i in range(4)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A 3-epoch run (checkpoints 2 and 3 kept) and, for reference, the same run trained to 4 epochs at once."""
    storage = tmp_path_factory.mktemp("runs")
    raynn.train({**FAST, "storage": str(storage), "name": "three"})
    full = raynn.train({**FAST, "train": {**FAST["train"], "epochs": 4}, "storage": str(storage), "name": "four"})
    return storage, full


def _damage(path: Path, how: str, marker: Path) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped":
        path.write_bytes(data[:64] + bytes(b ^ 0xFF for b in data[64:128]) + data[128:])
    elif how == "payload":
        _malicious(path, marker, like=torch.load(path, weights_only=True))
    elif how == "removed":
        path.unlink()


@pytest.mark.parametrize("how", ["truncated", "empty", "flipped", "payload", "removed"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before_with_a_warning(
        runs: tuple[Path, Any], tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    storage, full = runs
    shutil.copytree(storage / "three", tmp_path / "three")
    latest = tmp_path / "three" / "checkpoint_000003" / CHECKPOINT_FILE
    marker = tmp_path / "ran"
    _damage(latest, how, marker)
    capsys.readouterr()
    resumed = raynn.train({**FAST, "train": {**FAST["train"], "epochs": 4}, "storage": str(tmp_path),
                           "name": "three"})
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("raynn: warning: cannot resume")]
    assert len(warnings) == 1, err
    assert str(latest.parent if how == "removed" else latest) in warnings[0]
    assert f"resuming from {tmp_path / 'three' / 'checkpoint_000002'}" in warnings[0]
    # Epoch 3 was trained again from the epoch-2 checkpoint, and the result is the uninterrupted run's.
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert [h["resumes"] for h in resumed.history] == [0, 0, 1, 1]
    a, b = load_checkpoint(full.checkpoint)["model"], load_checkpoint(resumed.checkpoint)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert not marker.exists()


def test_with_every_checkpoint_damaged_the_run_starts_over_and_says_so(
        runs: tuple[Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage, _ = runs
    shutil.copytree(storage / "three", tmp_path / "three")
    for directory in checkpoint_dirs(tmp_path / "three"):
        _damage(directory / CHECKPOINT_FILE, "truncated", tmp_path / "unused")
    capsys.readouterr()
    resumed = raynn.train({**FAST, "storage": str(tmp_path), "name": "three"})
    err = capsys.readouterr().err
    assert err.count("raynn: warning: cannot resume") == 2 and "starting from epoch 0" in err, err
    assert [h["resumes"] for h in resumed.history] == [0, 0, 0]


def test_a_checkpoint_left_half_written_is_never_the_latest(runs: tuple[Path, Any], tmp_path: Path) -> None:
    """A process killed while copying a checkpoint leaves ``checkpoint_000004.tmp``: resume ignores it."""
    storage, _ = runs
    shutil.copytree(storage / "three", tmp_path / "three")
    half = tmp_path / "three" / "checkpoint_000004.tmp"
    half.mkdir()
    (half / CHECKPOINT_FILE).write_bytes(b"PK\x03\x04 cut")
    resumed = raynn.train({**FAST, "train": {**FAST["train"], "epochs": 4}, "storage": str(tmp_path),
                           "name": "three"})
    assert [h["resumes"] for h in resumed.history] == [0, 0, 0, 1]
    assert os.path.basename(resumed.checkpoint) == "checkpoint_000004"
