"""Running the loop in this process: checkpoints and a metrics log in ``storage/name``.

With a storage URI (``s3://...``) the metrics log is kept in a driver-local working copy and uploaded after every
epoch, and each checkpoint is uploaded as it is made (its one file an object that appears whole or not at all);
the run resumes from the newest checkpoint in the bucket, from any machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from raynn import storage
from raynn.training.loop import Env
from raynn.weights import CHECKPOINT_FILE

__all__ = ["LocalRun", "checkpoint_dirs"]


def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """A run's checkpoint directories, oldest first; not one being written (``.tmp``, left by a crash)."""
    return sorted(d for d in Path(run_dir).glob("checkpoint_*") if not d.name.endswith(".tmp"))


def _copy_tree(src: Path, dst: Path) -> None:
    """``shutil.copytree``, but the first failure raises its own ``OSError`` (with its errno: ENOSPC, EROFS)
    instead of copytree's ``shutil.Error`` list, which says neither."""
    dst.mkdir()
    for path in sorted(src.rglob("*")):  # a directory sorts before what it holds
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir()
        else:
            shutil.copy2(path, target)


class LocalRun:
    """The :class:`Env` of a single-process run. A second run with the same directory resumes it.

    Args:
        run_dir: Where checkpoints (``checkpoint_000001``, ...) and ``progress.jsonl`` go: a directory, or a
            storage URI (then ``local_dir`` is the driver-local working copy of ``progress.jsonl``).
        keep: How many checkpoints to keep (the newest).
    """

    def __init__(self, run_dir: str | Path, keep: int = 2, log: Any = print) -> None:
        self.remote = storage.is_uri(str(run_dir))
        self.run_dir: Path | str = str(run_dir) if self.remote else Path(run_dir)
        self.local_dir = storage.work_dir(str(run_dir)) if self.remote else Path(run_dir)
        self.local_dir.mkdir(parents=True, exist_ok=True)
        if self.remote:  # the working copy starts as the stored log (a resumed run appends to it)
            log_file = self.local_dir / "progress.jsonl"
            log_file.unlink(missing_ok=True)
            remote_log = storage.join(self.run_dir, "progress.jsonl")
            if storage.exists(remote_log):
                log_file.write_text(storage.read_text(remote_log))
        self.keep = keep
        self.history: list[dict[str, Any]] = []
        self.log = log

    def _remote_checkpoints(self) -> list[str]:
        """The checkpoint directories in the bucket that hold a checkpoint file, oldest first."""
        names = [n for n in storage.listdir(self.run_dir) if n.startswith("checkpoint_") and not n.endswith(".tmp")]
        return [n for n in names if storage.exists(storage.join(self.run_dir, n, CHECKPOINT_FILE))]

    def latest_checkpoint(self) -> str | None:
        if self.remote:
            names = self._remote_checkpoints()
            return storage.join(self.run_dir, names[-1]) if names else None
        dirs = checkpoint_dirs(self.run_dir)
        return str(dirs[-1]) if dirs else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        self.history.append(dict(metrics))
        with open(self.local_dir / "progress.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self.remote:
            self._upload(metrics, checkpoint_dir)
            return
        if checkpoint_dir is not None:
            dest = self.run_dir / f"checkpoint_{metrics['epoch']:06d}"
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                _copy_tree(Path(checkpoint_dir), tmp)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # a full disk: give back what the partial copy took
                raise
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)  # a checkpoint appears whole or not at all
            for old in checkpoint_dirs(self.run_dir)[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)

    def _upload(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        if checkpoint_dir is not None:
            storage.upload_dir(checkpoint_dir, storage.join(self.run_dir, f"checkpoint_{metrics['epoch']:06d}"))
            for old in self._remote_checkpoints()[: -self.keep]:
                storage.delete_dir(storage.join(self.run_dir, old))
        storage.upload_file(self.local_dir / "progress.jsonl", storage.join(self.run_dir, "progress.jsonl"))

    def env(self, device: torch.device | None = None) -> Env:
        return Env(device=device or torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                   report=self.report, latest_checkpoint=self._local_latest_checkpoint, log=self.log)

    def _local_latest_checkpoint(self) -> str | None:
        """The newest checkpoint as the loop reads it: from a bucket, downloaded (it has no neighbours there to
        fall back on: only whole ones, with their checkpoint file, are listed)."""
        latest = self.latest_checkpoint()
        return storage.fetch_local(latest) if self.remote and latest is not None else latest
