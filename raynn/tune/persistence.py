"""Persistence of the halving adapters across ``Tuner.restore``: the state file and journal
(:class:`StateFile`), the state inside Tune's experiment snapshot (:class:`SchedulerSnapshot`), and a paused
trial's result logs pushed to storage before it resumes (:func:`push_trial_logs`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import pyarrow.fs
from ray.tune import Callback
from ray.tune.experiment import Trial

from raynn.hpo.journal import apply_journal

__all__ = ["FORMAT", "JOURNAL_FILE", "STATE_FILE", "SchedulerSnapshot", "StateFile", "atomic_write_json",
           "push_trial_logs", "read_state", "replay", "state_write_path"]

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


class TrialLogsBeforeRetry(Callback):
    """Uploads a failed trial's result logs before Tune retries it (``FailureConfig.max_failures``).

    A retried trial starts again from its checkpoint like a resumed one, and Tune's JSON logger copies the
    storage copy of its ``result.json`` over the driver's newer staging copy (see :func:`push_trial_logs`):
    a trial whose node died lost every row since the last upload (a curve read ``[4]``). Tune tells callbacks,
    not schedulers, about a retry (``on_trial_recover``), so this works under any scheduler, FIFO included.
    """

    def on_trial_recover(self, iteration: int, trials: list, trial: Trial, **info: Any) -> None:
        push_trial_logs(trial)


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


JOURNAL_FILE = STATE_FILE + ".journal"
"""The journal beside the state file: one JSON line ``[generation, entry]`` per event since the snapshot."""

_COMPACT_MIN = 64  # journal entries before the snapshot is rewritten, however few trials there are


class StateFile:
    """The adapter's state in a plain ``Tuner``: a snapshot and a journal of the changes since it.

    Each :meth:`save` appends one line, the adapter's ``journal_entry()`` (what the event changed); once the
    journal holds ``max(64, n)`` lines, ``n`` the trials of the last snapshot, the snapshot is rewritten and the
    journal emptied: O(trials) every O(trials) events. The snapshot carries a random ``generation`` and every journal line the generation it
    follows, so a driver killed between writing a snapshot and emptying the journal leaves lines that
    :func:`read_state` ignores.
    """

    def __init__(self, path: str) -> None:
        self.path, self.journal_path = path, path + ".journal"
        self.generation: str | None = None
        self.lines = 0
        self.snapshot_size = 0  # trials in the last snapshot: the journal may grow as long before a rewrite

    def save(self, adapter: Any) -> None:
        if self.generation is None or self.lines >= max(_COMPACT_MIN, self.snapshot_size):
            self.compact(adapter)
            return
        line = json.dumps([self.generation, adapter.journal_entry()])
        with open(self.journal_path, "a") as f:  # one line per event: a crash cuts at most the last one
            f.write(line + "\n")
        self.lines += 1

    def compact(self, adapter: Any) -> None:
        adapter.journal_entry()  # the snapshot holds every change so far: start the journal afresh
        self.generation = secrets.token_hex(8)
        atomic_write_json(self.path, {**adapter.state_dict(), "generation": self.generation})
        self.snapshot_size = adapter.size
        Path(self.journal_path).parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal_path, "w"):
            pass
        self.lines = 0


def replay(state: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The adapter's ``state_dict`` after ``entries`` (its ``journal_entry()`` results) were applied."""
    for entry in entries:
        for index, change in sorted((int(k), v) for k, v in entry["cores"].items()):
            if "full" in change:  # a core opened since the last line: it comes whole
                if index < len(state["cores"]):
                    state["cores"][index] = change["full"]
                else:
                    state["cores"].append(change["full"])
            else:
                apply_journal(state["cores"][index], change)
        state["owner"].update(entry["owner"])
        state["overflow"].extend(entry["overflow"])
        state["exhausted"] = entry["exhausted"]
    for core in state["cores"]:
        core.pop("_index", None)
    return state


def read_state(storage: Any) -> dict[str, Any] | None:
    """The adapter's state in the experiment directory (on any filesystem), its journal replayed, or None."""
    try:
        fs, path = storage.storage_filesystem, f"{storage.experiment_fs_path}/{STATE_FILE}"
        if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
            return None
        with fs.open_input_stream(path) as f:
            state = json.loads(f.readall())
        generation = state.pop("generation", None)
        journal = f"{storage.experiment_fs_path}/{JOURNAL_FILE}"
        entries = []
        if generation is not None and fs.get_file_info(journal).type != pyarrow.fs.FileType.NotFound:
            with fs.open_input_stream(journal) as f:
                lines = f.readall().decode().splitlines()
            for line in lines:
                try:
                    gen, entry = json.loads(line)
                except ValueError:  # the last line, cut short by a kill: that event is lost, no more
                    break
                if gen == generation:
                    entries.append(entry)
        return replay(state, entries)
    except Exception:
        logger.error("could not read the scheduler state; the scheduler starts afresh", exc_info=True)
        return None


def atomic_write_json(path: str, state: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)
