"""Persistence of the halving adapters: the state file, Tune's experiment snapshot, a paused trial's logs.

* ``Tuner.restore`` gives Tune a fresh copy of the scheduler (ray-project/ray#30838). In a plain ``Tuner`` the
  adapter writes its ``state_dict`` (JSON, temp file + rename) into the experiment directory after every event
  and reloads it when the restored copy first sees a trial of that experiment.
* With :class:`SchedulerSnapshot` among the Tuner's callbacks (``raynn tune`` adds it) the state travels inside
  Tune's own experiment snapshot instead, consistent with the trials Tune restores, and no file is written.
* Before a paused trial resumes, its result logs are uploaded from the driver's staging directory to storage,
  so Tune's restore of those logs loses no row (:func:`push_trial_logs`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pyarrow.fs
from ray.tune import Callback
from ray.tune.experiment import Trial

__all__ = ["FORMAT", "STATE_FILE", "SchedulerSnapshot", "atomic_write_json", "push_trial_logs", "read_state",
           "state_write_path"]

logger = logging.getLogger(__name__)

STATE_FILE = "raynn_scheduler.state"
"""Name of the adapter's state file (JSON inside) in the experiment directory.

Not ``*.json``: on restore Tune copies every ``*.json`` of the experiment directory into its driver staging
directory and later syncs that stale copy back over the experiment directory.
"""

FORMAT = 1
"""Version of the adapter's ``state_dict`` layout."""


class SchedulerSnapshot(Callback):
    """See :meth:`~raynn.tune.schedulers.HalvingAdapter.snapshot_callback`. Tune calls ``get_state`` when it snapshots the experiment
    and ``set_state`` on ``Tuner.restore``, before it re-adds the trials."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.scheduler._from_snapshot = True


_TRIAL_LOG_FILES = ("result.json", "progress.csv")
"""The per-trial result logs Tune's JSON and CSV loggers keep (``EXPR_RESULT_FILE``, ``EXPR_PROGRESS_FILE``)."""


def push_trial_logs(trial: Trial) -> None:
    """Upload a paused trial's result logs from the driver's staging directory to storage, before Tune
    restarts the trial from its checkpoint.

    Why: Tune's loggers write a trial's ``result.json`` and ``progress.csv`` in the driver's staging directory
    (``trial.local_path``), which Tune uploads to the experiment directory only every few seconds. When a trial
    that has a checkpoint starts again (a resume after a pause, with or without actor reuse), the JSON logger's
    ``log_trial_start`` copies the storage copy back over the staging copy (``LoggerCallback.
    _restore_from_remote``, meant for ``Tuner.restore`` in a new driver). Every row logged since the last
    upload is then lost (a curve read ``[1, 2, 3, 10, ...]``), and the next upload makes the loss permanent.
    In the driver that logged them, the staging copy is the newest; uploading it first makes that restore
    copy the same rows back. An upload Tune started earlier is waited for, so it cannot land after this one
    with older rows. A file missing from staging (a trial not started since ``Tuner.restore``) is left alone.
    """
    storage = getattr(trial, "storage", None)
    if storage is None or getattr(storage, "trial_dir_name", None) is None:
        return
    try:
        storage.syncer.wait()
    except Exception:  # Tune's own upload failed; it logs that itself when it next waits
        logger.warning("Tune's last upload to storage failed; uploading the trial's result logs anyway",
                       exc_info=True)
    fs = storage.storage_filesystem
    for name in _TRIAL_LOG_FILES:
        local = Path(trial.local_path, name)
        remote = f"{storage.trial_fs_path}/{name}"
        if not local.is_file():
            continue
        if isinstance(fs, pyarrow.fs.LocalFileSystem) and os.path.exists(remote) and os.path.samefile(local, remote):
            continue  # staging is the storage itself: nothing to upload
        try:
            pyarrow.fs.copy_files(str(local), remote, destination_filesystem=fs)
        except Exception:
            logger.warning(f"could not upload {local} to {remote}; Tune may drop rows of it on resume",
                           exc_info=True)


def state_write_path(storage: Any) -> str | None:
    """Where the state file is written: the experiment directory on a local filesystem, else Tune's driver
    staging directory, which Tune uploads to the experiment directory with its own experiment state."""
    try:
        if isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem):
            return str(Path(storage.experiment_fs_path, STATE_FILE))
        return str(Path(storage.experiment_driver_staging_path, STATE_FILE))
    except Exception:  # a storage context without paths (custom setups): keep no file
        logger.warning("no experiment directory for the scheduler state; it will not survive a restore")
        return None


def read_state(storage: Any) -> dict[str, Any] | None:
    """The state file in the experiment directory (on any filesystem), or None if there is none."""
    try:
        fs, path = storage.storage_filesystem, f"{storage.experiment_fs_path}/{STATE_FILE}"
        if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
            return None
        with fs.open_input_stream(path) as f:
            return json.loads(f.readall())
    except Exception:
        logger.error("could not read the scheduler state; the scheduler starts afresh", exc_info=True)
        return None


def atomic_write_json(path: str, state: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)
