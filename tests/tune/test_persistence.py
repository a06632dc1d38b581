"""raynn/tune/persistence.py: the state file, Tune's snapshot callback and a paused trial's logs (no Ray session)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.fs
import pytest

from raynn.tune import HyperBand
from raynn.tune.persistence import (
    STATE_FILE,
    SchedulerSnapshot,
    atomic_write_json,
    push_trial_logs,
    read_state,
    state_write_path,
)


def _storage(path: Path, fs: Any = None) -> Any:
    return SimpleNamespace(storage_filesystem=fs or pyarrow.fs.LocalFileSystem(), experiment_fs_path=str(path),
                           experiment_driver_staging_path=str(path / "staging"))


def test_the_state_file_round_trips_and_is_written_whole(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    path = state_write_path(storage)
    assert path == str(tmp_path / STATE_FILE)  # a local filesystem: straight into the experiment directory
    assert read_state(storage) is None
    atomic_write_json(path, {"a": [1, 2]})
    assert read_state(storage) == {"a": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temp file left behind


def test_a_remote_filesystem_writes_to_the_driver_staging_directory(tmp_path: Path) -> None:
    remote = pyarrow.fs.SubTreeFileSystem(str(tmp_path), pyarrow.fs.LocalFileSystem())
    assert state_write_path(_storage(tmp_path, remote)) == str(tmp_path / "staging" / STATE_FILE)


def test_an_unreadable_state_file_starts_afresh_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / STATE_FILE).write_text('{"cores": [')  # truncated
    assert read_state(_storage(tmp_path)) is None
    assert "starts afresh" in caplog.text


def test_the_snapshot_callback_carries_the_scheduler_state() -> None:
    scheduler = HyperBand(9, 3, metric="loss", mode="min")
    callback = scheduler.snapshot_callback()
    assert isinstance(callback, SchedulerSnapshot)
    state = json.loads(json.dumps(callback.get_state()))  # what Tune pickles, as plain data
    restored = HyperBand(9, 3, metric="loss", mode="min")
    restored.snapshot_callback().set_state(state)
    assert restored.state_dict() == scheduler.state_dict()


def test_a_paused_trials_logs_are_uploaded_before_it_resumes(tmp_path: Path) -> None:
    staging, remote = tmp_path / "staging", tmp_path / "remote"
    staging.mkdir()
    remote.mkdir()
    (staging / "result.json").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    (remote / "result.json").write_text('{"epoch": 1}\n')  # the last upload, one row behind
    storage = SimpleNamespace(trial_dir_name="trial-a", syncer=SimpleNamespace(wait=lambda: None),
                              storage_filesystem=pyarrow.fs.LocalFileSystem(), trial_fs_path=str(remote))
    push_trial_logs(SimpleNamespace(storage=storage, local_path=str(staging)))
    assert (remote / "result.json").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    assert not (remote / "progress.csv").exists()  # missing in staging: left alone
