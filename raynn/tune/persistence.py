"""Persistence of the halving adapters across ``Tuner.restore``: their state inside Tune's experiment
snapshot (:class:`SchedulerSnapshot`, the one path), and a paused trial's result logs pushed to storage before
it resumes (:func:`push_trial_logs`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyarrow.fs
from ray.tune import Callback
from ray.tune.experiment import Trial

__all__ = ["FORMAT", "SchedulerSnapshot", "push_trial_logs"]

logger = logging.getLogger(__name__)

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


class TrialLogsBeforeRetry(Callback):
    """Uploads a failed trial's result logs before Tune retries it (``FailureConfig.max_failures``).

    A retried trial starts again from its checkpoint like a resumed one, and Tune's JSON logger copies the
    storage copy of its ``result.json`` over the driver's newer staging copy (see :func:`push_trial_logs`):
    a trial whose node died lost every row since the last upload (a curve read ``[4]``). Tune tells callbacks,
    not schedulers, about a retry (``on_trial_recover``), so this works under any scheduler, FIFO included.
    """

    def on_trial_recover(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        push_trial_logs(trial)
