"""raynn/tune/persistence.py: Tune's snapshot callback and a paused trial's logs (no Ray session)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow.fs

from raynn.tune import HyperBand
from raynn.tune.persistence import SchedulerSnapshot, push_trial_logs


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


def test_the_callback_and_its_scheduler_unpickle_together() -> None:
    """``Tuner.restore`` unpickles ``tuner.pkl`` in one piece: the callback in a plain ``Tuner``'s RunConfig still
    feeds the scheduler in its TuneConfig, so passing ``snapshot_callback()`` once is all a restore needs."""
    import ray.cloudpickle as pickle

    scheduler = HyperBand(9, 3, metric="loss", mode="min")
    tune_config, run_config = pickle.loads(pickle.dumps(({"scheduler": scheduler},
                                                         {"callbacks": [scheduler.snapshot_callback()]})))
    assert run_config["callbacks"][0].scheduler is tune_config["scheduler"]
