"""Stop ``raynn tune`` while its storage still has room, so that the experiment can be resumed.

A disk that fills up under Ray Tune costs more than a killed driver: Tune's copy of its experiment snapshot to
storage is cut short (the state ``--resume`` needs), and every trial fails to persist its checkpoints and is
retried until it ends as ERROR. So the driver looks at the free space of the experiment's storage at every step
of Tune's loop (one ``statvfs``) and, below :data:`raynn.paths.MIN_FREE_BYTES` (the room a run needs at the
start), stops as a killed driver would: Tune's last snapshot and the trials' checkpoints stay whole, and
``raynn tune --resume`` continues the experiment once there is room again.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

from ray.tune import Callback

from raynn.errors import StorageError
from raynn.paths import MIN_FREE_BYTES

__all__ = ["StorageGuard"]


class StorageGuard(Callback):
    """A Ray Tune callback (in the driver) raising :class:`~raynn.errors.StorageError` from Tune's loop when the
    experiment directory's file system has less than ``min_free`` bytes free.

    Tune then stops its trials without writing another snapshot; the error's message says how much is free and
    how to resume.

    Args:
        exp_dir: The experiment directory.
        resume_hint: The command that continues the experiment (``raynn tune --resume --name ...``).
        min_free: Bytes that must stay free (default :data:`~raynn.paths.MIN_FREE_BYTES`).
    """

    def __init__(self, exp_dir: str | Path, resume_hint: str, min_free: int = MIN_FREE_BYTES) -> None:
        self.exp_dir, self.resume_hint, self.min_free = Path(exp_dir), resume_hint, min_free

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        free = shutil.disk_usage(self.exp_dir).free
        if free < self.min_free:
            raise StorageError(
                errno.ENOSPC,
                f"storage {self.exp_dir} has {free >> 10} KiB free, less than the {self.min_free >> 20} MiB a "
                f"run needs for its checkpoints: the experiment stopped with its last snapshot and checkpoints "
                f"whole; make room and run `{self.resume_hint}` to continue it")
