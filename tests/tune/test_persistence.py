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
    JOURNAL_FILE,
    STATE_FILE,
    StateFile,
    SchedulerSnapshot,
    push_trial_logs,
    read_state,
    state_write_path,
)


def _storage(path: Path, fs: Any = None) -> Any:
    return SimpleNamespace(storage_filesystem=fs or pyarrow.fs.LocalFileSystem(), experiment_fs_path=str(path),
                           experiment_driver_staging_path=str(path / "staging"))


def _trial(trial_id: str) -> Any:
    return SimpleNamespace(trial_id=trial_id, status="PENDING", storage=None)


def test_snapshot_and_journal_read_back_as_the_adapters_state(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    path = state_write_path(storage)
    assert path == str(tmp_path / STATE_FILE)  # a local filesystem: straight into the experiment directory
    assert read_state(storage) is None
    adapter, state_file = HyperBand(9, 3, metric="loss", mode="min"), StateFile(path)
    trials = [_trial(f"t{i}") for i in range(12)]
    sizes = []
    for trial in trials:
        adapter.on_trial_add(None, trial)
        state_file.save(adapter)
        assert read_state(storage) == adapter.state_dict()
    for epoch in (1, 2, 3):
        for i, trial in enumerate(trials[:9]):
            if adapter.cores[0].status(trial.trial_id).value == "running":
                adapter.on_trial_result(None, trial, {"epoch": epoch, "loss": (i * 7 % 9) / 10})
                state_file.save(adapter)
                sizes.append((tmp_path / STATE_FILE).stat().st_size)
                assert read_state(storage) == adapter.state_dict()
    assert len(set(sizes)) == 1  # the snapshot is not rewritten per result: the journal grows instead
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE, JOURNAL_FILE]  # no temp file left


def test_a_cut_last_line_and_a_stale_journal_are_ignored(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    adapter, state_file = HyperBand(9, 3, metric="loss", mode="min"), StateFile(state_write_path(storage))
    adapter.on_trial_add(None, _trial("a"))
    state_file.save(adapter)  # the snapshot
    adapter.on_trial_add(None, _trial("b"))
    state_file.save(adapter)  # a journal line
    expected = adapter.state_dict()
    with open(tmp_path / JOURNAL_FILE, "a") as f:
        f.write('["' + state_file.generation + '", {"cores": {"0": {"tri')  # killed mid-write
    assert read_state(storage) == expected
    journal = (tmp_path / JOURNAL_FILE).read_text()
    state_file.compact(adapter)  # a kill after the new snapshot, before the journal is emptied:
    (tmp_path / JOURNAL_FILE).write_text(journal)  # its lines follow the previous generation
    assert read_state(storage) == expected


def test_the_journal_is_folded_into_the_snapshot_once_it_is_as_long_as_there_are_trials(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    adapter, state_file = HyperBand(9, 3, metric="loss", mode="min"), StateFile(state_write_path(storage))
    lines, folded_at = [], []
    for i in range(300):
        adapter.on_trial_add(None, _trial(f"t{i}"))
        state_file.save(adapter)
        lines.append(state_file.lines)
        if state_file.lines == 0:
            folded_at.append(adapter.size)
    # rewritten after max(64, n) lines, n the trials of the last snapshot: 1, 1 + 1 + 64, 66 + 1 + 66, ...
    assert folded_at == [1, 66, 133, 267] and max(lines) == 133
    assert read_state(storage) == adapter.state_dict()


def test_an_unreadable_state_file_starts_afresh_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / STATE_FILE).write_text('{"cores": [')  # truncated
    assert read_state(_storage(tmp_path)) is None
    assert "starts afresh" in caplog.text


def test_a_remote_filesystem_writes_to_the_driver_staging_directory(tmp_path: Path) -> None:
    remote = pyarrow.fs.SubTreeFileSystem(str(tmp_path), pyarrow.fs.LocalFileSystem())
    assert state_write_path(_storage(tmp_path, remote)) == str(tmp_path / "staging" / STATE_FILE)


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
