"""raynn.training.local.LocalRun: a single-process run's metrics log and checkpoints (whole or not at all)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from raynn.training.local import LocalRun, checkpoint_dirs


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
