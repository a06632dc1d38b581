"""Stop ``raynn tune`` while its storage still has room, and keep a whole copy of Tune's state, so that the
experiment can be resumed (why: the Ray notes guide, "A full disk").

:class:`StorageGuard` checks the free space at every step of Tune's loop and copies each whole snapshot Tune
writes into :data:`LAST_STATE`; :func:`restore_last_state` puts it back for ``--resume``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from ray.tune import Callback

from raynn.errors import StorageError
from raynn.paths import MIN_FREE_BYTES
from raynn.storage import copy_for_upload

__all__ = ["LAST_STATE", "TUNE_STATE", "StorageGuard", "restore_last_state", "unreadable_tune_state"]

logger = logging.getLogger(__name__)

TUNE_STATE = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl",
              "callback-states-*.pkl", "tuner.pkl")
"""Tune's state files in an experiment directory; Tune reads the newest of each kind on ``Tuner.restore``."""

LAST_STATE = ".raynn-last-state"
"""The directory, inside the experiment directory, holding the last whole copy of Tune's state files. Tune
copies only the experiment directory's top-level ``*.json`` / ``*.pkl`` files on restore, not this one."""


def newest_tune_state(directory: Path) -> list[Path]:
    """The newest file of each kind of :data:`TUNE_STATE` in ``directory``."""
    return [files[-1] for pattern in TUNE_STATE if (files := sorted(directory.glob(pattern)))]


def _readable(path: Path) -> bool:
    try:
        data = path.read_bytes()
        if data.startswith(b"{"):  # Tune writes JSON and pickles, whatever the suffix
            json.loads(data)
        else:
            pickle.loads(data)
    except Exception:  # noqa: BLE001 - any failure to read it means Tune cannot resume from it
        return False
    return True


def unreadable_tune_state(directory: Path) -> Path | None:
    """The first of Tune's newest state files in ``directory`` that cannot be read (cut short), or None."""
    return next((path for path in newest_tune_state(directory) if not _readable(path)), None)


def restore_last_state(exp_dir: Path) -> list[str]:
    """Put the guard's last whole copy of Tune's state back into ``exp_dir``, over the files of the same names
    (Tune's newest, unreadable ones among them); the names put back, or [] when there is no whole copy.

    Tune reads the newest file of each kind, so a file newer than the copy's of its kind (a later driver's,
    written before the guard copied it) is set aside under a name Tune does not read (``.unreadable``, or
    ``.after-last-copy`` when it is whole): Tune then reads the copy, whose files belong together."""
    last = exp_dir / LAST_STATE
    if not last.is_dir() or not any(last.glob(TUNE_STATE[0])) or unreadable_tune_state(last) is not None:
        return []
    names = []
    for pattern in TUNE_STATE:
        copies = sorted(last.glob(pattern))
        if not copies:
            continue
        copy = copies[-1]
        for newer in [p for p in exp_dir.glob(pattern) if p.name > copy.name]:
            aside = ".after-last-copy" if _readable(newer) else ".unreadable"
            os.replace(newer, newer.with_name(newer.name + aside))
        tmp = exp_dir / f".{copy.name}.raynn-tmp"
        shutil.copyfile(copy, tmp)
        os.replace(tmp, exp_dir / copy.name)
        names.append(copy.name)
    return names


class StorageGuard(Callback):
    """A Ray Tune callback (in the driver) raising :class:`~raynn.errors.StorageError` from Tune's loop when the
    experiment directory's file system has less than ``min_free`` bytes free, and keeping :data:`LAST_STATE`.

    Tune then stops its trials without writing another snapshot; the error's message says how much is free and
    how to resume.

    Args:
        exp_dir: The experiment directory.
        resume_hint: The command that continues the experiment (``raynn tune --resume --name ...``).
        min_free: Bytes that must stay free (default :data:`~raynn.paths.MIN_FREE_BYTES`).
        mirror: Names of files and directories in ``exp_dir`` to put into Tune's driver staging directory at
            each snapshot (storage URIs: ``exp_dir`` is then the driver-local working copy); () for none.
    """

    def __init__(self, exp_dir: str | Path, resume_hint: str, min_free: int = MIN_FREE_BYTES,
                 mirror: tuple[str, ...] = ()) -> None:
        self.exp_dir, self.resume_hint, self.min_free = Path(exp_dir), resume_hint, min_free
        self.mirror = tuple(mirror)
        self._new_snapshot = False  # Tune has written a snapshot that is not copied yet
        self._storage: Any = None  # Tune's storage context, known from the first step with a trial

    def get_state(self) -> None:
        """Tune asks every callback for its state while it writes a snapshot: so the guard learns there is a
        new one to copy, without looking at the staging directory at every step. It has no state (None, as
        :class:`ray.tune.Callback`'s default), so Tune's snapshot holds what it held before."""
        self._new_snapshot = True
        if self.mirror and self._storage is not None:
            self._mirror_into_staging()
        return None

    def _mirror_into_staging(self) -> None:
        """Copy :attr:`mirror` into Tune's driver staging directory, which Tune uploads right after this
        snapshot. Tune's previous upload is waited for first, so that no upload reads a file being replaced."""
        try:
            self._storage.syncer.wait()
        except Exception:  # noqa: BLE001 - Tune's own upload failed; Tune logs that itself
            logger.warning("Tune's last upload to storage failed", exc_info=True)
        staging = Path(self._storage.experiment_driver_staging_path)
        for name in self.mirror:
            if (self.exp_dir / name).exists():
                try:
                    copy_for_upload(self.exp_dir / name, staging / name)
                except OSError as exc:  # the next snapshot tries again; the last upload stays whole
                    logger.warning(f"could not stage {name} for upload: {exc}")

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        # First: the snapshot Tune wrote during the last step is the newest whole state. A copy that failed
        # (no room) is tried again at the next step.
        if trials and self._storage is None:
            self._storage = trials[0].storage
        if self._new_snapshot and trials:
            staging = Path(trials[0].storage.experiment_driver_staging_path)
            self._new_snapshot = not self._keep_last_state(staging)
        free = shutil.disk_usage(self.exp_dir).free
        if free < self.min_free:
            where = f"the driver's local disk ({self.exp_dir}, where files wait for upload)" if self.mirror \
                else f"storage {self.exp_dir}"
            raise StorageError(
                errno.ENOSPC,
                f"{where} has {free >> 10} KiB free, less than the {self.min_free >> 20} MiB a "
                f"run needs for its checkpoints: the experiment stopped with its last snapshot and checkpoints "
                f"whole; make room and run `{self.resume_hint}` to continue it")

    def _keep_last_state(self, staging: Path) -> bool:
        """Copy Tune's newest snapshot from its driver staging directory (written whole, in this loop, before
        Tune uploads it) into :data:`LAST_STATE`; the previous copy goes only after the new one is complete, so
        a write that fails (a full disk) leaves it. Whether the copy was made (or there was nothing to copy)."""
        files = newest_tune_state(staging)
        if not any(f.match(TUNE_STATE[0]) for f in files):
            return True
        last, tmp, old = (self.exp_dir / f"{LAST_STATE}{suffix}" for suffix in ("", ".tmp", ".old"))
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for path in files:
                shutil.copyfile(path, tmp / path.name)
            if last.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(last, old)
            os.replace(tmp, last)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:  # no room for a copy: the previous one stays
            logger.warning(f"could not copy Tune's state into {last}: {exc}")
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not last.exists():
                os.replace(old, last)
            return False
        return True
