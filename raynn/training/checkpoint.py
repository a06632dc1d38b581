"""raynn checkpoints: one ``checkpoint.pt`` per directory, everything needed to resume or to predict.

A checkpoint holds the model, optimizer, schedule position (the iteration k), preprocessing statistics, RNG
state, early-stopping and clipping state, the checked config and the epoch's metrics. Evaluation, inference,
fine-tuning (``model.init: {name: pretrained, path: ...}``) and distillation all read the same file.

Every file is read by :func:`safe_load`: ``torch.load(weights_only=True)``, which unpickles tensors and plain
data only, so a file with a pickled payload (a ``__reduce__`` that runs code) is refused, never executed. A
file that is refused or unreadable raises :class:`CheckpointError` naming it; a resuming run then falls back
to the checkpoint before (:func:`checkpoint_candidates`; runs keep two).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from raynn.weights import CHECKPOINT_FILE, CheckpointError, checkpoint_file, safe_load

__all__ = ["CHECKPOINT_FILE", "CheckpointError", "Predictor", "checkpoint_candidates", "load_checkpoint",
           "load_model", "load_teacher", "local_directory", "safe_load"]


def local_directory(checkpoint: Any) -> str:
    """A Ray ``Checkpoint``'s directory on this machine: read in place on a local (or shared) filesystem; from
    cloud storage, downloaded into a new temporary directory, removed when the process exits normally (a
    killed trial process can leave it behind). Callers load it at once and call this once per run."""
    import atexit
    import shutil
    import tempfile

    import pyarrow.fs

    if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem) and Path(checkpoint.path).is_dir():
        return str(checkpoint.path)
    directory = tempfile.mkdtemp(prefix="raynn-restore-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return checkpoint.to_directory(directory)


_STATE_KEYS = ("epoch", "step", "config", "model", "optimizer", "preprocess", "history")


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a raynn checkpoint directory (or file) with :func:`safe_load`; a storage URI
    (``s3://bucket/runs/NAME/checkpoint_000003?...``) is downloaded first.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: the file was refused, is unreadable, or is not a raynn checkpoint.
    """
    from raynn.storage import fetch_local

    state = safe_load(fetch_local(path))
    if not isinstance(state, dict) or any(key not in state for key in _STATE_KEYS):
        raise CheckpointError(checkpoint_file(path), f"is not a raynn checkpoint (a mapping with keys "
                              f"{', '.join(_STATE_KEYS)})")
    return state


def checkpoint_candidates(latest: str | os.PathLike[str] | None) -> list[str]:
    """Checkpoints to resume from, newest first: ``latest``, then the older checkpoint directories next to it
    (``checkpoint_*``, named so that they sort by age: raynn's and Tune's ``checkpoint_000003``, Ray
    Train's ``checkpoint_<date>``). A directory being written (``*.tmp``) or without a checkpoint file is not
    one. Checkpoints downloaded from cloud storage have no neighbours: only ``latest`` is a candidate."""
    if latest is None:
        return []
    latest = Path(latest)
    out = [str(latest)]
    if latest.is_dir() and latest.name.startswith("checkpoint_"):
        older = sorted((d for d in latest.parent.glob("checkpoint_*")
                        if d.name < latest.name and not d.name.endswith(".tmp") and (d / CHECKPOINT_FILE).is_file()),
                       reverse=True)
        out += [str(d) for d in older]
    return out


@dataclass
class Predictor:
    """A trained model with the preprocessing it was trained with: raw inputs in, logits out."""

    model: nn.Module
    preprocess: Any

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch: int = 2048) -> torch.Tensor:
        self.model.eval()
        return torch.cat([self.model(self.preprocess.transform(x[i : i + batch])) for i in range(0, len(x), batch)])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)


def _user_code_importable(cfg: Any, path: str | os.PathLike[str]) -> None:
    """Make the checkpoint's own model class importable, or say in one line which module is missing.

    A checkpoint records ``model.class_path`` and its ``init_args`` (as LightningModule checkpoints keep their
    hyperparameters), and the ``code`` directories the run shipped: those that exist on this machine are put on
    the import path, as the run had them."""
    import sys

    from raynn.classpath import import_object
    from raynn.code import sys_path_entries

    class_path = cfg.model.class_path
    if class_path is None:
        return
    for entry in sys_path_entries(cfg.code.to_dict()):
        if Path(entry).exists() and entry not in sys.path:
            sys.path.append(entry)
    try:
        import_object(class_path)
    except ValueError as exc:
        raise CheckpointError(checkpoint_file(path), f"names model.class_path {class_path}, which this process "
                              f"cannot import ({exc}); install the package or put it on PYTHONPATH") from None


def load_model(path: str | os.PathLike[str]) -> Predictor:
    """Rebuild the model and its fitted preprocessing from a checkpoint: a built-in model, or your own
    (``model.class_path`` and ``init_args``, imported in this process); weights read with ``weights_only=True``.

    Raises:
        CheckpointError: the file is refused or unreadable, or names a model class this process cannot import.
    """
    from raynn.data import build_preprocessor
    from raynn.nn import build_network

    from raynn.config_model import RunConfig

    state = load_checkpoint(path)
    cfg = RunConfig.checked(state["config"])
    _user_code_importable(cfg, path)
    model = build_network(cfg, tuple(state["in_shape"]), state["num_classes"])
    model.load_state_dict(state["model"])
    pre = build_preprocessor(cfg.data.preprocess)
    pre.load_state_dict(state["preprocess"])
    return Predictor(model, pre)


def load_teacher(path: str | os.PathLike[str]) -> Predictor:
    """The teacher network of knowledge distillation (seed 4.2.3): a trained raynn checkpoint."""
    return load_model(path)
