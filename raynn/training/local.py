"""Running the loop in this process: checkpoints and a metrics log in ``storage/name``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from raynn.training.loop import Env

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
        run_dir: Where checkpoints (``checkpoint_000001``, ...) and ``progress.jsonl`` go.
        keep: How many checkpoints to keep (the newest).
    """

    def __init__(self, run_dir: str | Path, keep: int = 2, log: Any = print) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self.history: list[dict[str, Any]] = []
        self.log = log

    def latest_checkpoint(self) -> str | None:
        dirs = checkpoint_dirs(self.run_dir)
        return str(dirs[-1]) if dirs else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        self.history.append(dict(metrics))
        with open(self.run_dir / "progress.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
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

    def env(self, device: torch.device | None = None) -> Env:
        return Env(device=device or torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                   report=self.report, latest_checkpoint=self.latest_checkpoint, log=self.log)
