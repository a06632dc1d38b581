"""raynn.training.local.LocalRun: a single-process run's metrics log and checkpoints (whole or not at all)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from raynn.training.local import LocalRun, checkpoint_dirs
from raynn.weights import CHECKPOINT_FILE


def _checkpoint(tmp_path: Path, epoch: int) -> str:
    source = tmp_path / f"src{epoch}"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "state.txt").write_text(str(epoch))
    return str(source)


def test_reports_append_to_the_log_and_keep_the_newest_checkpoints(tmp_path: Path) -> None:
    run = LocalRun(tmp_path / "run", keep=2, log=lambda *_: None)
    assert run.latest_checkpoint() is None
    for epoch in (1, 2, 3):
        run.report({"epoch": epoch, "val_loss": 1.0 / epoch}, _checkpoint(tmp_path, epoch))
    run.report({"epoch": 4, "val_loss": 0.2}, None)  # no checkpoint this epoch
    lines = (tmp_path / "run" / "progress.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4] and len(run.history) == 4
    assert [d.name for d in checkpoint_dirs(tmp_path / "run")] == ["checkpoint_000002", "checkpoint_000003"]
    assert Path(run.latest_checkpoint(), "sub", "state.txt").read_text() == "3"


def test_a_half_written_checkpoint_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "checkpoint_000005.tmp").mkdir()  # left by a crash mid-copy
    (tmp_path / "checkpoint_000004").mkdir()
    assert [d.name for d in checkpoint_dirs(tmp_path)] == ["checkpoint_000004"]
    env = LocalRun(tmp_path).env(torch.device("cpu"))
    assert env.device == torch.device("cpu") and env.latest_checkpoint() == str(tmp_path / "checkpoint_000004")


def test_with_a_storage_uri_checkpoints_and_the_log_are_objects_in_the_bucket(s3: Any, tmp_path: Path) -> None:
    where = s3.uri("local-run/r")
    run = LocalRun(where, keep=2, log=lambda *_: None)
    assert run.latest_checkpoint() is None and run.local_dir.is_dir()
    for epoch in (1, 2, 3):
        (tmp_path / f"ck{epoch}").mkdir()
        (tmp_path / f"ck{epoch}" / CHECKPOINT_FILE).write_text(str(epoch))
        run.report({"epoch": epoch}, str(tmp_path / f"ck{epoch}"))
    assert [k for k in s3.keys("local-run/r/") if not k.endswith("/")] == [
        "local-run/r/checkpoint_000002/checkpoint.pt", "local-run/r/checkpoint_000003/checkpoint.pt",
        "local-run/r/progress.jsonl"]
    assert run.latest_checkpoint() == s3.uri("local-run/r/checkpoint_000003")
    # A new working copy (another machine) continues the stored log.
    again = LocalRun(where, keep=2, log=lambda *_: None)
    again.report({"epoch": 4}, None)
    log = s3.client().get_object(Bucket="bucket", Key="local-run/r/progress.jsonl")["Body"].read().decode()
    assert [json.loads(line)["epoch"] for line in log.splitlines()] == [1, 2, 3, 4]


def test_raynn_train_with_a_storage_uri_writes_only_to_the_bucket_and_resumes_there(
        s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from raynn.cli import main
    from raynn.training.checkpoint import load_model

    monkeypatch.chdir(tmp_path)
    args = ["train", "--set", "storage=" + s3.uri("cli-runs"), "--name", "digits", "--set", "train.epochs=2",
            "--set", "model.params.hidden=[16]"]
    assert main(args) == 0
    assert f"checkpoint {s3.uri('cli-runs/digits/checkpoint_000002')}" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no local folder named "s3:", no runs/
    assert "cli-runs/digits/checkpoint_000002/checkpoint.pt" in s3.keys("cli-runs/")
    # The same name again with more epochs resumes from the checkpoint in the bucket.
    assert main([*args, "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "epoch   3/3" in out and "epoch   1/3" not in out, out
    model = load_model(s3.uri("cli-runs/digits/checkpoint_000003"))
    assert model.predict(torch.zeros(2, 1, 8, 8)).shape == (2,)
    assert list(tmp_path.iterdir()) == []
